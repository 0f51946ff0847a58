/**
 * The cost model: the monthly AWS cost of each pipeline at a given load, from the benchmark's
 * measured per-event figures and the price table. Pure: in, a `Workload`, the `Measured` figures
 * (`figures.ts` reads them from results.json over `fallbacks.json`), a `Config` and `Prices`; out, a
 * `CostReport` of lines with their usage as numbers (`format.ts` prints it). One function per
 * pipeline; what each service bills is in `terms.ts`.
 *
 * Pipelines compared:
 * - ours: intake packs events into gzip'd NDJSON records (partition key tenant#bucket); rollup
 *   commits each batch to a per-shard log (a segment per metric, a manifest, one head write) and
 *   folds the log into per-series items every fold interval (docs/ROLLUPS.md; `log.ts`); archive
 *   writes Parquet (ZSTD).
 * - naive: one Kinesis record per event, one UpdateItem per event and resolution, gzip'd NDJSON archive.
 * - firehose: ours for intake and rollups, but Amazon Data Firehose (Direct PUT, one JSON record per
 *   event, since format conversion needs JSON records) converts to Parquet and writes S3; no archive λ.
 *
 * Assumptions (all overridable in `Workload`/`Config`, all printed with `--json`):
 * - A month is 730 hours; the load is steady (so provisioned Kinesis shards and provisioned DynamoDB
 *   capacity, auto scaled at `dynamoTargetUtilizationPercent`, are priced, with on-demand shown
 *   beside each, and the cheaper mode taken; the stack deploys either: README "Cost and scale").
 * - Measured figures: records and bytes per event (intake section), the rollup log's bytes per
 *   entry, items per touched series, head and folded-item WCU (rollup section's write-cost runs,
 *   interpolated by events per series per batch: `log.ts`), Parquet and gzip NDJSON bytes per
 *   event (archive section), CPU-clock event rates (all three).
 * - Bytes per event scale linearly with --event-bytes (the compression ratio of the fixture is kept).
 * - Lambda GB-s per event = CPU s/event (1 / measured CPU-clock rate; the rollup's is its commit's
 *   plus its fold's) × wall stretch × memory GB ×
 *   IO_WAIT_FACTOR, where a function below 1,769 MB gets memory/1,769 of a vCPU (wall stretch
 *   1,769/memory) and IO_WAIT_FACTOR (1.5, an estimate, not measured) covers waiting on
 *   Kinesis/DynamoDB/S3. Memory sizes come from lib/functions.ts. arm64 is priced at its list price
 *   with x64-measured CPU time.
 * - API requests carry 500 events each (`eventsPerRequest`); intake invocations = API requests.
 * - Shards = max(bytes/s ÷ 1 MiB, records/s ÷ 1,000, 2 consumers × bytes/s ÷ 2 MiB). Consumer
 *   invocations/s = max(shards ÷ batching window, records/s ÷ batch size, bytes/s ÷ 6 MB).
 * - Rollup batches: series are spread evenly over shards, so a batch of n events on a shard holding
 *   S series touches S·(1 − e^(−n/S)) series (uniform activity). A metric (tenant, name) stays on
 *   one shard (partition key tenant#(hash(name) mod partitionBuckets)) unless a key would carry
 *   more than a shard: then every metric spreads over K = the next power of two of the shards a
 *   key needs (docs/ROLLUPS.md "Partition keys"). `metrics` defaults to series ÷ 100.
 * - DynamoDB storage: the bytes the rollup section measured per series for an hour of data (items
 *   plus 100 B of per-item overhead each), kept for the TTL defaults: 1 m items (distribution
 *   minutes) 15 days, 1 h items (with count and gauge minutes packed in) 400 days; plus the log
 *   (segments, manifests) kept for its TTL (`logTtlDays`). The naive pipeline's own items the same way.
 * - S3: one object per tenant per archive invocation; compaction reads each small object once and
 *   writes one object per tenant-hour; storage priced for one month of data (it grows with retention).
 * - Athena: `queriesPerMonth` queries, each over one tenant-day; Parquet reads `athenaColumnFraction`
 *   of the columns, gzip NDJSON reads all of it; 10 MB minimum per query.
 * - First price tiers only (Firehose, S3, Lambda get cheaper per unit at PB scale); no free tier.
 *
 * Extending: a new billed quantity is a line function in `terms.ts` added to the pipelines that pay
 * it; a new measured figure is a field of `Measured` (read in `figures.ts`, its fallback written by
 * `--write-fallbacks`); a new pipeline is a function of `ModelInput` to a `Scenario` in `PIPELINES`.
 */
