/**
 * `npm run sql` (local/sql.ts) on the embedded stack: DuckDB's answers equal GET /v1/events for a
 * fixed data set (counts per tenant and name, exact, events sharing a client id included, a
 * lineage copied into a second object of its partition counted once), and a tenant's query
 * cannot reach another tenant's rows or any file.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CopyObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../functions/shared/clients.ts';
import { startStack, type RunningStack } from '../../local/index.ts';
import { formatResult, runSql } from '../../local/sql.ts';

const KEYS = { acme: 'sql-acme-key-01', beta: 'sql-beta-key-01' } as const;
const H = 3_600_000;
const HOUR = Math.floor((Date.now() - 2 * H) / H) * H;

/** The fixed data set: per tenant, per name, n events; every third event shares the id `dup`. */
const DATA: Record<keyof typeof KEYS, Record<string, number>> = {
  acme: { 'app.requests': 40, 'app.errors': 7 },
  beta: { 'app.requests': 25, 'beta.jobs': 11 },
};

function eventsOf(names: Record<string, number>): unknown[] {
  return Object.entries(names).flatMap(([name, n]) =>
    Array.from({ length: n }, (_, i) => ({ name, ts: HOUR + i * 1000, value: i, ...(i % 3 === 0 ? { id: 'dup' } : {}), tags: { host: `h${i % 2}` } })),
  );
}

describe('npm run sql: DuckDB over the embedded archive', () => {
  let dataDir: string;
  let stack: RunningStack | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-sql-'));
    stack = await startStack({ port: 0, dataDir, tenants: { ...KEYS }, batchingWindowSeconds: 0, log: () => {}, pollerLogger: { debug: () => {}, warn: () => {}, error: () => {} } });
    for (const [tenant, names] of Object.entries(DATA) as Array<[keyof typeof KEYS, Record<string, number>]>) {
      const res = await fetch(`${stack.url}/v1/events`, {
        method: 'POST',
        headers: { 'x-api-key': KEYS[tenant], 'content-type': 'application/json' },
        body: JSON.stringify(eventsOf(names)),
      });
      expect(res.status).toBe(202);
    }
    await stack.drain(60_000);
    // A lineage copy: one of acme's objects again under another name in its partition (an
    // overlapping re-delivered batch looks like this). Both readers must count its rows once.
    const s3 = s3Client(stack.env);
    const bucket = stack.env.ARCHIVE_BUCKET_NAME!;
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'events/tenant=acme/' }));
    const key = listed.Contents!.map((o) => o.Key!).find((k) => k.endsWith('.parquet'))!;
    await s3.send(new CopyObjectCommand({ Bucket: bucket, CopySource: `${bucket}/${key}`, Key: key.replace(/\.parquet$/, '-copy.parquet') }));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Counts per name from GET /v1/events, all pages. */
  async function apiCounts(tenant: keyof typeof KEYS): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    let cursor: string | undefined;
    do {
      const params = new URLSearchParams({ from: String(HOUR), to: String(HOUR + H - 1), limit: '1000', ...(cursor ? { cursor } : {}) });
      const res = await fetch(`${stack!.url}/v1/events?${params}`, { headers: { 'x-api-key': KEYS[tenant] } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { events: Array<{ name: string }>; nextCursor?: string | null };
      for (const e of body.events) counts[e.name] = (counts[e.name] ?? 0) + 1;
      cursor = body.nextCursor ?? undefined;
    } while (cursor);
    return counts;
  }

  it('answers the same counts per tenant and name as GET /v1/events, exactly', async () => {
    for (const tenant of ['acme', 'beta'] as const) {
      // Act
      const r = await runSql({ sql: `SELECT name, count(*) AS n FROM events WHERE tenant = '${tenant}' GROUP BY 1 ORDER BY 1`, tenant, env: stack!.env });
      const duck = Object.fromEntries(r.rows.map((row) => [row.name as string, Number(row.n)]));
      // Assess
      expect(duck).toEqual(DATA[tenant]);
      expect(await apiCounts(tenant)).toEqual(duck);
    }
    // The name of Athena's view gives the same rows.
    const viaView = await runSql({ sql: 'SELECT name, count(*) AS n FROM events_deduplicated GROUP BY 1 ORDER BY 1', tenant: 'acme', env: stack!.env });
    expect(Object.fromEntries(viaView.rows.map((row) => [row.name as string, row.n]))).toEqual(DATA.acme);
    const all = await runSql({ sql: 'SELECT tenant, name, count(*) AS n FROM events GROUP BY ALL ORDER BY 1, 2', allTenants: true, env: stack!.env });
    expect(all.rows.map((row) => [row.tenant, row.name, Number(row.n)])).toEqual([
      ['acme', 'app.errors', 7],
      ['acme', 'app.requests', 40],
      ['beta', 'app.requests', 25],
      ['beta', 'beta.jobs', 11],
    ]);
  });

  it('keeps events sharing a client id: only lineage copies are dropped', async () => {
    const r = await runSql({ sql: "SELECT count(*) AS n, count(DISTINCT _shard || _seq || _sub) AS lineages FROM events WHERE id = 'dup' AND name = 'app.requests'", tenant: 'acme', env: stack!.env });
    expect(r.rows).toEqual([{ n: 14, lineages: 14 }]);
  });

  it("cannot reach another tenant's rows, nor any file", async () => {
    const other = await runSql({ sql: "SELECT count(*) AS n FROM events WHERE tenant = 'beta'", tenant: 'acme', env: stack!.env });
    expect(other.rows).toEqual([{ n: 0 }]);
    await expect(runSql({ sql: "SELECT count(*) FROM read_parquet('/tmp/**/*.parquet')", tenant: 'acme', env: stack!.env })).rejects.toThrow(/disabled by configuration/);
    await expect(runSql({ sql: 'SET enable_external_access = true', tenant: 'acme', env: stack!.env })).rejects.toThrow(/configuration has been locked/);
    await expect(runSql({ sql: 'SELECT 1', env: stack!.env })).rejects.toThrow("--tenant <tenant> is required (or --all-tenants to read every tenant's archive)");
  });

  it('runs as npm run sql against the running stack, printing a table, JSON or CSV', async () => {
    const run = (args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'local/sql.ts', '--data-dir', dataDir, ...args], { cwd: new URL('../..', import.meta.url).pathname });
    const sql = "SELECT name, count(*) AS n FROM events WHERE tenant = 'acme' GROUP BY 1 ORDER BY 1";
    const table = await run(['--tenant', 'acme', sql]);
    expect(table.stdout).toBe(`${formatResult({ columns: ['name', 'n'], rows: [{ name: 'app.errors', n: 7 }, { name: 'app.requests', n: 40 }] }, 'table')}\n`);
    expect(table.stdout.split('\n').slice(0, 4)).toEqual(['name         |  n', '-------------+---', 'app.errors   |  7', 'app.requests | 40']);
    const csv = await run(['--tenant', 'acme', '--csv', sql]);
    expect(csv.stdout).toBe('name,n\napp.errors,7\napp.requests,40\n');
    const json = await run(['--tenant', 'acme', '--json', sql]);
    expect(JSON.parse(json.stdout)).toEqual([{ name: 'app.errors', n: 7 }, { name: 'app.requests', n: 40 }]);
  }, 60_000);
});
