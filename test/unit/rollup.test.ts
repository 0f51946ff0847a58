/**
 * Pure parts of the rollup: item keys, batch aggregation, and the watermark merge.
 */
import { describe, expect, it } from 'vitest';
import { aggregateBatch, SeriesIdCache, seriesKey, VALUE_MAX_ABS, VALUE_MIN_ABS } from '../../functions/rollup/aggregate.ts';
import {
  bucketPk,
  bucketSk,
  bucketStart,
  bucketTtl,
  daysToMs,
  indexPk,
  metricsPk,
  parseBucketSk,
  seriesId,
} from '../../functions/shared/rollups/keys.ts';
import { mergeBucket } from '../../functions/rollup/merge.ts';
import { formatWatermark, parseLastLineage, parseWatermark } from '../../functions/shared/rollups/lineage.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import type { LineagedEvent } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { seqNo } from './support/rollup.ts';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const TTL = { '1m': daysToMs(15), '1h': daysToMs(400) };
const S0 = 'shardId-000000000000';
const S1 = 'shardId-000000000001';

function ev(partial: Partial<StreamEvent> & { value: number }, shardId = S0, seq = 1, sub = 0): LineagedEvent {
  return {
    event: { tenant: 'acme', name: 'http.duration', ts: NOW - 30_000, type: 'count', tags: { host: 'a' }, ...partial },
    lineage: { shardId, sequenceNumber: seqNo(seq), subIndex: sub },
  };
}

describe('Module: keys', () => {
  it('lays out bucket keys: tenant#s#seriesId#res and a 13-digit bucket start', () => {
    // Prepare
    const ts = Date.parse('2026-11-28T11:59:41.123Z');

    // Act
    const id = seriesId('acme', 'cpu', { host: 'a', env: 'prod' });
    const m = bucketStart(ts, '1m');
    const h = bucketStart(ts, '1h');

    // Assess
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(bucketPk('acme', id, '1m')).toBe(`acme#s#${id}#1m`);
    expect(m).toBe(Date.parse('2026-11-28T11:59:00Z'));
    expect(h).toBe(Date.parse('2026-11-28T11:00:00Z'));
    expect(bucketSk(m)).toHaveLength(13);
    expect(bucketSk(5)).toBe('0000000000005');
    expect(parseBucketSk(bucketSk(m))).toBe(m);
    expect(indexPk('acme', 'cpu')).toBe('acme#idx#cpu');
    expect(metricsPk('acme')).toBe('acme#metrics');
    expect(bucketTtl(m, '1m', daysToMs(15))).toBe((m + 60_000 + daysToMs(15)) / 1000);
  });

  it('derives the series id from tenant, name and tags, whatever the tag order', () => {
    const a = seriesId('acme', 'cpu', { host: 'a', env: 'prod' });
    expect(seriesId('acme', 'cpu', { env: 'prod', host: 'a' })).toBe(a);
    expect(seriesId('globex', 'cpu', { host: 'a', env: 'prod' })).not.toBe(a);
    expect(seriesId('acme', 'mem', { host: 'a', env: 'prod' })).not.toBe(a);
    expect(seriesId('acme', 'cpu', { host: 'a', env: 'dev' })).not.toBe(a);
    expect(seriesId('acme', 'cpu', {})).not.toBe(seriesId('acme', 'cpu', { '': '' }));
  });

  it('builds an unambiguous series key (tags may hold any character)', () => {
    expect(seriesKey('t', 'n', { a: 'b|1:c' })).not.toBe(seriesKey('t', 'n', { a: 'b', c: '' }));
    expect(seriesKey('t', 'n', { b: '1', a: '2' })).toBe(seriesKey('t', 'n', { a: '2', b: '1' }));
  });
});

