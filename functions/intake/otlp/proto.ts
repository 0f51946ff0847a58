/**
 * ExportMetricsServiceRequest (OTLP/HTTP, `application/x-protobuf`) decoded with the project's
 * ProtoReader (functions/shared/protobuf.ts) straight into the events of mapping.ts: no message
 * objects in between. Field numbers from open-telemetry/opentelemetry-proto
 * (collector/metrics/v1/metrics_service.proto, metrics/v1/metrics.proto, common/v1/common.proto,
 * resource/v1/resource.proto). Unknown fields are skipped; a known field of another wire type, a
 * length past its message or any other malformed input is an OtlpDecodeError (the route's 400),
 * never a RangeError, a hang or a silent misread: every nested message must end exactly where its
 * length says.
 */
import { StreamfoldError } from '../../shared/errors.ts';
import { fieldOf, ProtoReader, StringCache } from '../../shared/protobuf.ts';
import type { IntakeItem } from '../core.ts';
import {
  exponentialPoint,
  histogramPoint,
  numberPoint,
  pointTags,
  summaryPoint,
  type DecodedRequest,
  type MetricInfo,
  type MetricKind,
} from './mapping.ts';

export class OtlpDecodeError extends StreamfoldError {}

const fail = (reason: string): OtlpDecodeError => new OtlpDecodeError(`OTLP protobuf: ${reason}`);

/** The request's repeated strings (attribute keys and values, names), one cache per request. */
let strings = new StringCache();

const VARINT = 0;
const I64 = 1;
const LEN = 2;
/** Deepest nesting of array and key-value-list attribute values. */
const MAX_DEPTH = 16;

/** Decodes a request; `limit` bounds the items (data points) kept, past it OtlpDecodeError says so. */
export function decodeOtlpProto(body: Uint8Array, limit = Infinity): DecodedRequest {
  const r = new ProtoReader(body, fail, 'OTLP request');
  strings = new StringCache();
  const out: DecodedRequest = { items: [], metrics: [] };
  while (!r.done) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 1) resourceMetrics(r, expect(r, wire, LEN, 'resource_metrics'), out, limit);
    else r.skip(wire);
  }
  return out;
}

function expect(r: ProtoReader, wire: number, want: number, what: string): number {
  if (wire !== want) throw fail(`${what}: wire type ${wire}, expected ${want}`);
  return want === LEN ? r.end() : 0;
}

function closed(r: ProtoReader, end: number, what: string): void {
  if (r.pos !== end) throw fail(`${what}: a field runs past the end of its message`);
}

function resourceMetrics(r: ProtoReader, end: number, out: DecodedRequest, limit: number): void {
  // The resource may come after its scopes on the wire: read it first.
  const from = r.pos;
  let tags: Record<string, string> = {};
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 1) tags = resource(r, expect(r, wire, LEN, 'resource'));
    else r.skip(wire);
  }
  closed(r, end, 'ResourceMetrics');
  r.pos = from;
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 2) scopeMetrics(r, expect(r, wire, LEN, 'scope_metrics'), tags, out, limit);
    else r.skip(wire);
  }
}

function resource(r: ProtoReader, end: number): Record<string, string> {
  const tags: Record<string, string> = {};
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 1) keyValue(r, expect(r, wire, LEN, 'resource.attributes'), tags);
    else r.skip(wire);
  }
  closed(r, end, 'Resource');
  return tags;
}

function scopeMetrics(r: ProtoReader, end: number, tags: Record<string, string>, out: DecodedRequest, limit: number): void {
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 2) metric(r, expect(r, wire, LEN, 'metrics'), tags, out, limit);
    else r.skip(wire);
  }
  closed(r, end, 'ScopeMetrics');
}

const DATA_FIELDS: Readonly<Record<number, MetricKind>> = { 5: 'gauge', 7: 'sum', 9: 'histogram', 10: 'exponential_histogram', 11: 'summary' };

