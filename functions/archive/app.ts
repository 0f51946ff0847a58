/**
 * Wiring of the archive function: configuration read once from an environment, adapters built
 * once per container (the zstd codec starts loading at init), then a thin Kinesis handler over the
 * pure core. `handler.ts` binds it to `process.env` for Lambda; the embedded stack binds it to the
 * stack's environment.
 *
 * Environment: ARCHIVE_BUCKET_NAME (required); the settings of SETTINGS.archive in lib/settings.ts
 * (zstd level, row group size, write concurrency, time margin, the rollups' 1 h retention,
 * Powertools service name, log level and namespace); the standard AWS variables (AWS_ENDPOINT_URL_S3, AWS_REGION, credentials).
 *
 * The event source mapping should set ReportBatchItemFailures and BisectBatchOnFunctionError:
 * unwritten objects come back as a batch item failure, unexpected errors as a function error.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { SETTINGS, type Settings } from '../../lib/settings.ts';
import { s3Client } from '../shared/clients.ts';
import { bucketName, readSettings, type Env } from '../shared/config.ts';
import { createLogger, logPort } from '../shared/logger.ts';
import { archiveBatch, type ArchiveDeps, type ArchiveStats } from './core.ts';
import { S3ArchiveBucket } from '../shared/archive/s3-store.ts';
import { loadZstd, type BlockCodec } from '../shared/archive/zstd.ts';
import { daysToMs } from '../shared/rollups/keys.ts';

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
  /** The rollups' 1 h retention, ms. */
  readonly maxAgeMs: number;
}

/** Reads and checks every setting; throws ConfigError naming the variable. */
export function readArchiveConfig(env: Env): ArchiveConfig {
  return archiveConfig(env, readSettings(env, SETTINGS.archive));
}

function archiveConfig(env: Env, s: Settings<typeof SETTINGS.archive>): ArchiveConfig {
  return {
    bucket: bucketName(env, 'archive'),
    zstdLevel: s.zstdLevel,
    rowGroupRows: s.rowGroupRows,
    concurrency: s.writeConcurrency,
    marginMs: s.timeMarginMs,
    maxAgeMs: daysToMs(s.rollupTtl1hDays),
  };
}

export interface ArchiveOverrides extends Partial<Omit<ArchiveDeps, 'codec'>> {
  readonly codec?: BlockCodec;
  /** Receives each invocation's counts (Powertools EMF metrics by default). */
  readonly onStats?: (stats: ArchiveStats) => void;
}

export function createArchiveHandler(env: Env, overrides: ArchiveOverrides = {}): ArchiveHandler {
  const { codec: codecOverride, onStats, ...depOverrides } = overrides;
  const settings = readSettings(env, SETTINGS.archive);
  const config = archiveConfig(env, settings);
  const logger = createLogger(settings);
  const codec = codecOverride ? Promise.resolve(codecOverride) : loadZstd({ level: config.zstdLevel });
  // Surfaced on the first invocation; never an unhandled rejection at init.
  codec.catch(() => undefined);

  let report = onStats;
  if (report === undefined) {
    const metrics = new Metrics({ namespace: settings.metricsNamespace, serviceName: settings.serviceName });
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

  const log = logPort(logger);

  return async (event, context) => {
    const deps: ArchiveDeps = {
      rowGroupRows: config.rowGroupRows,
      concurrency: config.concurrency,
      marginMs: config.marginMs,
      maxAgeMs: config.maxAgeMs,
      logger: log,
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
