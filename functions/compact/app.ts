/**
 * Wiring of the compaction function, run hourly by an EventBridge schedule (or invoked by hand
 * with `{ "tenant": "acme", "dt": "2026-11-28", "hour": 12 }` to compact chosen partitions).
 *
 * Environment: ARCHIVE_BUCKET_NAME (required); COMPACT_TARGET_MIB (default 128), COMPACT_MAX_ROWS
 * (4000000),
 * COMPACT_GRACE_MINUTES (10), COMPACT_LOOKBACK_HOURS (48), ARCHIVE_ROW_GROUP_ROWS (100000),
 * ARCHIVE_ZSTD_LEVEL (3), COMPACT_RESERVE_MS (60000); POWERTOOLS_SERVICE_NAME, LOG_LEVEL; the
 * standard AWS variables. Give the function 3 GB of memory (an output file's rows are held twice,
 * ~140 B a row each: ~1.2 GB of heap at the 4M-row cap) and reserved concurrency 1.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { s3Client } from '../shared/clients.ts';
import { bucketName, optionalInt, type Env } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { checkTenant } from '../shared/event.ts';
import { DEFAULT_ROW_GROUP_ROWS } from '../shared/archive/parquet.ts';
import type { ArchiveBucket } from '../shared/archive/bucket.ts';
import { S3ArchiveBucket } from '../shared/archive/s3-store.ts';
import { DEFAULT_ZSTD_LEVEL, loadZstd, type BlockCodec } from '../shared/archive/zstd.ts';
import { compactPartitions, type CompactDeps, type PartitionQuery, type RunOutcome } from './core.ts';
import { DEFAULT_MAX_ROWS } from './plan.ts';

export interface CompactConfig {
  readonly bucket: string;
  readonly targetBytes: number;
  readonly maxRows: number;
  readonly graceMs: number;
  readonly lookbackHours: number;
  readonly rowGroupRows: number;
  readonly zstdLevel: number;
  readonly reserveMs: number;
}

export function readCompactConfig(env: Env): CompactConfig {
  return {
    bucket: bucketName(env, 'archive'),
    targetBytes: optionalInt(env, 'COMPACT_TARGET_MIB', 128, 1, 4096) * 1024 * 1024,
    maxRows: optionalInt(env, 'COMPACT_MAX_ROWS', DEFAULT_MAX_ROWS, 1_000, 100_000_000),
    graceMs: optionalInt(env, 'COMPACT_GRACE_MINUTES', 10, 0, 24 * 60) * 60_000,
    lookbackHours: optionalInt(env, 'COMPACT_LOOKBACK_HOURS', 48, 1, 24 * 400),
    rowGroupRows: optionalInt(env, 'ARCHIVE_ROW_GROUP_ROWS', DEFAULT_ROW_GROUP_ROWS, 1_000, 10_000_000),
    zstdLevel: optionalInt(env, 'ARCHIVE_ZSTD_LEVEL', DEFAULT_ZSTD_LEVEL, 1, 22),
    reserveMs: optionalInt(env, 'COMPACT_RESERVE_MS', 60_000, 0, 900_000),
  };
}

/** What a manual invocation may ask for; a scheduled event carries none of it. */
export interface CompactRequest {
  readonly tenant?: string;
  readonly dt?: string;
  readonly hour?: number;
  readonly lookbackHours?: number;
  readonly dryRun?: boolean;
}

export interface CompactSummary {
  readonly partitions: number;
  readonly compacted: number;
  readonly written: number;
  readonly deleted: number;
  readonly duplicatesDropped: number;
  readonly failed: RunOutcome['failed'];
  readonly skipped: number;
}

