/**
 * The narrow port between the rollup core and its table, with the domain errors adapters raise.
 * Implemented by store.ts (DynamoDB) and memory-store.ts (tests, benchmarks); both follow
 * DynamoDB's semantics exactly: conditional writes, strongly consistent batch reads of at most 100
 * keys that may leave some keys unprocessed.
 */
import { StreamfoldError } from '../shared/errors.ts';
import type { EventType } from '../shared/event.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import type { ItemKey } from '../shared/rollups/keys.ts';

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
  /** Same rule for the metric list. */
  touchMetric(entry: MetricEntry): Promise<void>;
}

/** A table call failed. `retryable`: throttling, 5xx, network; anything else will fail again. */
export class RollupStoreError extends StreamfoldError {
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable;
  }
}

/** The conditional write lost: the item changed since it was read. */
export class ConditionFailedError extends RollupStoreError {
  constructor(message = 'the item changed since it was read', cause?: unknown) {
    super(message, { code: 'ConditionalCheckFailedException', retryable: false, cause });
  }
}
