/**
 * Cost model: monthly AWS cost (us-east-1 list prices, `bench/prices.ts`) of running streamfold at a
 * given load, from the benchmark's MEASURED per-event counts, beside two baselines.
 *
 *   npm run cost -- --events-per-second 1000000 --event-bytes 200 --series 100000
 *   npm run cost -- ... --tenants 10 --results bench/results.json --json
 *
 * Pipelines compared:
 * - ours: intake packs events into gzip'd NDJSON records (partition key tenant#bucket); rollup
 *   writes one update per touched item per batch; archive writes Parquet (ZSTD).
 * - naive: one Kinesis record per event, one UpdateItem per event and resolution, gzip'd NDJSON archive.
 * - firehose: ours for intake and rollups, but Amazon Data Firehose (Direct PUT, one JSON record per
 *   event, since format conversion needs JSON records) converts to Parquet and writes S3; no archive λ.
 *
 * Assumptions (all overridable in `Workload`/`Config`, all printed with `--json`):
 * - A month is 730 hours; the load is steady (so provisioned Kinesis is priced, with on-demand shown
 *   beside it, and the cheaper mode taken).
 * - Measured figures come from `bench/results.json` (or `--results`): records and bytes per event
 *   (intake section), WCU/RCU per 1k events at the measured series-per-batch nearest the modeled one
 *   (rollup section, batches of 10,000 events), Parquet and gzip NDJSON bytes per event (archive
 *   section), CPU-clock event rates (all three; the rollup section's rate is wall-clock on one pinned CPU). Absent figures fall back to `FALLBACK` below
 *   (measured 2026-11-28 on a 2-vCPU AMD EPYC, Node 20); the report lists which were used.
 * - Bytes per event scale linearly with --event-bytes (the compression ratio of the fixture is kept).
 * - Lambda GB-s per event = CPU s/event (1 / measured CPU-clock rate) × wall stretch × memory GB ×
 *   IO_WAIT_FACTOR, where a function below 1,769 MB gets memory/1,769 of a vCPU (wall stretch
 *   1,769/memory) and IO_WAIT_FACTOR (1.5, an estimate, not measured) covers waiting on
 *   Kinesis/DynamoDB/S3. Memory sizes come from lib/functions.ts. arm64 is priced at its list price
 *   with x64-measured CPU time.
 * - API requests carry 500 events each (`eventsPerRequest`); intake invocations = API requests.
 * - Shards = max(bytes/s ÷ 1 MiB, records/s ÷ 1,000, 2 consumers × bytes/s ÷ 2 MiB). Consumer
 *   invocations/s = max(shards ÷ batching window, records/s ÷ batch size, bytes/s ÷ 6 MB).
 * - Items per rollup batch: series are spread over shards (partition key tenant#bucket(hash(name))),
 *   so a batch of n events on a shard holding S series touches S·(1 − e^(−n/S)) series (uniform activity).
 * - DynamoDB storage: the bytes the rollup section measured per series for an hour of data (items
 *   plus 100 B of per-item overhead each), kept for the TTL defaults: 1 m items (distribution
 *   minutes) 15 days, 1 h items (with count and gauge minutes packed in) 400 days. The naive
 *   pipeline's own items the same way.
 * - S3: one object per tenant per archive invocation; compaction reads each small object once and
 *   writes one object per tenant-hour; storage priced for one month of data (it grows with retention).
 * - Athena: `queriesPerMonth` queries, each over one tenant-day; Parquet reads `athenaColumnFraction`
 *   of the columns, gzip NDJSON reads all of it; 10 MB minimum per query.
 * - First price tiers only (Firehose, S3, Lambda get cheaper per unit at PB scale); no free tier.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_ITEM_CACHE_ENTRIES } from '../functions/rollup/core.ts';
import { DEFAULT_TTL_DAYS } from '../functions/rollup/keys.ts';
import { FUNCTIONS } from '../lib/functions.ts';
import { ARCHIVE, INTAKE, isFigure, ROLLUP, type FigureName, type RecordedFigureName } from './ids.ts';
import { PRICES, PRICES_REGION, PRICES_TAKEN, type Prices } from './prices.ts';

export const SECONDS_PER_MONTH = 730 * 3600;
const GB = 1024 ** 3;
const MIB = 1024 * 1024;
/** Memory at which Lambda gives a function one full vCPU. */
const FULL_VCPU_MB = 1769;
const LAMBDA_BATCH_PAYLOAD_BYTES = 6 * 1000 * 1000;
const SHARD_IN_BYTES = MIB;
const SHARD_IN_RECORDS = 1000;
const SHARD_OUT_BYTES = 2 * MIB;
/** Hours of data kept per resolution: the TTL defaults, 15 days of 1 m items, 400 days of 1 h items. */
const HOURS_KEPT = { '1m': 24 * DEFAULT_TTL_DAYS['1m'], '1h': 24 * DEFAULT_TTL_DAYS['1h'] } as const;

