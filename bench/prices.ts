/**
 * us-east-1 (N. Virginia) list prices used by the cost model (`bench/cost.ts`), in USD.
 *
 * Taken 2026-11-28 from the AWS pricing pages named beside each line (stored copies read through a
 * search index). Where the stored page text did not show the dollar figure itself, the line says
 * "best-known public figure": the price AWS has published on that page (most recently checked
 * against it: DynamoDB on-demand after the November 2024 price cut), not re-read today.
 * First pricing tier only unless a tier is named; no free tier, no Savings Plans or reserved capacity.
 * Check https://calculator.aws/ before quoting a number to anyone.
 */

export const PRICES_TAKEN = '2026-11-28';
export const PRICES_REGION = 'us-east-1';

export const PRICES = {
  kinesis: {
    // https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand tab: "per-hour charge for each
    // data stream", data in "rounded up to the nearest 1 KB" per record) — dollar figures: best-known public figure
    onDemandStreamHour: 0.04,
    // https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand, data ingested) — best-known public figure
    onDemandIngestPerGb: 0.08,
    /** Records are billed rounded up to this many bytes in on-demand mode (page text: "nearest 1 KB (1,024 bytes)"). */
    onDemandRecordRoundingBytes: 1024,
    // https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand, data retrieval, per consumer read) — best-known public figure
    onDemandRetrievalPerGb: 0.04,
    // https://aws.amazon.com/kinesis/data-streams/pricing/ (provisioned tab, shard hour) — best-known public figure
    provisionedShardHour: 0.015,
    // https://aws.amazon.com/kinesis/data-streams/pricing/ (provisioned, per 1M PUT payload units) — best-known public figure
    provisionedPerMillionPutUnits: 0.014,
    /** A PUT payload unit is a 25 KB chunk of a record (page text, provisioned tab). */
    putPayloadUnitBytes: 25 * 1024,
  },
  lambda: {
    // https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 billion GB-s/month tier) — best-known public figure
    arm64PerGbSecond: 0.0000133334,
    // https://aws.amazon.com/lambda/pricing/ (requests) — best-known public figure
    perMillionRequests: 0.2,
  },
  dynamodb: {
    // https://aws.amazon.com/dynamodb/pricing/on-demand/ (standard table class, per million WRU;
    // $0.625 after the Nov 2024 cut, also quoted by airbyte.com/data-engineering-resources/dynamodb-pricing)
    perMillionWru: 0.625,
    // https://aws.amazon.com/dynamodb/pricing/on-demand/ (per million RRU; a strongly consistent read ≤ 4 KB = 1 RRU)
    perMillionRru: 0.125,
    // https://aws.amazon.com/dynamodb/pricing/on-demand/ (data storage, standard, beyond 25 GB free) — best-known public figure
    storagePerGbMonth: 0.25,
  },
  s3: {
    // https://aws.amazon.com/s3/pricing/ (S3 Standard, first 50 TB/month) — best-known public figure
    standardPerGbMonth: 0.023,
    // https://aws.amazon.com/s3/pricing/ (PUT, COPY, POST, LIST per 1,000 requests) — best-known public figure
    perThousandPut: 0.005,
    // https://aws.amazon.com/s3/pricing/ (GET, SELECT and all other requests per 1,000) — best-known public figure
    perThousandGet: 0.0004,
  },
  apiGateway: {
    // https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million requests/month) — best-known public figure
    httpPerMillionFirst300M: 1.0,
    // https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, over 300 million requests/month) — best-known public figure
    httpPerMillionOver300M: 0.9,
    /** HTTP API requests are metered in 512 KB increments (same page). */
    meteringIncrementBytes: 512 * 1024,
  },
  athena: {
    // https://aws.amazon.com/athena/pricing/ (SQL queries, per TB scanned) — best-known public figure
    perTbScanned: 5.0,
    /** Minimum billed per query (same page: 10 MB minimum). */
    minBytesPerQuery: 10 * 1024 * 1024,
  },
  firehose: {
    // https://aws.amazon.com/firehose/pricing/ (Direct PUT / Kinesis Data Streams source, first 500 TB/month) — best-known public figure
    ingestPerGb: 0.029,
    /** Every record is billed rounded up to a multiple of 5 KB (aws.amazon.com/firehose/faqs; a 3 KB record bills as 5 KB). */
    recordRoundingBytes: 5 * 1024,
    // https://aws.amazon.com/firehose/pricing/ (data format conversion JSON → Parquet/ORC, per GB) — best-known public figure
    formatConversionPerGb: 0.018,
  },
} as const;

export type Prices = typeof PRICES;
