/**
 * What the report prints beside the requested load (issue 15): the targets at the reference load
 * with the baselines, the two large loads with the limits that bind there, and one hot metric.
 * Pure; every figure is the model's (`model.ts`, `log.ts`, `limits.ts`).
 */
import { PRICES, type Prices } from '../prices.ts';
import { limitChecks, type LimitCheck } from './limits.ts';
import { expectedKb, interpolate, SEGMENT_OVERHEAD_BYTES } from './log.ts';
import { costModel, DEFAULT_CONFIG, metricsOf, nextPowerOfTwo, oursStream, type Config, type Measured, type ModelInput, type Scenario, type Workload } from './model.ts';
import { MIB } from './terms.ts';

// ---------------------------------------------------------------------------------------------
// Targets

/** The reference load of issue 15's targets. */
export const TARGET_WORKLOAD: Workload = { eventsPerSecond: 1_000_000, eventBytes: 200, series: 100_000, tenants: 10, queriesPerMonth: 300 };
export const TARGETS = { usdPerBillionEvents: 8, dynamoShare: 1 / 3 } as const;

/**
 * The first layout (one write of each touched series' hour item per batch), at the reference
 * load: issue 15's figures, measured on main before the log layout (full `npm run bench`, then
 * `npm run cost` at the reference load). Not recomputed: that rollup is gone.
 */
export const PREVIOUS_LAYOUT = {
  name: 'previous layout',
  description: 'one write per touched item per batch (issue 15, measured on main before the log)',
  usdPerBillionEvents: 95.42,
  totalUsd: 250_769,
  dynamoUsd: 242_003,
  wcuPerSecond: 147_000,
} as const;

export interface TargetRow {
  readonly name: string;
  readonly usdPerBillionEvents: number;
  readonly totalUsd: number;
  readonly dynamoUsd: number;
  readonly dynamoShare: number;
  /** The share with the table on demand (the stack's default), the rest of the bill unchanged. */
  readonly dynamoShareOnDemand: number;
  readonly wcuPerSecond: number;
}

export interface TargetReport {
  readonly workload: Workload;
  readonly rows: readonly TargetRow[];
  readonly total: { readonly value: number; readonly target: number; readonly met: boolean };
  readonly dynamoShare: { readonly value: number; readonly target: number; readonly met: boolean };
  /** The capacity mode priced for ours (the cheaper at a steady load) and its target utilisation. */
  readonly dynamoMode: 'provisioned' | 'on-demand';
  readonly dynamoTargetUtilization: number;
}

const dynamoOf = (s: Scenario) => s.lines.find((l) => l.service === 'DynamoDB');

function rowOf(s: Scenario): TargetRow {
  const d = dynamoOf(s);
  const dynamoUsd = d?.monthlyUsd ?? 0;
  const onDemandUsd = d?.service === 'DynamoDB' ? d.usage.onDemandUsd : dynamoUsd;
  return {
    name: s.name,
    usdPerBillionEvents: s.usdPerBillionEvents,
    totalUsd: s.totalUsd,
    dynamoUsd,
    dynamoShare: dynamoUsd / s.totalUsd,
    dynamoShareOnDemand: onDemandUsd / (s.totalUsd - dynamoUsd + onDemandUsd),
    wcuPerSecond: d?.service === 'DynamoDB' ? d.usage.wcuPerSecond : 0,
  };
}