export interface Workload {
  readonly eventsPerSecond: number;
  /** Average JSON bytes per event. */
  readonly eventBytes: number;
  /** Distinct series (tenant, name, tags) active over the month. */
  readonly series: number;
  readonly tenants: number;
  /** Athena queries per month, each over one tenant-day. */
  readonly queriesPerMonth: number;
}

export interface Config {
  readonly eventsPerRequest: number;
  readonly intakeMemoryMb: number;
  readonly rollupMemoryMb: number;
  readonly archiveMemoryMb: number;
  readonly rollupWindowSeconds: number;
  readonly rollupBatchSize: number;
  readonly archiveWindowSeconds: number;
  readonly archiveBatchSize: number;
  /** Kinesis consumers reading every byte (rollup and archive, or rollup and Firehose). */
  readonly consumers: number;
  /** Bucket items a rollup container keeps between batches (functions/rollup/core.ts RollupCache). */
  readonly rollupItemCache: number;
  /** Wall time ÷ CPU time of a consumer or intake invocation (waiting on I/O). Estimate. */
  readonly ioWaitFactor: number;
  readonly athenaColumnFraction: number;
}

export const DEFAULT_CONFIG: Config = {
  eventsPerRequest: 500,
  intakeMemoryMb: FUNCTIONS.intake.memoryMb,
  rollupMemoryMb: FUNCTIONS.rollup.memoryMb,
  archiveMemoryMb: FUNCTIONS.archive.memoryMb,
  rollupWindowSeconds: FUNCTIONS.rollup.consumer.maxBatchingWindowSeconds,
  rollupBatchSize: FUNCTIONS.rollup.consumer.batchSize,
  archiveWindowSeconds: FUNCTIONS.archive.consumer.maxBatchingWindowSeconds,
  archiveBatchSize: FUNCTIONS.archive.consumer.batchSize,
  consumers: 2,
  rollupItemCache: DEFAULT_ITEM_CACHE_ENTRIES,
  ioWaitFactor: 1.5,
  athenaColumnFraction: 0.5,
};

/** One measured write-cost point of the rollup section (batches of `eventsPerBatch` events). */
export interface WritePoint {
  readonly seriesPerBatch: number;
  readonly eventsPerBatch: number;
  /** Bucket writes (items written) per 1,000 events. */
  readonly writesPer1k: number;
  readonly wcuPer1k: number;
  /** Consistent-read units per 1,000 events: one batch a minute, a cache holding every item. */
  readonly rcuPer1k: number;
  readonly naiveWcuPer1k: number;
  /** Bytes stored per series for one hour of data, by the retention that keeps them (bench/rollup.ts). */
  readonly storedPerSeriesHour: Stored;
  readonly naiveStoredPerSeriesHour: Stored;
}

export interface Stored {
  readonly '1m': number;
  readonly '1h': number;
}

/** Per-event figures the model needs; each has an `ours` and a `naive` value where both exist. */
export interface Measured {
  /** Average event bytes of the intake fixture (bytes per event scale from it). */
  readonly intakeAvgEventBytes: number;
  readonly recordsPerEvent: number;
  readonly naiveRecordsPerEvent: number;
  /** Stream bytes per event (data + partition key). */
  readonly streamBytesPerEvent: number;
  readonly naiveStreamBytesPerEvent: number;
  /** CPU-clock events/s on one core. */
  readonly intakeRate: number;
  readonly naiveIntakeRate: number;
  readonly rollupRate: number;
  readonly naiveRollupRate: number;
  readonly archiveRate: number;
  readonly naiveArchiveRate: number;
  readonly writePoints: readonly WritePoint[];
  readonly archiveAvgEventBytes: number;
  readonly parquetBytesPerEvent: number;
  readonly ndjsonGzipBytesPerEvent: number;
}

/**
 * Fallbacks: intake from a full run and archive from a quick run, 2026-11-28, 2-vCPU AMD EPYC,
 * Node 20.20 (`npm run bench`); rollup rates and write points from the full run of 09:19 UTC that
 * day (packed minutes, item cache). Used per field when results.json lacks the figure.
 */
