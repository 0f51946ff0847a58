/**
 * The rollup handler (factory with injected store, clock and metrics): the exact batchItemFailures
 * for each failure shape, replays and resumes, and what it counts.
 */
import { describe, expect, it } from 'vitest';
import { createRollupHandler, readRollupConfig } from '../../functions/rollup/app.ts';
import { bucketPk, bucketSk, bucketStart, itemId, seriesId, type ItemKey } from '../../functions/shared/rollups/keys.ts';
import { MemoryRollupStore } from '../../functions/rollup/memory-store.ts';
import {
  RollupStoreError,
  type BucketRead,
  type MetricEntry,
  type RollupStore,
  type SeriesEntry,
} from '../../functions/rollup/port.ts';
import type { StoredBucket } from '../../functions/shared/rollups/item.ts';
import { RollupCache, type RollupMetricName } from '../../functions/rollup/core.ts';
import { ConfigError } from '../../functions/shared/errors.ts';
import { kinesisRecord, logicalBuckets, ndjson, seqNo } from './support/rollup.ts';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const SHARD = 'shardId-000000000003';
const throttled = () => new RollupStoreError('ThrottlingException: Rate exceeded', { code: 'ThrottlingException', retryable: true });

/** The memory store with a hook before each call that may throw or answer instead. */
class HookedStore implements RollupStore {
  readonly inner = new MemoryRollupStore();
  beforeRead: (keys: readonly ItemKey[]) => BucketRead | void = () => {};
  beforeWrite: (key: ItemKey, item: StoredBucket) => void = () => {};
  beforeIndex: (entry: SeriesEntry | MetricEntry) => void = () => {};
  writes = 0;

  async readBuckets(keys: readonly ItemKey[]): Promise<BucketRead> {
    const answer = this.beforeRead(keys);
    return answer ?? this.inner.readBuckets(keys);
  }
  async writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void> {
    this.beforeWrite(key, item);
    this.writes++;
    return this.inner.writeBucket(key, item, expectedVer);
  }
  async touchSeries(entry: SeriesEntry): Promise<void> {
    this.beforeIndex(entry);
    return this.inner.touchSeries(entry);
  }
  async touchMetric(entry: MetricEntry): Promise<void> {
    this.beforeIndex(entry);
    return this.inner.touchMetric(entry);
  }
}

const ev = (name: string, value: number, ago = 30_000) => ({ tenant: 'acme', name, ts: NOW - ago, value, type: 'count', tags: { host: 'h1' } });

/** r1: a, b   r2: c   r3: a, d   r4: invalid only */
const RECORDS = [
  kinesisRecord(SHARD, seqNo(1), ndjson([ev('a', 1), ev('b', 2)])),
  kinesisRecord(SHARD, seqNo(2), ndjson([ev('c', 3)])),
  kinesisRecord(SHARD, seqNo(3), ndjson([ev('a', 4, 20_000), ev('d', 5)])),
  kinesisRecord(SHARD, seqNo(4), ndjson([{ name: 'no-tenant', ts: NOW, value: 1 }])),
];

const keyOf = (name: string, res: '1m' | '1h', ago = 30_000): ItemKey => ({
  pk: bucketPk('acme', seriesId('acme', name, { host: 'h1' }), res),
  sk: bucketSk(bucketStart(NOW - ago, res)),
});

function setup(store: RollupStore = new HookedStore()) {
  const clock = { t: NOW };
  const metrics = new Map<RollupMetricName, number>();
  const logs: Array<{ level: string; message: string; details?: Record<string, unknown> }> = [];
  const log = (level: string) => (message: string, details?: Record<string, unknown>) => logs.push({ level, message, ...(details ? { details } : {}) });
  const handler = createRollupHandler(
    { ROLLUPS_TABLE_NAME: 'streamfold-rollups' },
    {
      store,
      now: () => clock.t,
      sleep: async (ms) => {
        clock.t += ms;
      },
      random: () => 0.5,
      metrics: { add: (name, value) => metrics.set(name, (metrics.get(name) ?? 0) + value) },
      logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
      flushMetrics: () => {},
    },
  );
  const invoke = (records = RECORDS, budgetMs = 10_000) => {
    const deadline = clock.t + budgetMs;
    return handler({ Records: records }, { getRemainingTimeInMillis: () => deadline - clock.t });
  };
  return { invoke, clock, metrics, logs };
}

const itemOf = (store: HookedStore, key: ItemKey) => store.inner.buckets.get(itemId(key))?.item;

