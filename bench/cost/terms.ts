/**
 * What each AWS service bills: pure functions from a month's usage and the price table
 * (`bench/prices.ts`) to one cost line, and the service limits and billing units they apply.
 * Each line carries its usage as numbers (`usage`), not text, so limit checks and the printed
 * detail (`format.ts`) both read the same figures. Which usage a pipeline has is `model.ts`'s
 * business; a new billed quantity is a new function here and a call in the pipelines that pay it.
 */
import { PRICES, type Prices } from '../prices.ts';
import type { LogUsage } from './log.ts';

/** A month is 730 hours. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
export const GB = 1024 ** 3;
export const MIB = 1024 * 1024;
/** Memory at which Lambda gives a function one full vCPU. */
const FULL_VCPU_MB = 1769;
/** Lambda's cap on one batch's payload from Kinesis. */
export const LAMBDA_BATCH_PAYLOAD_BYTES = 6 * 1000 * 1000;
/** One Kinesis shard's write limits and its read limit (shared by the consumers). */
export const SHARD_IN_BYTES = MIB;
export const SHARD_IN_RECORDS = 1000;
const SHARD_OUT_BYTES = 2 * MIB;

export const SERVICES = ['Kinesis', 'Lambda', 'DynamoDB', 'S3', 'API Gateway', 'Athena', 'Firehose'] as const;
export type Service = (typeof SERVICES)[number];

interface LineOf<S extends Service, U> {
  readonly service: S;
  readonly monthlyUsd: number;
  readonly usage: U;
}

export interface KinesisCost {
  readonly shards: number;
  readonly provisionedUsd: number;
  readonly onDemandUsd: number;
  readonly usd: number;
  readonly mode: 'provisioned' | 'on-demand';
}

export const LAMBDA_FUNCTIONS = ['intake', 'rollup', 'archive'] as const;
export type LambdaFunction = (typeof LAMBDA_FUNCTIONS)[number];

export interface LambdaUsage {
  readonly gbSeconds: number;
  readonly invocations: number;
  /** The functions this line pays for. */
  readonly functions: readonly LambdaFunction[];
}

export interface DynamoUsage {
  readonly wcuPerSecond: number;
  readonly rcuPerSecond: number;
  readonly storageGb: number;
  /** The cheaper capacity mode at this steady load, and the line's cost in each. */
  readonly mode: 'provisioned' | 'on-demand';
  readonly provisionedUsd: number;
  readonly onDemandUsd: number;
  /** Provisioned: consumed ÷ provisioned capacity (auto scaling's target). */
  readonly targetUtilization: number;
  /** The rollup log layout's writes, reads and storage, term by term (log.ts). */
  readonly log?: LogUsage;
}

export interface S3Usage {
  /** Bytes a month of data stores. */
  readonly storedBytes: number;
  readonly puts: number;
  readonly gets: number;
}

export interface ApiGatewayUsage {
  readonly requests: number;
  readonly eventsPerRequest: number;
}

export interface AthenaUsage {
  readonly queries: number;
  /** Billed bytes per query (the minimum applied). */
  readonly bytesPerQuery: number;
  /** Share of the columns a query reads. */
  readonly columnFraction: number;
}

export interface FirehoseUsage {
  readonly billedBytes: number;
  readonly eventBytes: number;
  readonly recordRoundingBytes: number;
}

export type CostLine =
  | LineOf<'Kinesis', KinesisCost>
  | LineOf<'Lambda', LambdaUsage>
  | LineOf<'DynamoDB', DynamoUsage>
  | LineOf<'S3', S3Usage>
  | LineOf<'API Gateway', ApiGatewayUsage>
  | LineOf<'Athena', AthenaUsage>
  | LineOf<'Firehose', FirehoseUsage>;

/**
 * Kinesis Data Streams for `eps` events/s at `recordsPerEvent` and `bytesPerEvent`: shards =
 * max(bytes/s ÷ 1 MiB, records/s ÷ 1,000, consumers × bytes/s ÷ 2 MiB); the cheaper of provisioned
 * and on-demand.
 */