export const FALLBACK: Measured = {
  intakeAvgEventBytes: 204.6,
  recordsPerEvent: 3.5 / 1000,
  naiveRecordsPerEvent: 1,
  streamBytesPerEvent: 19.19,
  naiveStreamBytesPerEvent: 222.89,
  intakeRate: 111_710,
  naiveIntakeRate: 433_123,
  rollupRate: 320_287,
  naiveRollupRate: 289_416,
  archiveRate: 62_982,
  naiveArchiveRate: 146_106,
  writePoints: [
    { seriesPerBatch: 100, eventsPerBatch: 10_000, writesPer1k: 13.6, wcuPer1k: 14.74, rcuPer1k: 3.77, naiveWcuPer1k: 2000, storedPerSeriesHour: { '1m': 12_010, '1h': 1_034 }, naiveStoredPerSeriesHour: { '1m': 16_595, '1h': 278 } },
    { seriesPerBatch: 1000, eventsPerBatch: 10_000, writesPer1k: 136, wcuPer1k: 147.6, rcuPer1k: 37.67, naiveWcuPer1k: 2000, storedPerSeriesHour: { '1m': 9_097, '1h': 1_034 }, naiveStoredPerSeriesHour: { '1m': 16_544, '1h': 278 } },
    { seriesPerBatch: 10_000, eventsPerBatch: 10_000, writesPer1k: 1360, wcuPer1k: 1470.5, rcuPer1k: 376.7, naiveWcuPer1k: 2000, storedPerSeriesHour: { '1m': 8_642, '1h': 921 }, naiveStoredPerSeriesHour: { '1m': 16_442, '1h': 276 } },
  ],
  archiveAvgEventBytes: 204.6,
  parquetBytesPerEvent: 15.5,
  ndjsonGzipBytesPerEvent: 21.8,
};

// ---------------------------------------------------------------------------------------------
// Reading results.json

const pos = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

/**
 * Stored bytes per series-hour from a write-cost run of a whole hour. Otherwise (runs before they
 * were measured, quick runs): one item per minute and one per hour, each of the p99 item size (else
 * `fallbackItem`) plus 100 B; naive the same.
 */
function storedOf(c: Record<string, number>, fallbackItem: number): Pick<WritePoint, 'storedPerSeriesHour' | 'naiveStoredPerSeriesHour'> {
  const { stored1m, stored1h, naiveStored1m, naiveStored1h, batches } = c;
  // Only a whole hour (60 one-minute batches) of items says what an hour stores (not --quick's 10).
  if (pos(batches) && batches >= 60 && typeof stored1m === 'number' && pos(stored1h) && pos(naiveStored1m) && pos(naiveStored1h)) {
    return {
      storedPerSeriesHour: { '1m': stored1m, '1h': stored1h },
      naiveStoredPerSeriesHour: { '1m': naiveStored1m, '1h': naiveStored1h },
    };
  }
  const item = pos(c['p99ItemBytes']) ? c['p99ItemBytes'] + 100 : fallbackItem;
  const per = { '1m': 60 * item, '1h': item };
  return { storedPerSeriesHour: per, naiveStoredPerSeriesHour: per };
}

interface FigureLike extends RecordedFigureName {
  readonly section: string;
  readonly value: number;
  readonly clock?: string;
  readonly baseline?: { readonly value: number };
}
interface SectionLike {
  readonly section: string;
  readonly ok?: boolean;
  readonly info?: Record<string, unknown>;
  readonly figures?: readonly FigureLike[];
}

export interface LoadedMeasured {
  readonly measured: Measured;
  /** Fields taken from the results file; every other field is a fallback. */
  readonly fromResults: readonly (keyof Measured)[];
  readonly source: string | null;
}

