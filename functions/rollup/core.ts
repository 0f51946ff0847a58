/**
 * Rollup of one Kinesis batch: decode and validate, aggregate the whole batch in memory, then for
 * each touched item read it (strongly consistent, <= 100 keys per call; or take the copy this
 * container last read or wrote, RollupCache), merge above its watermark and write it once,
 * conditional on the version read (merge.ts argues why this is exactly-once).
 * Series-index and metric-list entries are written when new to this container or when their
 * lastSeen moved by INDEX_REFRESH_MS (idempotent max updates).
 *
 * Failure handling: throttling, 5xx and unprocessed keys are retried with full-jitter backoff while
 * the time budget (remaining time minus a margin) lasts; a lost conditional write re-reads the item
 * and merges again. What is still unwritten at the end is reported as one batch item failure at
 * the sequence number of the lowest record feeding any unwritten item: Lambda resumes there, and
 * items already written skip the replayed part through their watermark. Invalid and out-of-range
 * events are counted, never fatal. Errors that are not table errors (bugs, a crashed dependency)
 * stop the invocation after the calls in flight settle, and are thrown: Lambda retries or bisects.
 *
 * Pure over its ports: no AWS SDK, no clock or randomness of its own.
 */
import type { KinesisStreamBatchItemFailure, KinesisStreamRecord } from 'aws-lambda';
import { SETTINGS } from '../../lib/settings.ts';
import { decodeBatch } from '../shared/batch.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import { INDEX_REFRESH_MS, RESOLUTIONS, type Resolution } from '../shared/rollups/keys.ts';
import { aggregateBatch, SeriesIdCache, type BatchAggregate, type ItemPartial } from './aggregate.ts';
import { mergeBucket } from './merge.ts';
import { ConditionFailedError, MAX_BATCH_READ_KEYS, RollupStoreError, type BucketRead, type RollupStore } from './port.ts';

export interface RollupConfig {
  /**
   * Retention per resolution, ms: items expire at bucket end + this, and older events are left
   * out of that resolution. Packed minutes (shared/rollups/minutes.ts) live in 1 h items, for the 1 h retention.
   */
  readonly ttlMs: Readonly<Record<Resolution, number>>;
  /** Writes (and index updates) in flight. @default 16 */
  readonly writeConcurrency: number;
  /** BatchGetItem calls in flight. @default 4 */
  readonly readConcurrency: number;
  /** Time kept back from the budget to answer. @default 1000 */
  readonly timeMarginMs: number;
  /** Lost conditional writes per item per invocation before giving up on it. @default 16 */
  readonly maxConflictRetries: number;
  /** @default 25 */
  readonly backoffBaseMs: number;
  /** @default 2000 */
  readonly backoffMaxMs: number;
  /** Watermark check; false only in the test that shows the fault suite detects double counting. @default true */
  readonly idempotencyGuard: boolean;
}

export const DEFAULT_ROLLUP_CONFIG: Omit<RollupConfig, 'ttlMs'> = {
  writeConcurrency: SETTINGS.rollup.writeConcurrency.default,
  readConcurrency: SETTINGS.rollup.readConcurrency.default,
  timeMarginMs: SETTINGS.rollup.timeMarginMs.default,
  maxConflictRetries: 16,
  backoffBaseMs: 25,
  backoffMaxMs: 2000,
  idempotencyGuard: true,
};

export type RollupMetricName =
  | 'eventsIn'
  | 'invalid'
  | 'lateDropped'
  | 'outOfRange'
  | 'itemsWritten'
  | 'itemsCovered'
  | 'itemCacheHits'
  | 'indexWrites'
  | 'conflicts'
  | 'retries'
  | 'unwritten'
  | 'freshness';

export interface RollupMetrics {
  add(name: RollupMetricName, value: number, unit: 'Count' | 'Milliseconds'): void;
}

