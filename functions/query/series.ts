/**
 * Aggregation of rollup buckets into the points of a query. Pure: takes buckets already read,
 * merges them across series (grouped by `by` tags) and across buckets of one interval, and computes
 * the requested aggregation.
 *
 * - count, sum, min, max merge exactly; avg = sum / count of the merged bucket.
 * - last: the value of the latest event of the group's series in the interval, by
 *   (ts, shardId, sequenceNumber, subIndex), as the rollup orders gauge points (compareLastPoint).
 *   Packed minutes keep no sequence number (functions/shared/rollups/minutes.ts): at 1 min, series
 *   tied at the same ms and shard keep the first series in the order given.
 * - p50..p99: sketches merged across series and buckets, then the quantile (DDSketch, 1 %).
 * - 1-day points are computed from 1-hour buckets (interval 86400 reads `1h`).
 * - Cumulative series (`_sf_start`) come in as their increases (cumulative.ts): a counter's
 *   increase is its sum and its count, a histogram's count, sum and sketch are increases; an
 *   interval whose increase is 0 still has a point (0) for sum and count.
 * Intervals are aligned to UTC epoch multiples; a point's timestamp is its interval's start.
 * Intervals without events have no point.
 */
import type { Lineage } from '../shared/errors.ts';
import type { BucketMeasures } from '../shared/rollups/item.ts';
import type { Resolution } from '../shared/rollups/keys.ts';
import { compareLastPoint, parseLastLineage } from '../shared/rollups/lineage.ts';
import { Sketch } from '../shared/rollups/sketch.ts';
import { QUANTILES, type Agg, type Interval } from './params.ts';

/** The fields of one bucket item a query uses (functions/shared/rollups/item.ts). */
export type BucketData = BucketMeasures & {
  /** Bucket start, epoch ms. */
  readonly start: number;
  /** An increase of a cumulative series (cumulative.ts): kept even when 0. */
  readonly increase?: boolean;
};

export interface SeriesData {
  readonly tags: Readonly<Record<string, string>>;
  readonly buckets: readonly BucketData[];
}

export type Point = [number, number];

export interface GroupResult {
  readonly tags: Record<string, string>;
  readonly points: Point[];
}

export const resolutionFor = (interval: Interval): Resolution => (interval === 60 ? '1m' : '1h');

/** First bucket start and last bucket start (inclusive) to read for [from, to) at `interval`. */
export function bucketRange(from: number, to: number, interval: Interval): { first: number; last: number } {
  const ms = interval * 1000;
  const res = resolutionFor(interval) === '1m' ? 60_000 : 3_600_000;
  const first = Math.floor(from / ms) * ms;
  const end = Math.ceil(to / ms) * ms;
  return { first, last: end - res };
}

interface Acc {
  count: number;
  sum: number;
  min: number;
  max: number;
  last?: { value: number; ts: number; lineage: Lineage };
  sketch?: Sketch;
}

/** Groups series by their `by` tag values (a missing tag is left out of the group's tags). */
export function groupKey(tags: Readonly<Record<string, string>>, by: readonly string[]): { key: string; tags: Record<string, string> } {
  const out: Record<string, string> = {};
  for (const k of by) if (Object.hasOwn(tags, k)) out[k] = tags[k]!;
  return { key: JSON.stringify(by.map((k) => (Object.hasOwn(tags, k) ? tags[k] : null))), tags: out };
}

export function aggregateSeries(
  series: readonly SeriesData[],
  opts: { agg: Agg; interval: Interval; by: readonly string[]; from: number; to: number },
): GroupResult[] {
  const ms = opts.interval * 1000;
  const { first, last } = bucketRange(opts.from, opts.to, opts.interval);
  const q = QUANTILES[opts.agg];
  const groups = new Map<string, { tags: Record<string, string>; accs: Map<number, Acc> }>();
  for (const s of series) {
    const g = groupKey(s.tags, opts.by);
    let group = groups.get(g.key);
    if (group === undefined) groups.set(g.key, (group = { tags: g.tags, accs: new Map() }));
    for (const b of s.buckets) {
      if (b.start < first || b.start > last || (b.count <= 0 && b.increase !== true)) continue;
      const t = Math.floor(b.start / ms) * ms;
      let acc = group.accs.get(t);
      if (acc === undefined) group.accs.set(t, (acc = { count: 0, sum: 0, min: Infinity, max: -Infinity }));
      acc.count += b.count;
      acc.sum += b.sum;
      if (b.count > 0 && b.min < acc.min) acc.min = b.min;
      if (b.count > 0 && b.max > acc.max) acc.max = b.max;
      if (opts.agg === 'last' && b.last !== undefined && b.lastTs !== undefined && b.lastLin !== undefined) {
        const p = { value: b.last, ts: b.lastTs, lineage: parseLastLineage(b.lastLin) };
        if (acc.last === undefined || compareLastPoint(p, acc.last) > 0) acc.last = p;
      }
      if (q !== undefined && b.sketch !== undefined) {
        const sk = Sketch.decode(b.sketch);
        if (acc.sketch === undefined) acc.sketch = sk;
        else acc.sketch.merge(sk);
      }
    }
  }
  const out: GroupResult[] = [];
  for (const g of groups.values()) {
    const points: Point[] = [];
    for (const t of [...g.accs.keys()].sort((a, b) => a - b)) {
      const v = valueOf(g.accs.get(t)!, opts.agg, q);
      if (v !== undefined) points.push([t, v]);
    }
    if (points.length > 0) out.push({ tags: g.tags, points });
  }
  return out.sort((a, b) => compareTags(a.tags, b.tags));
}

function valueOf(acc: Acc, agg: Agg, q: number | undefined): number | undefined {
  switch (agg) {
    case 'count':
      return acc.count;
    case 'sum':
      return acc.sum;
    case 'avg':
      return acc.count === 0 ? undefined : acc.sum / acc.count;
    case 'min':
      return acc.count === 0 ? undefined : acc.min;
    case 'max':
      return acc.count === 0 ? undefined : acc.max;
    case 'last':
      return acc.last?.value;
    default: {
      if (acc.sketch === undefined || q === undefined) return undefined;
      const v = acc.sketch.quantile(q);
      return Number.isNaN(v) ? undefined : v;
    }
  }
}

function compareTags(a: Record<string, string>, b: Record<string, string>): number {
  const x = JSON.stringify(Object.entries(a).sort());
  const y = JSON.stringify(Object.entries(b).sort());
  return x < y ? -1 : x > y ? 1 : 0;
}
