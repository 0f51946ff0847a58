import { describe, expect, it } from 'vitest';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import { aggregateSeries, bucketRange, groupKey, type BucketData } from '../../functions/query/series.ts';

const H = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 27, 0, 0, 0);

const b = (start: number, values: number[], extra: Partial<BucketData> = {}): BucketData => ({
  start,
  count: values.length,
  sum: values.reduce((a, v) => a + v, 0),
  min: Math.min(...values),
  max: Math.max(...values),
  ...extra,
});

function sketchOf(values: number[]): Uint8Array {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s.encode();
}

describe('Function: bucketRange', () => {
  it('aligns to the interval and reads the buckets of every overlapped interval', () => {
    // Act & Assess
    expect(bucketRange(T0 + 90_000, T0 + 150_000, 60)).toEqual({ first: T0 + 60_000, last: T0 + 120_000 });
    expect(bucketRange(T0 + H + 5, T0 + 2 * H, 3600)).toEqual({ first: T0 + H, last: T0 + H });
    // 1 day from hours: every hour bucket of the overlapped days.
    expect(bucketRange(T0 + 5 * H, T0 + DAY + 1, 86400)).toEqual({ first: T0, last: T0 + 2 * DAY - H });
  });
});

describe('Function: aggregateSeries', () => {
  const a = { tags: { host: 'a', env: 'prod' }, buckets: [b(T0, [1, 2]), b(T0 + 60_000, [10])] };
  const c = { tags: { host: 'c', env: 'prod' }, buckets: [b(T0, [5]), b(T0 + 120_000, [7, 9])] };
  const n = { tags: { env: 'dev' }, buckets: [b(T0, [100])] };
  const opts = { interval: 60 as const, by: [] as string[], from: T0, to: T0 + 180_000 };

  it.each([
    ['sum', [[T0, 108], [T0 + 60_000, 10], [T0 + 120_000, 16]]],
    ['count', [[T0, 4], [T0 + 60_000, 1], [T0 + 120_000, 2]]],
    ['avg', [[T0, 27], [T0 + 60_000, 10], [T0 + 120_000, 8]]],
    ['min', [[T0, 1], [T0 + 60_000, 10], [T0 + 120_000, 7]]],
    ['max', [[T0, 100], [T0 + 60_000, 10], [T0 + 120_000, 9]]],
  ] as const)('merges %s across series', (agg, points) => {
    // Act
    const out = aggregateSeries([a, c, n], { ...opts, agg });

    // Assess
    expect(out).toEqual([{ tags: {}, points }]);
  });

  it('groups by a tag, leaving it out where a series lacks it', () => {
    // Act
    const out = aggregateSeries([a, c, n], { ...opts, agg: 'sum', by: ['host'] });

    // Assess
    expect(out).toEqual([
      { tags: { host: 'a' }, points: [[T0, 3], [T0 + 60_000, 10]] },
      { tags: { host: 'c' }, points: [[T0, 5], [T0 + 120_000, 16]] },
      { tags: {}, points: [[T0, 100]] },
    ]);
    expect(groupKey({ host: 'a' }, ['host', 'dc'])).toEqual({ key: '["a",null]', tags: { host: 'a' } });
  });

  it('computes 1-day points from hour buckets and drops buckets outside the range', () => {
    // Prepare
    const s = { tags: {}, buckets: [b(T0 - H, [1000]), b(T0, [1]), b(T0 + 23 * H, [2]), b(T0 + DAY, [4]), b(T0 + 2 * DAY, [8])] };

    // Act
    const out = aggregateSeries([s], { agg: 'sum', interval: 86400, by: [], from: T0 + 3 * H, to: T0 + DAY + 1 });

    // Assess
    expect(out).toEqual([{ tags: {}, points: [[T0, 3], [T0 + DAY, 4]] }]);
  });

  it('takes last by (ts, lineage) across series and buckets', () => {
    // Prepare
    const g1 = { tags: { host: 'a' }, buckets: [b(T0, [3], { last: 3, lastTs: T0 + 59_000, lastLin: 'shardId-1/100:0' })] };
    const g2 = { tags: { host: 'b' }, buckets: [b(T0, [4], { last: 4, lastTs: T0 + 59_000, lastLin: 'shardId-1/99:5' })] };
    const g3 = { tags: { host: 'c' }, buckets: [b(T0, [5], { last: 5, lastTs: T0 + 10_000, lastLin: 'shardId-2/1:0' })] };

    // Act
    const out = aggregateSeries([g1, g2, g3], { ...opts, agg: 'last' });

    // Assess
    expect(out).toEqual([{ tags: {}, points: [[T0, 3]] }]);
  });

  it('merges sketches across series and buckets for quantiles (within 1 %)', () => {
    // Prepare
    const xs = Array.from({ length: 1000 }, (_, i) => i + 1);
    const s1 = { tags: {}, buckets: [b(T0, xs.slice(0, 300), { sketch: sketchOf(xs.slice(0, 300)) }), b(T0 + H, xs.slice(300, 600), { sketch: sketchOf(xs.slice(300, 600)) })] };
    const s2 = { tags: {}, buckets: [b(T0, xs.slice(600), { sketch: sketchOf(xs.slice(600)) })] };

    // Act
    const [p50] = aggregateSeries([s1, s2], { agg: 'p50', interval: 86400, by: [], from: T0, to: T0 + DAY });
    const [p99] = aggregateSeries([s1, s2], { agg: 'p99', interval: 86400, by: [], from: T0, to: T0 + DAY });

    // Assess
    expect(p50!.points[0]![0]).toBe(T0);
    expect(Math.abs(p50!.points[0]![1] - 500) / 500).toBeLessThanOrEqual(0.01);
    expect(Math.abs(p99!.points[0]![1] - 990) / 990).toBeLessThanOrEqual(0.01);
  });

  it('returns no group for series without buckets in range', () => {
    expect(aggregateSeries([{ tags: {}, buckets: [] }], { ...opts, agg: 'sum' })).toEqual([]);
    expect(aggregateSeries([{ tags: {}, buckets: [b(T0, [1])] }], { ...opts, agg: 'last' })).toEqual([]);
  });
});
