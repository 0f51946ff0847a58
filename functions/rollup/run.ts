/**
 * One invocation's access to the table: every store call goes through here, retried with the one
 * policy (functions/shared/retry.ts) while the time budget lasts, and batch reads are cut to 100
 * keys with their unprocessed keys read again. A store error that is not retryable, or a budget
 * that runs out, comes back as a failed outcome for the caller to report; anything that is not a
 * store error (a bug) is thrown.
 */
import { BudgetExhaustedError, RetryBudget, withRetries, type AttemptOutcome } from '../shared/retry.ts';
import type { ShardHead } from '../shared/rollups/head.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import { itemId, type ItemKey } from '../shared/rollups/keys.ts';
import type { RollupCache } from './cache.ts';
import type { RollupConfig, RollupLogger, RollupStats } from './config.ts';
import { MAX_BATCH_READ_KEYS, RollupStoreError, type RollupStore } from './port.ts';
import { settlePool } from '../shared/pool.ts';

export interface RollupDeps {
  readonly store: RollupStore;
  readonly cache: RollupCache;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly metrics?: { add(name: keyof RollupStats, value: number, unit: 'Count' | 'Milliseconds'): void };
  readonly logger?: RollupLogger;
}

const retryable = (e: unknown): boolean => e instanceof RollupStoreError && e.retryable;
const notAStoreError = (e: unknown): boolean => !(e instanceof RollupStoreError);

export class Run {
  readonly budget: RetryBudget;
  readonly stats: RollupStats;

  constructor(
    readonly deps: RollupDeps,
    readonly config: RollupConfig,
    deadline: number,
    stats: RollupStats,
  ) {
    this.budget = new RetryBudget(deadline, { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs }, deps);
    this.stats = stats;
  }

  get store(): RollupStore {
    return this.deps.store;
  }

  get cache(): RollupCache {
    return this.deps.cache;
  }

  now(): number {
    return this.deps.now();
  }

  /** A store call, retried while retryable and the budget lasts. */
  call<T>(fn: () => Promise<T>): Promise<AttemptOutcome<T>> {
    return withRetries(this.budget, fn, retryable, notAStoreError);
  }

  /** The shard's head: the container's copy, or read (strongly consistent). */
  async head(shardId: string, fresh = false): Promise<AttemptOutcome<ShardHead>> {
    const known = fresh ? undefined : this.cache.head(shardId);
    if (known !== undefined) return { ok: true, value: known };
    const out = await this.call(() => this.store.readHead(shardId));
    if (out.ok) this.cache.rememberHead(out.value);
    return out;
  }

  /** Items by id: the container's copies, the rest read in batches of 100. Absent items are left out. */
  async items(keys: readonly ItemKey[], useCache: boolean): Promise<AttemptOutcome<Map<string, StoredBucket>>> {
    const out = new Map<string, StoredBucket>();
    const toRead: ItemKey[] = [];
    for (const k of keys) {
      const known = useCache ? this.cache.item(itemId(k)) : undefined;
      if (known !== undefined) {
        out.set(itemId(k), known);
        this.stats.itemCacheHits++;
      } else toRead.push(k);
    }
    const chunks: ItemKey[][] = [];
    for (let i = 0; i < toRead.length; i += MAX_BATCH_READ_KEYS) chunks.push(toRead.slice(i, i + MAX_BATCH_READ_KEYS));
    let failure: unknown;
    await settlePool(chunks, this.config.readConcurrency, async (chunk) => {
      const got = await this.readAll(chunk, (ks) => this.store.readBuckets(ks));
      if (!got.ok) {
        failure ??= got.error;
        return;
      }
      for (const [id, item] of got.value) {
        out.set(id, item);
        this.cache.rememberItem(id, item);
      }
    });
    return failure === undefined ? { ok: true, value: out } : { ok: false, error: failure, attempts: 0 };
  }

  /** One batch read of <= 100 keys, reading unprocessed keys again (with backoff) until none is left. */
  async readAll<V>(keys: readonly ItemKey[], read: (keys: readonly ItemKey[]) => Promise<{ items: Map<string, V>; unprocessed: ItemKey[] }>): Promise<AttemptOutcome<Map<string, V>>> {
    const out = new Map<string, V>();
    let pending = keys;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const res = await this.call(() => read(pending));
      if (!res.ok) return res;
      for (const [k, v] of res.value.items) out.set(k, v);
      pending = res.value.unprocessed;
      if (pending.length > 0 && !(await this.budget.pause(attempt))) {
        return { ok: false, error: new BudgetExhaustedError(`the time budget ran out with ${pending.length} keys unread`), attempts: attempt };
      }
    }
    return { ok: true, value: out };
  }
}

