/**
 * Cumulative series (events with `start`: their tags hold `_sf_start`, functions/shared/event.ts)
 * as the query shows them: increases. The rollups keep each bucket's latest total (a count's as
 * `last`, a histogram's as cum*: functions/shared/rollups/item.ts); this turns a series' buckets
 * into what each bucket added. Pure.
 *
 * The rule, per series and bucket (buckets in time order):
 *   increase = the bucket's latest total − the latest total of the previous bucket with data;
 *   - a total smaller than the previous one (a histogram: its count, or any bucket of it) is a
 *     reset: the increase is the total itself (counted from 0);
 *   - a series whose start is after the previous point counts from 0 (its start is in its
 *     `_sf_start` tag; each start is its own series, so a restart is a new series, and exact);
 *   - the first bucket of the range takes as its previous point the latest one of the lookback
 *     (the 24 h before the range, read from 1 h items; and at 1 min the minutes of the range's
 *     first hour before it). With none there, a series that started inside the lookback or the
 *     range counts from 0 (nothing of it can be missing); otherwise its first point is the
 *     baseline, adding 0 — the rule's one approximation: a series silent for more than 24 h
 *     before the range loses what it added between its last point and its first in the range.
 * For histograms the same holds bin by bin on the sketches, and on count and sum. Summing the
 * increases of consecutive buckets gives the increase over them (they telescope), so 1-day points
 * (from 1 h buckets) are exact too.
 */
import { START_TAG } from '../shared/event.ts';
import { hasCum } from '../shared/rollups/item.ts';
import { compareLastPoint, parseLastLineage } from '../shared/rollups/lineage.ts';
import { Sketch } from '../shared/rollups/sketch.ts';
import type { BucketData } from './series.ts';

/** Whether a series' tags say it is cumulative. */
export const isCumulative = (tags: Readonly<Record<string, string>>): boolean => Object.hasOwn(tags, START_TAG);

/** A cumulative series' start, epoch ms (from its reserved tag), or undefined. */
export function startOf(tags: Readonly<Record<string, string>>): number | undefined {
  const s = tags[START_TAG];
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

interface Total {
  readonly ts: number;
  readonly value: number;
}

interface HistTotal {
  readonly ts: number;
  readonly count: number;
  readonly sum: number;
  readonly sketch: Sketch;
}

/** The latest point of some buckets (a count's `last`, a histogram's cum*), by (ts, lineage). */
function latest<T>(buckets: readonly BucketData[], pick: (b: BucketData) => { ts: number; lin: string; v: T } | undefined): { ts: number; v: T } | undefined {
  let best: { ts: number; lineage: ReturnType<typeof parseLastLineage>; v: T } | undefined;
  for (const b of buckets) {
    const p = pick(b);
    if (p === undefined) continue;
    const cand = { ts: p.ts, lineage: parseLastLineage(p.lin), v: p.v };
    if (best === undefined || compareLastPoint(cand, best) > 0) best = cand;
  }
  return best;
}

const countPoint = (b: BucketData) => (b.last !== undefined && b.lastTs !== undefined && b.lastLin !== undefined ? { ts: b.lastTs, lin: b.lastLin, v: b.last } : undefined);
const histPoint = (b: BucketData) => (hasCum(b) ? { ts: b.cumTs, lin: b.cumLin, v: b } : undefined);

export interface IncreaseInput {
  /** The series' tags (its start in `_sf_start`). */
  readonly tags: Readonly<Record<string, string>>;
  /** Buckets of the range, any order. */
  readonly buckets: readonly BucketData[];
  /** Buckets before the range (the lookback), any order. */
  readonly before: readonly BucketData[];
  /** Earliest time the lookback covers, epoch ms. */
  readonly lookbackFrom: number;
}

/**
 * A cumulative count series' buckets as increases: `sum` and `count` are the increase, `last`
 * the bucket's total (its `lastTs`/`lastLin` kept), min and max 0. Every bucket with a point gives
 * one, an increase of 0 included (flagged `increase`, so the aggregation keeps it).
 */
export function countIncreases(s: IncreaseInput): BucketData[] {
  const start = startOf(s.tags) ?? -Infinity;
  const base = latest(s.before, countPoint);
  let prev: Total | undefined = base !== undefined ? { ts: base.ts, value: base.v } : start >= s.lookbackFrom ? { ts: -Infinity, value: 0 } : undefined;
  const out: BucketData[] = [];
  for (const b of [...s.buckets].sort((x, y) => x.start - y.start)) {
    const p = latest([b], countPoint);
    if (p === undefined) continue;
    let inc: number;
    if (prev === undefined) inc = 0;
    else if (p.v < prev.value || start > prev.ts) inc = p.v;
    else inc = p.v - prev.value;
    prev = { ts: p.ts, value: p.v };
    out.push({ start: b.start, count: inc, sum: inc, min: inc, max: inc, last: b.last, lastTs: b.lastTs, lastLin: b.lastLin, increase: true });
  }
  return out;
}

/**
 * A cumulative histogram series' buckets as increases: count, sum and sketch are the increases,
 * min and max the increase sketch's lowest and highest values (within its bounds).
 */
export function histogramIncreases(s: IncreaseInput): BucketData[] {
  const start = startOf(s.tags) ?? -Infinity;
  const base = latest(s.before, histPoint);
  const toTotal = (b: BucketData & { cumCount: number; cumSum: number; cumSketch: Uint8Array; cumTs: number }): HistTotal => ({ ts: b.cumTs, count: b.cumCount, sum: b.cumSum, sketch: Sketch.decode(b.cumSketch) });
  let prev: HistTotal | undefined =
    base !== undefined && hasCum(base.v) ? toTotal(base.v) : start >= s.lookbackFrom ? { ts: -Infinity, count: 0, sum: 0, sketch: new Sketch() } : undefined;
  const out: BucketData[] = [];
  for (const b of [...s.buckets].sort((x, y) => x.start - y.start)) {
    if (!hasCum(b)) continue;
    const cur = toTotal(b);
    let inc: { count: number; sum: number; sketch: Sketch };
    if (prev === undefined) inc = { count: 0, sum: 0, sketch: new Sketch() };
    else {
      const diff = cur.count >= prev.count && start <= prev.ts ? cur.sketch.minus(prev.sketch) : undefined;
      inc = diff === undefined ? { count: cur.count, sum: cur.sum, sketch: cur.sketch } : { count: cur.count - prev.count, sum: cur.sum - prev.sum, sketch: diff };
    }
    prev = cur;
    const lo = inc.sketch.quantile(0);
    const hi = inc.sketch.quantile(1);
    out.push({
      start: b.start,
      count: inc.count,
      sum: inc.sum,
      min: Number.isNaN(lo) ? 0 : lo,
      max: Number.isNaN(hi) ? 0 : hi,
      ...(inc.count > 0 ? { sketch: inc.sketch.encode() } : {}),
      increase: true,
    });
  }
  return out;
}