/** Merges the figures found in a parsed results.json over `FALLBACK`. Pure. */
export function measuredFromResults(results: unknown, fallback: Measured = FALLBACK): LoadedMeasured {
  const m: { -readonly [K in keyof Measured]: Measured[K] } = { ...fallback };
  const from = new Set<keyof Measured>();
  const sections = (results as { sections?: SectionLike[] } | null)?.sections ?? [];
  const section = (name: string) => sections.find((s) => s.section === name && s.ok !== false);
  const fig = (s: SectionLike | undefined, f: FigureName) => s?.figures?.find((r) => isFigure(r, f));
  const set = <K extends keyof Measured>(k: K, v: unknown) => {
    if (pos(v)) {
      (m as Record<K, unknown>)[k] = v;
      from.add(k);
    }
  };
  // Every rate read here is on the CPU clock (one core): Lambda bills the time the handler runs,
  // and the model adds its I/O-wait factor on top.
  const cpuRate = (f: FigureLike | undefined) => f;

  const intake = section(INTAKE.section);
  if (intake) {
    set('intakeAvgEventBytes', intake.info?.[INTAKE.info.avgEventBytes]);
    const rec = fig(intake, INTAKE.figures.recordsPer1k);
    set('recordsPerEvent', rec && rec.value / 1000);
    set('naiveRecordsPerEvent', rec?.baseline && rec.baseline.value / 1000);
    const bytes = fig(intake, INTAKE.figures.bytesPerEvent);
    set('streamBytesPerEvent', bytes?.value);
    set('naiveStreamBytesPerEvent', bytes?.baseline?.value);
    const enc = cpuRate(fig(intake, INTAKE.figures.encodeRate));
    set('intakeRate', enc?.value);
    set('naiveIntakeRate', enc?.baseline?.value);
  }

  const rollup = section(ROLLUP.section);
  if (rollup) {
    const r = cpuRate(fig(rollup, ROLLUP.figures.steadyRate));
    set('rollupRate', r?.value);
    set('naiveRollupRate', r?.baseline?.value);
    const points: WritePoint[] = [];
    for (const [key, raw] of Object.entries(rollup.info ?? {})) {
      const series = ROLLUP.info.writeCostSeries(key);
      const c = raw as Record<string, number> | null;
      if (series === undefined || !c || !pos(c['events']) || !pos(c['batches'])) continue;
      const per1k = (n: number | undefined) => ((n ?? 0) * 1000) / c['events']!;
      const writes = (c['bucketWrites'] ?? 0) + (c['indexWrites'] ?? 0);
      const wcu = (c['wcu'] ?? 0) + (c['indexWrites'] ?? 0);
      points.push({
        seriesPerBatch: series,
        eventsPerBatch: c['events'] / c['batches'],
        writesPer1k: per1k(c['bucketWrites']),
        wcuPer1k: per1k(wcu),
        rcuPer1k: per1k(c['rcu']),
        naiveWcuPer1k: per1k(c['naiveWcu']),
        ...storedOf(c, writes > 0 ? (wcu / writes) * 1024 : 1024),
      });
    }
    if (points.length > 0 && points.every((p) => pos(p.wcuPer1k) && pos(p.naiveWcuPer1k))) {
      m.writePoints = points.sort((a, b) => a.seriesPerBatch - b.seriesPerBatch);
      from.add('writePoints');
    }
  }

  const archive = section(ARCHIVE.section);
  if (archive) {
    const fixture = archive.info?.[ARCHIVE.info.fixture] as Record<string, unknown> | undefined;
    set('archiveAvgEventBytes', fixture?.['avgEventBytes']);
    const size = fig(archive, ARCHIVE.figures.bytesPerEvent);
    set('parquetBytesPerEvent', size?.value);
    set('ndjsonGzipBytesPerEvent', size?.baseline?.value);
    set('archiveRate', cpuRate(fig(archive, ARCHIVE.figures.batchRate))?.value);
    set('naiveArchiveRate', cpuRate(fig(archive, ARCHIVE.figures.encodeRate))?.baseline?.value);
  }
  return { measured: m, fromResults: [...from], source: null };
}

/** Reads a results file when it exists; otherwise all fallbacks. */
export function loadMeasured(path: string): LoadedMeasured {
  if (!existsSync(path)) return { measured: FALLBACK, fromResults: [], source: null };
  const loaded = measuredFromResults(JSON.parse(readFileSync(path, 'utf8')));
  return { ...loaded, source: path };
}

// ---------------------------------------------------------------------------------------------
// The model (pure)

export type Service = 'Kinesis' | 'Lambda' | 'DynamoDB' | 'S3' | 'API Gateway' | 'Athena' | 'Firehose';
export const SERVICES: readonly Service[] = ['Kinesis', 'Lambda', 'DynamoDB', 'S3', 'API Gateway', 'Athena', 'Firehose'];

export interface CostLine {
  readonly service: Service;
  readonly monthlyUsd: number;
  readonly detail: string;
}

export interface Scenario {
  readonly name: 'ours' | 'naive' | 'firehose';
  readonly description: string;
  readonly lines: readonly CostLine[];
  readonly totalUsd: number;
  readonly usdPerBillionEvents: number;
  readonly shards: number;
}

export interface CostReport {
  readonly workload: Workload;
  readonly config: Config;
  readonly prices: { readonly region: string; readonly taken: string };
  readonly eventsPerMonth: number;
  readonly scenarios: readonly Scenario[];
}

export interface KinesisCost {
  readonly shards: number;
  readonly provisionedUsd: number;
  readonly onDemandUsd: number;
  readonly usd: number;
  readonly mode: 'provisioned' | 'on-demand';
}

