/**
 * us-east-1 (N. Virginia) list prices used by the cost model (`bench/cost/`), in USD.
 *
 * Taken 2026-11-28. On 2026-11-28 every figure was checked against stored copies of public pages,
 * read through a search index, not the live web. Each line names its source and quotes it. Where the
 * stored AWS pricing page did not show the dollar figure (AWS renders its rate tables from price
 * tokens), the quote comes from an AWS blog, a cost tool built on the AWS Price List (infracost), or a
 * third-party write-up, and the comment says so. No source found a price that differs from the
 * figures here.
 * First pricing tier only unless a tier is named; no free tier, no Savings Plans (DynamoDB on-demand
 * can now also get Database Savings Plans) or reserved capacity (DynamoDB provisioned capacity can be
 * reserved for one or three years, for up to ~77 % off: not modelled either).
 * Kinesis on-demand is priced at On-demand Standard, the default. The opt-in, account-level
 * On-demand Advantage mode (launched Nov 2025) drops the stream-hour charge, bills $0.032/GB
 * ingested and is "at least 60%" lower on reads. It requires a commitment of 25 MiB/s for at least
 * 24 hours, so it is not modelled here.
 * Check https://calculator.aws/ before quoting a number to anyone.
 */

export const PRICES_TAKEN = '2026-11-28';
export const PRICES_REGION = 'us-east-1';