export type CompactHandler = (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<CompactSummary>;

export interface CompactOverrides extends Partial<Omit<CompactDeps, 'bucket' | 'codec'>> {
  readonly bucket?: ArchiveBucket;
  readonly codec?: BlockCodec;
}

/** Validates a manual request; throws ConfigError with what to fix. */
export function parseCompactRequest(event: unknown): CompactRequest {
  if (typeof event !== 'object' || event === null) return {};
  const e = event as Record<string, unknown>;
  // EventBridge scheduled events carry `source`/`detail-type`: compact the lookback window.
  if ('detail-type' in e) return {};
  const out: { -readonly [K in keyof CompactRequest]: CompactRequest[K] } = {};
  if (e.tenant !== undefined) {
    if (typeof e.tenant !== 'string' || checkTenant(e.tenant) !== undefined) throw new ConfigError(`tenant: not a tenant id: ${JSON.stringify(e.tenant)}`);
    out.tenant = e.tenant;
  }
  if (e.dt !== undefined) {
    if (typeof e.dt !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(e.dt) || Number.isNaN(Date.parse(`${e.dt}T00:00:00Z`))) {
      throw new ConfigError(`dt: expected YYYY-MM-DD, got ${JSON.stringify(e.dt)}`);
    }
    out.dt = e.dt;
  }
  if (e.hour !== undefined) {
    if (typeof e.hour !== 'number' || !Number.isInteger(e.hour) || e.hour < 0 || e.hour > 23) throw new ConfigError(`hour: expected 0-23, got ${JSON.stringify(e.hour)}`);
    if (out.dt === undefined) throw new ConfigError('hour: needs dt');
    out.hour = e.hour;
  }
  if (e.lookbackHours !== undefined) {
    if (typeof e.lookbackHours !== 'number' || !Number.isInteger(e.lookbackHours) || e.lookbackHours < 1) throw new ConfigError('lookbackHours: expected a positive integer');
    out.lookbackHours = e.lookbackHours;
  }
  if (e.dryRun !== undefined) out.dryRun = e.dryRun === true;
  return out;
}

export function createCompactHandler(env: Env, overrides: CompactOverrides = {}): CompactHandler {
  const { bucket: bucketOverride, codec: codecOverride, ...rest } = overrides;
  const config = readCompactConfig(env);
  const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'streamfold-compact', logLevel: (env.LOG_LEVEL ?? 'INFO') as 'INFO' });
  const codec = codecOverride ? Promise.resolve(codecOverride) : loadZstd({ level: config.zstdLevel });
  codec.catch(() => undefined);
  const bucket = bucketOverride ?? new S3ArchiveBucket(s3Client(env === process.env ? undefined : env), config.bucket);

  return async (event, context) => {
    const req = parseCompactRequest(event);
    const deps: CompactDeps = {
      targetBytes: config.targetBytes,
      maxRows: config.maxRows,
      graceMs: config.graceMs,
      rowGroupRows: config.rowGroupRows,
      logger: { info: (m, x) => logger.info(m, x ?? {}), warn: (m, x) => logger.warn(m, x ?? {}) },
      ...rest,
      ...(req.dryRun !== undefined && { dryRun: req.dryRun }),
      bucket,
      codec: await codec,
    };
    const query: PartitionQuery = { lookbackHours: config.lookbackHours, ...req };
    const run = await compactPartitions(deps, {
      ...query,
      reserveMs: config.reserveMs,
      ...(context && { remainingMs: () => context.getRemainingTimeInMillis() }),
    });
    const summary = summarize(run);
    logger.info('compaction run', { ...summary, failed: summary.failed.slice(0, 20) });
    return summary;
  };
}

export function summarize(run: RunOutcome): CompactSummary {
  let compacted = 0;
  let written = 0;
  let deleted = 0;
  let duplicatesDropped = 0;
  for (const p of run.partitions) {
    if (p.action !== 'compacted') continue;
    compacted++;
    written += p.written.length;
    deleted += p.deleted.length;
    duplicatesDropped += p.lineageDuplicates + p.idDuplicates;
  }
  return { partitions: run.partitions.length, compacted, written, deleted, duplicatesDropped, failed: run.failed, skipped: run.skipped };
}
