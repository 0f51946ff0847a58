/**
 * `npm run sql -- [--tenant T | --all-tenants] [--json | --csv] [--data-dir D] "<SQL>"`: DuckDB
 * over the archive of the running embedded stack, through a table `events` holding one row per
 * event under the reader rule (functions/shared/archive/keys.ts; the SQL is the one of Athena's view
 * `events_deduplicated`, lib/constructs/archive-catalog.ts `deduplicatedViewSql`, and that name
 * works here too: the same query text on both), so its answers are those of GET /v1/events.
 *
 * Scope: the objects of `events/tenant=<T>/` only are copied (through the S3 API) into a temporary
 * directory and loaded; with `--all-tenants`, all of `events/`. DuckDB's file access is then
 * switched off and locked, so the query cannot read anything else (a `read_parquet(...)` in it is
 * refused by DuckDB): other tenants' rows are not reachable at all.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { s3Client } from '../functions/shared/clients.ts';
import { EVENTS_PREFIX, PARQUET_SUFFIX, tenantPrefix } from '../functions/shared/archive/keys.ts';
import { DEDUPLICATED_VIEW, deduplicatedViewSql } from '../lib/constructs/archive-catalog.ts';
import { runningStack } from './tenant-admin.ts';

export type SqlFormat = 'table' | 'json' | 'csv';

export interface SqlOptions {
  readonly sql: string;
  /** The tenant whose archive is loaded; required unless `allTenants`. */
  readonly tenant?: string;
  readonly allTenants?: boolean;
  /** The stack's environment (ARCHIVE_BUCKET_NAME, endpoints, credentials). */
  readonly env: Readonly<Record<string, string>>;
}

export interface SqlResult {
  readonly columns: string[];
  readonly rows: Array<Record<string, unknown>>;
  /** Archive objects loaded. */
  readonly objects: number;
}

export class SqlUsageError extends Error {}

const TENANT_RE = /^[a-z0-9][a-z0-9_-]*$/;

/** Copies the scoped archive objects into `dir`, keeping their keys; returns how many. */
async function download(s3: S3Client, bucket: string, prefix: string, dir: string): Promise<number> {
  let token: string | undefined;
  let n = 0;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (!o.Key?.endsWith(PARQUET_SUFFIX)) continue;
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
      const path = join(dir, o.Key);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await got.Body!.transformToByteArray());
      n++;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return n;
}

