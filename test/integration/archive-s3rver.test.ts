/**
 * The archive and compaction functions against a real S3 API (s3rver, in-process): the handler
 * factories with the standard AWS settings, batches shaped like Lambda's Kinesis events, Parquet
 * read back by DuckDB and hyparquet, then compaction (handler and CLI).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchiveHandler } from '../../functions/archive/app.ts';
import type { ArchiveStats } from '../../functions/archive/core.ts';
import { parseEventsKey } from '../../functions/shared/archive/keys.ts';
import { parseQuarantineObject } from '../../functions/archive/quarantine.ts';
import { S3ArchiveBucket } from '../../functions/shared/archive/s3-store.ts';
import { createCompactHandler } from '../../functions/compact/app.ts';
import { readerRuleSql } from '../../lib/constructs/archive-catalog.ts';
import { resetClients, s3Client } from '../../functions/shared/clients.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { context, Duck, kinesisRecord, readWithHyparquet, recordsFor, seq, streamEvent } from '../unit/archive.support.ts';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (o: Record<string, unknown>) => { run(): Promise<unknown>; close(): Promise<void>; httpServer?: Server };

const BUCKET = 'streamfold-archive-000000000000-us-east-1';
const HOUR = 3_600_000;
const NOW = Date.now();
/** Three hours ago, on the hour: closed for compaction. */
const H = Math.floor(NOW / HOUR) * HOUR - 3 * HOUR;

let server: InstanceType<typeof S3rver>;
let dir: string;
let env: Record<string, string>;
let s3: S3Client;
let duck: Duck;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'archive-s3rver-'));
  server = new S3rver({ address: '127.0.0.1', port: 0, directory: join(dir, 'data'), silent: true, vhostBuckets: false });
  await server.run();
  const address = server.httpServer!.address();
  if (address === null || typeof address === 'string') throw new Error('s3rver is not on a TCP port');
  env = {
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${address.port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    ARCHIVE_BUCKET_NAME: BUCKET,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
  s3 = s3Client(env);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  duck = await Duck.open();
});

afterAll(async () => {
  resetClients();
  duck?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function keys(prefix: string): Promise<Array<{ key: string; size: number }>> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size! })).sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function get(key: string): Promise<Uint8Array> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return out.Body!.transformToByteArray();
}

/** Downloads events/ into a fresh directory (keeping the key layout) for DuckDB. */
async function download(): Promise<string> {
  const root = mkdtempSync(join(dir, 'copy-'));
  for (const { key } of await keys('events/')) {
    const path = join(root, key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await get(key));
  }
  return root;
}

const EVENTS: StreamEvent[] = Array.from({ length: 900 }, (_, i) => ({
  tenant: i % 4 === 0 ? 'globex' : 'acme',
  name: `checkout.latency`,
  ts: H + Math.floor((i * 2 * HOUR) / 900),
  value: i / 4,
  type: 'distribution' as const,
  tags: { region: `r${i % 3}`, env: 'prod' },
  // Ids repeat (90 events over 3 ids): an id is not a dedupe key, every event is kept.
  ...(i % 10 === 0 ? { id: `order-${i % 30}` } : {}),
  ...(i % 25 === 0 ? { attrs: { trace: `t${i}`, n: i } } : {}),
}));

