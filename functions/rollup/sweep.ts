/**
 * The sweeper (docs/ROLLUPS.md, "Folding"): folds the logs of shards whose oldest unfolded commit
 * is older than `sweepAfterMs`. A shard's own container folds after its commits, so this catches
 * what it cannot: a shard that gets no more records (idle, or closed by a reshard), a container
 * that died with a fold due. Runs on a schedule (EventBridge on AWS, a timer in the embedded
 * stack); safe beside the containers, since every fold write is conditional.
 */
import { settlePool } from '../shared/pool.ts';
import { newStats, type RollupConfig, type RollupStats } from './config.ts';
import { emitMetrics } from './core.ts';
import { foldShard } from './folding.ts';
import { Run, type RollupDeps } from './run.ts';

export interface SweepOutcome {
  /** Shards with a head. */
  readonly shards: number;
  /** Shards whose log was old enough to fold. */
  readonly swept: number;
  /** Commits folded in all. */
  readonly folded: number;
  /** Shards left with commits older than sweepAfterMs (their fold failed or ran out of time). */
  readonly behind: string[];
  readonly stats: RollupStats;
}

export async function sweepShards(deps: RollupDeps, config: RollupConfig, remainingMs: () => number): Promise<SweepOutcome> {
  const started = deps.now();
  const stats = newStats();
  const run = new Run(deps, config, started + remainingMs() - config.timeMarginMs, stats);
  try {
    const listed = await run.call(() => deps.store.listShards());
    if (!listed.ok) throw listed.error;
    let swept = 0;
    let folded = 0;
    const behind: string[] = [];
    await settlePool(listed.value, 4, async (shardId) => {
      const head = await run.head(shardId, true);
      if (!head.ok) {
        behind.push(shardId);
        return;
      }
      const oldest = head.value.commits[0];
      if (oldest === undefined || deps.now() - oldest.at < config.sweepAfterMs) return;
      swept++;
      for (;;) {
        const out = await foldShard(run, shardId, true);
        folded += out.folded;
        const first = out.head?.commits[0];
        const due = first !== undefined && deps.now() - first.at >= config.sweepAfterMs;
        if (out.folded === 0 || !due || run.budget.expired()) {
          if (due) behind.push(shardId);
          return;
        }
      }
    });
    if (behind.length > 0) deps.logger?.warn('sweep left shards with old unfolded commits', { behind });
    return { shards: listed.value.length, swept, folded, behind: behind.sort(), stats };
  } finally {
    stats.retries = run.budget.retries;
    emitMetrics(deps, stats);
  }
}