/** Runs `sql` over the scoped archive. */
export async function runSql(opts: SqlOptions): Promise<SqlResult> {
  if (!opts.allTenants) {
    if (opts.tenant === undefined) throw new SqlUsageError('--tenant <tenant> is required (or --all-tenants to read every tenant\'s archive)');
    if (!TENANT_RE.test(opts.tenant)) throw new SqlUsageError(`--tenant must be a tenant id (lowercase letters, digits, - and _), got ${JSON.stringify(opts.tenant)}`);
  }
  const bucket = opts.env.ARCHIVE_BUCKET_NAME;
  if (!bucket) throw new SqlUsageError('ARCHIVE_BUCKET_NAME is not set in the stack environment');
  const dir = await mkdtemp(join(tmpdir(), 'streamfold-sql-'));
  try {
    const prefix = opts.allTenants ? EVENTS_PREFIX : tenantPrefix(opts.tenant!);
    const objects = await download(s3Client(opts.env), bucket, prefix, dir);
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    try {
      if (objects > 0) {
        const glob = join(dir, EVENTS_PREFIX, '**', `*${PARQUET_SUFFIX}`).replaceAll("'", "''");
        // hive_types: the partition columns as the Glue table declares them (hour an int, dt a string).
        const from = `read_parquet('${glob}', hive_partitioning = true, union_by_name = true, hive_types = {'tenant': VARCHAR, 'dt': VARCHAR, 'hour': INTEGER})`;
        await db.run(`CREATE TABLE events AS ${deduplicatedViewSql(from)}`);
      } else {
        await db.run(
          'CREATE TABLE events (name VARCHAR, ts TIMESTAMP, type VARCHAR, value DOUBLE, tags VARCHAR, id VARCHAR, attrs VARCHAR, _shard VARCHAR, _seq VARCHAR, _sub INTEGER, _ingested_at TIMESTAMP, start TIMESTAMP, agg VARCHAR, tenant VARCHAR, dt VARCHAR, hour INTEGER)',
        );
      }
      // The name Athena's view has (lib/constructs/archive-catalog.ts): one query text for both.
      await db.run(`CREATE VIEW ${DEDUPLICATED_VIEW} AS SELECT * FROM events`);
      // From here on the query sees the table only: no file, no URL, no extension, and it cannot undo this.
      await db.run("SET enable_external_access = false; SET autoinstall_known_extensions = false; SET autoload_known_extensions = false; SET lock_configuration = true");
      const reader = await db.runAndReadAll(opts.sql);
      const columns = reader.columnNames();
      // DuckDB's JSON form gives 64-bit integers (every count(*)) as strings; a count that fits a
      // double exactly is given as a number.
      const integers = reader.columnTypes().flatMap((t, i) => (/^(BIGINT|UBIGINT|HUGEINT|UHUGEINT)$/.test(String(t)) ? [columns[i]!] : []));
      const rows = (reader.getRowObjectsJson() as Array<Record<string, unknown>>).map((row) => {
        for (const c of integers) {
          const v = row[c];
          if (typeof v === 'string' && Number.isSafeInteger(Number(v))) row[c] = Number(v);
        }
        return row;
      });
      return { columns, rows, objects };
    } finally {
      db.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The result as text: an aligned table, JSON (an array of row objects) or CSV. */
export function formatResult(r: Pick<SqlResult, 'columns' | 'rows'>, format: SqlFormat): string {
  if (format === 'json') return JSON.stringify(r.rows, null, 2);
  if (format === 'csv') {
    const q = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    return [r.columns.map(q).join(','), ...r.rows.map((row) => r.columns.map((c) => q(cell(row[c]))).join(','))].join('\n');
  }
  const cells = r.rows.map((row) => r.columns.map((c) => cell(row[c])));
  const widths = r.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = r.columns.map((c) => r.rows.length > 0 && r.rows.every((row) => row[c] === null || typeof row[c] === 'number' || /^-?\d+(\.\d+)?$/.test(cell(row[c]))));
  const line = (vals: string[]) => vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ').trimEnd();
  return [line(r.columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line), `(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})`].join('\n');
}

const USAGE = 'usage: npm run sql -- (--tenant <tenant> | --all-tenants) [--json | --csv] [--data-dir <dir>] "<SQL over the table events>"';

export function parseArgs(argv: readonly string[]): { sql: string; tenant?: string; allTenants: boolean; format: SqlFormat; dataDir?: string } {
  let tenant: string | undefined;
  let dataDir: string | undefined;
  let allTenants = false;
  let format: SqlFormat = 'table';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--tenant' || a === '--data-dir') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new SqlUsageError(`${a} takes a value; ${USAGE}`);
      if (a === '--tenant') tenant = v;
      else dataDir = v;
    } else if (a === '--all-tenants') allTenants = true;
    else if (a === '--json') format = 'json';
    else if (a === '--csv') format = 'csv';
    else if (a.startsWith('--')) throw new SqlUsageError(`unknown option ${a}; ${USAGE}`);
    else rest.push(a);
  }
  if (rest.length !== 1) throw new SqlUsageError(`give exactly one SQL statement (quoted); ${USAGE}`);
  if (tenant !== undefined && allTenants) throw new SqlUsageError(`--tenant and --all-tenants exclude each other; ${USAGE}`);
  return { sql: rest[0]!, ...(tenant !== undefined ? { tenant } : {}), allTenants, format, ...(dataDir !== undefined ? { dataDir } : {}) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const run = runningStack(args.dataDir);
  if (run === undefined) throw new SqlUsageError('no embedded stack is running on this data directory: start it with `npm start` (or pass --data-dir)');
  const result = await runSql({ sql: args.sql, ...(args.tenant !== undefined ? { tenant: args.tenant } : {}), allTenants: args.allTenants, env: run.env });
  console.log(formatResult(result, args.format));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof SqlUsageError ? `sql: ${err.message}` : err instanceof Error ? `sql: ${err.message}` : String(err));
    process.exitCode = 1;
  });
}