describe('Class: SeriesIdCache', () => {
  it('gives every (tenant, name, tags) the canonical key and id, whatever the tag order', () => {
    // Prepare
    const cache = new SeriesIdCache();
    const cases: Array<[string, string, Record<string, string>]> = [
      ['acme', 'cpu', { host: 'a', env: 'prod' }],
      ['acme', 'cpu', { env: 'prod', host: 'a' }],
      ['acme', 'cpu', { env: 'prod' }],
      ['acme', 'cpu', { env: 'prod', host: 'a', x: '' }],
      ['acme', 'cpu', {}],
      ['acme', 'cpu', { '': '' }],
      ['globex', 'cpu', { host: 'a', env: 'prod' }],
      ['acme', 'mem', { host: 'a', env: 'prod' }],
      ['acme', 'cpu', { a: 'b|1:c' }],
      ['acme', 'cpu', { a: 'b', c: '' }],
    ];

    // Act: twice, so the second round is answered from the trie.
    const first = cases.map(([t, n, tags]) => cache.lookup(t, n, tags));
    const second = cases.map(([t, n, tags]) => cache.lookup(t, n, { ...tags }));

    // Assess
    expect(second).toEqual(first);
    cases.forEach(([t, n, tags], i) => {
      expect(first[i]).toEqual({ key: seriesKey(t, n, tags), id: seriesId(t, n, tags) });
    });
    // Same tags in another order: the very same ref; all other cases distinct.
    expect(first[1]).toBe(first[0]);
    expect(new Set(first.map((r) => r.id)).size).toBe(cases.length - 1);
  });

  it('starts over when full and still answers right', () => {
    // Prepare
    const cache = new SeriesIdCache(3);

    // Act
    const refs = Array.from({ length: 10 }, (_, i) => cache.lookup('acme', 'cpu', { host: `h${i % 5}` }));

    // Assess
    refs.forEach((r, i) => expect(r.id).toBe(seriesId('acme', 'cpu', { host: `h${i % 5}` })));
  });
});