export function kinesisCost(eps: number, recordsPerEvent: number, bytesPerEvent: number, consumers: number, p: Prices = PRICES): KinesisCost {
  const recordsPerSec = eps * recordsPerEvent;
  const bytesPerSec = eps * bytesPerEvent;
  const recordBytes = bytesPerEvent / recordsPerEvent;
  const shards = Math.max(1, Math.ceil(bytesPerSec / SHARD_IN_BYTES), Math.ceil(recordsPerSec / SHARD_IN_RECORDS), Math.ceil((consumers * bytesPerSec) / SHARD_OUT_BYTES));
  const recordsPerMonth = recordsPerSec * SECONDS_PER_MONTH;
  const k = p.kinesis;
  const provisionedUsd =
    shards * HOURS_PER_MONTH * k.provisionedShardHour + ((recordsPerMonth * Math.ceil(recordBytes / k.putPayloadUnitBytes)) / 1e6) * k.provisionedPerMillionPutUnits;
  const billedIn = recordsPerMonth * Math.ceil(recordBytes / k.onDemandRecordRoundingBytes) * k.onDemandRecordRoundingBytes;
  const onDemandUsd =
    HOURS_PER_MONTH * k.onDemandStreamHour + (billedIn / GB) * k.onDemandIngestPerGb + ((consumers * bytesPerSec * SECONDS_PER_MONTH) / GB) * k.onDemandRetrievalPerGb;
  const mode = provisionedUsd <= onDemandUsd ? 'provisioned' : 'on-demand';
  return { shards, provisionedUsd, onDemandUsd, usd: Math.min(provisionedUsd, onDemandUsd), mode };
}

export function kinesisLine(k: KinesisCost): CostLine {
  return { service: 'Kinesis', monthlyUsd: k.usd, usage: k };
}

/**
 * Wall seconds of one event's work: CPU s/event (1 / measured CPU-clock rate) × wall stretch ×
 * `ioWaitFactor`, where a function below 1,769 MB gets memory/1,769 of a vCPU (wall stretch
 * 1,769/memory).
 */
export function wallSecondsPerEvent(cpuEventsPerSecond: number, memoryMb: number, ioWaitFactor: number): number {
  return (1 / cpuEventsPerSecond) * Math.max(1, FULL_VCPU_MB / memoryMb) * ioWaitFactor;
}

/** GB-s of one event's work: its wall seconds (`wallSecondsPerEvent`) × memory GB. */
export function gbSecondsPerEvent(cpuEventsPerSecond: number, memoryMb: number, ioWaitFactor: number): number {
  return wallSecondsPerEvent(cpuEventsPerSecond, memoryMb, ioWaitFactor) * (memoryMb / 1024);
}

/** Invocations/s of a Kinesis consumer: max(shards ÷ batching window, records/s ÷ batch size, bytes/s ÷ 6 MB). */
export function consumerInvocationsPerSecond(shards: number, windowSeconds: number, batchSize: number, recordsPerSec: number, bytesPerSec: number): number {
  return Math.max(shards / windowSeconds, recordsPerSec / batchSize, bytesPerSec / LAMBDA_BATCH_PAYLOAD_BYTES);
}

/** Lambda (arm64 list price) for a month's GB-s and invocations. */
export function lambdaLine(gbSeconds: number, invocations: number, functions: readonly LambdaFunction[], p: Prices = PRICES): CostLine {
  const monthlyUsd = gbSeconds * p.lambda.arm64PerGbSecond + (invocations / 1e6) * p.lambda.perMillionRequests;
  return { service: 'Lambda', monthlyUsd, usage: { gbSeconds, invocations, functions } };
}

/** Bytes stored per series for one hour of data, by the retention that keeps them. */
export interface Stored {
  readonly '1m': number;
  readonly '1h': number;
}

/**
 * DynamoDB: write and read units per second, and the storage of `series` series, each storing
 * `stored` bytes per hour of data kept for `hoursKept` hours per resolution, plus
 * `otherStoredBytes` (the rollup log). Priced both ways, the cheaper taken (the load is steady):
 * on demand per request unit; provisioned per capacity unit-hour, with capacity = consumed ÷
 * `targetUtilization` (auto scaling keeps that headroom; lib/resources.ts TableCapacity).
 */