/** Kinesis Data Streams for `eps` events/s at `recordsPerEvent` and `bytesPerEvent`. */
export function kinesisCost(eps: number, recordsPerEvent: number, bytesPerEvent: number, consumers: number, p: Prices = PRICES): KinesisCost {
  const recordsPerSec = eps * recordsPerEvent;
  const bytesPerSec = eps * bytesPerEvent;
  const recordBytes = bytesPerEvent / recordsPerEvent;
  const shards = Math.max(1, Math.ceil(bytesPerSec / SHARD_IN_BYTES), Math.ceil(recordsPerSec / SHARD_IN_RECORDS), Math.ceil((consumers * bytesPerSec) / SHARD_OUT_BYTES));
  const recordsPerMonth = recordsPerSec * SECONDS_PER_MONTH;
  const k = p.kinesis;
  const provisionedUsd =
    shards * 730 * k.provisionedShardHour + ((recordsPerMonth * Math.ceil(recordBytes / k.putPayloadUnitBytes)) / 1e6) * k.provisionedPerMillionPutUnits;
  const billedIn = recordsPerMonth * Math.ceil(recordBytes / k.onDemandRecordRoundingBytes) * k.onDemandRecordRoundingBytes;
  const onDemandUsd = 730 * k.onDemandStreamHour + (billedIn / GB) * k.onDemandIngestPerGb + ((consumers * bytesPerSec * SECONDS_PER_MONTH) / GB) * k.onDemandRetrievalPerGb;
  const mode = provisionedUsd <= onDemandUsd ? 'provisioned' : 'on-demand';
  return { shards, provisionedUsd, onDemandUsd, usd: Math.min(provisionedUsd, onDemandUsd), mode };
}

/** GB-s of one event's CPU work at `memoryMb` (see the header for the formula). */
export function gbSecondsPerEvent(cpuEventsPerSecond: number, memoryMb: number, ioWaitFactor: number): number {
  const cpuSeconds = 1 / cpuEventsPerSecond;
  const wallSeconds = cpuSeconds * Math.max(1, FULL_VCPU_MB / memoryMb) * ioWaitFactor;
  return wallSeconds * (memoryMb / 1024);
}

/** Invocations/s of a Kinesis consumer. */
export function consumerInvocationsPerSecond(shards: number, windowSeconds: number, batchSize: number, recordsPerSec: number, bytesPerSec: number): number {
  return Math.max(shards / windowSeconds, recordsPerSec / batchSize, bytesPerSec / LAMBDA_BATCH_PAYLOAD_BYTES);
}

/** The measured write point whose series-per-batch is nearest (log scale) to `seriesPerBatch`. */
export function nearestWritePoint(points: readonly WritePoint[], seriesPerBatch: number): WritePoint {
  if (points.length === 0) throw new Error('no write points');
  const d = (p: WritePoint) => Math.abs(Math.log(p.seriesPerBatch) - Math.log(Math.max(1, seriesPerBatch)));
  return points.reduce((best, p) => (d(p) < d(best) ? p : best));
}

/** API Gateway HTTP API, tiered at 300 M requests a month. */
export function apiGatewayCost(eventsPerMonth: number, eventBytes: number, eventsPerRequest: number, p: Prices = PRICES): { requests: number; usd: number } {
  const a = p.apiGateway;
  const units = Math.ceil((eventsPerRequest * eventBytes) / a.meteringIncrementBytes);
  const requests = (eventsPerMonth / eventsPerRequest) * units;
  const first = Math.min(requests, 300e6);
  return { requests, usd: (first / 1e6) * a.httpPerMillionFirst300M + ((requests - first) / 1e6) * a.httpPerMillionOver300M };
}

const usd = (n: number) => `$${n.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 })}`;
const num = (n: number) => n.toLocaleString('en-US', { maximumSignificantDigits: 4 });