describe('Function: aggregateBatch', () => {
  it('puts every event in its 1 h bucket and its minute (packed for gauges, a 1 m item for distributions) with count, sum, min, max, last and sketch', () => {
    // Prepare
    const events = [
      ev({ name: 'lat', type: 'distribution', value: 5 }, S0, 1, 0),
      ev({ name: 'lat', type: 'distribution', value: -2, ts: NOW - 90_000 }, S0, 1, 1),
      ev({ name: 'cpu', type: 'gauge', value: 0.5, ts: NOW - 10_000 }, S0, 2, 0),
      ev({ name: 'cpu', type: 'gauge', value: 0.7, ts: NOW - 10_000 }, S0, 2, 1),
      ev({ name: 'cpu', type: 'gauge', value: 0.9, ts: NOW - 20_000 }, S0, 3, 0),
    ];

    // Act
    const agg = aggregateBatch(events, NOW, { ttlMs: TTL });

    // Assess
    const byKey = new Map(agg.items.map((i) => [`${i.name}/${i.res}/${new Date(i.start).toISOString()}`, i]));
    expect([...byKey.keys()].sort()).toEqual([
      'cpu/1h/2026-11-28T11:00:00.000Z',
      'lat/1h/2026-11-28T11:00:00.000Z',
      'lat/1m/2026-11-28T11:58:00.000Z',
      'lat/1m/2026-11-28T11:59:00.000Z',
    ]);
    const latHour = byKey.get('lat/1h/2026-11-28T11:00:00.000Z')!.parts[0]!;
    expect(latHour.agg).toMatchObject({ count: 2, sum: 3, min: -2, max: 5, last: undefined });
    expect(latHour.agg.sketch!.count).toBe(2);
    expect(latHour.indexes).toEqual([0, 1]);
    expect(latHour.agg.minutes).toBeUndefined();
    // last: greatest ts, then greatest lineage (0.7 is after 0.5 at the same ts; 0.9 is older).
    const cpuHour = byKey.get('cpu/1h/2026-11-28T11:00:00.000Z')!.parts[0]!.agg;
    expect(cpuHour.minutes!.flatMap((m, i) => (m === undefined ? [] : [i]))).toEqual([59]);
    const cpu = cpuHour.minutes![59]!;
    expect(cpu).toMatchObject({ count: 3, min: 0.5, max: 0.9, sketch: undefined });
    expect(cpu.last).toMatchObject({ value: 0.7, ts: NOW - 10_000 });
    expect(agg.series.map((s) => s.name).sort()).toEqual(['cpu', 'lat']);
    expect(agg.metrics.find((m) => m.name === 'lat')).toMatchObject({ maxTs: NOW - 30_000, firstIndex: 0 });
    expect(agg.stats).toMatchObject({ eventsIn: 5, rolledUp: 5, outOfRange: 0, newestTs: NOW - 10_000 });
  });

  it('drops events older than a resolution retention from that resolution only, and counts them', () => {
    // Prepare
    const events = [
      ev({ value: 1, ts: NOW - daysToMs(20) }), // past 1 m retention, inside 1 h
      ev({ value: 1, ts: NOW - daysToMs(401) }, S0, 2), // past both
      ev({ value: 1 }, S0, 3),
    ];

    // Act
    const agg = aggregateBatch(events, NOW, { ttlMs: TTL });

    // Assess
    expect(agg.stats.lateDropped).toEqual({ '1m': 2, '1h': 1 });
    expect(agg.items.map((i) => i.res).sort()).toEqual(['1h', '1h']);
    // The 20-day-old event is in its hour but not in a minute; the fresh one is in both.
    const [old, fresh] = [...agg.items].sort((a, b) => a.start - b.start).map((i) => i.parts[0]!.agg);
    expect(old).toMatchObject({ count: 1, minutes: undefined });
    expect(fresh!.minutes!.filter((m) => m !== undefined).map((m) => m!.count)).toEqual([1]);
    expect(agg.series[0]!.minTs).toBe(NOW - daysToMs(20));
  });

  it('counts and leaves out values DynamoDB numbers cannot hold (outside 0 and 1e-100..1e100)', () => {
    // Prepare
    const events = [
      ev({ value: 1e101 }),
      ev({ value: -1e101 }, S0, 2),
      ev({ value: 1e-101 }, S0, 3),
      ev({ value: 5e-324 }, S0, 4),
      ev({ value: VALUE_MAX_ABS }, S0, 5),
      ev({ value: -VALUE_MIN_ABS }, S0, 6),
      ev({ value: 0 }, S0, 7),
    ];

    // Act
    const agg = aggregateBatch(events, NOW, { ttlMs: TTL });

    // Assess
    expect(agg.stats.outOfRange).toBe(4);
    expect(agg.items[0]!.parts[0]!.agg).toMatchObject({ count: 3, min: -VALUE_MIN_ABS, max: VALUE_MAX_ABS });
  });

  it('puts a batch that is not in lineage order back in order before indexing it', () => {
    // Prepare
    const events = [ev({ value: 3 }, S0, 2, 0), ev({ value: 1 }, S0, 1, 0), ev({ value: 2 }, S0, 1, 1)];

    // Act
    const agg = aggregateBatch(events, NOW, { ttlMs: TTL });

    // Assess
    expect(agg.events.map((e) => e.event.value)).toEqual([1, 2, 3]);
    expect(agg.items[0]!.parts[0]!.indexes).toEqual([0, 1, 2]);
  });

  it('keeps one part per shard for an item fed by two shards', () => {
    // Prepare
    const events = [ev({ value: 1 }, S0, 1), ev({ value: 2 }, S1, 1), ev({ value: 3 }, S0, 2)];

    // Act
    const agg = aggregateBatch(events, NOW, { ttlMs: TTL });

    // Assess
    const parts = agg.items[0]!.parts;
    expect(parts.map((p) => [p.shardId, p.agg.count, p.agg.sum])).toEqual([
      [S0, 2, 4],
      [S1, 1, 2],
    ]);
  });
});