import { DEFAULT_ITEM_CACHE_ENTRIES, DEFAULT_ROLLUP_CONFIG } from '../../functions/rollup/core.ts';
import { SETTINGS } from '../../lib/settings.ts';
import { DEFAULT_TTL_DAYS } from '../../functions/shared/rollups/keys.ts';
import { FUNCTIONS } from '../../lib/functions.ts';
import { PROVISIONED_TARGET_UTILIZATION_PERCENT } from '../../lib/resources.ts';
import { PRICES, PRICES_REGION, PRICES_TAKEN, type Prices } from '../prices.ts';
import {
  apiGatewayLine,
  athenaLine,
  consumerInvocationsPerSecond,
  dynamoLine,
  firehoseLine,
  gbSecondsPerEvent,
  HOURS_PER_MONTH,
  kinesisCost,
  kinesisLine,
  lambdaLine,
  MIB,
  SHARD_IN_BYTES,
  s3Line,
  SECONDS_PER_MONTH,
  type CostLine,
  type KinesisCost,
  type Stored,
} from './terms.ts';
import { logRcuPerSecond, logUsage, logWcuPerSecond, storedAt, type LogUsage, type WritePoint } from './log.ts';

export type { WritePoint } from './log.ts';

/** Hours of data kept per resolution: the TTL defaults, 15 days of 1 m items, 400 days of 1 h items. */
const HOURS_KEPT: Stored = { '1m': 24 * DEFAULT_TTL_DAYS['1m'], '1h': 24 * DEFAULT_TTL_DAYS['1h'] };

// ---------------------------------------------------------------------------------------------
// Inputs

export interface Workload {
  readonly eventsPerSecond: number;
  /** Average JSON bytes per event. */
  readonly eventBytes: number;
  /** Distinct series (tenant, name, tags) active over the month. */
  readonly series: number;
  readonly tenants: number;
  /** Athena queries per month, each over one tenant-day. */
  readonly queriesPerMonth: number;
  /** Distinct metric names summed over the tenants ((tenant, name) pairs); default series ÷ 100. */
  readonly metrics?: number;
}

/** Metric names (summed over tenants) when the workload does not say: series ÷ 100. */
export const DEFAULT_SERIES_PER_METRIC = 100;
export const metricsOf = (w: Workload): number => Math.max(1, w.metrics ?? w.series / DEFAULT_SERIES_PER_METRIC);

