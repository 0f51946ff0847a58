/**
 * Compaction from the command line, against whatever S3 the standard AWS settings point at
 * (`AWS_ENDPOINT_URL_S3` for the embedded emulator or LocalStack, nothing for AWS):
 *
 *   npx tsx local/compact-cli.ts --bucket NAME [--tenant T] [--dt YYYY-MM-DD [--hour H]]
 *                                [--lookback-hours 48] [--target-mib 128] [--grace-minutes 10]
 *                                [--dry-run] [--json]
 *
 * Without --dt it compacts the closed partition-hours of the last --lookback-hours (as the
 * scheduled function does); with --dt, that day (or that hour). --dry-run prints the plan only.
 * Exits 1 if any partition failed.
 */
import { parseArgs } from 'node:util';
import { s3Client } from '../functions/shared/clients.ts';
import { parseCompactRequest, summarize } from '../functions/compact/app.ts';
import { compactPartitions } from '../functions/compact/core.ts';
import { DEFAULT_GRACE_MS, DEFAULT_TARGET_BYTES } from '../functions/compact/plan.ts';
import { S3ArchiveBucket } from '../functions/shared/archive/s3-store.ts';
import { loadZstd } from '../functions/shared/archive/zstd.ts';

const USAGE =
  'usage: npx tsx local/compact-cli.ts --bucket NAME [--tenant T] [--dt YYYY-MM-DD [--hour H]] ' +
  '[--lookback-hours N] [--target-mib N] [--grace-minutes N] [--dry-run] [--json]';

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return v;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      bucket: { type: 'string' },
      tenant: { type: 'string' },
      dt: { type: 'string' },
      hour: { type: 'string' },
      'lookback-hours': { type: 'string' },
      'target-mib': { type: 'string' },
      'grace-minutes': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.bucket) throw new Error(`--bucket is required\n${USAGE}`);
  const request = parseCompactRequest({
    ...(values.tenant !== undefined && { tenant: values.tenant }),
    ...(values.dt !== undefined && { dt: values.dt }),
    ...(values.hour !== undefined && { hour: positiveInt('hour', values.hour, 0) }),
    ...(values['lookback-hours'] !== undefined && { lookbackHours: positiveInt('lookback-hours', values['lookback-hours'], 48, 1) }),
  });
  const run = await compactPartitions(
    {
      bucket: new S3ArchiveBucket(s3Client(), values.bucket),
      codec: await loadZstd(),
      targetBytes: positiveInt('target-mib', values['target-mib'], DEFAULT_TARGET_BYTES / 1024 / 1024, 1) * 1024 * 1024,
      graceMs: positiveInt('grace-minutes', values['grace-minutes'], DEFAULT_GRACE_MS / 60_000) * 60_000,
      dryRun: values['dry-run'],
      logger: { info: () => {}, warn: (m, x) => process.stderr.write(`${m} ${JSON.stringify(x ?? {})}\n`) },
    },
    request,
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ summary: summarize(run), partitions: run.partitions }, null, 2)}\n`);
  } else {
    for (const p of run.partitions) {
      const where = `tenant=${p.partition.tenant} dt=${p.partition.dt} hour=${String(p.partition.hour).padStart(2, '0')}`;
      const detail =
        p.action === 'compacted' || p.action === 'planned'
          ? ` files ${p.filesBefore} → ${p.kept.length + (p.plan?.merge.length ?? 0)}, rows ${p.rowsBefore} → ${p.rowsAfter}` +
            ` (dropped ${p.lineageDuplicates} duplicate copies)`
          : ` files ${p.filesBefore}`;
      process.stdout.write(`${p.action.padEnd(9)} ${where}${detail}\n`);
    }
    for (const f of run.failed) process.stdout.write(`FAILED    tenant=${f.partition.tenant} dt=${f.partition.dt} hour=${f.partition.hour}: ${f.error}\n`);
    const s = summarize(run);
    process.stdout.write(
      `${run.partitions.length} partition-hours: ${s.compacted} compacted, ${s.written} files written, ${s.deleted} deleted, ` +
        `${s.duplicatesDropped} duplicates dropped, ${s.failed.length} failed${values['dry-run'] ? ' (dry run: nothing changed)' : ''}\n`,
    );
  }
  return run.failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
