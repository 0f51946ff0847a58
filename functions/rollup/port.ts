/**
 * The narrow port between the rollup core and its table, with the domain errors adapters raise.
 * Implemented by store.ts (DynamoDB) and memory-store.ts (tests, benchmarks); both follow
 * DynamoDB's semantics exactly: conditional writes, strongly consistent batch reads of at most 100
 * keys that may leave some keys unprocessed. The layout of every item is
 * functions/shared/rollups/keys.ts; the log (segments, manifests, heads) is docs/ROLLUPS.md.
 */
import { ServiceError } from '../shared/errors.ts';
import type { ShardHead } from '../shared/rollups/head.ts';
import type { EventType } from '../shared/event.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import type { ItemKey, LogItemRef } from '../shared/rollups/keys.ts';

export interface BucketRead {
  /** By `itemId(key)`; a processed key that is absent here does not exist. */
  readonly items: Map<string, StoredBucket>;
  /** Keys the table did not get to (retry them). */
  readonly unprocessed: ItemKey[];
}

export interface SeriesEntry {
  readonly tenant: string;
  readonly name: string;
  readonly seriesId: string;
  readonly type: EventType;
  readonly tags: Readonly<Record<string, string>>;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Epoch seconds. */
  readonly ttl: number;
}

export interface MetricEntry {
  readonly tenant: string;
  readonly name: string;
  readonly type: EventType;
  readonly lastSeen: number;
  readonly ttl: number;
  /** A shard whose log holds the metric (added to the entry's `shards` set). */
  readonly shardId?: string;
}

/** One item of the log: a segment part or a manifest part (keys.ts). */
export interface LogItem extends LogItemRef {
  /** Parts this segment or manifest was written in. */
  readonly parts: number;
  /** segment.ts payload. */
  readonly data: Uint8Array;
  /** Epoch seconds. */
  readonly ttl: number;
}

/** Where a log item is (keys.ts logItemKey). */
export type LogKey = ItemKey;

export interface LogRead {
  /** By `itemId(key)`; a processed key absent here does not exist. */
  readonly items: Map<string, Uint8Array>;
  readonly unprocessed: LogKey[];
}

export const MAX_BATCH_READ_KEYS = 100;

export interface RollupStore {
  /** Strongly consistent read of at most 100 keys. */
  readBuckets(keys: readonly ItemKey[]): Promise<BucketRead>;
  /**
   * Writes the whole item if its stored version is still `expectedVer` (`undefined`: the item must
   * not exist yet); otherwise throws `ConditionFailedError` and changes nothing.
   */
  writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void>;
  /**
   * Creates the index entry, or advances its `lastSeen` (and `ttl`) when the new one is greater;
   * tags, type and firstSeen are kept from the first write. Idempotent.
   */
  touchSeries(entry: SeriesEntry): Promise<void>;
  /** Same rule for the metric list; also adds `shardId` to the entry's shard set. */
  touchMetric(entry: MetricEntry): Promise<void>;

  /** The shard's head, strongly consistent (`emptyHead` when there is none). */
  readHead(shardId: string): Promise<ShardHead>;
  /**
   * Writes the whole head if its stored version is still `expectedVer` (0: it must not exist);
   * otherwise throws `ConditionFailedError` and changes nothing.
   */
  writeHead(head: ShardHead, expectedVer: number): Promise<void>;
  /** Puts one log item (unconditionally: no two attempts share a key). */
  putLog(item: LogItem): Promise<void>;
  /** Strongly consistent read of at most 100 log items. */
  readLog(keys: readonly LogKey[]): Promise<LogRead>;
  /** Adds the shard to the list of shards with a head (idempotent). */
  registerShard(shardId: string): Promise<void>;
  /** Every shard with a head. */
  listShards(): Promise<string[]>;
}

/** A table call failed. `retryable`: throttling, 5xx, network; anything else will fail again. */
export class RollupStoreError extends ServiceError {}

/** The conditional write lost: the item changed since it was read. */
export class ConditionFailedError extends RollupStoreError {
  constructor(message = 'the item changed since it was read', cause?: unknown) {
    super(message, { code: 'ConditionalCheckFailedException', retryable: false, cause });
  }
}