export const PRICES = {
  kinesis: {
    // https://aws.amazon.com/blogs/big-data/kinesis-on-demand-advantage-saves-60-on-streaming-costs/ (AWS, 2026-03-09,
    // us-east-1): "in On-demand Standard mode there is a $0.04 charge per stream hour". Also trek10.com (2023):
    // "$0.04 per stream hour"; infracost golden test: ON_DEMAND 730 hours = $29.20.
    onDemandStreamHour: 0.04,
    // Same AWS blog (2026-03-09): "the incoming bytes charge for Advantage mode is $0.032 per GB and On-demand
    // Standard is $0.08 per GB". trek10.com: "$0.08 per gb (payloads rounded up to nearest kb)".
    onDemandIngestPerGb: 0.08,
    /** https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand, Data-In): "the size of each record rounded up to the nearest 1 KB (1,024 bytes)". */
    onDemandRecordRoundingBytes: 1024,
    // https://www.trek10.com/blog/amazon-kinesis-data-streams-on-demand-vs.-provisioned-billing-mode-cost-comparison (2023,
    // us-east-1): on-demand outbound "$0.04/gb (no rounding)"; infracost kinesis_stream_test.golden: "Data retrieval …
    // $0.04 per GB". No AWS page in the stored copies shows this figure.
    onDemandRetrievalPerGb: 0.04,
    // trek10.com (above): "$0.015 per shard hour"; infracost golden: PROVISIONED 730 hours = $10.95; an AWS bill quoted in
    // github.com/amazon-archives/amazon-kinesis-data-visualization-sample/issues/5: "$0.015 per provisioned shard-hour".
    provisionedShardHour: 0.015,
    // trek10.com (above): "$0.014 per million PPUs (25kb chunk)"; infracost golden: "Put request unit … $0.000000014 per units".
    provisionedPerMillionPutUnits: 0.014,
    /** http://aws.amazon.com/kinesis/pricing/: "A PUT Payload Unit is counted in 25KB payload “chunks” that comprise a record … a 45KB record contains two PUT Payload Units". */
    putPayloadUnitBytes: 25 * 1024,
  },
  lambda: {
    // https://cloudchipr.com/blog/aws-lambda-pricing (US East): Arm "First 7.5 Billion GB-seconds per month: $0.0000133334
    // per GB-second"; tiers as in https://aws.amazon.com/blogs/compute/introducing-tiered-pricing-for-aws-lambda/
    // ("0 – 7.5 billion arm64 Same as today"). The artillery npm package's prices.js has base arm64: 1333340 (×1e-11).
    arm64PerGbSecond: 0.0000133334,
    // git.mcrn.ar/mariano/lambda_local_runner docs/lambdas-md/lambda-13-cost.md (2026-05): "Requests | $0.20 / 1M | $0.20 / 1M"
    // (x86 | arm64). The api-evangelist/aws-lambda plans file (source aws.amazon.com/lambda/pricing/): "$0.20 per million".
    perMillionRequests: 0.2,
  },
  dynamodb: {
    // https://airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07-21), after the Nov 2024 cut:
    // "Write Request Units (WRU): $0.625 per million write request units"; jusdb.com: "Effective November 1, 2024 …
    // on-demand throughput costs reduced by 50%". The stored AWS on-demand page does not show the figure.
    perMillionWru: 0.625,
    // airbyte.com (above): "Read Request Units (RRU): $0.125 per million read request units". A strongly consistent read
    // of ≤ 4 KB = 1 RRU (aws.amazon.com/dynamodb/pricing/on-demand/: "A strongly consistent read request of up to 4 KB
    // requires one read request unit").
    perMillionRru: 0.125,
    // https://aws.amazon.com/dynamodb/pricing/ (stored copy, older layout): "The first 25 GB consumed per month is free, and
    // prices start from $0.25 per GB-month thereafter." infracost dynamodb_table_test.golden: "Data storage … $0.25 per GB".
    storagePerGbMonth: 0.25,
    // Provisioned capacity, standard table class: "$0.00065 per WCU-hour ($0.47 per WCU-month)" and "$0.00013 per RCU-hour
    // ($0.09 per RCU-month)" (a kro DynamoDB trait guide on GitHub, "us-east-1"; the same two figures in several public cost
    // calculators' rate tables, e.g. "DynamoReadUnit float64 // $0.00013 per RCU", "DynamoWriteUnit float64 // $0.00065 per
    // WCU"). The stored aws.amazon.com/dynamodb/pricing/provisioned/ copy does not show the figures. The Nov 2024 cut
    // (jusdb.com, above: "on-demand throughput costs reduced by 50%") did not change provisioned rates.
    provisionedPerWcuHour: 0.00065,
    provisionedPerRcuHour: 0.00013,
  },
  s3: {
    // https://cloudburn.io/blog/amazon-s3-pricing (2026-03-13, "All prices are for US East (N. Virginia) as of March 2026"):
    // "S3 Standard costs $0.023/GB/month". The stored aws.amazon.com/s3/pricing copy does not show the table figures.
    standardPerGbMonth: 0.023,
    // https://c3x.dev/blog/s3-request-fees-explained: "Tier 1 (PUT, COPY, POST, LIST: $0.005 per 1,000)" at Standard;
    // athena.guide: "list operations actually cost $5 per million".
    perThousandPut: 0.005,
    // c3x.dev (above): "Tier 2 (GET, HEAD, SELECT: $0.0004 per 1,000) at Standard".
    perThousandGet: 0.0004,
  },
  apiGateway: {
    // https://amnic.com/blogs/aws-api-gateway-pricing (table "Source: Amazon API Gateway Pricing"): HTTP API
    // "$1.00 (first 300M), then $0.90/M"; awsforengineers.com (2025-05): "HTTP APIs: $1.00 per million requests (first 300M)".
    httpPerMillionFirst300M: 1.0,
    // amnic.com (above): "then $0.90/M". One third-party page (apigatewaycost.com) lists a further "$0.80/million"
    // tier over 1B. No other source confirms it, so it is not used.
    httpPerMillionOver300M: 0.9,
    /** https://www.stormit.cloud/blog/amazon-api-gateway-pricing: "HTTP APIs calls are metered in 512 KB increments, so for example, 513 KB is metered as two requests." */
    meteringIncrementBytes: 512 * 1024,
  },
  athena: {
    // https://athena.guide/articles/athena-basics-pricing-model: "a flat $5 per TB of data scanned, rounded to the nearest
    // MB, with a 10 MB minimum"; rcpedia.stanford.edu/services/athena.html: "$5 per TB of data scanned".
    perTbScanned: 5.0,
    /** Minimum billed per query: rcpedia.stanford.edu/services/athena.html: "rounded up to the nearest megabyte … 10MB minimum per query". */
    minBytesPerQuery: 10 * 1024 * 1024,
  },
  firehose: {
    // https://kennethjorgensen.com/blog/2022/enable-record-aggregation-in-the-kinesis-firehose-agent: "At $0.029/GB, that's
    // $87" (BilledBytes); github.com/i05nagai/memorandum cloud/aws/kinesis_firehose.md: first 500 TB/month "1GBあたり$0.029".
    // The stored AWS pricing page copies (de/ru) show the tiers but not the dollar figure.
    ingestPerGb: 0.029,
    /** Every record is billed rounded up to a multiple of 5 KB: aws.amazon.com/de/kinesis/data-firehose/pricing/ (stored copy, German): "pro erfasstem GB in 5-KB-Schritten berechnet (ein 3-KB-Datensatz wird als 5 KB berechnet, ein 12-KB-Datensatz wird als 15 KB berechnet)". */
    recordRoundingBytes: 5 * 1024,
    // Conversion is billed on ingested GB in 5 KB steps: the same German page says "Der Tarif wird pro GB basierend auf
    // erfassten GBs in 5-KB-Schritten berechnet". The $0.018 figure is NOT confirmed by any AWS page or attributable
    // source. Only an unattributed code excerpt in the search index says "data format conversion $0.018 per GB". The
    // number is left as is; verify it on calculator.aws.
    formatConversionPerGb: 0.018,
  },
} as const;

export type Prices = typeof PRICES;
