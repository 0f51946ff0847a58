/**
 * The rollup core's configuration, its two small ports besides the store (metrics, logger) and its
 * per-invocation statistics. Defaults come from the settings table (lib/settings.ts); app.ts reads
 * the environment into a RollupConfig.
 */
import { SETTINGS } from '../../lib/settings.ts';
import type { Resolution } from '../shared/rollups/keys.ts';

export interface RollupConfig {
  /**
   * Retention per resolution, ms: items expire at bucket end + this, and older events are left
   * out of that resolution. Packed minutes (shared/rollups/minutes.ts) live in 1 h items, for the 1 h retention.
   */
  readonly ttlMs: Readonly<Record<Resolution, number>>;
  /** Writes (log items, folded items, index updates) in flight. @default 16 */
  readonly writeConcurrency: number;
  /** BatchGetItem calls in flight. @default 4 */
  readonly readConcurrency: number;
  /** Time kept back from the budget to answer. @default 1000 */
  readonly timeMarginMs: number;
  /** Lost conditional writes per item (or head) per invocation before giving up on it. @default 16 */
  readonly maxConflictRetries: number;
  /** @default 25 */
  readonly backoffBaseMs: number;
  /** @default 2000 */
  readonly backoffMaxMs: number;
  /** Watermark checks; false only in the test that shows the fault suite detects double counting. @default true */
  readonly idempotencyGuard: boolean;
  /** Age of the oldest unfolded commit at which the container folds. @default 300 s */
  readonly foldIntervalMs: number;
  /** Unfolded commits at which the container folds whatever their age. @default 64 */
  readonly foldCommits: number;
  /** Unfolded commits past which a batch must fold before it may commit. @default 256 */
  readonly maxUnfoldedCommits: number;
  /** Age of the oldest unfolded commit past which a batch must fold before it may commit. @default 1 h */
  readonly maxFoldLagMs: number;
  /** Commits one fold takes at most (the rest wait for the next). @default 256 */
  readonly maxCommitsPerFold: number;
  /**
   * How long segments and manifests are kept after their commit (TTL): long past their fold (the
   * containers fold within minutes, the sweeper within ROLLUP_SWEEP_AFTER_SECONDS, its alarm
   * fires if it cannot). @default 1 day
   */
  readonly logTtlMs: number;
  /** Age of the oldest unfolded commit at which the sweeper folds a shard. @default 600 s */
  readonly sweepAfterMs: number;
}

export const DEFAULT_ROLLUP_CONFIG: Omit<RollupConfig, 'ttlMs'> = {
  writeConcurrency: SETTINGS.rollup.writeConcurrency.default,
  readConcurrency: SETTINGS.rollup.readConcurrency.default,
  timeMarginMs: SETTINGS.rollup.timeMarginMs.default,
  maxConflictRetries: 16,
  backoffBaseMs: 25,
  backoffMaxMs: 2000,
  idempotencyGuard: true,
  foldIntervalMs: SETTINGS.rollup.foldIntervalSeconds.default * 1000,
  foldCommits: SETTINGS.rollup.foldCommits.default,
  maxUnfoldedCommits: 256,
  maxFoldLagMs: 3_600_000,
  maxCommitsPerFold: 256,
  logTtlMs: 86_400_000,
  sweepAfterMs: SETTINGS.rollup.sweepAfterSeconds.default * 1000,
};

/** Folded items one container keeps by default (ROLLUP_ITEM_CACHE_ENTRIES). */
export const DEFAULT_ITEM_CACHE_ENTRIES: number = SETTINGS.rollup.itemCacheEntries.default;

/** Counters of one invocation (commit and fold), emitted as metrics under these names. */
export interface RollupStats {
  /** Valid events in the batch. */
  eventsIn: number;
  invalid: number;
  /** Events at or below the shard's committed watermark (a replay). */
  eventsCovered: number;
  lateDropped: number;
  outOfRange: number;
  /** Batches committed (0 or 1), and what they wrote. */
  commits: number;
  logItems: number;
  logBytes: number;
  indexWrites: number;
  /** Commits folded, and the items the fold wrote, found covered, took from the cache. */
  commitsFolded: number;
  itemsWritten: number;
  itemsCovered: number;
  itemCacheHits: number;
  /** Commits whose contents were read back from the log (not in the container's cache). */
  commitsRead: number;
  conflicts: number;
  retries: number;
  /** Items a fold could not write this time (retried by a later fold). */
  unfolded: number;
  /** Age of the shard's oldest unfolded commit after this invocation, ms. */
  foldLagMs: number;
  /** now - newest rolled-up event time, ms (-1: none). */
  freshnessMs: number;
}

export const newStats = (): RollupStats => ({
  eventsIn: 0,
  invalid: 0,
  eventsCovered: 0,
  lateDropped: 0,
  outOfRange: 0,
  commits: 0,
  logItems: 0,
  logBytes: 0,
  indexWrites: 0,
  commitsFolded: 0,
  itemsWritten: 0,
  itemsCovered: 0,
  itemCacheHits: 0,
  commitsRead: 0,
  conflicts: 0,
  retries: 0,
  unfolded: 0,
  foldLagMs: 0,
  freshnessMs: -1,
});

export type RollupMetricName = keyof RollupStats;

/** Metrics whose values are durations. */
export const DURATION_METRICS: ReadonlySet<RollupMetricName> = new Set(['foldLagMs', 'freshnessMs']);

export interface RollupMetrics {
  add(name: RollupMetricName, value: number, unit: 'Count' | 'Milliseconds'): void;
}

export interface RollupLogger {
  debug(message: string, details?: Record<string, unknown>): void;
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}
