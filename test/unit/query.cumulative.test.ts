import { describe, expect, it } from 'vitest';
import { countIncreases, histogramIncreases } from '../../functions/query/cumulative.ts';
import type { BucketData } from '../../functions/query/series.ts';
import { aggregateSeries } from '../../functions/query/series.ts';
import { START_TAG } from '../../functions/shared/event.ts';
import { addAggToSketch } from '../../functions/shared/rollups/histogram.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 28, 0);
const START = T0 - 48 * H;
const tags = (start = START) => ({ host: 'a', [START_TAG]: String(start) });

/** A cumulative count bucket: its latest total at `ts`. */
function total(start: number, value: number, ts = start + 30 * 60_000): BucketData {
  return { start, count: 1, sum: value, min: value, max: value, last: value, lastTs: ts, lastLin: `shardId-0/1:${ts}` };
}

/** A cumulative histogram bucket: its latest point, explicit buckets (0, 10], (10, 100], (100, +inf). */
function hist(start: number, counts: [number, number, number], sum: number): BucketData {
  const sketch = new Sketch();
  const count = counts[0] + counts[1] + counts[2];
  addAggToSketch(sketch, { count, sum, min: 1, max: 1000, buckets: { bounds: [10, 100], counts } });
  const ts = start + 60_000;
  return { start, count: 1, sum: count, min: count, max: count, cumCount: count, cumSum: sum, cumTs: ts, cumLin: `shardId-0/1:${ts}`, cumSketch: sketch.encode() };
}

const incs = (b: readonly BucketData[]) => b.map((x) => [x.start - T0, x.sum]);

describe('Function: countIncreases', () => {
  it('is each total minus the one before, the first taken from the lookback', () => {
    // Prepare
    const input = { tags: tags(), buckets: [total(T0 + H, 130), total(T0, 110), total(T0 + 3 * H, 175)], before: [total(T0 - 5 * H, 60), total(T0 - 2 * H, 100)], lookbackFrom: T0 - 24 * H };

    // Act
    const out = countIncreases(input);

    // Assess: the gap at T0 + 2h is no bucket; T0 + 3h takes its increase from T0 + 1h.
    expect(incs(out)).toEqual([[0, 10], [H, 20], [3 * H, 45]]);
    expect(out.map((b) => b.last)).toEqual([110, 130, 175]);
  });

  it('counts a smaller total (a reset) from zero', () => {
    // Act
    const out = countIncreases({ tags: tags(), buckets: [total(T0, 50), total(T0 + H, 8), total(T0 + 2 * H, 20)], before: [total(T0 - H, 40)], lookbackFrom: T0 - 24 * H });

    // Assess
    expect(incs(out)).toEqual([[0, 10], [H, 8], [2 * H, 12]]);
  });

  it('counts a series that started inside the lookback from zero (a new start: nothing of it missed)', () => {
    // Act: started 2 h before the range, first point in the range.
    const out = countIncreases({ tags: tags(T0 - 2 * H), buckets: [total(T0, 7), total(T0 + H, 9)], before: [], lookbackFrom: T0 - 24 * H });

    // Assess
    expect(incs(out)).toEqual([[0, 7], [H, 2]]);
  });

  it('takes the first point as the baseline when the series started before the lookback and has no point in it', () => {
    // Act
    const out = countIncreases({ tags: tags(), buckets: [total(T0, 500), total(T0 + H, 510)], before: [], lookbackFrom: T0 - 24 * H });

    // Assess: the one approximation (README): 500 is not counted.
    expect(incs(out)).toEqual([[0, 0], [H, 10]]);
  });

  it('gives a point of 0 for a bucket with no increase, and sums exactly over a day', () => {
    // Prepare
    const out = countIncreases({ tags: tags(), buckets: [total(T0, 10), total(T0 + H, 10), total(T0 + 2 * H, 25)], before: [total(T0 - H, 4)], lookbackFrom: T0 - 24 * H });

    // Act
    const hourly = aggregateSeries([{ tags: tags(), buckets: out }], { agg: 'sum', interval: 3600, by: [], from: T0, to: T0 + 3 * H });
    const daily = aggregateSeries([{ tags: tags(), buckets: out }], { agg: 'sum', interval: 86400, by: [], from: T0, to: T0 + 24 * H });

    // Assess
    expect(hourly[0]!.points).toEqual([[T0, 6], [T0 + H, 0], [T0 + 2 * H, 15]]);
    expect(daily[0]!.points).toEqual([[T0, 21]]);
  });
});

describe('Function: histogramIncreases', () => {
  it('subtracts bin by bin, and count and sum', () => {
    // Act
    const out = histogramIncreases({ tags: tags(), buckets: [hist(T0, [2, 5, 1], 600), hist(T0 + H, [2, 9, 1], 800)], before: [hist(T0 - H, [1, 2, 0], 100)], lookbackFrom: T0 - 24 * H });

    // Assess
    expect(out.map((b) => [b.count, b.sum])).toEqual([[5, 500], [4, 200]]);
    const second = Sketch.decode(out[1]!.sketch!);
    expect(second.count).toBe(4);
    // Only the (10, 100] bucket grew: every quantile is its representative value, 55.
    expect(second.quantile(0)).toBeCloseTo(55, -0.5);
    expect(second.quantile(1)).toBeCloseTo(55, -0.5);
  });

  it('counts a histogram whose count or some bucket shrank (a reset) from zero', () => {
    // Act: the count grows (8 -> 9) but bucket (100, +inf) shrinks: a reset.
    const out = histogramIncreases({ tags: tags(), buckets: [hist(T0, [2, 5, 1], 600), hist(T0 + H, [4, 5, 0], 90)], before: [], lookbackFrom: T0 - 24 * H });

    // Assess: the first is the baseline (started before the lookback), the second a reset.
    expect(out.map((b) => [b.count, b.sum])).toEqual([[0, 0], [9, 90]]);
  });

  it('gives quantiles of the increase, not of the totals', () => {
    // Prepare: 1000 old observations in (0, 10], then 10 new in (100, +inf).
    const out = histogramIncreases({ tags: tags(T0 - H), buckets: [hist(T0, [1000, 0, 0], 5000), hist(T0 + H, [1000, 0, 10], 15000)], before: [], lookbackFrom: T0 - 24 * H });

    // Act
    const p50 = aggregateSeries([{ tags: tags(), buckets: out.slice(1) }], { agg: 'p50', interval: 3600, by: [], from: T0 + H, to: T0 + 2 * H });

    // Assess
    expect(out.map((b) => b.count)).toEqual([1000, 10]);
    expect(p50[0]!.points[0]![1]).toBeGreaterThan(100);
  });
});