export function dynamoLine(
  u: {
    readonly wcuPerSecond: number;
    readonly rcuPerSecond: number;
    readonly stored: Stored;
    readonly series: number;
    readonly hoursKept: Stored;
    readonly targetUtilization: number;
    readonly otherStoredBytes?: number;
    readonly log?: LogUsage;
  },
  p: Prices = PRICES,
): CostLine {
  const d = p.dynamodb;
  const storageGb = (u.series * (u.stored['1m'] * u.hoursKept['1m'] + u.stored['1h'] * u.hoursKept['1h']) + (u.otherStoredBytes ?? 0)) / GB;
  const storageUsd = storageGb * d.storagePerGbMonth;
  const onDemandUsd = ((u.wcuPerSecond * SECONDS_PER_MONTH) / 1e6) * d.perMillionWru + ((u.rcuPerSecond * SECONDS_PER_MONTH) / 1e6) * d.perMillionRru + storageUsd;
  const provisionedUsd = ((u.wcuPerSecond * d.provisionedPerWcuHour + u.rcuPerSecond * d.provisionedPerRcuHour) / u.targetUtilization) * HOURS_PER_MONTH + storageUsd;
  const mode = provisionedUsd <= onDemandUsd ? 'provisioned' : 'on-demand';
  return {
    service: 'DynamoDB',
    monthlyUsd: Math.min(provisionedUsd, onDemandUsd),
    usage: { wcuPerSecond: u.wcuPerSecond, rcuPerSecond: u.rcuPerSecond, storageGb, mode, provisionedUsd, onDemandUsd, targetUtilization: u.targetUtilization, ...(u.log && { log: u.log }) },
  };
}

/** S3 Standard: a month of data stored, and its PUT and GET requests. */
export function s3Line(storedBytes: number, puts: number, gets: number, p: Prices = PRICES): CostLine {
  const monthlyUsd = (storedBytes / GB) * p.s3.standardPerGbMonth + (puts / 1000) * p.s3.perThousandPut + (gets / 1000) * p.s3.perThousandGet;
  return { service: 'S3', monthlyUsd, usage: { storedBytes, puts, gets } };
}

/** API Gateway HTTP API, tiered at 300 M requests a month. */
export function apiGatewayCost(eventsPerMonth: number, eventBytes: number, eventsPerRequest: number, p: Prices = PRICES): { requests: number; usd: number } {
  const a = p.apiGateway;
  const units = Math.ceil((eventsPerRequest * eventBytes) / a.meteringIncrementBytes);
  const requests = (eventsPerMonth / eventsPerRequest) * units;
  const first = Math.min(requests, 300e6);
  return { requests, usd: (first / 1e6) * a.httpPerMillionFirst300M + ((requests - first) / 1e6) * a.httpPerMillionOver300M };
}

export function apiGatewayLine(eventsPerMonth: number, eventBytes: number, eventsPerRequest: number, p: Prices = PRICES): CostLine {
  const api = apiGatewayCost(eventsPerMonth, eventBytes, eventsPerRequest, p);
  return { service: 'API Gateway', monthlyUsd: api.usd, usage: { requests: api.requests, eventsPerRequest } };
}

/** Athena: `queries` queries a month, each scanning `scannedBytesPerQuery` (10 MB minimum). */
export function athenaLine(queries: number, scannedBytesPerQuery: number, columnFraction: number, p: Prices = PRICES): CostLine {
  const bytesPerQuery = Math.max(p.athena.minBytesPerQuery, scannedBytesPerQuery);
  const tb = (queries * bytesPerQuery) / 1024 ** 4;
  return { service: 'Athena', monthlyUsd: tb * p.athena.perTbScanned, usage: { queries, bytesPerQuery, columnFraction } };
}

/** Amazon Data Firehose, Direct PUT of one record per event: ingestion and format conversion, each record billed rounded up to 5 KB. */
export function firehoseLine(eventsPerMonth: number, eventBytes: number, p: Prices = PRICES): CostLine {
  const rounding = p.firehose.recordRoundingBytes;
  const billedBytes = eventsPerMonth * Math.ceil(eventBytes / rounding) * rounding;
  return {
    service: 'Firehose',
    monthlyUsd: (billedBytes / GB) * (p.firehose.ingestPerGb + p.firehose.formatConversionPerGb),
    usage: { billedBytes, eventBytes, recordRoundingBytes: rounding },
  };
}