export interface Config {
  readonly eventsPerRequest: number;
  readonly intakeMemoryMb: number;
  readonly rollupMemoryMb: number;
  readonly archiveMemoryMb: number;
  readonly rollupWindowSeconds: number;
  readonly rollupBatchSize: number;
  readonly rollupParallelization: number;
  readonly archiveWindowSeconds: number;
  readonly archiveBatchSize: number;
  readonly archiveParallelization: number;
  /** The rollup log (functions/rollup/config.ts): fold interval, commits that fold sooner, log TTL. */
  readonly foldIntervalSeconds: number;
  readonly foldCommits: number;
  readonly logTtlDays: number;
  /** Seconds between sweeper runs (lib/functions.ts). */
  readonly sweepSeconds: number;
  /** Partition-key buckets per tenant (INTAKE_PARTITION_BUCKETS, lib/settings.ts). */
  readonly partitionBuckets: number;
  /** Provisioned DynamoDB: auto scaling's target utilisation, percent (lib/resources.ts). */
  readonly dynamoTargetUtilizationPercent: number;
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
  rollupParallelization: FUNCTIONS.rollup.consumer.parallelizationFactor,
  archiveWindowSeconds: FUNCTIONS.archive.consumer.maxBatchingWindowSeconds,
  archiveBatchSize: FUNCTIONS.archive.consumer.batchSize,
  archiveParallelization: FUNCTIONS.archive.consumer.parallelizationFactor,
  foldIntervalSeconds: DEFAULT_ROLLUP_CONFIG.foldIntervalMs / 1000,
  foldCommits: DEFAULT_ROLLUP_CONFIG.foldCommits,
  logTtlDays: DEFAULT_ROLLUP_CONFIG.logTtlMs / 86_400_000,
  sweepSeconds: FUNCTIONS.sweep.scheduleSeconds,
  partitionBuckets: SETTINGS.intake.partitionBuckets.default,
  dynamoTargetUtilizationPercent: PROVISIONED_TARGET_UTILIZATION_PERCENT,
  consumers: 2,
  rollupItemCache: DEFAULT_ITEM_CACHE_ENTRIES,
  ioWaitFactor: 1.5,
  athenaColumnFraction: 0.5,
};

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
  /** The fold's CPU-clock events/s (entries of these events merged into their items). */
  readonly rollupFoldRate: number;
  readonly archiveRate: number;
  readonly naiveArchiveRate: number;
  readonly writePoints: readonly WritePoint[];
  readonly archiveAvgEventBytes: number;
  readonly parquetBytesPerEvent: number;
  readonly ndjsonGzipBytesPerEvent: number;
}

const FIELDS: Readonly<Record<keyof Measured, true>> = {
  intakeAvgEventBytes: true,
  recordsPerEvent: true,
  naiveRecordsPerEvent: true,
  streamBytesPerEvent: true,
  naiveStreamBytesPerEvent: true,
  intakeRate: true,
  naiveIntakeRate: true,
  rollupRate: true,
  naiveRollupRate: true,
  rollupFoldRate: true,
  archiveRate: true,
  naiveArchiveRate: true,
  writePoints: true,
  archiveAvgEventBytes: true,
  parquetBytesPerEvent: true,
  ndjsonGzipBytesPerEvent: true,
};
/** Every field of `Measured`, in the order reports list them. */
export const MEASURED_FIELDS = Object.keys(FIELDS) as readonly (keyof Measured)[];

export interface ModelInput {
  readonly workload: Workload;
  readonly measured: Measured;
  readonly config: Config;
  readonly prices: Prices;
}

// ---------------------------------------------------------------------------------------------
// Output

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

// ---------------------------------------------------------------------------------------------
// Shared by the pipelines

/** The measured write point whose series-per-batch is nearest (log scale) to `seriesPerBatch`. */
export function nearestWritePoint(points: readonly WritePoint[], seriesPerBatch: number): WritePoint {
  if (points.length === 0) throw new Error('no write points');
  const d = (p: WritePoint) => Math.abs(Math.log(p.seriesPerBatch) - Math.log(Math.max(1, seriesPerBatch)));
  return points.reduce((best, p) => (d(p) < d(best) ? p : best));
}

const eventsPerMonth = (w: Workload) => w.eventsPerSecond * SECONDS_PER_MONTH;
const eventsPerSeriesMinute = (w: Workload) => (w.eventsPerSecond * 60) / w.series;
/** Stream bytes per event scale from the intake fixture's event size, archive bytes from the archive fixture's. */
const streamScale = ({ workload, measured }: ModelInput) => workload.eventBytes / measured.intakeAvgEventBytes;
const archiveScale = ({ workload, measured }: ModelInput) => workload.eventBytes / measured.archiveAvgEventBytes;