function metric(r: ProtoReader, end: number, tags: Record<string, string>, out: DecodedRequest, limit: number): void {
  // The name may follow the data on the wire: read it first.
  const from = r.pos;
  let name = '';
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 1) {
      if (wire !== LEN) throw fail(`metric name: wire type ${wire}`);
      name = strings.read(r);
    } else r.skip(wire);
  }
  closed(r, end, 'Metric');
  r.pos = from;
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    const kind = DATA_FIELDS[field];
    if (kind === undefined) {
      r.skip(wire);
      continue;
    }
    const dataEnd = expect(r, wire, LEN, kind);
    data(r, dataEnd, { name, kind, temporality: 0, monotonic: false }, tags, out, limit);
    closed(r, dataEnd, kind);
  }
}

/** Gauge, Sum, Histogram, ExponentialHistogram or Summary: temporality and monotonicity first, then the points. */
function data(r: ProtoReader, end: number, base: MetricInfo, tags: Record<string, string>, out: DecodedRequest, limit: number): void {
  const from = r.pos;
  let temporality = 0;
  let monotonic = false;
  if (base.kind !== 'gauge' && base.kind !== 'summary') {
    while (r.pos < end) {
      const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
      if (field === 2 && wire === VARINT) temporality = r.varint();
      else if (field === 3 && wire === VARINT && base.kind === 'sum') monotonic = r.varint() !== 0;
      else r.skip(wire);
    }
    closed(r, end, base.kind);
    r.pos = from;
  }
  const m: MetricInfo = { ...base, temporality, monotonic };
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    const pe = expect(r, wire, LEN, 'data_points');
    let item: IntakeItem | undefined;
    switch (m.kind) {
      case 'gauge':
      case 'sum':
        item = numberDataPoint(r, pe, m, tags);
        break;
      case 'histogram':
        item = histogramDataPoint(r, pe, m, tags);
        break;
      case 'exponential_histogram':
        item = exponentialDataPoint(r, pe, m, tags);
        break;
      default:
        r.pos = pe;
        item = summaryPoint();
    }
    closed(r, pe, 'data point');
    if (item === undefined) continue;
    if (out.items.length >= limit) throw new OtlpTooManyPointsError(`more than ${limit} data points in one request; send smaller batches`);
    out.items.push(item);
    out.metrics.push(m.name);
  }
}

export class OtlpTooManyPointsError extends StreamfoldError {}

function numberDataPoint(r: ProtoReader, end: number, m: MetricInfo, resourceTags: Record<string, string>): IntakeItem | undefined {
  let own: Record<string, string> | undefined;
  let start = 0;
  let ts = 0;
  let value = 0;
  let flags = 0;
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    switch (field) {
      case 7:
        keyValue(r, expect(r, wire, LEN, 'attributes'), (own ??= {}));
        break;
      case 2:
        expect(r, wire, I64, 'start_time_unix_nano');
        start = r.fixed64Millis();
        break;
      case 3:
        expect(r, wire, I64, 'time_unix_nano');
        ts = r.fixed64Millis();
        break;
      case 4:
        expect(r, wire, I64, 'as_double');
        value = r.double();
        break;
      case 6:
        expect(r, wire, I64, 'as_int');
        value = r.sfixed64();
        break;
      case 8:
        expect(r, wire, VARINT, 'flags');
        flags = r.varint();
        break;
      default:
        r.skip(wire);
    }
  }
  return numberPoint(m, pointTags(resourceTags, own), start, ts, value, flags);
}

