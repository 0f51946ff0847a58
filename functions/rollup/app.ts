/**
 * Wiring of the rollup function: configuration read once from an environment, adapters built once
 * per container, then a thin Kinesis handler over the pure core. `handler.ts` binds it to
 * `process.env` for Lambda; the embedded stack binds it to the stack's environment.
 *
 * Environment: ROLLUPS_TABLE_NAME (required); the settings of SETTINGS.rollup in lib/settings.ts
 * (TTLs, concurrency, time margin, item cache, fold interval, Powertools service name, log level
 * and namespace); the sweeper reads the same table as SETTINGS.sweep.
 *
 * The event source mapping should set ReportBatchItemFailures and BisectBatchOnFunctionError:
 * unwritten items come back as a batch item failure, unexpected errors as a function error.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { SETTINGS, type Settings } from '../../lib/settings.ts';
import { dynamoClient } from '../shared/clients.ts';
import { readSettings, tableName, type Env } from '../shared/config.ts';
import { createLogger, logPort } from '../shared/logger.ts';
import { DEFAULT_ROLLUP_CONFIG, RollupCache, rollupBatch, type RollupConfig, type RollupDeps, type RollupMetrics } from './core.ts';
import { sweepShards, type SweepOutcome } from './sweep.ts';
import { daysToMs } from '../shared/rollups/keys.ts';
import { DynamoRollupStore, type DynamoSender } from './store.ts';

export type RollupHandler = (event: KinesisStreamEvent, context: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<KinesisStreamBatchResponse>;

/** Reads and checks every setting; throws ConfigError naming the variable. */
export function readRollupConfig(env: Env): RollupConfig {
  return rollupConfig(readSettings(env, SETTINGS.rollup));
}

function rollupConfig(s: Settings<typeof SETTINGS.rollup>): RollupConfig {
  return {
    ...DEFAULT_ROLLUP_CONFIG,
    ttlMs: { '1m': daysToMs(s.ttl1mDays), '1h': daysToMs(s.ttl1hDays) },
    writeConcurrency: s.writeConcurrency,
    readConcurrency: s.readConcurrency,
    timeMarginMs: s.timeMarginMs,
    foldIntervalMs: s.foldIntervalSeconds * 1000,
    foldCommits: s.foldCommits,
    sweepAfterMs: s.sweepAfterSeconds * 1000,
  };
}

export interface RollupOverrides extends Partial<RollupDeps> {
  readonly config?: Partial<RollupConfig>;
  /** Called after each invocation (Powertools publishes its EMF line here by default). */
  readonly flushMetrics?: () => void;
}

export function createRollupHandler(env: Env, overrides: RollupOverrides = {}): RollupHandler {
  const { deps, config, flush } = wire(env, overrides);
  return async (event, context) => {
    try {
      const outcome = await rollupBatch(event.Records ?? [], () => context.getRemainingTimeInMillis(), deps, config);
      return { batchItemFailures: outcome.batchItemFailures };
    } finally {
      flush();
    }
  };
}

export type SweepHandler = (event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<Omit<SweepOutcome, 'stats'>>;

/**
 * The sweeper (sweep.ts), for a schedule: folds the shards whose log no container folded. It
 * throws when shards are left behind, so the schedule's error metric and alarm show it.
 */
export function createSweepHandler(env: Env, overrides: RollupOverrides = {}): SweepHandler {
  const { deps, config, flush } = wire(env, overrides, SETTINGS.sweep);
  return async (_event, context) => {
    try {
      const { stats: _stats, ...outcome } = await sweepShards(deps, config, () => context.getRemainingTimeInMillis());
      deps.logger?.info('sweep done', outcome);
      if (outcome.behind.length > 0) throw new Error(`sweep left ${outcome.behind.length} shards with unfolded commits older than ${config.sweepAfterMs / 1000} s: ${outcome.behind.join(', ')}`);
      return outcome;
    } finally {
      flush();
    }
  };
}

function wire(env: Env, overrides: RollupOverrides, table: typeof SETTINGS.rollup | typeof SETTINGS.sweep = SETTINGS.rollup) {
  const { config: configOverrides, flushMetrics: flushOverride, ...depOverrides } = overrides;
  const settings = readSettings(env, table);
  const config: RollupConfig = { ...rollupConfig(settings), ...configOverrides };
  const logger = createLogger(settings);

  let metricsPort: RollupMetrics | undefined = depOverrides.metrics;
  let flush = flushOverride ?? (() => {});
  if (metricsPort === undefined) {
    const metrics = new Metrics({ namespace: settings.metricsNamespace, serviceName: settings.serviceName });
    metricsPort = {
      add: (name, value, unit) => metrics.addMetric(name, unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count, value),
    };
    flush = flushOverride ?? (() => metrics.publishStoredMetrics());
  }

  const store =
    depOverrides.store ??
    new DynamoRollupStore(dynamoClient(env === process.env ? undefined : env) as unknown as DynamoSender, tableName(env, 'rollups'));
  const deps: RollupDeps = {
    cache: new RollupCache(100_000, settings.itemCacheEntries),
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    logger: logPort(logger),
    ...depOverrides,
    store,
    metrics: metricsPort,
  };
  return { deps, config, flush };
}