export interface RollupLogger {
  debug(message: string, details?: Record<string, unknown>): void;
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** Bucket items one container keeps by default (ROLLUP_ITEM_CACHE_ENTRIES). */
export const DEFAULT_ITEM_CACHE_ENTRIES: number = SETTINGS.rollup.itemCacheEntries.default;

/**
 * What one container remembers between batches: series ids, index entries already written, and
 * the bucket items it last read or wrote, so the next batch merges into them without reading them
 * again. A remembered item may be stale (another container wrote it since): the write is
 * conditional on its version, and a lost condition re-reads it from the table. An item a stale
 * copy calls covered is covered (watermarks only advance). Versions restart at 1 when an item is
 * deleted and written again, so a copy kept across that could pass the condition: TTL deletes an
 * item only after the last event it can accept (aggregate.ts drops older ones), and nothing else
 * deletes bucket items.
 */
export class RollupCache {
  readonly ids: SeriesIdCache;
  private readonly indexed = new Map<string, number>();
  /** By item id, least recently used first. */
  private readonly items = new Map<string, StoredBucket>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly maxItems = DEFAULT_ITEM_CACHE_ENTRIES,
  ) {
    this.ids = new SeriesIdCache(maxEntries);
  }

  item(id: string): StoredBucket | undefined {
    const item = this.items.get(id);
    if (item !== undefined) {
      this.items.delete(id);
      this.items.set(id, item);
    }
    return item;
  }

  rememberItem(id: string, item: StoredBucket): void {
    if (this.maxItems <= 0) return;
    this.items.delete(id);
    if (this.items.size >= this.maxItems) this.items.delete(this.items.keys().next().value!);
    this.items.set(id, item);
  }

  forgetItem(id: string): void {
    this.items.delete(id);
  }

  /** True when the entry was never written here, or its lastSeen moved by INDEX_REFRESH_MS. */
  needsIndex(key: string, lastSeen: number): boolean {
    const written = this.indexed.get(key);
    return written === undefined || lastSeen >= written + INDEX_REFRESH_MS;
  }

  recordIndex(key: string, lastSeen: number): void {
    const written = this.indexed.get(key);
    if (written !== undefined && written >= lastSeen) return;
    if (this.indexed.size >= this.maxEntries) this.indexed.clear();
    this.indexed.set(key, lastSeen);
  }
}

export interface RollupDeps {
  readonly store: RollupStore;
  readonly cache: RollupCache;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly metrics?: RollupMetrics;
  readonly logger?: RollupLogger;
}

export interface RollupStats {
  eventsIn: number;
  invalid: number;
  lateDropped: Record<Resolution, number>;
  outOfRange: number;
  /** Bucket items the batch touches. */
  items: number;
  itemsWritten: number;
  /** Items whose contributions were all below their watermark already (replays). */
  itemsCovered: number;
  /** Items merged into this container's copy instead of being read (RollupCache). */
  itemCacheHits: number;
  indexWrites: number;
  conflicts: number;
  retries: number;
  /** Bucket items and index entries left unwritten (reported as a batch item failure). */
  unwritten: number;
  /** now - newest rolled-up event time, ms. */
  freshnessMs: number | undefined;
}

export interface RollupOutcome {
  readonly batchItemFailures: KinesisStreamBatchItemFailure[];
  readonly stats: RollupStats;
}

interface Unit {
  done: boolean;
  failure: unknown;
  /** Batch position of the first event this unit carries. */
  readonly firstIndex: number;
}

interface BucketUnit extends Unit {
  readonly kind: 'bucket';
  readonly partial: ItemPartial;
  loaded: boolean;
  stored: StoredBucket | undefined;
}

interface IndexUnit extends Unit {
  readonly kind: 'index';
  readonly what: string;
  readonly write: () => Promise<void>;
  readonly onWritten: () => void;
}

