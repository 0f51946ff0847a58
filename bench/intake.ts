/**
 * Section `intake`: how efficiently the intake packs events into Kinesis, for a realistic mix of
 * 10,000 events of one tenant (~200 bytes each as JSON), beside a naive producer that writes one
 * record per event (plain JSON, partition key = event name).
 *
 * Figures per event: Kinesis records, bytes (data + partition key) and PutRecords calls; and the
 * events/s one shard can take under its write limits (1,000 records/s and 1 MiB/s). Counts are
 * deterministic; the encode rate is measured on one core.
 *
 *   npx tsx bench/intake.ts            this section alone
 *   npm run bench -- --only intake     through the harness
 */
import { encodeRecords, groupPutRequests, KINESIS_LIMITS } from '../functions/shared/codec.ts';
import type { StreamEvent } from '../functions/shared/event.ts';
import { fixtureStats, generateEvents } from '../local/fixtures.ts';
import { defineSection, measureRates, rateFigure, runIfMain, type FigureInput } from './harness.ts';
import { INTAKE, type FigureName } from './ids.ts';

const SHARD_RECORDS_PER_S = 1000;
const SHARD_BYTES_PER_S = 1024 * 1024;

interface Packing {
  records: number;
  bytes: number;
  calls: number;
}

function pack(records: ReadonlyArray<{ partitionKey: string; data: Uint8Array }>): Packing {
  return {
    records: records.length,
    bytes: records.reduce((n, r) => n + r.data.length + Buffer.byteLength(r.partitionKey), 0),
    calls: groupPutRequests(records).length,
  };
}

function naiveRecords(events: readonly StreamEvent[]) {
  return events.map((e) => ({ partitionKey: e.name, data: Buffer.from(JSON.stringify(e)) }));
}

/** Events/s one shard takes: whichever of its two write limits binds first. */
function perShard(p: Packing, events: number): number {
  return Math.min((SHARD_RECORDS_PER_S * events) / p.records, (SHARD_BYTES_PER_S * events) / p.bytes);
}

const section = defineSection({
  name: INTAKE.section,
  description: "events packed into gzip'd NDJSON Kinesis records vs one record per event",
  cpus: 1,
  run: async (ctx) => {
    const count = 10_000;
    const now = Date.UTC(2026, 0, 15, 12);
    const events = generateEvents(count, { seed: 7, now, tenants: 1 });
    const stats = fixtureStats(events);
    ctx.info('events', count);
    ctx.info(INTAKE.info.avgEventBytes, Math.round(stats.avgEventBytes * 10) / 10);
    ctx.info('names', stats.names);

    const ours = pack(encodeRecords(events));
    const naive = pack(naiveRecords(events));
    ctx.info('records', { ours: ours.records, naive: naive.records });
    ctx.info('putRecordsCalls', { ours: ours.calls, naive: naive.calls });
    ctx.log(
      `${count} events (avg ${stats.avgEventBytes.toFixed(1)} B, ${stats.names} names): ${ours.records} records / ${ours.bytes} B / ${ours.calls} calls ` +
        `vs naive ${naive.records} / ${naive.bytes} B / ${naive.calls} (limits: ${KINESIS_LIMITS.requestRecords} records, 5 MiB per call)`,
    );

    const counts = (figure: FigureName, unit: string, o: number, n: number): FigureInput => ({
      ...figure,
      unit,
      better: 'lower',
      value: o,
      spread: null,
      baseline: { name: 'naive: one JSON record per event', value: n, spread: null },
    });
    const shardOurs = perShard(ours, count);
    const shardNaive = perShard(naive, count);

    const m = await measureRates(ctx, {
      units: count,
      clock: 'cpu',
      fns: { ours: () => encodeRecords(events).length, naive: () => naiveRecords(events).length },
    });

    return [
      counts(INTAKE.figures.recordsPer1k, 'records', (ours.records * 1000) / count, (naive.records * 1000) / count),
      counts(INTAKE.figures.bytesPerEvent, 'bytes', ours.bytes / count, naive.bytes / count),
      counts(INTAKE.figures.putCallsPer10k, 'calls', ours.calls, naive.calls),
      {
        ...INTAKE.figures.eventsPerShard,
        unit: 'events/s',
        better: 'higher',
        value: Math.round(shardOurs),
        spread: null,
        baseline: { name: 'naive: one JSON record per event', value: Math.round(shardNaive), spread: null },
        target: { min: 20_000, text: '≥ 20,000 events/s per shard' },
      },
      rateFigure({
        ...INTAKE.figures.encodeRate,
        unit: 'events/s',
        stats: m.ours,
        baseline: { name: 'naive: JSON.stringify per event', stats: m.naive },
      }),
    ];
  },
});

export default section;
await runIfMain(import.meta.url, section);
