/**
 * Section `codec`: decode + validate throughput on one core for gzip'd NDJSON records of realistic
 * events (what every consumer Lambda runs on each batch), beside the minimal work on the same bytes:
 * gunzip, split lines, `JSON.parse` each line.
 *
 * Also measured, to locate cost: decode without validation (`decodeRecord`) and gunzip alone.
 *
 *   npx tsx bench/codec.ts [--quick]        this section alone, printed as a table
 *   npm run bench -- --only codec            through the harness (own process, results.json)
 */
import { gunzipSync } from 'node:zlib';
import {
  decodeEvents,
  decodeRecord,
  encodeRecords,
  type DecodedEvents,
  type DecodedValue,
  type RecordPosition,
} from '../functions/shared/codec.ts';
import { fixtureStats, generateEvents } from '../local/fixtures.ts';
import { defineSection, measureRates, rateFigure, runIfMain } from './harness.ts';
import { CODEC } from './ids.ts';

const SHARD = 'shardId-000000000007';

const section = defineSection({
  name: CODEC.section,
  description: "decode + validate of gzip'd NDJSON Kinesis records, one core, vs gunzip + JSON.parse",
  cpus: 1,
  run: async (ctx) => {
    const count = ctx.quick ? 20_000 : 100_000;
    // A fixed clock: the same bytes on every run, so runs compare. The validator gets the same `now`.
    const now = Date.UTC(2026, 0, 15, 12);
    const events = generateEvents(count, { seed: 42, now });
    const stats = fixtureStats(events);
    const records = encodeRecords(events);
    const positions: RecordPosition[] = records.map((_, i) => ({
      shardId: SHARD,
      // Kinesis sequence numbers are 56-digit decimal strings.
      sequenceNumber: `4966${String(1_000_000 + i * 7919).padStart(52, '0')}`,
    }));
    const compressed = records.reduce((n, r) => n + r.data.length, 0);
    const raw = records.reduce((n, r) => n + gunzipSync(r.data).length, 0);
    ctx.info('events', count);
    ctx.info('records', records.length);
    ctx.info('avgEventBytes', round(stats.avgEventBytes, 1));
    ctx.info('avgRecordBytesGzip', Math.round(compressed / records.length));
    ctx.info('avgRecordEvents', Math.round(count / records.length));
    ctx.info('compressionRatio', round(raw / compressed, 2));
    ctx.info('fixture', { ...stats, avgEventBytes: round(stats.avgEventBytes, 1), avgTags: round(stats.avgTags, 2) });
    ctx.log(
      `${count} events (avg ${stats.avgEventBytes.toFixed(1)} B as NDJSON, ${stats.series} series) in ${records.length} records ` +
        `(avg ${Math.round(compressed / records.length)} B gzip'd, ${(raw / compressed).toFixed(1)}× compression)`,
    );

    const opts = { now };
    const decodeAndValidate = (): number => {
      const into: DecodedEvents = { events: [], rejected: [] };
      for (let i = 0; i < records.length; i++) decodeEvents(records[i]!.data, positions[i]!, opts, into);
      return into.events.length + into.rejected.length;
    };
    // Every function keeps the whole batch in memory, as a consumer does before aggregating it.
    const decodeOnly = (): number => {
      const out: DecodedValue[] = [];
      for (let i = 0; i < records.length; i++) {
        for (const v of decodeRecord(records[i]!.data, positions[i]!).values) out.push(v);
      }
      return out.length;
    };
    // The minimal work on the same bytes: gunzip, UTF-8 decode, split lines, JSON.parse each line.
    const jsonParse = (): number => {
      const out: unknown[] = [];
      for (const r of records) {
        const text = gunzipSync(r.data).toString('utf8');
        let start = 0;
        for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
          if (end > start) out.push(JSON.parse(text.slice(start, end)));
          start = end + 1;
        }
        if (start < text.length) out.push(JSON.parse(text.slice(start)));
      }
      return out.length;
    };
    const gunzipOnly = (): number => {
      let n = 0;
      for (const r of records) n += gunzipSync(r.data).length;
      return n;
    };

    // Sanity: every function sees all events, and decoding is lossless.
    const check = decodeEvents(records[0]!.data, positions[0]!, opts);
    if (check.rejected.length > 0) throw new Error(`fixture event rejected: ${check.rejected[0]!.reason}`);
    const total = decodeAndValidate();
    const valid = records.reduce((n, r, i) => n + decodeEvents(r.data, positions[i]!, opts).events.length, 0);
    if (total !== count || valid !== count || decodeOnly() !== count || jsonParse() !== count) {
      throw new Error(`decoded ${valid}/${total} of ${count} events`);
    }

    // CPU time: "throughput on one core" is events per CPU-second of the (pinned) process, which a
    // shared, busy machine does not distort the way it distorts elapsed time. Wall-clock rates are
    // recorded beside them in results.json.
    const m = await measureRates(ctx, {
      units: count,
      clock: 'cpu',
      fns: { decodeAndValidate, decodeOnly, jsonParse, gunzipOnly },
    });
    ctx.info('wallClockMedians', {
      decodeAndValidate: Math.round(m.decodeAndValidate.wall.median),
      decodeOnly: Math.round(m.decodeOnly.wall.median),
      jsonParse: Math.round(m.jsonParse.wall.median),
      gunzipOnly: Math.round(m.gunzipOnly.wall.median),
      ratio: round(m.decodeAndValidate.wall.median / m.jsonParse.wall.median, 2),
    });

    const baseline = { name: 'gunzip + JSON.parse per line', stats: m.jsonParse };
    const nsPerEvent = (rate: number) => round(1e9 / rate, 0);
    ctx.info('nsPerEvent', {
      gunzip: nsPerEvent(m.gunzipOnly.median),
      jsonParseBaseline: nsPerEvent(m.jsonParse.median),
      decodeOnly: nsPerEvent(m.decodeOnly.median),
      decodeAndValidate: nsPerEvent(m.decodeAndValidate.median),
      validateAndWrap: round(nsPerEvent(m.decodeAndValidate.median) - nsPerEvent(m.decodeOnly.median), 0),
    });
    return [
      rateFigure({
        ...CODEC.figures.decodeValidate,
        unit: 'events/s',
        stats: m.decodeAndValidate,
        baseline,
        target: { min: 500_000, minRatio: 0.5 },
      }),
      rateFigure({ ...CODEC.figures.decodeOnly, unit: 'events/s', stats: m.decodeOnly, baseline }),
      rateFigure({ ...CODEC.figures.gunzipOnly, unit: 'events/s', stats: m.gunzipOnly, note: 'part of every figure above' }),
    ];
  },
});

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export default section;
await runIfMain(import.meta.url, section);