function scenario(w: Workload, name: Scenario['name'], description: string, lines: CostLine[], shards: number): Scenario {
  const totalUsd = lines.reduce((s, l) => s + l.monthlyUsd, 0);
  return { name, description, lines, totalUsd, usdPerBillionEvents: (totalUsd / eventsPerMonth(w)) * 1e9, shards };
}

/** S3 for an archive of `bytesPerEvent`: `objects` a month, compacted (each read once, one object per tenant-hour written) or not. */
function archiveS3(input: ModelInput, bytesPerEvent: number, objects: number, compaction: boolean): CostLine {
  const { workload: w, prices: p } = input;
  const puts = objects + (compaction ? w.tenants * HOURS_PER_MONTH : 0);
  const gets = compaction ? objects : 0;
  return s3Line(eventsPerMonth(w) * bytesPerEvent, puts, gets, p);
}

/** Athena over one tenant-day per query, reading `columnFraction` of the archive's bytes. */
function athena(input: ModelInput, bytesPerEvent: number, columnFraction: number): CostLine {
  const { workload: w, prices: p } = input;
  return athenaLine(w.queriesPerMonth, ((w.eventsPerSecond * 86_400 * bytesPerEvent) / w.tenants) * columnFraction, columnFraction, p);
}

const apiGateway = ({ workload: w, config: c, prices: p }: ModelInput): CostLine => apiGatewayLine(eventsPerMonth(w), w.eventBytes, c.eventsPerRequest, p);

/** Our stream and rollup, which the Firehose pipeline shares: packed records, partition keys, the rollup log's load. */
export interface OursStream {
  readonly kinesis: KinesisCost;
  /** Stream bytes per event (data + key) at the workload's event size. */
  readonly bytesPerEvent: number;
  readonly rollupInvocations: number;
  readonly archiveInvocations: number;
  readonly seriesPerShard: number;
  /** Distinct series one rollup batch touches. */
  readonly touched: number;
  /** Partition keys per tenant before spreading (buckets holding at least one metric), and K. */
  readonly keysPerTenant: number;
  readonly spread: number;
  readonly metrics: number;
  readonly log: LogUsage;
}

/** The next power of two at or above `n` (at least 1). */
export const nextPowerOfTwo = (n: number): number => 2 ** Math.max(0, Math.ceil(Math.log2(Math.max(1, n))));

/**
 * Keys a metric must spread over so that no partition key carries more than a shard takes: every
 * tenant's metrics sit in `buckets` keys; a key carrying more than a shard's 1 MiB/s spreads its
 * metrics by series over K = the next power of two of the shards it needs (docs/ROLLUPS.md).
 */
export function metricSpread(bytesPerSecond: number, tenants: number, metrics: number, buckets: number): { keysPerTenant: number; spread: number } {
  const keysPerTenant = Math.max(1, Math.min(buckets, metrics / tenants));
  return { keysPerTenant, spread: nextPowerOfTwo(bytesPerSecond / (tenants * keysPerTenant) / SHARD_IN_BYTES) };
}

export function oursStream(input: ModelInput): OursStream {
  const { workload: w, measured: m, config: c, prices: p } = input;
  const eps = w.eventsPerSecond;
  const bytesPerEvent = m.streamBytesPerEvent * streamScale(input);
  const kinesis = kinesisCost(eps, m.recordsPerEvent, bytesPerEvent, c.consumers, p);
  const recordsPerSec = eps * m.recordsPerEvent;
  const rollupInvocations = consumerInvocationsPerSecond(kinesis.shards, c.rollupWindowSeconds, c.rollupBatchSize, recordsPerSec, eps * bytesPerEvent);
  const archiveInvocations = consumerInvocationsPerSecond(kinesis.shards, c.archiveWindowSeconds, c.archiveBatchSize, recordsPerSec, eps * bytesPerEvent);
  const metrics = metricsOf(w);
  const { keysPerTenant, spread } = metricSpread(eps * bytesPerEvent, w.tenants, metrics, c.partitionBuckets);
  const log = logUsage(
    {
      eventsPerSecond: eps,
      shards: kinesis.shards,
      commitsPerSecond: rollupInvocations,
      series: w.series,
      metrics,
      metricSpread: spread,
      foldIntervalSeconds: c.foldIntervalSeconds,
      foldCommits: c.foldCommits,
      itemCacheEntries: c.rollupItemCache,
      sweepSeconds: c.sweepSeconds,
      logTtlSeconds: c.logTtlDays * 86_400,
    },
    m.writePoints,
  );
  return { kinesis, bytesPerEvent, rollupInvocations, archiveInvocations, seriesPerShard: log.seriesPerShard, touched: log.touchedPerBatch, keysPerTenant, spread, metrics, log };
}