describe('archive + compaction on s3rver', () => {
  const stats: ArchiveStats[] = [];

  it('archives overlapping batches as Parquet that DuckDB and hyparquet read back, and quarantines bad records', async () => {
    // Prepare: the shard's records, delivered in three overlapping batches; two bad records.
    const archive = createArchiveHandler(env, { onStats: (s) => stats.push(s) });
    const records = recordsFor(EVENTS, { arrivalMs: NOW - 1000, perRecord: 30 });
    const n = records.length;
    const bad = [
      kinesisRecord('{"tenant":"acme","name":"x","ts":"soon"}', { sequenceNumber: seq(n + 1), arrivalMs: NOW }),
      kinesisRecord(Buffer.from([0x1f, 0x8b, 0x00, 0x01]), { sequenceNumber: seq(n + 2), arrivalMs: NOW }),
    ];
    const batches = [records.slice(0, Math.ceil(n / 2)), records.slice(Math.floor(n / 3)), [...records.slice(Math.floor(n / 2)), ...bad]];

    // Act
    const responses = [];
    for (const b of batches) responses.push(await archive(streamEvent(b), context()));

    // Assess: all written, files where the keys say, rows readable by two independent readers.
    expect(responses).toEqual(batches.map(() => ({ batchItemFailures: [] })));
    const files = await keys('events/');
    expect(new Set(files.map((f) => { const p = parseEventsKey(f.key)!.partition; return `${p.tenant}/${p.dt}/${p.hour}`; })).size).toBe(4);
    const root = await download();
    const all = await duck.rows(
      `SELECT tenant, hour::INT AS hour, count(*)::INT AS n, count(DISTINCT (_shard, _seq, _sub))::INT AS events
       FROM read_parquet('${root}/events/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL`,
    );
    expect(all.reduce((s, r) => s + (r.events as number), 0)).toBe(EVENTS.length);
    expect(all.reduce((s, r) => s + (r.n as number), 0)).toBeGreaterThan(EVENTS.length);
    const types = await duck.rows(`DESCRIBE SELECT ts FROM read_parquet('${root}/events/**/*.parquet')`);
    expect(types[0]!.column_type).toBe('TIMESTAMP WITH TIME ZONE');
    const viaHyparquet = (await Promise.all(files.map(async (f) => readWithHyparquet(await get(f.key))))).flat();
    expect(new Set(viaHyparquet.map((r) => `${r._seq}/${r._sub}`)).size).toBe(EVENTS.length);
    // The documented SQL form of the reader rule sees each event once, already now.
    const deduped = await duck.rows(
      readerRuleSql(`read_parquet('${root}/events/**/*.parquet', hive_partitioning = true)`, 'true').replace(/^SELECT .*$/m, 'SELECT tenant, epoch_ms(ts) AS ts, value'),
    );
    expect(deduped.map((r) => `${r.tenant}|${r.ts}|${r.value}`).sort()).toEqual(EVENTS.map((e) => `${e.tenant}|${e.ts}|${e.value}`).sort());
    const q = await keys('quarantine/');
    expect(q).toHaveLength(2);
    const reasons = (await Promise.all(q.map(async (o) => parseQuarantineObject(await get(o.key))))).flat().map((l) => l.reason);
    expect(reasons.sort()).toEqual([expect.stringMatching(/^gzip: /), expect.stringMatching(/^ts: "soon" is not an RFC 3339 date-time/)].sort());
    expect(stats.reduce((s, x) => s + x.rejected, 0)).toBe(2);
  });

  it('serves byte ranges, as compaction reads large files', async () => {
    const bucket = new S3ArchiveBucket(s3, BUCKET);
    const [first] = await keys('events/');
    const whole = await get(first!.key);
    const part = await bucket.getRange(first!.key, 4, 20);
    expect(Buffer.from(part!).equals(Buffer.from(whole.subarray(4, 20)))).toBe(true);
    expect(await bucket.get('events/nope.parquet')).toBeUndefined();
  });

  it('plans with the CLI (dry run) without changing anything', async () => {
    // Prepare
    const before = await keys('events/');
    // Act
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'local/compact-cli.ts', '--bucket', BUCKET, '--tenant', 'acme', '--lookback-hours', '6', '--dry-run'],
      { env: { ...process.env, ...env }, cwd: join(import.meta.dirname, '../..') },
    );
    // Assess
    expect(stdout).toMatch(/planned\s+tenant=acme/);
    expect(stdout).toMatch(/\(dry run: nothing changed\)/);
    expect(await keys('events/')).toEqual(before);
  });

  it('compacts every closed partition-hour to one file holding each event exactly once', async () => {
    // Prepare
    const compact = createCompactHandler(env);
    // Act
    const summary = await compact({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }, { getRemainingTimeInMillis: () => 600_000 });
    // Assess
    expect(summary).toMatchObject({ partitions: 4, compacted: 4, failed: [] });
    const files = await keys('events/');
    expect(files).toHaveLength(4);
    expect(files.every((f) => parseEventsKey(f.key)!.compacted)).toBe(true);
    const root = await download();
    const rows = await duck.rows(
      `SELECT tenant, _shard, _seq, _sub, id, epoch_ms(ts) AS ts, value FROM read_parquet('${root}/events/**/*.parquet', hive_partitioning = true)`,
    );
    expect(rows).toHaveLength(EVENTS.length);
    expect(new Set(rows.map((r) => `${r._shard}/${r._seq}/${r._sub}`)).size).toBe(EVENTS.length);
    expect(rows.map((r) => `${r.tenant}|${r.ts}|${r.value}`).sort()).toEqual(EVENTS.map((e) => `${e.tenant}|${e.ts}|${e.value}`).sort());
    // A second run finds nothing to do.
    const again = await compact({ 'detail-type': 'Scheduled Event' });
    expect(again).toMatchObject({ compacted: 0, written: 0, deleted: 0 });
  });
});