describe('Function: mergeBucket', () => {
  const batch = [
    ev({ type: 'gauge', value: 10, ts: NOW - 40_000 }, S0, 5, 0),
    ev({ type: 'gauge', value: 20, ts: NOW - 30_000 }, S0, 5, 1),
    ev({ type: 'gauge', value: 30, ts: NOW - 35_000 }, S0, 7, 0),
  ];
  const itemOf = (events: LineagedEvent[]) => aggregateBatch(events, NOW, { ttlMs: TTL }).items.find((i) => i.res === '1h')!;

  it('creates a new item from the whole partial and sets the shard watermark to its last event', () => {
    // Act
    const r = mergeBucket(undefined, itemOf(batch), batch);

    // Assess
    expect(r.kind).toBe('write');
    if (r.kind !== 'write') return;
    expect(r.item).toMatchObject({ count: 3, sum: 60, min: 10, max: 30, last: 20, lastTs: NOW - 30_000, ver: 1, wm: { [S0]: `${seqNo(7)}:0` } });
    expect(parseLastLineage(r.item.lastLin!)).toEqual({ shardId: S0, sequenceNumber: seqNo(5), subIndex: 1 });
    expect(r.applied).toBe(3);
  });

  it('applies nothing when the watermark covers the batch (replay)', () => {
    // Prepare
    const first = mergeBucket(undefined, itemOf(batch), batch);
    if (first.kind !== 'write') throw new Error('expected a write');

    // Act
    const again = mergeBucket(first.item, itemOf(batch), batch);

    // Assess
    expect(again).toEqual({ kind: 'covered', skipped: 3 });
  });

  it('applies only the events above the watermark when a replay overlaps it', () => {
    // Prepare: the first two events were applied by an earlier invocation.
    const applied = mergeBucket(undefined, itemOf(batch.slice(0, 2)), batch.slice(0, 2));
    if (applied.kind !== 'write') throw new Error('expected a write');
    const later = [...batch, ev({ type: 'gauge', value: 5, ts: NOW - 50_000 }, S0, 9, 0)];

    // Act
    const r = mergeBucket(applied.item, itemOf(later), later);

    // Assess
    if (r.kind !== 'write') throw new Error('expected a write');
    expect(r.item).toMatchObject({ count: 4, sum: 65, min: 5, max: 30, last: 20, ver: 2, wm: { [S0]: `${seqNo(9)}:0` } });
    expect([r.applied, r.skipped]).toEqual([2, 2]);
  });

  it('keeps a watermark per shard, and orders last by (ts, shard, lineage) across shards', () => {
    // Prepare
    const a = [ev({ type: 'gauge', value: 1, ts: NOW - 1000 }, S1, 3)];
    const b = [ev({ type: 'gauge', value: 2, ts: NOW - 1000 }, S0, 100)];
    const fromS1 = mergeBucket(undefined, itemOf(a), a);
    if (fromS1.kind !== 'write') throw new Error('expected a write');

    // Act
    const r = mergeBucket(fromS1.item, itemOf(b), b);

    // Assess
    if (r.kind !== 'write') throw new Error('expected a write');
    expect(r.item.wm).toEqual({ [S1]: `${seqNo(3)}:0`, [S0]: `${seqNo(100)}:0` });
    // Same ts: shardId-000000000001 > shardId-000000000000, so S1's value stays last.
    expect(r.item.last).toBe(1);
  });

  it('merges sketches of distribution buckets', () => {
    // Prepare
    const one = [ev({ type: 'distribution', value: 1 }, S0, 1)];
    const two = [ev({ type: 'distribution', value: 100 }, S0, 2), ev({ type: 'distribution', value: -3 }, S0, 3)];
    const first = mergeBucket(undefined, itemOf(one), one);
    if (first.kind !== 'write') throw new Error('expected a write');

    // Act
    const r = mergeBucket(first.item, itemOf(two), two);

    // Assess
    if (r.kind !== 'write') throw new Error('expected a write');
    const s = Sketch.decode(r.item.sketch!);
    expect(s.count).toBe(3);
    expect(s.quantile(0)).toBeCloseTo(-3, 1);
    expect(s.quantile(1)).toBeCloseTo(100, -1);
  });

  it('applies a replay again when the guard is off (the test-only switch the fault suite checks)', () => {
    // Prepare
    const first = mergeBucket(undefined, itemOf(batch), batch);
    if (first.kind !== 'write') throw new Error('expected a write');

    // Act
    const again = mergeBucket(first.item, itemOf(batch), batch, { guard: false });

    // Assess
    expect(again.kind === 'write' && again.item.count).toBe(6);
  });

  it('round-trips watermarks', () => {
    expect(parseWatermark(formatWatermark({ sequenceNumber: seqNo(12), subIndex: 3 }))).toEqual({ sequenceNumber: seqNo(12), subIndex: 3 });
  });
});