/**
 * Our rollup's DynamoDB: the log's segments, manifests and head per commit, the folded items per
 * fold, index refreshes (`log.ts`); consistent reads of the fold's cache misses and the sweeper's
 * head reads; the folded items' storage and the log's for its TTL.
 */
function oursDynamo(input: ModelInput, s: OursStream): CostLine {
  const { workload: w, measured: m, prices: p } = input;
  return dynamoLine(
    {
      wcuPerSecond: logWcuPerSecond(s.log),
      rcuPerSecond: logRcuPerSecond(s.log),
      stored: storedAt(m.writePoints, eventsPerSeriesMinute(w)).ours,
      series: w.series,
      hoursKept: HOURS_KEPT,
      targetUtilization: input.config.dynamoTargetUtilizationPercent / 100,
      otherStoredBytes: s.log.logStoredBytes,
      log: s.log,
    },
    p,
  );
}

/** Our functions' Lambda: intake and rollup, and the archive when `withArchive`. */
function oursLambda(input: ModelInput, s: OursStream, withArchive: boolean): CostLine {
  const { workload: w, measured: m, config: c, prices: p } = input;
  const E = eventsPerMonth(w);
  const intakeGbs = E * gbSecondsPerEvent(m.intakeRate, c.intakeMemoryMb, c.ioWaitFactor);
  // The commit, and the fold of every event's entry into its items.
  const rollupGbs = E * (gbSecondsPerEvent(m.rollupRate, c.rollupMemoryMb, c.ioWaitFactor) + gbSecondsPerEvent(m.rollupFoldRate, c.rollupMemoryMb, c.ioWaitFactor));
  const archiveGbs = E * gbSecondsPerEvent(m.archiveRate, c.archiveMemoryMb, c.ioWaitFactor);
  const gbs = intakeGbs + rollupGbs + (withArchive ? archiveGbs : 0);
  const invocations = E / c.eventsPerRequest + (s.rollupInvocations + (withArchive ? s.archiveInvocations : 0)) * SECONDS_PER_MONTH;
  return lambdaLine(gbs, invocations, withArchive ? ['intake', 'rollup', 'archive'] : ['intake', 'rollup'], p);
}

// ---------------------------------------------------------------------------------------------
// The pipelines

export function oursPipeline(input: ModelInput): Scenario {
  const { workload: w, measured: m, config: c } = input;
  const s = oursStream(input);
  const parquet = m.parquetBytesPerEvent * archiveScale(input);
  const lines = [
    kinesisLine(s.kinesis),
    oursLambda(input, s, true),
    oursDynamo(input, s),
    archiveS3(input, parquet, s.archiveInvocations * SECONDS_PER_MONTH * w.tenants, true),
    apiGateway(input),
    athena(input, parquet, c.athenaColumnFraction),
  ];
  return scenario(w, 'ours', 'packed gzip NDJSON records, rollup log per shard folded into series items, Parquet archive', lines, s.kinesis.shards);
}