/** The time budget ran out before this unit could be (re)tried. */
export class BudgetExhaustedError extends RollupStoreError {
  constructor(what: string, cause?: unknown) {
    super(`time budget exhausted before ${what} was written`, { code: 'BudgetExhausted', retryable: true, cause });
  }
}

export async function rollupBatch(
  records: readonly KinesisStreamRecord[],
  remainingMs: () => number,
  deps: RollupDeps,
  config: RollupConfig,
): Promise<RollupOutcome> {
  const started = deps.now();
  const deadline = started + remainingMs() - config.timeMarginMs;
  const decoded = decodeBatch(records, started);
  const agg = aggregateBatch(decoded.events, started, config, deps.cache.ids);
  const run = new Run(deps, config, deadline, agg);
  const stats = run.stats;
  stats.invalid = decoded.rejected.length;

  const buckets: BucketUnit[] = agg.items.map((partial) => ({
    kind: 'bucket',
    partial,
    loaded: false,
    stored: undefined,
    done: false,
    failure: undefined,
    firstIndex: Math.min(...partial.parts.map((p) => p.indexes[0]!)),
  }));
  const index = indexUnits(agg, deps, config);

  try {
    // Items this container read or wrote last need no read (RollupCache); the rest are read.
    const toRead: BucketUnit[] = [];
    for (const u of buckets) {
      const known = deps.cache.item(u.partial.id);
      if (known === undefined) toRead.push(u);
      else {
        u.loaded = true;
        u.stored = known;
        stats.itemCacheHits++;
      }
    }
    const chunks: BucketUnit[][] = [];
    for (let i = 0; i < toRead.length; i += MAX_BATCH_READ_KEYS) chunks.push(toRead.slice(i, i + MAX_BATCH_READ_KEYS));
    await run.pool(chunks, config.readConcurrency, (chunk) => run.read(chunk));
    await run.pool<BucketUnit | IndexUnit>([...index, ...buckets], config.writeConcurrency, (u) =>
      u.kind === 'bucket' ? run.writeBucket(u) : run.writeIndex(u),
    );
  } finally {
    stats.items = buckets.length;
    stats.freshnessMs = Number.isFinite(agg.stats.newestTs) ? deps.now() - agg.stats.newestTs : undefined;
    emitMetrics(deps, stats);
  }

  const failed = [...index, ...buckets].filter((u) => !u.done);
  stats.unwritten = failed.length;
  deps.metrics?.add('unwritten', failed.length, 'Count');
  const log = {
    records: records.length,
    eventsIn: stats.eventsIn,
    invalid: stats.invalid,
    items: stats.items,
    itemsWritten: stats.itemsWritten,
    itemsCovered: stats.itemsCovered,
    itemCacheHits: stats.itemCacheHits,
    indexWrites: stats.indexWrites,
    conflicts: stats.conflicts,
    retries: stats.retries,
    elapsedMs: deps.now() - started,
  };
  if (failed.length === 0) {
    deps.logger?.debug('batch rolled up', log);
    return { batchItemFailures: [], stats };
  }

  let lowest = failed[0]!.firstIndex;
  for (const u of failed) if (u.firstIndex < lowest) lowest = u.firstIndex;
  const itemIdentifier = agg.events[lowest]!.lineage.sequenceNumber;
  const permanent = failed.find((u) => u.failure instanceof RollupStoreError && !u.failure.retryable && !(u.failure instanceof ConditionFailedError));
  const first = permanent ?? failed[0]!;
  const details = {
    ...log,
    unwritten: failed.length,
    resumeFrom: itemIdentifier,
    error: first.failure instanceof Error ? first.failure : String(first.failure),
  };
  const message = 'items left unwritten; Lambda resumes from the lowest record feeding them';
  if (permanent) deps.logger?.error(message, details);
  else deps.logger?.warn(message, details);
  return { batchItemFailures: [{ itemIdentifier }], stats };
}

