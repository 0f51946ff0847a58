/**
 * Wiring of the archive function: configuration read once from an environment, adapters built
 * once per container (the zstd codec starts loading at init), then a thin Kinesis handler over the
 * pure core. `handler.ts` binds it to `process.env` for Lambda; the embedded stack binds it to the
 * stack's environment.
 *
 * Environment: ARCHIVE_BUCKET_NAME (required); ARCHIVE_ZSTD_LEVEL (default 3),
 * ARCHIVE_ROW_GROUP_ROWS (100000), ARCHIVE_WRITE_CONCURRENCY (8), ARCHIVE_TIME_MARGIN_MS (2000);
 * POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL; the standard AWS variables
 * (AWS_ENDPOINT_URL_S3, AWS_REGION, credentials).
 *
 * The event source mapping should set ReportBatchItemFailures and BisectBatchOnFunctionError:
 * unwritten objects come back as a batch item failure, unexpected errors as a function error.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { s3Client } from '../shared/clients.ts';
import { bucketName, optionalInt, type Env } from '../shared/config.ts';
import { archiveBatch, type ArchiveDeps, type ArchiveStats } from './core.ts';
import { DEFAULT_ROW_GROUP_ROWS } from '../shared/archive/parquet.ts';
import { S3ArchiveBucket } from '../shared/archive/s3-store.ts';
import { DEFAULT_ZSTD_LEVEL, loadZstd, type BlockCodec } from '../shared/archive/zstd.ts';

export type ArchiveHandler = (
  event: KinesisStreamEvent,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
) => Promise<KinesisStreamBatchResponse>;

export interface ArchiveConfig {
  readonly bucket: string;
  readonly zstdLevel: number;
  readonly rowGroupRows: number;
  readonly concurrency: number;
  readonly marginMs: number;
}

/** Reads and checks every setting; throws ConfigError naming the variable. */
export function readArchiveConfig(env: Env): ArchiveConfig {
  return {
    bucket: bucketName(env, 'archive'),
    zstdLevel: optionalInt(env, 'ARCHIVE_ZSTD_LEVEL', DEFAULT_ZSTD_LEVEL, 1, 22),
    rowGroupRows: optionalInt(env, 'ARCHIVE_ROW_GROUP_ROWS', DEFAULT_ROW_GROUP_ROWS, 1_000, 10_000_000),
    concurrency: optionalInt(env, 'ARCHIVE_WRITE_CONCURRENCY', 8, 1, 64),
    marginMs: optionalInt(env, 'ARCHIVE_TIME_MARGIN_MS', 2_000, 0, 60_000),
  };
}

export interface ArchiveOverrides extends Partial<Omit<ArchiveDeps, 'codec'>> {
  readonly codec?: BlockCodec;
  /** Receives each invocation's counts (Powertools EMF metrics by default). */
  readonly onStats?: (stats: ArchiveStats) => void;
}

export function createArchiveHandler(env: Env, overrides: ArchiveOverrides = {}): ArchiveHandler {
  const { codec: codecOverride, onStats, ...depOverrides } = overrides;
  const config = readArchiveConfig(env);
  const serviceName = env.POWERTOOLS_SERVICE_NAME ?? 'streamfold-archive';
  const logger = new Logger({ serviceName, logLevel: (env.LOG_LEVEL ?? 'INFO') as 'INFO' });
  const codec = codecOverride ? Promise.resolve(codecOverride) : loadZstd({ level: config.zstdLevel });
  // Surfaced on the first invocation; never an unhandled rejection at init.
  codec.catch(() => undefined);

  let report = onStats;
  if (report === undefined) {
    const metrics = new Metrics({ namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'streamfold', serviceName });
    report = (s) => {
      metrics.addMetric('ArchivedEvents', MetricUnit.Count, s.events);
      metrics.addMetric('QuarantinedPieces', MetricUnit.Count, s.rejected);
      metrics.addMetric('ArchiveObjectsWritten', MetricUnit.Count, s.eventFiles + s.quarantineObjects - s.failedObjects);
      metrics.addMetric('ArchiveObjectsFailed', MetricUnit.Count, s.failedObjects);
      metrics.addMetric('ArchiveBytesWritten', MetricUnit.Bytes, s.bytesWritten);
      metrics.publishStoredMetrics();
    };
  }

  const store = depOverrides.store ?? new S3ArchiveBucket(s3Client(env === process.env ? undefined : env), config.bucket);

  return async (event, context) => {
    const deps: ArchiveDeps = {
      rowGroupRows: config.rowGroupRows,
      concurrency: config.concurrency,
      marginMs: config.marginMs,
      logger: {
        warn: (message, extra) => logger.warn(message, extra ?? {}),
        error: (message, extra) => logger.error(message, extra ?? {}),
      },
      ...depOverrides,
      store,
      codec: await codec,
    };
    const result = await archiveBatch({ records: event.Records ?? [], remainingMs: () => context.getRemainingTimeInMillis() }, deps);
    if (result.stats.rejected > 0) {
      logger.warn('records quarantined', { pieces: result.stats.rejected, objects: result.stats.quarantineObjects });
    }
    report(result.stats);
    return { batchItemFailures: result.batchItemFailures };
  };
}