export function costModel(workload: Workload, measured: Measured = FALLBACK, config: Config = DEFAULT_CONFIG, p: Prices = PRICES): CostReport {
  const { eventsPerSecond: eps, eventBytes, series, tenants, queriesPerMonth } = workload;
  const E = eps * SECONDS_PER_MONTH;
  const c = config;
  const scaleStream = eventBytes / measured.intakeAvgEventBytes;
  const scaleArchive = eventBytes / measured.archiveAvgEventBytes;

  const api = apiGatewayCost(E, eventBytes, c.eventsPerRequest, p);
  const apiLine: CostLine = { service: 'API Gateway', monthlyUsd: api.usd, detail: `${num(api.requests / 1e6)} M requests of ${c.eventsPerRequest} events` };
  const lambdaUsd = (gbs: number, requests: number) => gbs * p.lambda.arm64PerGbSecond + (requests / 1e6) * p.lambda.perMillionRequests;

  const archiveS3 = (bytesPerEvent: number, invocationsPerSec: number, compaction: boolean, objectsOverride?: number) => {
    const bytes = E * bytesPerEvent;
    const objects = objectsOverride ?? invocationsPerSec * SECONDS_PER_MONTH * tenants;
    const puts = objects + (compaction ? tenants * 730 : 0);
    const gets = compaction ? objects : 0;
    const monthlyUsd = (bytes / GB) * p.s3.standardPerGbMonth + (puts / 1000) * p.s3.perThousandPut + (gets / 1000) * p.s3.perThousandGet;
    return { monthlyUsd, detail: `${num(bytes / GB / 1024)} TB/month stored, ${num(puts / 1e6)} M PUT, ${num(gets / 1e6)} M GET` };
  };
  const athena = (bytesPerEvent: number, columnFraction: number): CostLine => {
    const perQuery = Math.max(p.athena.minBytesPerQuery, ((eps * 86_400 * bytesPerEvent) / tenants) * columnFraction);
    const tb = (queriesPerMonth * perQuery) / 1024 ** 4;
    return { service: 'Athena', monthlyUsd: tb * p.athena.perTbScanned, detail: `${queriesPerMonth} queries × ${num(perQuery / GB)} GB (one tenant-day${columnFraction < 1 ? `, ${columnFraction} of columns` : ''})` };
  };
  const dynamo = (wcuPerSec: number, rcuPerSec: number, stored: Stored): CostLine => {
    const storageGb = (series * (stored['1m'] * HOURS_KEPT['1m'] + stored['1h'] * HOURS_KEPT['1h'])) / GB;
    const monthlyUsd =
      ((wcuPerSec * SECONDS_PER_MONTH) / 1e6) * p.dynamodb.perMillionWru + ((rcuPerSec * SECONDS_PER_MONTH) / 1e6) * p.dynamodb.perMillionRru + storageGb * p.dynamodb.storagePerGbMonth;
    return { service: 'DynamoDB', monthlyUsd, detail: `${num(wcuPerSec)} WRU/s, ${num(rcuPerSec)} RRU/s, ${num(storageGb)} GB stored` };
  };
  const kinesisLine = (k: KinesisCost): CostLine => ({
    service: 'Kinesis',
    monthlyUsd: k.usd,
    detail: `${k.mode}: ${k.shards} shards (provisioned ${usd(k.provisionedUsd)}, on-demand ${usd(k.onDemandUsd)})`,
  });

  // --- ours
  const oursBytes = measured.streamBytesPerEvent * scaleStream;
  const oursK = kinesisCost(eps, measured.recordsPerEvent, oursBytes, c.consumers, p);
  const recordsPerSec = eps * measured.recordsPerEvent;
  const rollupInv = consumerInvocationsPerSecond(oursK.shards, c.rollupWindowSeconds, c.rollupBatchSize, recordsPerSec, eps * oursBytes);
  const archiveInv = consumerInvocationsPerSecond(oursK.shards, c.archiveWindowSeconds, c.archiveBatchSize, recordsPerSec, eps * oursBytes);
  const intakeGbs = E * gbSecondsPerEvent(measured.intakeRate, c.intakeMemoryMb, c.ioWaitFactor);
  const rollupGbs = E * gbSecondsPerEvent(measured.rollupRate, c.rollupMemoryMb, c.ioWaitFactor);
  const archiveGbs = E * gbSecondsPerEvent(measured.archiveRate, c.archiveMemoryMb, c.ioWaitFactor);
  const intakeRequests = E / c.eventsPerRequest;
  // Series per shard; events per rollup batch; distinct series one batch touches.
  const seriesPerShard = series / oursK.shards;
  const eventsPerBatch = eps / rollupInv;
  const touched = seriesPerShard * (1 - Math.exp(-eventsPerBatch / seriesPerShard));
  const wp = nearestWritePoint(measured.writePoints, touched);
  const perSeriesBatch = (per1k: number) => (per1k * wp.eventsPerBatch) / 1000 / wp.seriesPerBatch;
  // Never more than the naive per-event cost (a batch of one event per series writes like naive).
  const wcuPerSec = Math.min(rollupInv * touched * perSeriesBatch(wp.wcuPer1k), (eps * wp.naiveWcuPer1k) / 1000);
  // Consistent reads (1 RCU each: items < 4 KB): a container reads an item it does not hold, that
  // is each new item (the bench's reads, one batch a minute: new items per series-minute), and
  // the items its cache is too small for (LRU over uniform activity: hit rate cache ÷ items).
  // Never more than every touched item in every batch.
  const itemsPerSeriesBatch = perSeriesBatch(wp.writesPer1k);
  const allReads = rollupInv * touched * itemsPerSeriesBatch;
  const touchedPerMinute = seriesPerShard * (1 - Math.exp(-(eps * 60) / oursK.shards / seriesPerShard));
  const hit = Math.min(1, c.rollupItemCache / (seriesPerShard * itemsPerSeriesBatch));
  const rcuPerSec = Math.min(allReads, (oursK.shards * touchedPerMinute * perSeriesBatch(wp.rcuPer1k)) / 60 + allReads * (1 - hit));
  const parquet = measured.parquetBytesPerEvent * scaleArchive;
  const oursDynamo = dynamo(wcuPerSec, rcuPerSec, wp.storedPerSeriesHour);
  const oursDynamoLine: CostLine = { ...oursDynamo, detail: `${oursDynamo.detail}; ${num(touched)} series/batch (measured point ${num(wp.seriesPerBatch)})` };
  const oursLambda = (withArchive: boolean): CostLine => {
    const gbs = intakeGbs + rollupGbs + (withArchive ? archiveGbs : 0);
    const req = intakeRequests + (rollupInv + (withArchive ? archiveInv : 0)) * SECONDS_PER_MONTH;
    return { service: 'Lambda', monthlyUsd: lambdaUsd(gbs, req), detail: `${num(gbs / 1e6)} M GB-s, ${num(req / 1e6)} M invocations${withArchive ? '' : ' (intake + rollup)'}` };
  };
  const ours: CostLine[] = [
    kinesisLine(oursK),
    oursLambda(true),
    oursDynamoLine,
    { service: 'S3', ...archiveS3(parquet, archiveInv, true) },
    apiLine,
    athena(parquet, c.athenaColumnFraction),
  ];

  // --- naive
  const naiveBytes = measured.naiveStreamBytesPerEvent * scaleStream;
  const naiveK = kinesisCost(eps, measured.naiveRecordsPerEvent, naiveBytes, c.consumers, p);
  const naiveRecordsPerSec = eps * measured.naiveRecordsPerEvent;
  const nRollupInv = consumerInvocationsPerSecond(naiveK.shards, c.rollupWindowSeconds, c.rollupBatchSize, naiveRecordsPerSec, eps * naiveBytes);
  const nArchiveInv = consumerInvocationsPerSecond(naiveK.shards, c.archiveWindowSeconds, c.archiveBatchSize, naiveRecordsPerSec, eps * naiveBytes);
  const nGbs =
    E *
    (gbSecondsPerEvent(measured.naiveIntakeRate, c.intakeMemoryMb, c.ioWaitFactor) +
      gbSecondsPerEvent(measured.naiveRollupRate, c.rollupMemoryMb, c.ioWaitFactor) +
      gbSecondsPerEvent(measured.naiveArchiveRate, c.archiveMemoryMb, c.ioWaitFactor));
  const nReq = intakeRequests + (nRollupInv + nArchiveInv) * SECONDS_PER_MONTH;
  const ndjson = measured.ndjsonGzipBytesPerEvent * scaleArchive;
  const naive: CostLine[] = [
    kinesisLine(naiveK),
    { service: 'Lambda', monthlyUsd: lambdaUsd(nGbs, nReq), detail: `${num(nGbs / 1e6)} M GB-s, ${num(nReq / 1e6)} M invocations` },
    dynamo((eps * wp.naiveWcuPer1k) / 1000, 0, wp.naiveStoredPerSeriesHour),
    { service: 'S3', ...archiveS3(ndjson, nArchiveInv, false) },
    apiLine,
    athena(ndjson, 1),
  ];

  // --- Firehose doing the archive (Direct PUT from intake, one JSON record per event)
  const billedBytes = E * Math.ceil(eventBytes / p.firehose.recordRoundingBytes) * p.firehose.recordRoundingBytes;
  const firehoseObjects = Math.max((E * parquet) / (128 * MIB), tenants * 730 * 4);
  const firehose: CostLine[] = [
    kinesisLine(oursK),
    oursLambda(false),
    oursDynamoLine,
    { service: 'S3', ...archiveS3(parquet, 0, false, firehoseObjects) },
    apiLine,
    athena(parquet, c.athenaColumnFraction),
    {
      service: 'Firehose',
      monthlyUsd: (billedBytes / GB) * (p.firehose.ingestPerGb + p.firehose.formatConversionPerGb),
      detail: `${num(billedBytes / GB / 1024)} TB billed (${eventBytes} B events rounded to 5 KB), ingestion + format conversion`,
    },
  ];

  const scenario = (name: Scenario['name'], description: string, lines: CostLine[], shards: number): Scenario => {
    const totalUsd = lines.reduce((s, l) => s + l.monthlyUsd, 0);
    return { name, description, lines, totalUsd, usdPerBillionEvents: (totalUsd / E) * 1e9, shards };
  };
  return {
    workload,
    config,
    prices: { region: PRICES_REGION, taken: PRICES_TAKEN },
    eventsPerMonth: E,
    scenarios: [
      scenario('ours', 'packed gzip NDJSON records, one write per item per batch, Parquet archive', ours, oursK.shards),
      scenario('naive', 'one record and one UpdateItem per event, gzip NDJSON archive', naive, naiveK.shards),
      scenario('firehose', 'ours, but Firehose (JSON → Parquet) does the archive', firehose, oursK.shards),
    ],
  };
}