export function targetReport(measured: Measured, config: Config = DEFAULT_CONFIG, prices: Prices = PRICES): TargetReport {
  const r = costModel(TARGET_WORKLOAD, measured, config, prices);
  const d = dynamoOf(r.scenarios[0]!);
  const [ours, ...others] = r.scenarios.map(rowOf) as [TargetRow, ...TargetRow[]];
  const p = PREVIOUS_LAYOUT;
  // Measured on demand (the stack's only mode then).
  const previous: TargetRow = { name: p.name, usdPerBillionEvents: p.usdPerBillionEvents, totalUsd: p.totalUsd, dynamoUsd: p.dynamoUsd, dynamoShare: p.dynamoUsd / p.totalUsd, dynamoShareOnDemand: p.dynamoUsd / p.totalUsd, wcuPerSecond: p.wcuPerSecond };
  return {
    workload: TARGET_WORKLOAD,
    rows: [ours, previous, ...others],
    total: { value: ours.usdPerBillionEvents, target: TARGETS.usdPerBillionEvents, met: ours.usdPerBillionEvents <= TARGETS.usdPerBillionEvents },
    dynamoShare: { value: ours.dynamoShare, target: TARGETS.dynamoShare, met: ours.dynamoShare <= TARGETS.dynamoShare },
    dynamoMode: d?.service === 'DynamoDB' ? d.usage.mode : 'on-demand',
    dynamoTargetUtilization: d?.service === 'DynamoDB' ? d.usage.targetUtilization : 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Large loads and their limits

/** The loads issue 15 names besides the requested one (event size, tenants and queries are the requested load's). */
export const SCALES: readonly { readonly name: string; readonly eventsPerSecond: number; readonly series: number }[] = [
  { name: '10M events/s', eventsPerSecond: 10_000_000, series: 10_000_000 },
  { name: '1B events/s', eventsPerSecond: 1_000_000_000, series: 100_000_000 },
];

export interface ScaleReport {
  readonly name: string;
  readonly workload: Workload & { readonly metrics: number };
  readonly shards: number;
  readonly spread: number;
  readonly usdPerBillionEvents: number;
  readonly totalUsd: number;
  readonly dynamoUsd: number;
  readonly dynamoShare: number;
  readonly wcuPerSecond: number;
  readonly rcuPerSecond: number;
  readonly limits: readonly LimitCheck[];
}

export function scaleReport(name: string, workload: Workload, measured: Measured, config: Config = DEFAULT_CONFIG, prices: Prices = PRICES): ScaleReport {
  const w = { ...workload, metrics: metricsOf(workload) };
  const input: ModelInput = { workload: w, measured, config, prices };
  const report = costModel(w, measured, config, prices);
  const ours = report.scenarios[0]!;
  const s = oursStream(input);
  const d = dynamoOf(ours);
  const dynamo = d?.service === 'DynamoDB' ? d.usage : { wcuPerSecond: 0, rcuPerSecond: 0, mode: 'on-demand' as const, targetUtilization: 1 };
  const unspread = oursStream({ ...input, config: { ...config, partitionBuckets: Number.POSITIVE_INFINITY } }).log.segmentsPerBatch;
  const limits = limitChecks({
    eventsPerSecond: w.eventsPerSecond,
    tenants: w.tenants,
    series: w.series,
    metrics: w.metrics,
    shards: s.kinesis.shards,
    streamBytesPerSecond: w.eventsPerSecond * s.bytesPerEvent,
    kinesisMode: s.kinesis.mode,
    keysPerTenant: s.keysPerTenant,
    partitionBuckets: config.partitionBuckets,
    spread: s.spread,
    segmentsPerBatchUnspread: unspread,
    log: s.log,
    rollupInvocationsPerSecond: s.rollupInvocations,
    archiveInvocationsPerSecond: s.archiveInvocations,
    rollupParallelization: config.rollupParallelization,
    archiveParallelization: config.archiveParallelization,
    apiRequestsPerSecond: w.eventsPerSecond / config.eventsPerRequest,
    eventsPerRequest: config.eventsPerRequest,
    intakeRate: measured.intakeRate,
    intakeMemoryMb: config.intakeMemoryMb,
    ioWaitFactor: config.ioWaitFactor,
    wcuPerSecond: dynamo.wcuPerSecond,
    rcuPerSecond: dynamo.rcuPerSecond,
    dynamoMode: dynamo.mode,
    dynamoTargetUtilization: dynamo.targetUtilization,
    maxFoldedItemBytes: Math.max(...measured.writePoints.map((p) => p.maxItemBytes)),
  });
  const dynamoUsd = d?.monthlyUsd ?? 0;
  return {
    name,
    workload: w,
    shards: s.kinesis.shards,
    spread: s.spread,
    usdPerBillionEvents: ours.usdPerBillionEvents,
    totalUsd: ours.totalUsd,
    dynamoUsd,
    dynamoShare: dynamoUsd / ours.totalUsd,
    wcuPerSecond: dynamo.wcuPerSecond,
    rcuPerSecond: dynamo.rcuPerSecond,
    limits,
  };
}

/** The requested load, then the large loads (same event size, tenants and queries; metrics series ÷ 100). */
export function scaleReports(requested: Workload, measured: Measured, config: Config = DEFAULT_CONFIG, prices: Prices = PRICES): ScaleReport[] {
  const { metrics: _, ...shape } = requested;
  return [
    scaleReport('requested', requested, measured, config, prices),
    ...SCALES.map((s) => scaleReport(s.name, { ...shape, eventsPerSecond: s.eventsPerSecond, series: s.series }, measured, config, prices)),
  ];
}

// ---------------------------------------------------------------------------------------------
// One hot metric

/** Issue 15's hot metric: one metric of one tenant at 500,000 events/s; its series are assumed. */
export const HOT_METRIC = { eventsPerSecond: 500_000, series: 10_000 } as const;

export interface HotMetricReport {
  readonly eventsPerSecond: number;
  readonly series: number;
  readonly bytesPerSecond: number;
  /** Shards its bytes need, and the keys it spreads over (the next power of two). */
  readonly shardsNeeded: number;
  readonly keys: number;
  /** The stream's shards at the requested load, and how many of them its keys land on (expected). */
  readonly streamShards: number;
  readonly landsOn: number;
  /** Its segment WCU per batch round (each of its shards commits once): spread over the keys, and on one shard. */
  readonly wcuPerRound: number;
  readonly wcuPerRoundOneShard: number;
  readonly wcuPerSecond: number;
}

export function hotMetric(requested: Workload, measured: Measured, config: Config = DEFAULT_CONFIG, prices: Prices = PRICES, hot = HOT_METRIC): HotMetricReport {
  const input: ModelInput = { workload: requested, measured, config, prices };
  const s = oursStream(input);
  const bytesPerSecond = hot.eventsPerSecond * s.bytesPerEvent;
  const shardsNeeded = Math.ceil(bytesPerSecond / MIB);
  const keys = nextPowerOfTwo(shardsNeeded);
  const N = Math.max(s.kinesis.shards, keys);
  const landsOn = N * (1 - (1 - 1 / N) ** keys);
  // Per key: its share of the series and events, in batches of the stream's commit interval.
  const seriesPerKey = hot.series / keys;
  const eventsPerBatch = (hot.eventsPerSecond / keys) * s.log.commitIntervalSeconds;
  const touched = seriesPerKey * (1 - Math.exp(-eventsPerBatch / seriesPerKey));
  const at = (f: (p: Measured['writePoints'][number]) => number) => interpolate(measured.writePoints, eventsPerBatch / touched, f);
  const bytes = touched * at((p) => p.itemsPerBatch / p.seriesPerBatch) * at((p) => p.bytesPerEntry);
  const wcuPerRound = keys * expectedKb(bytes + SEGMENT_OVERHEAD_BYTES);
  const wcuPerRoundOneShard = expectedKb(keys * bytes + SEGMENT_OVERHEAD_BYTES);
  return {
    eventsPerSecond: hot.eventsPerSecond,
    series: hot.series,
    bytesPerSecond,
    shardsNeeded,
    keys,
    streamShards: s.kinesis.shards,
    landsOn,
    wcuPerRound,
    wcuPerRoundOneShard,
    wcuPerSecond: wcuPerRound / s.log.commitIntervalSeconds,
  };
}
