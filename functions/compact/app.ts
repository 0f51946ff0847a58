/**
 * Wiring of the compaction function, run hourly by an EventBridge schedule (or invoked by hand
 * with `{ "tenant": "acme", "dt": "2026-11-28", "hour": 12 }` to compact chosen partitions).
 *
 * Environment: ARCHIVE_BUCKET_NAME (required); the settings of SETTINGS.compact in lib/settings.ts
 * (target size, row cap, grace, lookback, reserve, the archive's Parquet settings, Powertools
 * service name and log level); the standard AWS variables. Give the function 3 GB of memory (an
 * output file's rows are held twice, ~140 B a row each: ~1.2 GB of heap at the 4M-row cap) and
 * reserved concurrency 1.
 */
import type { Context } from 'aws-lambda';
import { SETTINGS, type Settings } from '../../lib/settings.ts';
import { s3Client } from '../shared/clients.ts';
import { bucketName, readSettings, type Env } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { checkTenant } from '../shared/event.ts';
import { createLogger, logPort } from '../shared/logger.ts';
import type { ArchiveBucket } from '../shared/archive/bucket.ts';
import { S3ArchiveBucket } from '../shared/archive/s3-store.ts';
import { loadZstd, type BlockCodec } from '../shared/archive/zstd.ts';
import { compactPartitions, type CompactDeps, type PartitionQuery, type RunOutcome } from './core.ts';

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
  return compactConfig(env, readSettings(env, SETTINGS.compact));
}

function compactConfig(env: Env, s: Settings<typeof SETTINGS.compact>): CompactConfig {
  return {
    bucket: bucketName(env, 'archive'),
    targetBytes: s.targetMib * 1024 * 1024,
    maxRows: s.maxRows,
    graceMs: s.graceMinutes * 60_000,
    lookbackHours: s.lookbackHours,
    rowGroupRows: s.rowGroupRows,
    zstdLevel: s.zstdLevel,
    reserveMs: s.reserveMs,
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
  const settings = readSettings(env, SETTINGS.compact);
  const config = compactConfig(env, settings);
  const logger = createLogger(settings);
  const log = logPort(logger);
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
      logger: log,
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
    duplicatesDropped += p.lineageDuplicates;
  }
  return { partitions: run.partitions.length, compacted, written, deleted, duplicatesDropped, failed: run.failed, skipped: run.skipped };
}
