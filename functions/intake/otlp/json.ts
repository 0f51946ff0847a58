/**
 * ExportMetricsServiceRequest in the OTLP JSON encoding (`application/json`): the protobuf JSON
 * mapping with lowerCamelCase field names, 64-bit integers as decimal strings or numbers, enums as
 * numbers (their names are accepted too), bytes as base64. Unknown fields are ignored, as OTLP
 * asks. Same events as the protobuf decoder (mapping.ts). A field of the wrong JSON type is an
 * OtlpDecodeError (the route's 400) naming it.
 */
import { OtlpDecodeError, OtlpTooManyPointsError } from './proto.ts';
import type { IntakeItem } from '../core.ts';
import { exponentialPoint, histogramPoint, numberPoint, pointTags, summaryPoint, type DecodedRequest, type MetricInfo, type MetricKind } from './mapping.ts';

const fail = (path: string, what: string): OtlpDecodeError => new OtlpDecodeError(`OTLP JSON: ${path}: ${what}`);
const MAX_DEPTH = 16;

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(path, `expected an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  return v as Obj;
}

function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw fail(path, 'expected an array');
  return v;
}

function str(v: unknown, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw fail(path, 'expected a string');
  return v;
}

function num(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  // The JSON mapping writes NaN and infinities as strings.
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  throw fail(path, 'expected a number');
}

/** A 64-bit integer: a JSON number or a decimal string. */
function int64(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return Number(v);
  throw fail(path, 'expected an integer (a number or a decimal string)');
}

/** Nanoseconds since the epoch (string or number) as whole milliseconds, floored. */
function nanosToMillis(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return v.length <= 6 ? 0 : Number(v.slice(0, -6));
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return Math.floor(v / 1e6);
  throw fail(path, 'expected nanoseconds since the epoch (a decimal string or a number)');
}

const TEMPORALITIES: Readonly<Record<string, number>> = { AGGREGATION_TEMPORALITY_UNSPECIFIED: 0, AGGREGATION_TEMPORALITY_DELTA: 1, AGGREGATION_TEMPORALITY_CUMULATIVE: 2 };

function temporality(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v in TEMPORALITIES) return TEMPORALITIES[v]!;
  throw fail(path, 'expected an AggregationTemporality (1 delta, 2 cumulative)');
}

export function decodeOtlpJson(text: string, limit = Infinity): DecodedRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError(`OTLP JSON: body is not JSON: ${(err as Error).message}`);
  }
  const out: DecodedRequest = { items: [], metrics: [] };
  const push = (item: IntakeItem | undefined, name: string) => {
    if (item === undefined) return;
    if (out.items.length >= limit) throw new OtlpTooManyPointsError(`more than ${limit} data points in one request; send smaller batches`);
    out.items.push(item);
    out.metrics.push(name);
  };
  list(obj(doc, 'body').resourceMetrics, 'resourceMetrics').forEach((rmv, i) => {
    const rp = `resourceMetrics[${i}]`;
    const rm = obj(rmv, rp);
    const tags = rm.resource === undefined || rm.resource === null ? {} : attributes(obj(rm.resource, `${rp}.resource`).attributes, `${rp}.resource.attributes`);
    list(rm.scopeMetrics, `${rp}.scopeMetrics`).forEach((smv, j) => {
      const sp = `${rp}.scopeMetrics[${j}]`;
      list(obj(smv, sp).metrics, `${sp}.metrics`).forEach((mv, k) => {
        const mp = `${sp}.metrics[${k}]`;
        const m = obj(mv, mp);
        const name = str(m.name, `${mp}.name`);
        for (const kind of ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const) {
          if (m[kind] === undefined || m[kind] === null) continue;
          const dp = `${mp}.${kind}`;
          const d = obj(m[kind], dp);
          const info: MetricInfo = {
            name,
            kind: (kind === 'exponentialHistogram' ? 'exponential_histogram' : kind) as MetricKind,
            temporality: kind === 'gauge' || kind === 'summary' ? 0 : temporality(d.aggregationTemporality, `${dp}.aggregationTemporality`),
            monotonic: kind === 'sum' && d.isMonotonic === true,
          };
          list(d.dataPoints, `${dp}.dataPoints`).forEach((pv, n) => push(point(info, tags, obj(pv, `${dp}.dataPoints[${n}]`), `${dp}.dataPoints[${n}]`), name));
        }
      });
    });
  });
  return out;
}

function point(m: MetricInfo, resourceTags: Record<string, string>, p: Obj, path: string): IntakeItem | undefined {
  const own = p.attributes === undefined || p.attributes === null ? undefined : attributes(p.attributes, `${path}.attributes`);
  const tags = pointTags(resourceTags, own);
  const start = nanosToMillis(p.startTimeUnixNano, `${path}.startTimeUnixNano`);
  const ts = nanosToMillis(p.timeUnixNano, `${path}.timeUnixNano`);
  const flags = int64(p.flags, `${path}.flags`);
  const hist = () => ({
    count: int64(p.count, `${path}.count`),
    sum: num(p.sum, `${path}.sum`),
    min: num(p.min, `${path}.min`),
    max: num(p.max, `${path}.max`),
  });
  switch (m.kind) {
    case 'gauge':
    case 'sum': {
      const value = p.asDouble !== undefined && p.asDouble !== null ? num(p.asDouble, `${path}.asDouble`)! : int64(p.asInt, `${path}.asInt`);
      return numberPoint(m, tags, start, ts, value, flags);
    }
    case 'histogram':
      return histogramPoint(
        m,
        tags,
        start,
        ts,
        hist(),
        list(p.explicitBounds, `${path}.explicitBounds`).map((b, i) => num(b, `${path}.explicitBounds[${i}]`)!),
        list(p.bucketCounts, `${path}.bucketCounts`).map((c, i) => int64(c, `${path}.bucketCounts[${i}]`)),
        flags,
      );
    case 'exponential_histogram': {
      const side = (v: unknown, sp: string) => {
        if (v === undefined || v === null) return undefined;
        const b = obj(v, sp);
        return { offset: int64(b.offset, `${sp}.offset`), counts: list(b.bucketCounts, `${sp}.bucketCounts`).map((c, i) => int64(c, `${sp}.bucketCounts[${i}]`)) };
      };
      return exponentialPoint(m, tags, start, ts, { ...hist(), scale: int64(p.scale, `${path}.scale`), zeroCount: int64(p.zeroCount, `${path}.zeroCount`), positive: side(p.positive, `${path}.positive`), negative: side(p.negative, `${path}.negative`) }, flags);
    }
    default:
      return summaryPoint();
  }
}

function attributes(v: unknown, path: string): Record<string, string> {
  const tags: Record<string, string> = {};
  list(v, path).forEach((kvv, i) => {
    const kv = obj(kvv, `${path}[${i}]`);
    const key = str(kv.key, `${path}[${i}].key`);
    const value = kv.value === undefined || kv.value === null ? '' : anyValue(kv.value, `${path}[${i}].value`, 0);
    tags[key] = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  });
  return tags;
}

function anyValue(v: unknown, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw fail(path, `nested deeper than ${MAX_DEPTH} levels`);
  const a = obj(v, path);
  if (a.stringValue !== undefined) return str(a.stringValue, `${path}.stringValue`);
  if (a.boolValue !== undefined) {
    if (typeof a.boolValue !== 'boolean') throw fail(`${path}.boolValue`, 'expected a boolean');
    return a.boolValue;
  }
  if (a.intValue !== undefined) return int64(a.intValue, `${path}.intValue`);
  if (a.doubleValue !== undefined) return num(a.doubleValue, `${path}.doubleValue`);
  if (a.arrayValue !== undefined) return list(obj(a.arrayValue, `${path}.arrayValue`).values, `${path}.arrayValue.values`).map((x, i) => anyValue(x, `${path}.arrayValue.values[${i}]`, depth + 1));
  if (a.kvlistValue !== undefined) {
    const out: Record<string, unknown> = {};
    list(obj(a.kvlistValue, `${path}.kvlistValue`).values, `${path}.kvlistValue.values`).forEach((kvv, i) => {
      const kv = obj(kvv, `${path}.kvlistValue.values[${i}]`);
      const key = str(kv.key, `${path}.kvlistValue.values[${i}].key`);
      if (key !== '__proto__') out[key] = kv.value === undefined ? '' : anyValue(kv.value, `${path}.kvlistValue.values[${i}].value`, depth + 1);
    });
    return out;
  }
  if (a.bytesValue !== undefined) return str(a.bytesValue, `${path}.bytesValue`);
  return '';
}