function histogramDataPoint(r: ProtoReader, end: number, m: MetricInfo, resourceTags: Record<string, string>): IntakeItem | undefined {
  let own: Record<string, string> | undefined;
  let start = 0;
  let ts = 0;
  let count = 0;
  let sum: number | undefined;
  let min: number | undefined;
  let max: number | undefined;
  let flags = 0;
  const counts: number[] = [];
  const bounds: number[] = [];
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    switch (field) {
      case 9:
        keyValue(r, expect(r, wire, LEN, 'attributes'), (own ??= {}));
        break;
      case 2:
        expect(r, wire, I64, 'start_time_unix_nano');
        start = r.fixed64Millis();
        break;
      case 3:
        expect(r, wire, I64, 'time_unix_nano');
        ts = r.fixed64Millis();
        break;
      case 4:
        expect(r, wire, I64, 'count');
        count = r.fixed64();
        break;
      case 5:
        expect(r, wire, I64, 'sum');
        sum = r.double();
        break;
      case 6:
        repeatedFixed64(r, wire, counts, 'bucket_counts');
        break;
      case 7:
        repeatedDouble(r, wire, bounds, 'explicit_bounds');
        break;
      case 10:
        expect(r, wire, VARINT, 'flags');
        flags = r.varint();
        break;
      case 11:
        expect(r, wire, I64, 'min');
        min = r.double();
        break;
      case 12:
        expect(r, wire, I64, 'max');
        max = r.double();
        break;
      default:
        r.skip(wire);
    }
  }
  return histogramPoint(m, pointTags(resourceTags, own), start, ts, { count, sum, min, max }, bounds, counts, flags);
}

function exponentialDataPoint(r: ProtoReader, end: number, m: MetricInfo, resourceTags: Record<string, string>): IntakeItem | undefined {
  let own: Record<string, string> | undefined;
  let start = 0;
  let ts = 0;
  let count = 0;
  let sum: number | undefined;
  let min: number | undefined;
  let max: number | undefined;
  let scale = 0;
  let zeroCount = 0;
  let flags = 0;
  let positive: { offset: number; counts: number[] } | undefined;
  let negative: { offset: number; counts: number[] } | undefined;
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    switch (field) {
      case 1:
        keyValue(r, expect(r, wire, LEN, 'attributes'), (own ??= {}));
        break;
      case 2:
        expect(r, wire, I64, 'start_time_unix_nano');
        start = r.fixed64Millis();
        break;
      case 3:
        expect(r, wire, I64, 'time_unix_nano');
        ts = r.fixed64Millis();
        break;
      case 4:
        expect(r, wire, I64, 'count');
        count = r.fixed64();
        break;
      case 5:
        expect(r, wire, I64, 'sum');
        sum = r.double();
        break;
      case 6:
        expect(r, wire, VARINT, 'scale');
        scale = r.sint32();
        break;
      case 7:
        expect(r, wire, I64, 'zero_count');
        zeroCount = r.fixed64();
        break;
      case 8:
        positive = buckets(r, expect(r, wire, LEN, 'positive'));
        break;
      case 9:
        negative = buckets(r, expect(r, wire, LEN, 'negative'));
        break;
      case 10:
        expect(r, wire, VARINT, 'flags');
        flags = r.varint();
        break;
      case 12:
        expect(r, wire, I64, 'min');
        min = r.double();
        break;
      case 13:
        expect(r, wire, I64, 'max');
        max = r.double();
        break;
      default:
        r.skip(wire);
    }
  }
  return exponentialPoint(m, pointTags(resourceTags, own), start, ts, { count, sum, min, max, scale, zeroCount, positive, negative }, flags);
}

function buckets(r: ProtoReader, end: number): { offset: number; counts: number[] } {
  let offset = 0;
  const counts: number[] = [];
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 1) {
      expect(r, wire, VARINT, 'offset');
      offset = r.sint32();
    } else if (field === 2) {
      if (wire === LEN) {
        const e = r.end();
        while (r.pos < e) counts.push(r.varint());
        closed(r, e, 'bucket_counts');
      } else {
        expect(r, wire, VARINT, 'bucket_counts');
        counts.push(r.varint());
      }
    } else r.skip(wire);
  }
  closed(r, end, 'Buckets');
  return { offset, counts };
}

