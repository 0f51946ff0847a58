/**
 * OTLP metrics data points → the event contract's events (README "Point your emitters at
 * streamfold" has the table with examples). Both body decoders (proto.ts, json.ts) call these with
 * the fields they read; the events then go through the one validator and record encoder
 * (functions/intake/core.ts submitEvents). Pure.
 *
 * | OTLP                                   | event                                                    |
 * |----------------------------------------|----------------------------------------------------------|
 * | Sum, monotonic, cumulative             | count with `start` (value = the total since start)       |
 * | Sum, monotonic, delta                  | count (value = the delta)                                |
 * | Sum, not monotonic (either); Gauge     | gauge                                                    |
 * | Histogram, delta / cumulative          | distribution with `agg` (explicit buckets) / and `start` |
 * | ExponentialHistogram, delta / cumul.   | distribution with `agg` (exponential buckets) / `start`  |
 * | Summary                                | refused, with a partial-success message                  |
 *
 * Tags: the resource's attributes, then the point's (a point attribute wins over a resource one
 * of the same key); values other than strings are stringified (bool `true`, int `42`, double
 * as JavaScript prints it, bytes base64, arrays and key-value lists as JSON). The contract's
 * limits apply to them, and a point that exceeds one is refused with the reason, never trimmed.
 * Times: `time_unix_nano` and `start_time_unix_nano` to whole milliseconds (floored). A point
 * flagged "no recorded value" is left out (it is no data, not an error). Exemplars are ignored.
 */
import type { IntakeItem } from '../core.ts';

export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;
const NO_RECORDED_VALUE = 1;

export type MetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** What a point's mapping needs of its metric. */
export interface MetricInfo {
  readonly name: string;
  readonly kind: MetricKind;
  readonly temporality: number;
  readonly monotonic: boolean;
}

/** The decoded items of a request, and each one's metric name (for partial-success messages). */
export interface DecodedRequest {
  readonly items: IntakeItem[];
  readonly metrics: string[];
}

export const SUMMARY_REFUSED = 'Summary is not supported: its quantiles cannot be merged across points or series (export a histogram instead)';

const refused = (parseError: string): IntakeItem => ({ parseError });

/** A point's tags: the resource's, then its own attributes (which win). */
export function pointTags(resource: Readonly<Record<string, string>>, own: Record<string, string> | undefined): Record<string, string> {
  if (own === undefined) return resource as Record<string, string>;
  const out: Record<string, string> = {};
  for (const k in resource) out[k] = resource[k]!;
  for (const k in own) out[k] = own[k]!;
  return out;
}

function temporalityProblem(m: MetricInfo): string | undefined {
  if (m.temporality === TEMPORALITY_DELTA || m.temporality === TEMPORALITY_CUMULATIVE) return undefined;
  return `${m.kind}: aggregation_temporality ${m.temporality} is neither delta (1) nor cumulative (2)`;
}

const NO_START = 'cumulative point without start_time_unix_nano (its start tells a reset from an increase)';

/** A Gauge or Sum point. Undefined: a point with no recorded value, left out. */
export function numberPoint(m: MetricInfo, tags: Record<string, string>, startMs: number, tsMs: number, value: number, flags: number): IntakeItem | undefined {
  if ((flags & NO_RECORDED_VALUE) !== 0) return undefined;
  if (m.kind === 'gauge' || !m.monotonic) return { value: { name: m.name, ts: tsMs, value, type: 'gauge', tags } };
  const t = temporalityProblem(m);
  if (t !== undefined) return refused(t);
  if (m.temporality === TEMPORALITY_DELTA) return { value: { name: m.name, ts: tsMs, value, type: 'count', tags } };
  if (startMs === 0) return refused(NO_START);
  return { value: { name: m.name, ts: tsMs, value, type: 'count', tags, start: startMs } };
}

/** The `agg` of a histogram point, or why it is refused. */
export interface HistogramFields {
  readonly count: number;
  readonly sum: number | undefined;
  readonly min: number | undefined;
  readonly max: number | undefined;
}

function aggOf(f: HistogramFields, buckets: object | undefined): Record<string, unknown> | string {
  if (f.sum === undefined) return 'histogram point without sum (streamfold keeps exact sums: send it)';
  const agg: Record<string, unknown> = { count: f.count, sum: f.sum };
  if (f.min !== undefined) agg.min = f.min;
  if (f.max !== undefined) agg.max = f.max;
  if (buckets !== undefined) agg.buckets = buckets;
  return agg;
}

function distributionPoint(m: MetricInfo, tags: Record<string, string>, startMs: number, tsMs: number, agg: Record<string, unknown> | string): IntakeItem {
  if (typeof agg === 'string') return refused(agg);
  const t = temporalityProblem(m);
  if (t !== undefined) return refused(t);
  if (m.temporality === TEMPORALITY_DELTA) return { value: { name: m.name, ts: tsMs, type: 'distribution', tags, agg } };
  if (startMs === 0) return refused(NO_START);
  return { value: { name: m.name, ts: tsMs, type: 'distribution', tags, start: startMs, agg } };
}

/** A Histogram point (explicit buckets; none when `counts` is empty). */
export function histogramPoint(m: MetricInfo, tags: Record<string, string>, startMs: number, tsMs: number, f: HistogramFields, bounds: number[], counts: number[], flags: number): IntakeItem | undefined {
  if ((flags & NO_RECORDED_VALUE) !== 0) return undefined;
  return distributionPoint(m, tags, startMs, tsMs, aggOf(f, counts.length === 0 ? undefined : { bounds, counts }));
}

export interface ExponentialFields extends HistogramFields {
  readonly scale: number;
  readonly zeroCount: number;
  readonly positive: { offset: number; counts: number[] } | undefined;
  readonly negative: { offset: number; counts: number[] } | undefined;
}

/** An ExponentialHistogram point. */
export function exponentialPoint(m: MetricInfo, tags: Record<string, string>, startMs: number, tsMs: number, f: ExponentialFields, flags: number): IntakeItem | undefined {
  if ((flags & NO_RECORDED_VALUE) !== 0) return undefined;
  const buckets: Record<string, unknown> = { scale: f.scale, zeroCount: f.zeroCount };
  if (f.positive !== undefined && f.positive.counts.length > 0) buckets.positive = f.positive;
  if (f.negative !== undefined && f.negative.counts.length > 0) buckets.negative = f.negative;
  return distributionPoint(m, tags, startMs, tsMs, aggOf(f, buckets));
}

export const summaryPoint = (): IntakeItem => refused(SUMMARY_REFUSED);

/** An attribute value as a tag value: strings as they are, the rest printed (module header). */
export function stringifyAttribute(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
