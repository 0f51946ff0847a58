/**
 * Pure parts of the rollup: item keys, batch aggregation, and the fold of a commit into an item.
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
import { FoldStraddleError } from '../../functions/shared/rollups/fold.ts';
import type { StoredBucket } from '../../functions/shared/rollups/item.ts';
import { formatWatermark, parseLastLineage, parseWatermark } from '../../functions/shared/rollups/lineage.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import type { LineagedEvent } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { foldEvents, seqNo } from './support/rollup.ts';

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

describe('Function: foldItem (a commit folded into a series item)', () => {
  const batch = [
    ev({ type: 'gauge', value: 10, ts: NOW - 40_000 }, S0, 5, 0),
    ev({ type: 'gauge', value: 20, ts: NOW - 30_000 }, S0, 5, 1),
    ev({ type: 'gauge', value: 30, ts: NOW - 35_000 }, S0, 7, 0),
  ];
  const fold = (stored: StoredBucket | undefined, events: LineagedEvent[], n: number, guard?: boolean) => foldEvents(stored, events, n, { now: NOW, ttlMs: TTL, guard });
  const written = (r: ReturnType<typeof fold>): StoredBucket => {
    if (r.kind !== 'write') throw new Error('expected a write');
    return r.item;
  };

  it("creates a new item from the commit and sets the shard's watermark to the commit's last event", () => {
    // Act
    const r = fold(undefined, batch, 1);

    // Assess
    expect(r.kind).toBe('write');
    expect(written(r)).toMatchObject({ count: 3, sum: 60, min: 10, max: 30, last: 20, lastTs: NOW - 30_000, ver: 1, wm: { [S0]: `${seqNo(7)}:0` } });
    // The commit's last event stands in for the sequence number of the point (fold.ts).
    expect(parseLastLineage(written(r).lastLin!)).toEqual({ shardId: S0, sequenceNumber: seqNo(7), subIndex: 0 });
    expect(r.kind === 'write' && r.applied).toBe(3);
  });

  it('applies nothing when the watermark covers the commit (a replayed fold)', () => {
    // Prepare
    const first = written(fold(undefined, batch, 1));

    // Act, Assess
    expect(fold(first, batch, 1)).toEqual({ kind: 'covered' });
  });

  it('applies a later commit of the shard on top, and refuses a watermark inside a commit', () => {
    // Prepare
    const first = written(fold(undefined, batch.slice(0, 2), 1));
    const later = [batch[2]!, ev({ type: 'gauge', value: 5, ts: NOW - 50_000 }, S0, 9, 0)];
    // A first-layout item: its watermark is an event inside the next commit.
    const old = { ...first, wm: { [S0]: `${seqNo(8)}:0` } };

    // Act
    const r = written(fold(first, later, 2));

    // Assess
    expect(r).toMatchObject({ count: 4, sum: 65, min: 5, max: 30, last: 20, ver: 2, wm: { [S0]: `${seqNo(9)}:0` } });
    expect(() => fold(old, later, 2)).toThrow(FoldStraddleError);
    expect(() => fold(old, later, 2)).toThrow(`fold: watermark inside a commit: ${S0} ${seqNo(8)}:0 lies in commit 2`);
  });

  it('keeps a watermark per shard, and orders last by (ts, shard, commit) across shards', () => {
    // Prepare
    const a = [ev({ type: 'gauge', value: 1, ts: NOW - 1000 }, S1, 3)];
    const b = [ev({ type: 'gauge', value: 2, ts: NOW - 1000 }, S0, 100)];
    const fromS1 = written(fold(undefined, a, 1));

    // Act
    const r = written(fold(fromS1, b, 1));

    // Assess
    expect(r.wm).toEqual({ [S1]: `${seqNo(3)}:0`, [S0]: `${seqNo(100)}:0` });
    // Same ts: shardId-000000000001 > shardId-000000000000, so S1's value stays last.
    expect(r.last).toBe(1);
  });

  it('merges sketches of distribution buckets', () => {
    // Prepare
    const one = [ev({ type: 'distribution', value: 1 }, S0, 1)];
    const two = [ev({ type: 'distribution', value: 100 }, S0, 2), ev({ type: 'distribution', value: -3 }, S0, 3)];
    const first = written(fold(undefined, one, 1));

    // Act
    const r = written(fold(first, two, 2));

    // Assess
    const s = Sketch.decode(r.sketch!);
    expect(s.count).toBe(3);
    expect(s.quantile(0)).toBeCloseTo(-3, 1);
    expect(s.quantile(1)).toBeCloseTo(100, -1);
  });

  it('applies a replay again when the guard is off (the test-only switch the fault suite checks)', () => {
    // Prepare
    const first = written(fold(undefined, batch, 1));

    // Act
    const again = fold(first, batch, 1, false);

    // Assess
    expect(again.kind === 'write' && again.item.count).toBe(6);
  });

  it('round-trips watermarks', () => {
    expect(parseWatermark(formatWatermark({ sequenceNumber: seqNo(12), subIndex: 3 }))).toEqual({ sequenceNumber: seqNo(12), subIndex: 3 });
  });
});