function repeatedFixed64(r: ProtoReader, wire: number, into: number[], what: string): void {
  if (wire === I64) {
    into.push(r.fixed64());
    return;
  }
  const e = expect(r, wire, LEN, what);
  if ((e - r.pos) % 8 !== 0) throw fail(`${what}: packed length ${e - r.pos} is not a multiple of 8`);
  while (r.pos < e) into.push(r.fixed64());
}

function repeatedDouble(r: ProtoReader, wire: number, into: number[], what: string): void {
  if (wire === I64) {
    into.push(r.double());
    return;
  }
  const e = expect(r, wire, LEN, what);
  if ((e - r.pos) % 8 !== 0) throw fail(`${what}: packed length ${e - r.pos} is not a multiple of 8`);
  while (r.pos < e) into.push(r.double());
}

/** One KeyValue into `tags` (its value stringified, mapping.ts). */
function keyValue(r: ProtoReader, end: number, tags: Record<string, string>): void {
  let name = '';
  let value = '';
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    if (field === 1) {
      if (wire !== LEN) throw fail(`attribute key: wire type ${wire}`);
      name = strings.read(r);
    } else if (field === 2) value = anyValueString(r, expect(r, wire, LEN, 'attribute value'), 0);
    else r.skip(wire);
  }
  closed(r, end, 'KeyValue');
  tags[name] = value;
}

/** An AnyValue as a tag value: strings as they are, others printed (JSON for arrays and lists). */
function anyValueString(r: ProtoReader, end: number, depth: number): string {
  const v = anyValue(r, end, depth);
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

function anyValue(r: ProtoReader, end: number, depth: number): unknown {
  if (depth > MAX_DEPTH) throw fail(`attribute value nested deeper than ${MAX_DEPTH} levels`);
  let v: unknown = '';
  while (r.pos < end) {
    const key = r.key();
    const field = fieldOf(key);
    const wire = key & 7;
    switch (field) {
      case 1:
        if (wire !== LEN) throw fail(`string_value: wire type ${wire}`);
        v = strings.read(r);
        break;
      case 2:
        expect(r, wire, VARINT, 'bool_value');
        v = r.varint() !== 0;
        break;
      case 3:
        expect(r, wire, VARINT, 'int_value');
        v = r.int64();
        break;
      case 4:
        expect(r, wire, I64, 'double_value');
        v = r.double();
        break;
      case 5: {
        const e = expect(r, wire, LEN, 'array_value');
        const arr: unknown[] = [];
        while (r.pos < e) {
          const t = r.tag();
          if (t.field === 1) arr.push(anyValue(r, expect(r, t.wire, LEN, 'array value'), depth + 1));
          else r.skip(t.wire);
        }
        closed(r, e, 'ArrayValue');
        v = arr;
        break;
      }
      case 6: {
        const e = expect(r, wire, LEN, 'kvlist_value');
        const obj: Record<string, unknown> = {};
        while (r.pos < e) {
          const t = r.tag();
          if (t.field !== 1) {
            r.skip(t.wire);
            continue;
          }
          const ke = expect(r, t.wire, LEN, 'kvlist entry');
          let key = '';
          let val: unknown = '';
          while (r.pos < ke) {
            const kt = r.tag();
            if (kt.field === 1 && kt.wire === LEN) key = r.string();
            else if (kt.field === 2) val = anyValue(r, expect(r, kt.wire, LEN, 'kvlist value'), depth + 1);
            else r.skip(kt.wire);
          }
          closed(r, ke, 'KeyValue');
          if (key !== '__proto__') obj[key] = val;
        }
        closed(r, e, 'KeyValueList');
        v = obj;
        break;
      }
      case 7:
        if (wire !== LEN) throw fail(`bytes_value: wire type ${wire}`);
        v = Buffer.from(r.bytes()).toString('base64');
        break;
      default:
        r.skip(wire);
    }
  }
  closed(r, end, 'AnyValue');
  return v;
}