function indexUnits(agg: BatchAggregate, deps: RollupDeps, config: RollupConfig): IndexUnit[] {
  const longest = Math.max(...RESOLUTIONS.map((r) => config.ttlMs[r]));
  const ttlOf = (lastSeen: number) => Math.ceil((lastSeen + longest) / 1000);
  const units: IndexUnit[] = [];
  for (const s of agg.series) {
    const key = `s\u0000${s.tenant}\u0000${s.seriesId}`;
    if (!deps.cache.needsIndex(key, s.maxTs)) continue;
    units.push({
      kind: 'index',
      what: `series ${s.tenant}/${s.name}/${s.seriesId}`,
      done: false,
      failure: undefined,
      firstIndex: s.firstIndex,
      write: () =>
        deps.store.touchSeries({
          tenant: s.tenant,
          name: s.name,
          seriesId: s.seriesId,
          type: s.type,
          tags: s.tags,
          firstSeen: s.minTs,
          lastSeen: s.maxTs,
          ttl: ttlOf(s.maxTs),
        }),
      onWritten: () => deps.cache.recordIndex(key, s.maxTs),
    });
  }
  for (const m of agg.metrics) {
    const key = `m\u0000${m.tenant}\u0000${m.name}`;
    if (!deps.cache.needsIndex(key, m.maxTs)) continue;
    units.push({
      kind: 'index',
      what: `metric ${m.tenant}/${m.name}`,
      done: false,
      failure: undefined,
      firstIndex: m.firstIndex,
      write: () => deps.store.touchMetric({ tenant: m.tenant, name: m.name, type: m.type, lastSeen: m.maxTs, ttl: ttlOf(m.maxTs) }),
      onWritten: () => deps.cache.recordIndex(key, m.maxTs),
    });
  }
  return units;
}

function emitMetrics(deps: RollupDeps, s: RollupStats): void {
  const m = deps.metrics;
  if (m === undefined) return;
  m.add('eventsIn', s.eventsIn, 'Count');
  m.add('invalid', s.invalid, 'Count');
  m.add('lateDropped', s.lateDropped['1m'] + s.lateDropped['1h'], 'Count');
  m.add('outOfRange', s.outOfRange, 'Count');
  m.add('itemsWritten', s.itemsWritten, 'Count');
  m.add('itemsCovered', s.itemsCovered, 'Count');
  m.add('itemCacheHits', s.itemCacheHits, 'Count');
  m.add('indexWrites', s.indexWrites, 'Count');
  m.add('conflicts', s.conflicts, 'Count');
  m.add('retries', s.retries, 'Count');
  if (s.freshnessMs !== undefined) m.add('freshness', s.freshnessMs, 'Milliseconds');
}

/** State of one invocation's reads and writes. */
class Run {
  readonly stats: RollupStats;
  /** First unexpected error: stops new work; thrown once the calls in flight settle. */
  private fatal: { error: unknown } | undefined;

  constructor(
    private readonly deps: RollupDeps,
    private readonly config: RollupConfig,
    private readonly deadline: number,
    private readonly agg: BatchAggregate,
  ) {
    this.stats = {
      eventsIn: agg.stats.eventsIn,
      invalid: 0,
      lateDropped: { ...agg.stats.lateDropped },
      outOfRange: agg.stats.outOfRange,
      items: 0,
      itemsWritten: 0,
      itemsCovered: 0,
      itemCacheHits: 0,
      indexWrites: 0,
      conflicts: 0,
      retries: 0,
      unwritten: 0,
      freshnessMs: undefined,
    };
  }

