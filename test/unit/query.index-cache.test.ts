/** The per-container cache of metric types and series indexes in front of the rollup reader. */
import { describe, expect, it } from 'vitest';
import { CachedSeriesIndex } from '../../functions/query/index-cache.ts';
import { MemoryRollupReader, type QEvent } from './support/query.ts';

const T0 = 1_795_737_600_000;
const ev = (tenant: string, name: string, host: string): QEvent => ({ tenant, name, ts: T0, value: 1, type: 'gauge', tags: { host } });

function counting(events: QEvent[]) {
  const inner = new MemoryRollupReader(events);
  const calls = { getMetric: 0, listSeries: 0, listMetrics: 0, readBuckets: 0 };
  for (const m of Object.keys(calls) as Array<keyof typeof calls>) {
    const orig = inner[m].bind(inner) as (...a: unknown[]) => Promise<unknown>;
    (inner as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      calls[m]++;
      return orig(...a);
    };
  }
  return { inner, calls };
}

describe('Class: CachedSeriesIndex', () => {
  it('reuses a metric and its series index for ttlMs, per tenant and name, then reads again', async () => {
    // Prepare
    const events = [ev('acme', 'cpu', 'a'), ev('globex', 'cpu', 'z')];
    const { inner, calls } = counting(events);
    let now = 0;
    const cache = new CachedSeriesIndex(inner, { ttlMs: 1000, now: () => now });

    // Act
    const first = await cache.listSeries('acme', 'cpu');
    events.push(ev('acme', 'cpu', 'b'));
    const cached = await cache.listSeries('acme', 'cpu');
    const other = await cache.listSeries('globex', 'cpu');
    await cache.getMetric('acme', 'cpu');
    await cache.getMetric('acme', 'cpu');
    now = 1000;
    const fresh = await cache.listSeries('acme', 'cpu');

    // Assess
    expect(first.map((s) => s.tags.host)).toEqual(['a']);
    expect(cached).toBe(first);
    expect(other.map((s) => s.tags.host)).toEqual(['z']);
    expect(fresh.map((s) => s.tags.host).sort()).toEqual(['a', 'b']);
    expect(calls).toMatchObject({ listSeries: 3, getMetric: 1 });
  });

  it('does not keep an unknown metric or a failed read, and shares one read between concurrent callers', async () => {
    // Prepare
    const events: QEvent[] = [];
    const { inner, calls } = counting(events);
    const cache = new CachedSeriesIndex(inner, { ttlMs: 60_000 });
    let fail = true;
    const listSeries = inner.listSeries.bind(inner);
    inner.listSeries = async (t, n) => {
      if (fail) throw new Error('throttled');
      return listSeries(t, n);
    };

    // Act
    const missing = await cache.getMetric('acme', 'cpu');
    events.push(ev('acme', 'cpu', 'a'));
    const found = await cache.getMetric('acme', 'cpu');
    const err = await cache.listSeries('acme', 'cpu').catch((e: unknown) => e);
    fail = false;
    const [x, y] = await Promise.all([cache.listSeries('acme', 'cpu'), cache.listSeries('acme', 'cpu')]);

    // Assess
    expect(missing).toBeUndefined();
    expect(found).toMatchObject({ name: 'cpu', type: 'gauge' });
    expect(err).toBeInstanceOf(Error);
    expect(x).toBe(y);
    expect(x.map((s) => s.tags.host)).toEqual(['a']);
    expect(calls.getMetric).toBe(2);
  });

  it('does not keep an empty series index (the metric item can land before its index entries)', async () => {
    // Prepare
    const events: QEvent[] = [];
    const { inner, calls } = counting(events);
    const cache = new CachedSeriesIndex(inner, { ttlMs: 60_000 });

    // Act
    const empty = await cache.listSeries('acme', 'cpu');
    events.push(ev('acme', 'cpu', 'a'));
    const found = await cache.listSeries('acme', 'cpu');
    const again = await cache.listSeries('acme', 'cpu');

    // Assess
    expect(empty).toEqual([]);
    expect(found.map((s) => s.tags.host)).toEqual(['a']);
    expect(again).toBe(found);
    expect(calls.listSeries).toBe(2);
  });

  it('reads the metric list and the buckets through', async () => {
    // Prepare
    const { inner, calls } = counting([ev('acme', 'cpu', 'a')]);
    const cache = new CachedSeriesIndex(inner);

    // Act
    await cache.listMetrics('acme');
    await cache.listMetrics('acme');
    await cache.readBuckets('acme', 'm', [], '1m', T0, T0, 'sum', 'count');
    await cache.readBuckets('acme', 'm', [], '1m', T0, T0, 'sum', 'count');

    // Assess
    expect(calls).toMatchObject({ listMetrics: 2, readBuckets: 2 });
  });
});
