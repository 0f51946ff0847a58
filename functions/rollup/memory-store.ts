/**
 * The rollup port over plain maps, with DynamoDB's semantics: conditional writes on the version
 * (or on absence), reads of at most 100 keys, items copied in and out (no shared references), and
 * the index update rule of store.ts. For tests, benchmarks and the fault-injection suite.
 */
import type { StoredBucket } from '../shared/rollups/item.ts';
import { emptyHead, type ShardHead } from '../shared/rollups/head.ts';
import { headPk, itemId, logItemKey, type ItemKey } from '../shared/rollups/keys.ts';
import {
  ConditionFailedError,
  MAX_BATCH_READ_KEYS,
  RollupStoreError,
  type BucketRead,
  type LogItem,
  type LogKey,
  type LogRead,
  type MetricEntry,
  type RollupStore,
  type SeriesEntry,
} from './port.ts';

export class MemoryRollupStore implements RollupStore {
  readonly buckets = new Map<string, { key: ItemKey; item: StoredBucket }>();
  readonly series = new Map<string, SeriesEntry>();
  readonly metrics = new Map<string, MetricEntry>();
  /** Metric id (as `metrics`) -> the shards of its `shards` set. */
  readonly metricShards = new Map<string, Set<string>>();
  readonly heads = new Map<string, ShardHead>();
  /** `pk\u0000sk` -> log item. */
  readonly log = new Map<string, LogItem>();
  readonly shards = new Set<string>();
  /** Calls by kind, for assertions. */
  readonly calls = { read: 0, write: 0, series: 0, metric: 0, readHead: 0, writeHead: 0, putLog: 0, readLog: 0 };

  async readBuckets(keys: readonly ItemKey[]): Promise<BucketRead> {
    this.calls.read++;
    if (keys.length > MAX_BATCH_READ_KEYS) {
      throw new RollupStoreError(`BatchGetItem takes at most ${MAX_BATCH_READ_KEYS} keys, got ${keys.length}`, {
        code: 'ValidationException',
        retryable: false,
      });
    }
    const items = new Map<string, StoredBucket>();
    for (const k of keys) {
      const found = this.buckets.get(itemId(k));
      if (found !== undefined) items.set(itemId(k), cloneBucket(found.item));
    }
    return { items, unprocessed: [] };
  }

  async writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void> {
    this.calls.write++;
    const id = itemId(key);
    const current = this.buckets.get(id);
    const ok = expectedVer === undefined ? current === undefined : current !== undefined && current.item.ver === expectedVer;
    if (!ok) throw new ConditionFailedError();
    this.buckets.set(id, { key: { ...key }, item: cloneBucket(item) });
  }

  async touchSeries(entry: SeriesEntry): Promise<void> {
    this.calls.series++;
    const id = `${entry.tenant}#idx#${entry.name}\u0000${entry.seriesId}`;
    const current = this.series.get(id);
    if (current === undefined) this.series.set(id, { ...entry, tags: { ...entry.tags } });
    else if (current.lastSeen < entry.lastSeen) this.series.set(id, { ...current, lastSeen: entry.lastSeen, ttl: entry.ttl });
  }

  async touchMetric(entry: MetricEntry): Promise<void> {
    this.calls.metric++;
    const id = `${entry.tenant}#metrics\u0000${entry.name}`;
    const current = this.metrics.get(id);
    const { shardId, ...rest } = entry;
    if (current === undefined) this.metrics.set(id, rest);
    else if (current.lastSeen < entry.lastSeen) this.metrics.set(id, { ...current, lastSeen: entry.lastSeen, ttl: entry.ttl });
    if (shardId !== undefined) {
      let set = this.metricShards.get(id);
      if (set === undefined) this.metricShards.set(id, (set = new Set()));
      set.add(shardId);
    }
  }

  async readHead(shardId: string): Promise<ShardHead> {
    this.calls.readHead++;
    const h = this.heads.get(headPk(shardId));
    return h === undefined ? emptyHead(shardId) : cloneHead(h);
  }

  async writeHead(head: ShardHead, expectedVer: number): Promise<void> {
    this.calls.writeHead++;
    const current = this.heads.get(headPk(head.shardId));
    if ((current?.ver ?? 0) !== expectedVer) throw new ConditionFailedError(`head of ${head.shardId}: the item changed since it was read`);
    this.heads.set(headPk(head.shardId), cloneHead(head));
  }

  async putLog(item: LogItem): Promise<void> {
    this.calls.putLog++;
    this.log.set(itemId(logItemKey(item)), { ...item, data: new Uint8Array(item.data) });
  }

  async readLog(keys: readonly LogKey[]): Promise<LogRead> {
    this.calls.readLog++;
    if (keys.length > MAX_BATCH_READ_KEYS) {
      throw new RollupStoreError(`BatchGetItem takes at most ${MAX_BATCH_READ_KEYS} keys, got ${keys.length}`, { code: 'ValidationException', retryable: false });
    }
    const items = new Map<string, Uint8Array>();
    for (const k of keys) {
      const found = this.log.get(itemId(k));
      if (found !== undefined) items.set(itemId(k), new Uint8Array(found.data));
    }
    return { items, unprocessed: [] };
  }

  async registerShard(shardId: string): Promise<void> {
    this.shards.add(shardId);
  }

  async listShards(): Promise<string[]> {
    return [...this.shards].sort();
  }
}

export function cloneHead(h: ShardHead): ShardHead {
  return { ...h, commits: h.commits.map((c) => ({ ...c })) };
}



export function cloneBucket(b: StoredBucket): StoredBucket {
  return {
    ...b,
    ...(b.tags !== undefined ? { tags: { ...b.tags } } : {}),
    wm: { ...b.wm },
    ...(b.sketch !== undefined ? { sketch: new Uint8Array(b.sketch) } : {}),
    ...(b.mins !== undefined ? { mins: new Uint8Array(b.mins) } : {}),
    ...(b.cumSketch !== undefined ? { cumSketch: new Uint8Array(b.cumSketch) } : {}),
  };
}