  /** Runs `fn` over `items` with at most `concurrency` in flight; rethrows the first unexpected error. */
  async pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (this.fatal === undefined && next < items.length) {
        const item = items[next++]!;
        try {
          await fn(item);
        } catch (error) {
          this.fatal ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker));
    if (this.fatal !== undefined) throw this.fatal.error;
  }

  private expired(): boolean {
    return this.deps.now() >= this.deadline;
  }

  /** Sleeps before retry `attempt` (1-based) if the budget allows it; false when it does not. */
  private async backoff(attempt: number): Promise<boolean> {
    const { backoffBaseMs, backoffMaxMs } = this.config;
    const cap = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(attempt - 1, 20));
    const delay = Math.max(1, Math.floor(this.deps.random() * cap));
    if (this.deps.now() + delay >= this.deadline) return false;
    await this.deps.sleep(delay);
    this.stats.retries++;
    return !this.expired();
  }

  /** Loads the stored state of `units` (one BatchGetItem of <= 100 keys, retried). */
  async read(units: readonly BucketUnit[]): Promise<void> {
    let pending = units;
    let attempt = 0;
    while (pending.length > 0 && this.fatal === undefined) {
      if (this.expired()) {
        for (const u of pending) u.failure = new BudgetExhaustedError(`the read of ${u.partial.id}`);
        return;
      }
      let res: BucketRead;
      try {
        res = await this.deps.store.readBuckets(pending.map((u) => u.partial.key));
      } catch (error) {
        if (!(error instanceof RollupStoreError)) throw error;
        if (error.retryable && (await this.backoff(++attempt))) continue;
        for (const u of pending) u.failure = error;
        return;
      }
      const unprocessed = new Set(res.unprocessed.map((k) => `${k.pk}\u0000${k.sk}`));
      const rest: BucketUnit[] = [];
      for (const u of pending) {
        if (unprocessed.has(u.partial.id)) {
          rest.push(u);
        } else {
          u.loaded = true;
          u.stored = res.items.get(u.partial.id);
          if (u.stored !== undefined) this.deps.cache.rememberItem(u.partial.id, u.stored);
        }
      }
      if (rest.length > 0 && !(await this.backoff(++attempt))) {
        for (const u of rest) u.failure = new BudgetExhaustedError(`the read of ${u.partial.id} (unprocessed keys)`);
        return;
      }
      pending = rest;
    }
  }

  async writeBucket(u: BucketUnit): Promise<void> {
    if (!u.loaded) return;
    let attempt = 0;
    let conflicts = 0;
    for (;;) {
      const merged = mergeBucket(u.stored, u.partial, this.agg.events, { guard: this.config.idempotencyGuard });
      if (merged.kind === 'covered') {
        u.done = true;
        this.stats.itemsCovered++;
        return;
      }
      if (this.expired()) {
        u.failure = new BudgetExhaustedError(u.partial.id, u.failure);
        return;
      }
      try {
        await this.deps.store.writeBucket(u.partial.key, merged.item, u.stored?.ver);
        u.done = true;
        this.stats.itemsWritten++;
        this.deps.cache.rememberItem(u.partial.id, merged.item);
        return;
      } catch (error) {
        if (error instanceof ConditionFailedError) {
          // Another writer (another shard, or a replay of this one) moved first: read again, redo.
          this.stats.conflicts++;
          if (++conflicts > this.config.maxConflictRetries) {
            u.failure = error;
            return;
          }
          u.loaded = false;
          this.deps.cache.forgetItem(u.partial.id);
          await this.read([u]);
          if (!u.loaded) return;
          continue;
        }
        if (!(error instanceof RollupStoreError)) throw error;
        u.failure = error;
        if (error.retryable && (await this.backoff(++attempt))) continue;
        return;
      }
    }
  }

  async writeIndex(u: IndexUnit): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.expired()) {
        u.failure = new BudgetExhaustedError(u.what, u.failure);
        return;
      }
      try {
        await u.write();
        u.done = true;
        u.onWritten();
        this.stats.indexWrites++;
        return;
      } catch (error) {
        if (!(error instanceof RollupStoreError)) throw error;
        u.failure = error;
        if (error.retryable && (await this.backoff(++attempt))) continue;
        return;
      }
    }
  }
}