export function naivePipeline(input: ModelInput): Scenario {
  const { workload: w, measured: m, config: c, prices: p } = input;
  const eps = w.eventsPerSecond;
  const E = eventsPerMonth(w);
  const bytesPerEvent = m.naiveStreamBytesPerEvent * streamScale(input);
  const kinesis = kinesisCost(eps, m.naiveRecordsPerEvent, bytesPerEvent, c.consumers, p);
  const recordsPerSec = eps * m.naiveRecordsPerEvent;
  const rollupInvocations = consumerInvocationsPerSecond(kinesis.shards, c.rollupWindowSeconds, c.rollupBatchSize, recordsPerSec, eps * bytesPerEvent);
  const archiveInvocations = consumerInvocationsPerSecond(kinesis.shards, c.archiveWindowSeconds, c.archiveBatchSize, recordsPerSec, eps * bytesPerEvent);
  const gbs =
    E *
    (gbSecondsPerEvent(m.naiveIntakeRate, c.intakeMemoryMb, c.ioWaitFactor) +
      gbSecondsPerEvent(m.naiveRollupRate, c.rollupMemoryMb, c.ioWaitFactor) +
      gbSecondsPerEvent(m.naiveArchiveRate, c.archiveMemoryMb, c.ioWaitFactor));
  const invocations = E / c.eventsPerRequest + (rollupInvocations + archiveInvocations) * SECONDS_PER_MONTH;
  // The rollup section measures the naive writes beside ours at each run (one UpdateItem per
  // event and resolution: the same WCU per event at every run); storage at the workload's rate.
  const naiveWcuPer1k = nearestWritePoint(m.writePoints, w.series).naiveWcuPer1k;
  const naiveStored = storedAt(m.writePoints, eventsPerSeriesMinute(w)).naive;
  const ndjson = m.ndjsonGzipBytesPerEvent * archiveScale(input);
  const lines = [
    kinesisLine(kinesis),
    lambdaLine(gbs, invocations, ['intake', 'rollup', 'archive'], p),
    dynamoLine({ wcuPerSecond: (eps * naiveWcuPer1k) / 1000, rcuPerSecond: 0, stored: naiveStored, series: w.series, hoursKept: HOURS_KEPT, targetUtilization: c.dynamoTargetUtilizationPercent / 100 }, p),
    archiveS3(input, ndjson, archiveInvocations * SECONDS_PER_MONTH * w.tenants, false),
    apiGateway(input),
    athena(input, ndjson, 1),
  ];
  return scenario(w, 'naive', 'one record and one UpdateItem per event, gzip NDJSON archive', lines, kinesis.shards);
}

export function firehosePipeline(input: ModelInput): Scenario {
  const { workload: w, measured: m, config: c, prices: p } = input;
  const s = oursStream(input);
  const E = eventsPerMonth(w);
  const parquet = m.parquetBytesPerEvent * archiveScale(input);
  // An object per 128 MiB buffered, and at least one per tenant every 15 minutes (the longest buffer interval).
  const objects = Math.max((E * parquet) / (128 * MIB), w.tenants * HOURS_PER_MONTH * 4);
  const lines = [
    kinesisLine(s.kinesis),
    oursLambda(input, s, false),
    oursDynamo(input, s),
    archiveS3(input, parquet, objects, false),
    apiGateway(input),
    athena(input, parquet, c.athenaColumnFraction),
    firehoseLine(E, w.eventBytes, p),
  ];
  return scenario(w, 'firehose', 'ours, but Firehose (JSON → Parquet) does the archive', lines, s.kinesis.shards);
}

/** The pipelines, in the order reports print them (the first is the one the others are compared with). */
export const PIPELINES: readonly ((input: ModelInput) => Scenario)[] = [oursPipeline, naivePipeline, firehosePipeline];

export function costModel(workload: Workload, measured: Measured, config: Config = DEFAULT_CONFIG, prices: Prices = PRICES): CostReport {
  const input: ModelInput = { workload, measured, config, prices };
  return {
    workload,
    config,
    prices: { region: PRICES_REGION, taken: PRICES_TAKEN },
    eventsPerMonth: eventsPerMonth(workload),
    scenarios: PIPELINES.map((pipeline) => pipeline(input)),
  };
}
