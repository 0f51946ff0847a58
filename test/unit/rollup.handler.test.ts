/**
 * The rollup handler (factory with injected store, clock and metrics) over the log layout
 * (docs/ROLLUPS.md): what a commit writes, when it folds, the exact batchItemFailures for each
 * failure shape, replays and resumes, lost conditions, and what it counts.
 */
import { describe, expect, it } from 'vitest';
import { createRollupHandler, createSweepHandler, readRollupConfig } from '../../functions/rollup/app.ts';
import { RollupCache, type RollupConfig, type RollupMetricName } from '../../functions/rollup/core.ts';
import { MemoryRollupStore } from '../../functions/rollup/memory-store.ts';
import { RollupStoreError, type LogItem, type LogKey, type LogRead, type MetricEntry, type SeriesEntry } from '../../functions/rollup/port.ts';
import { ConfigError } from '../../functions/shared/errors.ts';
import type { ShardHead } from '../../functions/shared/rollups/head.ts';
import type { StoredBucket } from '../../functions/shared/rollups/item.ts';
import { bucketPk, bucketSk, bucketStart, itemId, metricsPk, seriesId, type ItemKey } from '../../functions/shared/rollups/keys.ts';
import { decodeManifest, decodeSegment } from '../../functions/shared/rollups/segment.ts';
import { kinesisRecord, logicalBuckets, ndjson, seqNo, viewOfStore } from './support/rollup.ts';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const SHARD = 'shardId-000000000003';
const throttled = () => new RollupStoreError('ThrottlingException: Rate exceeded', { code: 'ThrottlingException', retryable: true });

/** The memory store with hooks before calls that may throw (or, for writes, land and then throw). */
class HookedStore extends MemoryRollupStore {
  beforeWrite: (key: ItemKey, item: StoredBucket) => void = () => {};
  beforeHead: (head: ShardHead) => Promise<void> | void = () => {};
  afterHead: (head: ShardHead) => void = () => {};
  beforeLog: (item: LogItem) => void = () => {};
  beforeIndex: (entry: SeriesEntry | MetricEntry) => void = () => {};
  readLogKeys = 0;

