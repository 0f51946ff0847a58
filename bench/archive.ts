/**
 * Section `archive`: Parquet encoding of a batch on one core — validated events (with lineage and
 * arrival time) to the bytes of one archive file — beside gzip'd NDJSON of the same events and
 * beside DuckDB (appender + COPY TO parquet, ZSTD, one thread) writing the same rows.
 *
 * Also recorded (results.json `info`): bytes/event by row-group size and zstd level, the codec
 * implementation, read-back rate, peak RSS, and a whole batch from Kinesis records (decode +
 * validate + encode).
 *
 *   npx tsx bench/archive.ts [--quick]        this section alone, printed as a table
 *   npm run bench -- --only archive            through the harness (once listed in bench/run.ts)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { planBatch } from '../functions/archive/plan.ts';
import { tableOf } from '../functions/archive/table.ts';
import { encodeArchiveTable, readArchiveFile } from '../functions/shared/archive/parquet.ts';
import { hasNativeZstd, loadZstd } from '../functions/shared/archive/zstd.ts';
import { encodeRecords, serializeEvent, type LineagedEvent } from '../functions/shared/codec.ts';
import { fixtureStats, generateEvents } from '../local/fixtures.ts';
import { defineSection, measureRates, rateFigure, runIfMain } from './harness.ts';
import { ARCHIVE } from './ids.ts';

const SHARD = 'shardId-000000000007';
const seqOf = (i: number) => `4966${String(1_000_000 + i * 7919).padStart(52, '0')}`;

const section = defineSection({
  name: ARCHIVE.section,
  description: 'events → one Parquet archive file (hyparquet-writer + zstd), one core, vs gzip NDJSON and DuckDB',
  cpus: 1,
  packages: ['hyparquet-writer', 'hyparquet', '@bokuweb/zstd-wasm', '@duckdb/node-api'],
  run: async (ctx) => {
    const count = ctx.quick ? 20_000 : 100_000;
    const now = Date.UTC(2026, 0, 15, 12);
    const events = generateEvents(count, { seed: 42, now });
    const stats = fixtureStats(events);
    const codec = await loadZstd();
    ctx.info('events', count);
    ctx.info('codec', { implementation: codec.implementation, nativeZstdAvailable: hasNativeZstd(), level: 3, node: process.version });
    ctx.info(ARCHIVE.info.fixture, { avgEventBytes: Math.round(stats.avgEventBytes * 10) / 10, series: stats.series, withId: stats.withId, withAttrs: stats.withAttrs });

    // What the archive function holds after decoding a batch: events with lineage and arrival time,
    // ~200 events per Kinesis record as the intake writes them.
    const items: Array<{ e: LineagedEvent; arrivalMs: number }> = events.map((event, i) => ({
      e: { event, lineage: { shardId: SHARD, sequenceNumber: seqOf(Math.floor(i / 200)), subIndex: i % 200 } },
      arrivalMs: now + Math.floor(i / 200) * 5,
    }));
    const ours = (): Uint8Array => encodeArchiveTable(tableOf(items), { codec });
    const ndjsonGzip = (): Uint8Array => gzipSync(`${events.map(serializeEvent).join('\n')}\n`);

    const dir = mkdtempSync(join(tmpdir(), 'bench-archive-'));
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const conn = await db.connect();
    let duckRuns = 0;
    const duckdb = async (): Promise<number> => {
      await conn.run(`CREATE OR REPLACE TABLE t (name VARCHAR, ts BIGINT, type VARCHAR, value DOUBLE, tags VARCHAR, id VARCHAR, attrs VARCHAR,
        _shard VARCHAR, _seq VARCHAR, _sub INTEGER, _ingested_at BIGINT)`);
      const a = await conn.createAppender('t');
      for (const { e, arrivalMs } of items) {
        const ev = e.event;
        a.appendVarchar(ev.name);
        a.appendBigInt(BigInt(ev.ts));
        a.appendVarchar(ev.type);
        a.appendDouble(ev.value);
        a.appendVarchar(JSON.stringify(ev.tags));
        if (ev.id === undefined) a.appendNull();
        else a.appendVarchar(ev.id);
        if (ev.attrs === undefined) a.appendNull();
        else a.appendVarchar(JSON.stringify(ev.attrs));
        a.appendVarchar(e.lineage.shardId);
        a.appendVarchar(e.lineage.sequenceNumber);
        a.appendInteger(e.lineage.subIndex);
        a.appendBigInt(BigInt(arrivalMs));
        a.endRow();
      }
      a.closeSync();
      const path = join(dir, `duck-${duckRuns++ % 2}.parquet`);
      await conn.run(`COPY (SELECT name, make_timestamptz(ts * 1000) AS ts, type, value, tags, id, attrs, _shard, _seq, _sub,
        make_timestamptz(_ingested_at * 1000) AS _ingested_at FROM t ORDER BY ts)
        TO '${path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`);
      return readFileSync(path).length;
    };

    try {
      // Sizes (deterministic).
      const oursBytes = ours().length;
      const gzipBytes = ndjsonGzip().length;
      const duckBytes = await duckdb();
      ctx.log(`sizes per event: ours ${(oursBytes / count).toFixed(1)} B, gzip NDJSON ${(gzipBytes / count).toFixed(1)} B, DuckDB ${(duckBytes / count).toFixed(1)} B`);

      // Justification of the settings: row-group size and zstd level.
      const byRowGroup: Record<string, number> = {};
      for (const rg of [10_000, 25_000, 50_000, 100_000, 1_000_000]) {
        byRowGroup[rg] = round((encodeArchiveTable(tableOf(items), { codec, rowGroupRows: rg }).length / count), 2);
      }
      ctx.info('bytesPerEventByRowGroupRows', byRowGroup);
      const byLevel: Record<string, { bytesPerEvent: number; ms: number }> = {};
      for (const level of [1, 3, 6, 9]) {
        const c = await loadZstd({ level });
        encodeArchiveTable(tableOf(items), { codec: c });
        const t0 = performance.now();
        const b = encodeArchiveTable(tableOf(items), { codec: c });
        byLevel[level] = { bytesPerEvent: round(b.length / count, 2), ms: Math.round(performance.now() - t0) };
      }
      ctx.info('byZstdLevel', byLevel);

      // Rates, interleaved.
      // CPU time (all threads, pinned to one core): robust on a shared machine; wall time in info.
      const m = await measureRates(ctx, { units: count, clock: 'cpu', fns: { ours, ndjsonGzip, duckdb } });
      ctx.info('wallMedians', { ours: Math.round(m.ours.wall.median), ndjsonGzip: Math.round(m.ndjsonGzip.wall.median), duckdb: Math.round(m.duckdb.wall.median) });

      // Read back (compaction's and the query function's path) and a whole batch from records.
      const file = ours();
      const r = await measureRates(ctx, { units: count, clock: 'cpu', reps: Math.min(ctx.reps, 5), fns: { read: () => readArchiveFile(file, { codec }) } });
      const records = encodeRecords(events.map((e) => ({ ...e, tenant: 'acme' })));
      const kinesis = records.map((rec, i) => ({
        kinesis: { kinesisSchemaVersion: '1.0', partitionKey: rec.partitionKey, sequenceNumber: seqOf(i), data: Buffer.from(rec.data).toString('base64'), approximateArrivalTimestamp: now / 1000 },
        eventSource: 'aws:kinesis', eventVersion: '1.0', eventID: `${SHARD}:${seqOf(i)}`, eventName: 'aws:kinesis:record',
        invokeIdentityArn: '', awsRegion: 'us-east-1', eventSourceARN: '',
      }));
      const batch = await measureRates(ctx, {
        units: count,
        clock: 'cpu',
        reps: Math.min(ctx.reps, 5),
        fns: { batch: () => planBatch(kinesis, now, { codec }).objects.reduce((n, o) => n + o.body().length, 0) },
      });
      ctx.info('peakRssMiB', Math.round(process.resourceUsage().maxRSS / 1024));

      return [
        rateFigure({
          ...ARCHIVE.figures.encodeRate,
          unit: 'events/s',
          stats: m.ours,
          baseline: { name: "gzip'd NDJSON of the same events", stats: m.ndjsonGzip },
          target: { min: 150_000 },
          note: `zstd ${codec.implementation}`,
        }),
        rateFigure({ ...ARCHIVE.figures.duckdbRate, unit: 'events/s', stats: m.duckdb, note: 'baseline, 71 MB native' }),
        {
          ...ARCHIVE.figures.bytesPerEvent,
          unit: 'B/event',
          better: 'lower',
          value: round(oursBytes / count, 2),
          spread: null,
          baseline: { name: "gzip'd NDJSON", value: round(gzipBytes / count, 2), spread: null },
          target: { maxRatio: 0.9 },
        },
        {
          ...ARCHIVE.figures.duckdbBytesPerEvent,
          unit: 'B/event',
          better: 'lower',
          value: round(duckBytes / count, 2),
          spread: null,
          baseline: { name: "gzip'd NDJSON", value: round(gzipBytes / count, 2), spread: null },
        },
        rateFigure({ ...ARCHIVE.figures.readRate, unit: 'events/s', stats: r.read }),
        rateFigure({ ...ARCHIVE.figures.batchRate, unit: 'events/s', stats: batch.batch, note: 'from gzip NDJSON Kinesis records' }),
      ];
    } finally {
      conn.closeSync();
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export default section;
await runIfMain(import.meta.url, section);
