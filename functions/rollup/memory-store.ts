/**
 * The rollup port over plain maps, with DynamoDB's semantics: conditional writes on the version
 * (or on absence), reads of at most 100 keys, items copied in and out (no shared references), and
 * the index update rule of store.ts. For tests, benchmarks and the fault-injection suite.
 */
import type { StoredBucket } from '../shared/rollups/item.ts';
import { itemId, type ItemKey } from '../shared/rollups/keys.ts';
import {
  ConditionFailedError,
  MAX_BATCH_READ_KEYS,
  RollupStoreError,
  type BucketRead,
  type MetricEntry,
  type RollupStore,
  type SeriesEntry,
} from './port.ts';

export class MemoryRollupStore implements RollupStore {
  readonly buckets = new Map<string, { key: ItemKey; item: StoredBucket }>();
  readonly series = new Map<string, SeriesEntry>();
  readonly metrics = new Map<string, MetricEntry>();
  /** Calls by kind, for assertions. */
  readonly calls = { read: 0, write: 0, series: 0, metric: 0 };

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
    if (current === undefined) this.metrics.set(id, { ...entry });
    else if (current.lastSeen < entry.lastSeen) this.metrics.set(id, { ...current, lastSeen: entry.lastSeen, ttl: entry.ttl });
  }
}

export function cloneBucket(b: StoredBucket): StoredBucket {
  return {
    ...b,
    tags: { ...b.tags },
    wm: { ...b.wm },
    ...(b.sketch !== undefined ? { sketch: new Uint8Array(b.sketch) } : {}),
    ...(b.mins !== undefined ? { mins: new Uint8Array(b.mins) } : {}),
  };
}