describe('Function: createRollupHandler', () => {
  it('reports no failure when every item is written, and counts what it did', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke, metrics } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    // One item per series: the 1 h bucket, its minutes packed in (count events).
    expect(store.inner.buckets.size).toBe(4);
    expect(store.writes).toBe(4);
    expect(itemOf(store, keyOf('a', '1h'))).toMatchObject({ count: 2, sum: 5, min: 1, max: 4, ver: 1, wm: { [SHARD]: `${seqNo(3)}:0` } });
    const minutes = logicalBuckets(store.inner.buckets.values());
    expect(minutes.get(itemId(keyOf('a', '1m')))).toMatchObject({ count: 2, sum: 5, min: 1, max: 4 });
    expect(minutes.get(itemId(keyOf('a', '1m', 90_000)))).toBeUndefined();
    expect(store.inner.series.size).toBe(4);
    expect(store.inner.metrics.size).toBe(4);
    expect(Object.fromEntries(metrics)).toMatchObject({
      eventsIn: 5,
      invalid: 1,
      itemsWritten: 4,
      indexWrites: 8,
      conflicts: 0,
      retries: 0,
      unwritten: 0,
      freshness: 20_000,
    });
  });

  it('retries throttled writes until the budget runs out, then fails at the lowest record feeding an unwritten item', async () => {
    // Prepare: c's bucket (record 2) is throttled on every attempt.
    const store = new HookedStore();
    store.beforeWrite = (key) => {
      if (key.pk === keyOf('c', '1h').pk) throw throttled();
    };
    const { invoke, clock, metrics, logs } = setup(store);

    // Act
    const res = await invoke(RECORDS, 10_000);

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(2) }] });
    expect(itemOf(store, keyOf('c', '1h'))).toBeUndefined();
    expect(itemOf(store, keyOf('d', '1h'))).toMatchObject({ count: 1 });
    expect(store.inner.buckets.size).toBe(3);
    expect(metrics.get('retries')).toBeGreaterThan(3);
    expect(metrics.get('unwritten')).toBe(1);
    // Returned inside the budget, keeping the margin (1 s).
    expect(clock.t - NOW).toBeLessThanOrEqual(9_000);
    expect(logs.find((l) => l.level === 'warn')?.details).toMatchObject({ resumeFrom: seqNo(2), unwritten: 1 });
  });

  it('fails at the first record of a series even when a later record also feeds it', async () => {
    // Prepare: a is fed by records 1 and 3.
    const store = new HookedStore();
    store.beforeWrite = (key) => {
      if (key.pk === keyOf('a', '1h').pk) throw throttled();
    };
    const { invoke } = setup(store);

    // Act
    const res = await invoke(RECORDS, 5_000);

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(1) }] });
    expect(itemOf(store, keyOf('b', '1h'))).toMatchObject({ count: 1 });
    expect(itemOf(store, keyOf('a', '1h'))).toBeUndefined();
  });

  it('fails at the first record when the reads stay throttled', async () => {
    // Prepare
    const store = new HookedStore();
    store.beforeRead = () => {
      throw new RollupStoreError('ProvisionedThroughputExceededException', { code: 'ProvisionedThroughputExceededException', retryable: true });
    };
    const { invoke } = setup(store);

    // Act
    const res = await invoke(RECORDS, 3_000);

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(1) }] });
    expect(store.inner.buckets.size).toBe(0);
  });

  it('does not retry a store error that will fail again, reports its item, and writes the rest', async () => {
    // Prepare: d (record 3) is refused for good.
    const store = new HookedStore();
    store.beforeWrite = (key) => {
      if (key.pk === keyOf('d', '1h').pk) throw new RollupStoreError('AccessDeniedException: not authorized', { code: 'AccessDeniedException', retryable: false });
    };
    const { invoke, metrics, logs } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(3) }] });
    expect(store.inner.buckets.size).toBe(3);
    expect(metrics.get('retries')).toBe(0);
    expect(logs.find((l) => l.level === 'error')?.details?.error).toBeInstanceOf(RollupStoreError);
  });

  it('fails the whole invocation on an unexpected error (Lambda retries or bisects), after the calls in flight settle', async () => {
    // Prepare
    const store = new HookedStore();
    store.beforeWrite = () => {
      if (store.writes >= 3) throw new TypeError("Cannot read properties of undefined (reading 'S')");
    };
    const { invoke } = setup(store);

    // Act + Assess
    await expect(invoke()).rejects.toThrow(TypeError);
    expect(store.inner.buckets.size).toBe(3);
  });

  it('reports nothing for a batch with nothing to write', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke, metrics } = setup(store);

    // Act
    const onlyInvalid = await invoke([RECORDS[3]!, kinesisRecord(SHARD, seqNo(5), Buffer.from('not json'))]);
    const empty = await invoke([]);

    // Assess
    expect(onlyInvalid).toEqual({ batchItemFailures: [] });
    expect(empty).toEqual({ batchItemFailures: [] });
    expect(store.writes).toBe(0);
    expect(metrics.get('invalid')).toBe(2);
  });

  it('adds nothing twice: a redelivered batch is covered by the watermarks', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke, metrics } = setup(store);
    await invoke();
    const before = structuredClone([...store.inner.buckets.values()]);
    expect(before.every((b) => b.item.mins !== undefined)).toBe(true);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect([...store.inner.buckets.values()]).toEqual(before);
    expect(metrics.get('itemsCovered')).toBe(4);
    // Index entries are cached per container: the replay writes none.
    expect(metrics.get('indexWrites')).toBe(8);
  });

  it('ends with each event applied once after a failure and Lambda resuming from the reported record', async () => {
    // Prepare: the first attempt cannot write c (record 2).
    const store = new HookedStore();
    let blockC = true;
    store.beforeWrite = (key) => {
      if (blockC && key.pk === keyOf('c', '1h').pk) throw throttled();
    };
    const { invoke } = setup(store);
    const first = await invoke(RECORDS, 2_000);
    const from = RECORDS.findIndex((r) => r.kinesis.sequenceNumber === first.batchItemFailures[0]!.itemIdentifier);
    blockC = false;

    // Act
    const second = await invoke(RECORDS.slice(from));

    // Assess
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(2) }] });
    expect(second).toEqual({ batchItemFailures: [] });
    expect(itemOf(store, keyOf('a', '1h'))).toMatchObject({ count: 2, sum: 5, ver: 1 });
    expect(itemOf(store, keyOf('c', '1h'))).toMatchObject({ count: 1, sum: 3 });
    expect(itemOf(store, keyOf('d', '1h'))).toMatchObject({ count: 1, sum: 5, ver: 1 });
  });

  it('re-reads and merges again when another writer moved first (lost conditional write)', async () => {
    // Prepare: just before the first write of b, another shard's write lands on it.
    const store = new HookedStore();
    let raced = false;
    store.beforeWrite = (key) => {
      if (!raced && key.pk === keyOf('b', '1h').pk) {
        raced = true;
        void store.inner.writeBucket(key, { name: 'b', type: 'count', tags: { host: 'h1' }, count: 10, sum: 100, min: 10, max: 10, ttl: 1, wm: { 'shardId-000000000009': `${seqNo(77)}:0` }, ver: 1 }, undefined);
      }
    };
    const { invoke, metrics } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(metrics.get('conflicts')).toBe(1);
    expect(itemOf(store, keyOf('b', '1h'))).toMatchObject({
      count: 11,
      sum: 102,
      min: 2,
      ver: 2,
      wm: { 'shardId-000000000009': `${seqNo(77)}:0`, [SHARD]: `${seqNo(1)}:1` },
    });
  });

  it('retries unprocessed keys of a batch read', async () => {
    // Prepare
    const store = new HookedStore();
    let calls = 0;
    store.beforeRead = (keys) => (calls++ === 0 ? { items: new Map(), unprocessed: [...keys] } : undefined);
    const { invoke, metrics } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(calls).toBe(2);
    expect(metrics.get('retries')).toBe(1);
    expect(store.inner.buckets.size).toBe(4);
  });

  it('reports an index entry left unwritten like a bucket item', async () => {
    // Prepare: the series index of d (record 3) stays throttled.
    const store = new HookedStore();
    store.beforeIndex = (entry) => {
      if (entry.name === 'd' && 'seriesId' in entry) throw throttled();
    };
    const { invoke } = setup(store);

    // Act
    const res = await invoke(RECORDS, 3_000);

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(3) }] });
    expect(store.inner.buckets.size).toBe(4);
  });

  it('merges the next batch into the items it wrote without reading them again', async () => {
    // Prepare
    const store = new HookedStore();
    let reads = 0;
    store.beforeRead = () => void reads++;
    const { invoke, metrics } = setup(store);
    await invoke();
    const readsAfterFirst = reads;
    metrics.clear();

    // Act: the next records of the shard, same series and hour.
    const res = await invoke([kinesisRecord(SHARD, seqNo(5), ndjson([ev('a', 10), ev('b', 20)]))]);

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(readsAfterFirst).toBe(1);
    expect(reads).toBe(1);
    expect(metrics.get('itemCacheHits')).toBe(2);
    expect(itemOf(store, keyOf('a', '1h'))).toMatchObject({ count: 3, sum: 15, ver: 2, wm: { [SHARD]: `${seqNo(5)}:0` } });
    expect(itemOf(store, keyOf('b', '1h'))).toMatchObject({ count: 2, sum: 22, ver: 2 });
  });

  it('re-reads a remembered item another writer changed since, and adds each event once', async () => {
    // Prepare: after the first batch, another shard's container writes a's item.
    const store = new HookedStore();
    const { invoke, metrics } = setup(store);
    await invoke();
    const a = itemOf(store, keyOf('a', '1h'))!;
    await store.inner.writeBucket(keyOf('a', '1h'), { ...a, count: a.count + 5, sum: a.sum + 50, wm: { ...a.wm, 'shardId-000000000009': `${seqNo(1)}:4` }, ver: a.ver + 1 }, a.ver);
    metrics.clear();

    // Act
    const res = await invoke([kinesisRecord(SHARD, seqNo(5), ndjson([ev('a', 10)]))]);

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(metrics.get('itemCacheHits')).toBe(1);
    expect(metrics.get('conflicts')).toBe(1);
    expect(itemOf(store, keyOf('a', '1h'))).toMatchObject({ count: 8, sum: 65, ver: 3 });
  });

  it('reads every item every batch with ROLLUP_ITEM_CACHE_ENTRIES=0, and keeps at most that many', async () => {
    // Prepare
    const store = new HookedStore();
    const read: string[][] = [];
    store.beforeRead = (keys) => void read.push(keys.map((k) => k.pk));
    const handler = createRollupHandler(
      { ROLLUPS_TABLE_NAME: 'streamfold-rollups', ROLLUP_ITEM_CACHE_ENTRIES: '0' },
      { store, now: () => NOW, sleep: async () => {}, random: () => 0.5, metrics: { add: () => {} }, flushMetrics: () => {} },
    );
    const ctx = { getRemainingTimeInMillis: () => 10_000 };

    // Act
    await handler({ Records: RECORDS }, ctx);
    await handler({ Records: [kinesisRecord(SHARD, seqNo(5), ndjson([ev('a', 10)]))] }, ctx);

    // Assess
    expect(read.map((keys) => keys.length)).toEqual([4, 1]);
    expect(itemOf(store, keyOf('a', '1h'))).toMatchObject({ count: 3, ver: 2 });
    const cache = new RollupCache(10, 2);
    const item = itemOf(store, keyOf('a', '1h'))!;
    for (const id of ['x', 'y', 'z']) cache.rememberItem(id, item);
    expect(['x', 'y', 'z'].map((id) => cache.item(id) !== undefined)).toEqual([false, true, true]);
    expect(() => createRollupHandler({ ROLLUPS_TABLE_NAME: 't', ROLLUP_ITEM_CACHE_ENTRIES: '-1' })).toThrow(/ROLLUP_ITEM_CACHE_ENTRIES/);
  });

  it('reads its settings once and names a bad one', () => {
    expect(readRollupConfig({ ROLLUP_TTL_1M_DAYS: '7', ROLLUP_TTL_1H_DAYS: '30' }).ttlMs).toEqual({ '1m': 7 * 86_400_000, '1h': 30 * 86_400_000 });
    expect(() => readRollupConfig({ ROLLUP_TTL_1M_DAYS: 'two' })).toThrow(ConfigError);
    expect(() => readRollupConfig({ ROLLUP_TTL_1M_DAYS: 'two' })).toThrow(/ROLLUP_TTL_1M_DAYS/);
    expect(() => createRollupHandler({})).toThrow(/ROLLUPS_TABLE_NAME/);
    expect(() => readRollupConfig({ ROLLUP_TTL_1M_DAYS: '30', ROLLUP_TTL_1H_DAYS: '7' })).toThrow(
      new ConfigError('ROLLUP_TTL_1M_DAYS (30) must not exceed ROLLUP_TTL_1H_DAYS (7): count and gauge minutes live in 1 h items'),
    );
  });
});
