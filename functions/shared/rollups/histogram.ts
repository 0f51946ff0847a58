/**
 * Pre-aggregated distribution points (`agg`, functions/shared/event.ts) as the rollups hold them:
 * exact count and sum, min and max (the point's, else its buckets' bounds), and the buckets added
 * to the DDSketch (sketch.ts) at one representative value each. Used by the rollup's aggregation
 * (functions/rollup/aggregate.ts); the rule is documented in README "The event contract".
 *
 * Representative values, and what they cost a quantile:
 * - **Explicit buckets** `(bounds[i-1], bounds[i]]`: the middle of the bucket, after clamping it
 *   to the point's [min, max] (the first bucket, unbounded below, starts at min, else at its upper
 *   bound; the last, unbounded above, ends at max, else at its lower bound). A quantile is then off
 *   by at most half the (clamped) bucket's width, plus the sketch's 1 %: within the bucket.
 * - **Exponential buckets** `(base^i, base^(i+1)]`, base = 2^(2^-scale): the geometric middle
 *   base^(i+½), clamped to [min, max]; its count goes to the DDSketch bin of that value. A
 *   quantile is off by at most max(1 %, the bucket's relative width base − 1), about: within
 *   sqrt(base) − 1 of the representative, and the bin within 1 % of that. At scale >= 6 (base −
 *   1 <= 1.1 %) the bound is the sketch's own, about 1 %.
 * - **No buckets**: the whole count at the mean (sum / count), clamped to [min, max].
 */
import type { DistributionAgg, ExplicitBuckets, ExponentialBuckets } from '../event.ts';
import { Sketch } from './sketch.ts';

export const isExplicit = (b: ExplicitBuckets | ExponentialBuckets): b is ExplicitBuckets => 'bounds' in b;

/** Min and max of a point: its own, else the outermost bounds of its non-empty buckets, else its mean. */
export function aggMinMax(a: DistributionAgg): { min: number; max: number } | undefined {
  if (a.count === 0) return undefined;
  if (a.min !== undefined && a.max !== undefined) return { min: a.min, max: a.max };
  const mean = a.sum / a.count;
  const range = a.buckets === undefined ? { lo: mean, hi: mean } : isExplicit(a.buckets) ? explicitRange(a.buckets) : exponentialRange(a.buckets);
  let lo = a.min ?? range.lo;
  let hi = a.max ?? range.hi;
  if (lo > hi) {
    if (a.min === undefined) lo = hi;
    else hi = lo;
  }
  return { min: lo, max: hi };
}

/** Adds the point's buckets (or its mean) to `sketch`, `count` observations in all. */
export function addAggToSketch(sketch: Sketch, a: DistributionAgg): void {
  if (a.count === 0) return;
  const mm = aggMinMax(a)!;
  const clamp = (v: number) => (v < mm.min ? mm.min : v > mm.max ? mm.max : v);
  const b = a.buckets;
  if (b === undefined) {
    sketch.addN(clamp(a.sum / a.count), a.count);
    return;
  }
  if (isExplicit(b)) {
    const n = b.bounds.length;
    for (let i = 0; i <= n; i++) {
      const c = b.counts[i]!;
      if (c === 0) continue;
      sketch.addN(explicitRepresentative(b.bounds, i, mm.min, mm.max), c);
    }
    return;
  }
  if (b.zeroCount > 0) sketch.addN(0, b.zeroCount);
  const half = 2 ** -b.scale / 2;
  for (const [side, sign] of [[b.positive, 1], [b.negative, -1]] as const) {
    if (side === undefined) continue;
    for (let k = 0; k < side.counts.length; k++) {
      const c = side.counts[k]!;
      if (c === 0) continue;
      const rep = sign * 2 ** ((side.offset + k) * 2 ** -b.scale + half);
      sketch.addN(clamp(rep), c);
    }
  }
}

/** The representative value of explicit bucket `i` (see the header), inside [min, max]. */
export function explicitRepresentative(bounds: readonly number[], i: number, min: number, max: number): number {
  const n = bounds.length;
  if (n === 0) return (min + max) / 2;
  let lo = i === 0 ? min : bounds[i - 1]!;
  let hi = i === n ? max : bounds[i]!;
  if (i === 0 && min > hi) lo = hi;
  if (i === n && max < lo) hi = lo;
  if (lo < min) lo = min;
  if (hi > max) hi = max;
  if (lo > hi) return lo > max ? max : min;
  return lo + (hi - lo) / 2;
}

function explicitRange(b: ExplicitBuckets): { lo: number; hi: number } {
  const n = b.bounds.length;
  let first = -1;
  let last = -1;
  for (let i = 0; i <= n; i++) {
    if (b.counts[i]! > 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (n === 0 || first < 0) return { lo: 0, hi: 0 };
  // The lowest bucket's lower bound (the first bucket has none: its upper bound is the best known),
  // the highest bucket's upper bound (the last has none: its lower bound).
  const lo = first === 0 ? b.bounds[0]! : b.bounds[first - 1]!;
  const hi = last === n ? b.bounds[n - 1]! : b.bounds[last]!;
  return { lo, hi };
}

function exponentialRange(b: ExponentialBuckets): { lo: number; hi: number } {
  const w = 2 ** -b.scale;
  let lo = Infinity;
  let hi = -Infinity;
  const see = (v: number) => {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  };
  if (b.zeroCount > 0) see(0);
  const extent = (side: { offset: number; counts: readonly number[] } | undefined, sign: number) => {
    if (side === undefined) return;
    for (let k = 0; k < side.counts.length; k++) {
      if (side.counts[k] === 0) continue;
      see(sign * 2 ** ((side.offset + k) * w));
      see(sign * 2 ** ((side.offset + k + 1) * w));
    }
  };
  extent(b.positive, 1);
  extent(b.negative, -1);
  return lo === Infinity ? { lo: 0, hi: 0 } : { lo, hi };
}