/** The table printed by the CLI. */
export function formatReport(r: CostReport, loaded?: LoadedMeasured): string {
  const names = r.scenarios.map((s) => s.name);
  const rows: string[][] = [['service', ...names]];
  for (const service of SERVICES) {
    rows.push([service, ...r.scenarios.map((s) => {
      const line = s.lines.find((l) => l.service === service);
      return line ? usd(line.monthlyUsd) : '—';
    })]);
  }
  rows.push(['TOTAL / month', ...r.scenarios.map((s) => usd(s.totalUsd))]);
  rows.push(['$ per billion events', ...r.scenarios.map((s) => usd(s.usdPerBillionEvents))]);
  rows.push(['vs ours', ...r.scenarios.map((s) => `${(s.totalUsd / r.scenarios[0]!.totalUsd).toFixed(2)}×`)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const w = r.workload;
  const out = [
    `streamfold monthly cost, ${PRICES_REGION} list prices of ${r.prices.taken}: ${num(w.eventsPerSecond)} events/s × ${w.eventBytes} B, ${num(w.series)} series, ${w.tenants} tenants, ${num(r.eventsPerMonth / 1e9)} billion events/month`,
    '',
    fmt(rows[0]!),
    widths.map((n) => '-'.repeat(n)).join('  '),
    ...rows.slice(1, -3).map(fmt),
    widths.map((n) => '-'.repeat(n)).join('  '),
    ...rows.slice(-3).map(fmt),
    '',
  ];
  for (const s of r.scenarios) {
    out.push(`${s.name}: ${s.description}`);
    for (const l of s.lines) out.push(`  ${l.service.padEnd(11)} ${usd(l.monthlyUsd).padStart(14)}  ${l.detail}`);
  }
  if (loaded) {
    out.push('', loaded.source ? `measured figures from ${loaded.source}: ${loaded.fromResults.join(', ') || 'none'}` : 'no results file: all figures are FALLBACK (bench/cost.ts)');
    const fallbacks = (Object.keys(FALLBACK) as (keyof Measured)[]).filter((k) => !loaded.fromResults.includes(k));
    if (loaded.source && fallbacks.length > 0) out.push(`fallbacks used: ${fallbacks.join(', ')}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

export interface CliArgs {
  readonly workload: Workload;
  readonly json: boolean;
  readonly results: string;
}

export function parseCostArgs(argv: readonly string[], root: string): CliArgs {
  const w: { -readonly [K in keyof Workload]: Workload[K] } = { eventsPerSecond: 1_000_000, eventBytes: 200, series: 100_000, tenants: 10, queriesPerMonth: 300 };
  let json = false;
  let results = join(root, 'bench', 'results.json');
  const flags: Record<string, keyof Workload> = {
    '--events-per-second': 'eventsPerSecond',
    '--event-bytes': 'eventBytes',
    '--series': 'series',
    '--tenants': 'tenants',
    '--queries-per-month': 'queriesPerMonth',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const take = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--json') json = true;
    else if (flag === '--results') results = resolve(take());
    else if (flag in flags) {
      const n = Number(take());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number`);
      w[flags[flag]!] = n;
    } else throw new Error(`unknown argument ${a} (known: ${[...Object.keys(flags), '--results', '--json'].join(', ')})`);
  }
  return { workload: w, json, results };
}

async function main(): Promise<void> {
  const root = resolve(import.meta.dirname, '..');
  let args: CliArgs;
  try {
    args = parseCostArgs(process.argv.slice(2), root);
  } catch (e) {
    process.stderr.write(`cost: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const loaded = loadMeasured(args.results);
  const report = costModel(args.workload, loaded.measured);
  if (args.json) process.stdout.write(`${JSON.stringify({ ...report, measured: loaded.measured, fromResults: loaded.fromResults, source: loaded.source }, null, 2)}\n`);
  else process.stdout.write(`${formatReport(report, loaded)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
