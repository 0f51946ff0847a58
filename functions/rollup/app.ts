/**
 * Wiring of the rollup function: configuration read once from an environment, adapters built once
 * per container, then a thin Kinesis handler over the pure core. `handler.ts` binds it to
 * `process.env` for Lambda; the embedded stack binds it to the stack's environment.
 *
 * Environment: ROLLUPS_TABLE_NAME (required); ROLLUP_TTL_1M_DAYS (default 15), ROLLUP_TTL_1H_DAYS
 * (default 400); ROLLUP_WRITE_CONCURRENCY (16), ROLLUP_READ_CONCURRENCY (4), ROLLUP_TIME_MARGIN_MS
 * (1000); ROLLUP_ITEM_CACHE_ENTRIES (20000, at most 200000, ~2-4 KB each: bucket items a container
 * keeps between batches so it need not read them again, core.ts RollupCache; 0 = read every item
 * every batch);
 * POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL.
 *
 * The event source mapping should set ReportBatchItemFailures and BisectBatchOnFunctionError:
 * unwritten items come back as a batch item failure, unexpected errors as a function error.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { dynamoClient } from '../shared/clients.ts';
import { optionalInt, tableName, type Env } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { DEFAULT_ITEM_CACHE_ENTRIES, DEFAULT_ROLLUP_CONFIG, RollupCache, rollupBatch, type RollupConfig, type RollupDeps, type RollupMetrics } from './core.ts';
import { DEFAULT_TTL_DAYS, daysToMs } from '../shared/rollups/keys.ts';
import { DynamoRollupStore, type DynamoSender } from './store.ts';

export type RollupHandler = (event: KinesisStreamEvent, context: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<KinesisStreamBatchResponse>;

/** Reads and checks every setting; throws ConfigError naming the variable. */
export function readRollupConfig(env: Env): RollupConfig {
  const ttl1m = optionalInt(env, 'ROLLUP_TTL_1M_DAYS', DEFAULT_TTL_DAYS['1m'], 1, 3650);
  const ttl1h = optionalInt(env, 'ROLLUP_TTL_1H_DAYS', DEFAULT_TTL_DAYS['1h'], 1, 3650);
  if (ttl1m > ttl1h) {
    throw new ConfigError(`ROLLUP_TTL_1M_DAYS (${ttl1m}) must not exceed ROLLUP_TTL_1H_DAYS (${ttl1h}): count and gauge minutes live in 1 h items`);
  }
  return {
    ...DEFAULT_ROLLUP_CONFIG,
    ttlMs: { '1m': daysToMs(ttl1m), '1h': daysToMs(ttl1h) },
    writeConcurrency: optionalInt(env, 'ROLLUP_WRITE_CONCURRENCY', DEFAULT_ROLLUP_CONFIG.writeConcurrency, 1, 256),
    readConcurrency: optionalInt(env, 'ROLLUP_READ_CONCURRENCY', DEFAULT_ROLLUP_CONFIG.readConcurrency, 1, 64),
    timeMarginMs: optionalInt(env, 'ROLLUP_TIME_MARGIN_MS', DEFAULT_ROLLUP_CONFIG.timeMarginMs, 0, 60_000),
  };
}

export interface RollupOverrides extends Partial<RollupDeps> {
  readonly config?: Partial<RollupConfig>;
  /** Called after each invocation (Powertools publishes its EMF line here by default). */
  readonly flushMetrics?: () => void;
}

export function createRollupHandler(env: Env, overrides: RollupOverrides = {}): RollupHandler {
  const { config: configOverrides, flushMetrics: flushOverride, ...depOverrides } = overrides;
  const config: RollupConfig = { ...readRollupConfig(env), ...configOverrides };
  const serviceName = env.POWERTOOLS_SERVICE_NAME ?? 'streamfold-rollup';
  const logger = new Logger({ serviceName, logLevel: (env.LOG_LEVEL ?? 'INFO') as 'INFO' });

  let metricsPort: RollupMetrics | undefined = depOverrides.metrics;
  let flush = flushOverride ?? (() => {});
  if (metricsPort === undefined) {
    const metrics = new Metrics({ namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'streamfold', serviceName });
    metricsPort = {
      add: (name, value, unit) => metrics.addMetric(name, unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count, value),
    };
    flush = flushOverride ?? (() => metrics.publishStoredMetrics());
  }

  const store =
    depOverrides.store ??
    new DynamoRollupStore(dynamoClient(env === process.env ? undefined : env) as unknown as DynamoSender, tableName(env, 'rollups'));
  // ~2-4 KB each (an hour item with packed minutes, its tags and watermarks): 200,000 is ~0.5-0.8 GB.
  const itemCacheEntries = optionalInt(env, 'ROLLUP_ITEM_CACHE_ENTRIES', DEFAULT_ITEM_CACHE_ENTRIES, 0, 200_000);
  const deps: RollupDeps = {
    cache: new RollupCache(100_000, itemCacheEntries),
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    logger: {
      debug: (message, details) => logger.debug(message, details ?? {}),
      info: (message, details) => logger.info(message, details ?? {}),
      warn: (message, details) => logger.warn(message, details ?? {}),
      error: (message, details) => logger.error(message, details ?? {}),
    },
    ...depOverrides,
    store,
    metrics: metricsPort,
  };

  return async (event, context) => {
    try {
      const outcome = await rollupBatch(event.Records ?? [], () => context.getRemainingTimeInMillis(), deps, config);
      return { batchItemFailures: outcome.batchItemFailures };
    } finally {
      flush();
    }
  };
}