  override async writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void> {
    this.beforeWrite(key, item);
    return super.writeBucket(key, item, expectedVer);
  }
  override async writeHead(head: ShardHead, expectedVer: number): Promise<void> {
    await this.beforeHead(head);
    await super.writeHead(head, expectedVer);
    this.afterHead(head);
  }
  override async putLog(item: LogItem): Promise<void> {
    this.beforeLog(item);
    return super.putLog(item);
  }
  override async readLog(keys: readonly LogKey[]): Promise<LogRead> {
    this.readLogKeys += keys.length;
    return super.readLog(keys);
  }
  override async touchSeries(entry: SeriesEntry): Promise<void> {
    this.beforeIndex(entry);
    return super.touchSeries(entry);
  }
  override async touchMetric(entry: MetricEntry): Promise<void> {
    this.beforeIndex(entry);
    return super.touchMetric(entry);
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

/** Folds only when told: the fold interval is a day unless a test says otherwise. */
let containers = 0;
function setup(store = new HookedStore(), config: Partial<RollupConfig> = { foldIntervalMs: 86_400_000 }, env: Record<string, string> = {}) {
  const clock = { t: NOW };
  // Mid-range jitter, a different sequence per container (attempt ids differ as Math.random's would).
  let seed = ++containers * 7919;
  const random = () => {
    seed = (seed * 48_271) % 2_147_483_647;
    return 0.25 + (seed / 2_147_483_647) * 0.5;
  };
  const metrics = new Map<RollupMetricName, number>();
  const logs: Array<{ level: string; message: string; details?: Record<string, unknown> }> = [];
  const log = (level: string) => (message: string, details?: Record<string, unknown>) => logs.push({ level, message, ...(details ? { details } : {}) });
  const deps = {
    store,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms;
    },
    random,
    metrics: { add: (name: RollupMetricName, value: number) => metrics.set(name, (metrics.get(name) ?? 0) + value) },
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    flushMetrics: () => {},
    config,
  };
  const handler = createRollupHandler({ ROLLUPS_TABLE_NAME: 'streamfold-rollups', ...env }, deps);
  const invoke = (records = RECORDS, budgetMs = 10_000) => {
    const deadline = clock.t + budgetMs;
    return handler({ Records: records }, { getRemainingTimeInMillis: () => deadline - clock.t });
  };
  const sweep = createSweepHandler({ ROLLUPS_TABLE_NAME: 'streamfold-rollups' }, { ...deps, config: { ...config, sweepAfterMs: 0 } });
  return { invoke, clock, metrics, logs, sweep: () => sweep({}, { getRemainingTimeInMillis: () => 10_000 }) };
}

const folded = (store: MemoryRollupStore, key: ItemKey) => store.buckets.get(itemId(key))?.item;
const seen = (store: MemoryRollupStore) => logicalBuckets(viewOfStore(store));
const head = (store: MemoryRollupStore) => store.heads.get(`!head#${SHARD}`);

describe('Function: createRollupHandler', () => {
  it('commits a batch as one segment per metric, a manifest and the head, and counts what it did', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke, metrics } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    // Nothing folded yet: the log holds the batch.
    expect(store.buckets.size).toBe(0);
    const segments = [...store.log.values()].filter((l) => l.kind === 'segment');
    expect(segments.map((s) => s.name).sort()).toEqual(['a', 'b', 'c', 'd']);
    const manifest = [...store.log.values()].find((l) => l.kind === 'manifest')!;
    expect(decodeManifest(manifest.data).map((m) => `${m.name}:${m.parts}`).sort()).toEqual(['a:1', 'b:1', 'c:1', 'd:1']);
    const a = decodeSegment(segments.find((s) => s.name === 'a')!.data);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ res: '1h', count: 2, sum: 5, min: 1, max: 4, type: 'count' });
    expect(head(store)).toMatchObject({ n: 1, wm: { sequenceNumber: seqNo(3), subIndex: 1 }, ver: 1 });
    expect(head(store)!.commits).toEqual([
      { n: 1, attempt: segments[0]!.attempt, lo: { sequenceNumber: seqNo(1), subIndex: 0 }, to: { sequenceNumber: seqNo(3), subIndex: 1 }, at: NOW, manifestParts: 1 },
    ]);
    // A reader sees the batch already.
    expect(seen(store).get(itemId(keyOf('a', '1h')))).toMatchObject({ count: 2, sum: 5, min: 1, max: 4 });
    expect(seen(store).get(itemId(keyOf('a', '1m')))).toMatchObject({ count: 2, sum: 5, min: 1, max: 4 });
    expect(store.series.size).toBe(4);
    expect(store.metrics.size).toBe(4);
    expect([...store.metricShards.get(`acme#metrics\u0000a`)!]).toEqual([SHARD]);
    expect([...store.shards]).toEqual([SHARD]);
    expect(Object.fromEntries(metrics)).toMatchObject({ eventsIn: 5, invalid: 1, commits: 1, logItems: 5, indexWrites: 8, itemsWritten: 0, conflicts: 0, retries: 0, freshnessMs: 20_000, foldLagMs: 0 });
  });

  it('folds when the oldest commit is due: items written from the container\'s own copy, the head emptied', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke, clock, metrics } = setup(store, { foldIntervalMs: 60_000 });
    await invoke();

    // Act: a minute later the next batch commits, then folds both commits.
    clock.t += 60_000;
    const res = await invoke([kinesisRecord(SHARD, seqNo(5), ndjson([ev('a', 10, 90_000)]))]);

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(head(store)).toMatchObject({ n: 2, commits: [] });
    expect(folded(store, keyOf('a', '1h'))).toMatchObject({ count: 3, sum: 15, min: 1, max: 10, ver: 1, wm: { [SHARD]: `${seqNo(5)}:0` } });
    expect(folded(store, keyOf('b', '1h'))).toMatchObject({ count: 1, sum: 2, ver: 1, wm: { [SHARD]: `${seqNo(3)}:1` } });
    expect(store.buckets.size).toBe(4);
    expect(store.readLogKeys).toBe(0);
    expect(metrics.get('commitsFolded')).toBe(2);
    expect(metrics.get('itemsWritten')).toBe(4);
    expect(seen(store)).toEqual(logicalBuckets(store.buckets.values()));
  });

  it('adds nothing twice: a redelivered batch is covered by the head, before and after a fold', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke, metrics, sweep } = setup(store);
    await invoke();
    metrics.clear();

    // Act
    const again = await invoke();
    await sweep();
    const afterFold = await invoke();

    // Assess
    expect(again).toEqual({ batchItemFailures: [] });
    expect(afterFold).toEqual({ batchItemFailures: [] });
    expect(metrics.get('eventsCovered')).toBe(10);
    expect(metrics.get('commits')).toBe(0);
    expect(head(store)).toMatchObject({ n: 1, commits: [] });
    expect(folded(store, keyOf('a', '1h'))).toMatchObject({ count: 2, sum: 5 });
  });

  it('fails at the first new record when the log cannot be written, commits nothing, and counts each event once when Lambda retries', async () => {
    // Prepare: c's segment is throttled until the budget runs out.
    const store = new HookedStore();
    let throttle = true;
    store.beforeLog = (item) => {
      if (throttle && item.name === 'c') throw throttled();
    };
    const { invoke, logs } = setup(store);

    // Act
    const failed = await invoke(RECORDS, 10_000);
    throttle = false;
    const retried = await invoke(RECORDS);

    // Assess
    expect(failed).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(1) }] });
    expect(logs.find((l) => l.level === 'warn')?.message).toBe('batch not committed; Lambda resumes from its first new record');
    expect(retried).toEqual({ batchItemFailures: [] });
    expect(head(store)).toMatchObject({ n: 1 });
    expect(seen(store).get(itemId(keyOf('a', '1h')))).toMatchObject({ count: 2, sum: 5 });
    expect(seen(store).get(itemId(keyOf('c', '1h')))).toMatchObject({ count: 1, sum: 3 });
  });

  it('does not retry a store error that will fail again, and fails the batch at its first new record', async () => {
    // Prepare
    const store = new HookedStore();
    let calls = 0;
    store.beforeIndex = () => {
      calls++;
      throw new RollupStoreError('AccessDeniedException: not authorized', { code: 'AccessDeniedException', retryable: false });
    };
    const { invoke, metrics } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(1) }] });
    expect(calls).toBeLessThanOrEqual(8);
    expect(metrics.get('retries')).toBe(0);
    expect(head(store)).toBeUndefined();
  });

  it('fails the whole invocation on an unexpected error (Lambda retries or bisects)', async () => {
    // Prepare
    const store = new HookedStore();
    store.beforeLog = () => {
      throw new TypeError('cannot read properties of undefined');
    };
    const { invoke } = setup(store);

    // Act, Assess
    await expect(invoke()).rejects.toThrow(TypeError);
    expect(head(store)).toBeUndefined();
  });

  it('reports nothing for a batch with nothing to roll up', async () => {
    // Prepare
    const store = new HookedStore();
    const { invoke } = setup(store);

    // Act
    const res = await invoke([RECORDS[3]!]);

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(store.log.size).toBe(0);
    expect(head(store)).toBeUndefined();
  });

  it('commits only what is above the head when another invocation committed part of the batch first', async () => {
    // Prepare: a zombie commits records 1-2 (seqNo 1, 2) between our read of the head and our commit.
    const store = new HookedStore();
    const zombie = setup(store);
    const { invoke, metrics } = setup(store);
    let once = true;
    store.beforeHead = async () => {
      if (!once) return;
      once = false;
      await zombie.invoke(RECORDS.slice(0, 2));
    };

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(metrics.get('conflicts')).toBe(1);
    expect(head(store)!.commits.map((c) => [c.n, c.lo.sequenceNumber, c.to.sequenceNumber])).toEqual([
      [1, seqNo(1), seqNo(2)],
      [2, seqNo(3), seqNo(3)],
    ]);
    expect(seen(store).get(itemId(keyOf('a', '1h')))).toMatchObject({ count: 2, sum: 5 });
    expect(seen(store).get(itemId(keyOf('c', '1h')))).toMatchObject({ count: 1, sum: 3 });
    expect(seen(store).get(itemId(keyOf('d', '1h')))).toMatchObject({ count: 1, sum: 5 });
  });

  it('finds its commit when the head write landed but its answer was lost', async () => {
    // Prepare
    const store = new HookedStore();
    let once = true;
    store.afterHead = () => {
      if (!once) return;
      once = false;
      throw new RollupStoreError('TimeoutError: socket timed out', { code: 'TimeoutError', retryable: true });
    };
    const { invoke, metrics } = setup(store);

    // Act
    const res = await invoke();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(head(store)).toMatchObject({ n: 1 });
    expect(metrics.get('commits')).toBe(1);
    expect(seen(store).get(itemId(keyOf('a', '1h')))).toMatchObject({ count: 2, sum: 5 });
  });

  it('keeps the batch committed when its fold fails; a later fold finishes it', async () => {
    // Prepare: a's item cannot be written for now.
    const store = new HookedStore();
    let refuse = true;
    store.beforeWrite = (key) => {
      if (refuse && key.pk === keyOf('a', '1h').pk) throw throttled();
    };
    const { invoke, metrics, logs, sweep } = setup(store, { foldIntervalMs: 0 });

    // Act
    const res = await invoke(RECORDS, 2_000);
    const unfolded = metrics.get('unfolded');
    refuse = false;
    await sweep();

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(unfolded).toBe(1);
    expect(logs.some((l) => l.message === 'fold left items unwritten; the next fold retries them')).toBe(true);
    expect(head(store)).toMatchObject({ n: 1, commits: [] });
    expect(folded(store, keyOf('a', '1h'))).toMatchObject({ count: 2, sum: 5, ver: 1 });
    expect(folded(store, keyOf('b', '1h'))).toMatchObject({ count: 1, sum: 2, ver: 1 });
  });

  it('folds before it commits when the log is too long, and fails the batch when it cannot', async () => {
    // Prepare: folds fail while `refuse`; at most 2 unfolded commits.
    const store = new HookedStore();
    let refuse = true;
    store.beforeWrite = () => {
      if (refuse) throw throttled();
    };
    const { invoke } = setup(store, { foldIntervalMs: 86_400_000, maxUnfoldedCommits: 2 });
    await invoke([RECORDS[0]!]);
    await invoke([RECORDS[1]!]);

    // Act
    const blocked = await invoke([RECORDS[2]!], 2_000);
    refuse = false;
    const through = await invoke([RECORDS[2]!]);

    // Assess
    expect(blocked).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(3) }] });
    expect(through).toEqual({ batchItemFailures: [] });
    expect(head(store)!.commits.map((c) => c.n)).toEqual([3]);
    expect(seen(store).get(itemId(keyOf('a', '1h')))).toMatchObject({ count: 2, sum: 5 });
  });

  it('folds what another container committed by reading it back from the log', async () => {
    // Prepare: one container commits, another (cold) folds.
    const store = new HookedStore();
    await setup(store).invoke();
    const other = setup(store, { foldIntervalMs: 0 });

    // Act
    await other.invoke([kinesisRecord(SHARD, seqNo(5), ndjson([ev('a', 10)]))]);

    // Assess
    expect(other.metrics.get('commitsRead')).toBe(1);
    expect(store.readLogKeys).toBe(5);
    expect(head(store)).toMatchObject({ n: 2, commits: [] });
    expect(folded(store, keyOf('a', '1h'))).toMatchObject({ count: 3, sum: 15 });
  });

  it('re-reads a folded item another fold changed since, and applies each commit once', async () => {
    // Prepare: the container folds (and keeps its copies); the sweeper folds the next commit.
    const store = new HookedStore();
    const { invoke, metrics, sweep } = setup(store, { foldIntervalMs: 0 });
    await invoke();
    await setup(store).invoke([kinesisRecord(SHARD, seqNo(5), ndjson([ev('a', 10)]))]);
    await sweep();
    metrics.clear();

    // Act: the container's copy of a's item is stale now.
    await invoke([kinesisRecord(SHARD, seqNo(6), ndjson([ev('a', 100)]))]);

    // Assess: its head was stale too (the other container committed): one lost condition each.
    expect(metrics.get('conflicts')).toBe(2);
    expect(folded(store, keyOf('a', '1h'))).toMatchObject({ count: 4, sum: 115, ver: 3 });
  });

  it('keeps at most ROLLUP_ITEM_CACHE_ENTRIES folded items, and refuses a bad value', () => {
    const cache = new RollupCache(10, 2);
    const item = { name: 'a', type: 'count', count: 1, sum: 1, min: 1, max: 1, ttl: 1, wm: {}, ver: 1 } as const;
    for (const id of ['x', 'y', 'z']) cache.rememberItem(id, item);
    expect(['x', 'y', 'z'].map((id) => cache.item(id) !== undefined)).toEqual([false, true, true]);
    expect(() => createRollupHandler({ ROLLUPS_TABLE_NAME: 't', ROLLUP_ITEM_CACHE_ENTRIES: '-1' })).toThrow(/ROLLUP_ITEM_CACHE_ENTRIES/);
  });

  it('adds the shard to the metric entry even when its lastSeen is older than the stored one', async () => {
    // Prepare: another shard wrote a newer lastSeen already.
    const store = new HookedStore();
    await store.touchMetric({ tenant: 'acme', name: 'a', type: 'count', lastSeen: NOW + 60_000, ttl: 1, shardId: 'shardId-000000000009' });
    const { invoke } = setup(store);

    // Act
    await invoke();

    // Assess
    expect([...store.metricShards.get(`${metricsPk('acme')}\u0000a`)!].sort()).toEqual(['shardId-000000000003', 'shardId-000000000009']);
    expect(store.metrics.get(`${metricsPk('acme')}\u0000a`)!.lastSeen).toBe(NOW + 60_000);
  });

  it('reads its settings once and names a bad one', () => {
    expect(readRollupConfig({ ROLLUP_TTL_1M_DAYS: '7', ROLLUP_TTL_1H_DAYS: '30' }).ttlMs).toEqual({ '1m': 7 * 86_400_000, '1h': 30 * 86_400_000 });
    expect(readRollupConfig({ ROLLUP_FOLD_INTERVAL_SECONDS: '30', ROLLUP_FOLD_COMMITS: '8', ROLLUP_SWEEP_AFTER_SECONDS: '90' })).toMatchObject({ foldIntervalMs: 30_000, foldCommits: 8, sweepAfterMs: 90_000 });
    expect(() => readRollupConfig({ ROLLUP_TTL_1M_DAYS: 'two' })).toThrow(ConfigError);
    expect(() => readRollupConfig({ ROLLUP_TTL_1M_DAYS: 'two' })).toThrow(/ROLLUP_TTL_1M_DAYS/);
    expect(() => readRollupConfig({ ROLLUP_FOLD_COMMITS: '0' })).toThrow(/ROLLUP_FOLD_COMMITS/);
    expect(() => createRollupHandler({})).toThrow(/ROLLUPS_TABLE_NAME/);
    expect(() => readRollupConfig({ ROLLUP_TTL_1M_DAYS: '30', ROLLUP_TTL_1H_DAYS: '7' })).toThrow(
      new ConfigError('ROLLUP_TTL_1M_DAYS (30) must not exceed ROLLUP_TTL_1H_DAYS (7): count and gauge minutes live in 1 h items'),
    );
  });
});

describe('Function: createSweepHandler', () => {
  it('folds shards whose log is older than sweepAfter, and throws naming those it cannot', async () => {
    // Prepare
    const store = new HookedStore();
    await setup(store).invoke();
    let refuse = true;
    store.beforeWrite = () => {
      if (refuse) throw new RollupStoreError('AccessDeniedException: no', { code: 'AccessDeniedException', retryable: false });
    };
    const { sweep } = setup(store);

    // Act
    const failed = sweep();
    await expect(failed).rejects.toThrow(`sweep left 1 shards with unfolded commits older than 0 s: ${SHARD}`);
    refuse = false;
    const done = await sweep();

    // Assess
    expect(done).toEqual({ shards: 1, swept: 1, folded: 1, behind: [] });
    expect(head(store)).toMatchObject({ commits: [] });
    expect(folded(store, keyOf('d', '1h'))).toMatchObject({ count: 1, sum: 5 });
  });
});
