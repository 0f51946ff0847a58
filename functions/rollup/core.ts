/**
 * Rollup of one Kinesis batch (docs/ROLLUPS.md): decode and validate, commit the batch's new
 * events to the shard's log (commit.ts), then fold the log into the series items when it is due
 * (folding.ts). The sweep of shards no container folds (sweep.ts) shares the fold.
 *
 * Failure handling: throttling, 5xx and unprocessed keys are retried with the one backoff policy
 * (functions/shared/retry.ts) while the time budget (remaining time minus a margin) lasts. A batch
 * that could not be committed is reported as one batch item failure at its first new record:
 * Lambda resumes there, and nothing of it counts yet. A fold that could not finish does not fail
 * the batch (it is committed): the next fold, or the sweeper, finishes it. Invalid and
 * out-of-range events are counted, never fatal. Errors that are not table errors (bugs, a crashed
 * dependency) stop the invocation after the calls in flight settle, and are thrown: Lambda
 * retries or bisects.
 *
 * Pure over its ports: no AWS SDK, no clock or randomness of its own.
 */
import type { KinesisStreamBatchItemFailure, KinesisStreamRecord } from 'aws-lambda';
import { decodeBatch, type DecodedBatch } from '../shared/batch.ts';
import type { LineagedEvent } from '../shared/codec.ts';
import { consumerMaxAgeMs } from '../shared/event.ts';
import { commitBatch } from './commit.ts';
import { DURATION_METRICS, newStats, type RollupConfig, type RollupStats } from './config.ts';
import { foldShard } from './folding.ts';
import { Run, type RollupDeps } from './run.ts';

export { DEFAULT_ITEM_CACHE_ENTRIES, DEFAULT_ROLLUP_CONFIG, type RollupConfig, type RollupLogger, type RollupMetricName, type RollupMetrics, type RollupStats } from './config.ts';
export { RollupCache } from './cache.ts';
export type { RollupDeps } from './run.ts';

export interface RollupOutcome {
  readonly batchItemFailures: KinesisStreamBatchItemFailure[];
  readonly stats: RollupStats;
}

export async function rollupBatch(
  records: readonly KinesisStreamRecord[],
  remainingMs: () => number,
  deps: RollupDeps,
  config: RollupConfig,
): Promise<RollupOutcome> {
  const started = deps.now();
  const stats = newStats();
  if (records.length === 0) return { batchItemFailures: [], stats };
  const run = new Run(deps, config, started + remainingMs() - config.timeMarginMs, stats);
  // The validator's age limit the archive applies too: what it quarantines, this skips as invalid.
  const decoded = decodeBatch(records, started, { maxAgeMs: consumerMaxAgeMs(config.ttlMs['1h']) });
  stats.eventsIn = decoded.events.length;
  stats.invalid = decoded.rejected.length;
  try {
    // Lambda delivers one shard per batch; a caller that mixes shards gets each committed alone.
    for (const { shardId, events, firstRecord } of byShard(decoded)) {
      const resumeFrom = await rollupShard(run, shardId, events, firstRecord);
      if (resumeFrom !== undefined) return { batchItemFailures: [{ itemIdentifier: resumeFrom }], stats };
    }
    deps.logger?.debug('batch rolled up', { records: records.length, ...stats, elapsedMs: deps.now() - started });
    return { batchItemFailures: [], stats };
  } finally {
    stats.retries = run.budget.retries;
    emitMetrics(deps, stats);
  }
}

/** Commits one shard's events, and folds when due. Returns where Lambda resumes if not committed. */
async function rollupShard(run: Run, shardId: string, events: readonly LineagedEvent[], firstRecord: string): Promise<string | undefined> {
  const { deps, config, stats } = run;
  let outcome = await commitBatch(run, shardId, events, firstRecord);
  if (outcome.kind === 'backlogged') {
    // The log is too long to add to: fold it first, then commit (or fail and wait for the sweeper).
    deps.logger?.warn('the shard log is too long to commit to; folding first', { shardId, unfolded: outcome.head.commits.length });
    await foldShard(run, shardId);
    outcome = await commitBatch(run, shardId, events, firstRecord);
  }
  if (outcome.kind === 'failed' || outcome.kind === 'backlogged') {
    const resumeFrom = outcome.kind === 'failed' ? outcome.resumeFrom : firstRecord;
    const error = outcome.kind === 'failed' ? outcome.error : 'the shard log is too long and could not be folded';
    deps.logger?.warn('batch not committed; Lambda resumes from its first new record', { shardId, resumeFrom, error: error instanceof Error ? error : String(error) });
    return resumeFrom;
  }
  if (outcome.kind === 'committed') {
    const newest = outcome.agg.stats.newestTs;
    if (Number.isFinite(newest)) stats.freshnessMs = Math.max(stats.freshnessMs, deps.now() - newest);
  }
  const head = outcome.head;
  const oldest = head.commits[0];
  if (oldest !== undefined && (head.commits.length >= config.foldCommits || deps.now() - oldest.at >= config.foldIntervalMs)) {
    const folded = await foldShard(run, shardId);
    const left = folded.head?.commits[0];
    stats.foldLagMs = Math.max(stats.foldLagMs, left === undefined ? 0 : deps.now() - left.at);
  } else stats.foldLagMs = Math.max(stats.foldLagMs, oldest === undefined ? 0 : deps.now() - oldest.at);
  return undefined;
}

/** The batch's events by shard, in the order the shards first appear, with each shard's first record. */
function byShard(decoded: DecodedBatch): Array<{ shardId: string; events: LineagedEvent[]; firstRecord: string }> {
  const out = new Map<string, { shardId: string; events: LineagedEvent[]; firstRecord: string }>();
  for (const r of decoded.records) if (!out.has(r.shardId)) out.set(r.shardId, { shardId: r.shardId, events: [], firstRecord: r.sequenceNumber });
  for (const e of decoded.events) out.get(e.lineage.shardId)!.events.push(e);
  return [...out.values()];
}

export function emitMetrics(deps: Pick<RollupDeps, 'metrics'>, s: RollupStats): void {
  const m = deps.metrics;
  if (m === undefined) return;
  for (const name of Object.keys(s) as Array<keyof RollupStats>) {
    const v = s[name];
    if (name === 'freshnessMs' && v < 0) continue;
    m.add(name, v, DURATION_METRICS.has(name) ? 'Milliseconds' : 'Count');
  }
}
