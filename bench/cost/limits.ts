/**
 * The service limits a load runs into, and the checks of one modelled load against them: which
 * binds, by how much, and what the design does about it. Pure; every number is the model's
 * (`model.ts`, `log.ts`) or a quota below.
 *
 * Quotas are us-east-1 defaults, read 2026-12-02 from stored copies of the AWS documentation
 * through a search index (not the live pages); each names its page. Check the Service Quotas
 * console of the account before relying on one.
 */
import { INDEX_REFRESH_MS } from '../../functions/shared/rollups/keys.ts';
import { MAX_PART_BYTES } from '../../functions/shared/rollups/segment.ts';
import { DEFAULT_ROLLUP_CONFIG } from '../../functions/rollup/core.ts';
import { SEGMENT_OVERHEAD_BYTES, type LogUsage } from './log.ts';
import { MIB, wallSecondsPerEvent } from './terms.ts';

export const QUOTAS_TAKEN = '2026-12-02';

export const QUOTAS = {
  // docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html: "The default shard quota is 20,000 shards
  // per AWS account for the following AWS Regions: US East (N. Virginia), US West (Oregon), Europe (Ireland). For all
  // other Regions, the default shard quota is 1,000 or 6,000 shards per AWS account." Adjustable.
  kinesisShardsPerAccount: 20_000,
  // UpdateShardCount (AWS SDK for Kotlin reference, TargetShardCount): "Set this value to more than 10000 shards in a
  // stream (the default limit for shard count per stream is 10000 per account per region), unless you request a limit increase."
  kinesisShardsPerStream: 10_000,
  // service-sizes-and-limits.html (above): on-demand streams "scale up to 10 GB/s of write and 20 GB/s read
  // throughput" in us-east-1; "By default, you can create up to 50 data streams with the on-demand capacity mode."
  kinesisOnDemandWriteBytesPerStream: 10e9,
  // docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html: "each individual
  // partition is limited to 1,000 write units per second and 3,000 read units per second".
  dynamoPartitionWcu: 1_000,
  dynamoPartitionRcu: 3_000,
  // .../on-demand-capacity-mode-max-throughput.html: "your on-demand throughput rate is bounded by 40,000 table-level
  // read and write throughput AWS service quota for all tables in the account. If needed, you can request an increase".
  dynamoTableWru: 40_000,
  dynamoTableRru: 40_000,
  // Limits.html (docs.amazonaws.cn copy, the same table): provisioned "Per table 40,000 read capacity units and 40,000
  // write capacity units", "Per account per Region … 80,000 read capacity units and 80,000 write capacity units".
  dynamoAccountProvisionedWcu: 80_000,
  // burst-adaptive-capacity.html: "DynamoDB currently retains up to five minutes (300 seconds) of unused read and write
  // capacity. During an occasional burst of read or write activity, these extra capacity units can be consumed quickly".
  dynamoBurstSeconds: 300,
  // warm-throughput-scenarios.html: "New on-demand tables will start with a warm throughput of 12,000 read units per
  // second and 4,000 write units per second."
  dynamoNewTableWru: 4_000,
  // Limits.html: the maximum item size is 400 KB, attribute names and values included.
  dynamoItemBytes: 400 * 1024,
  // aws.amazon.com/jp/blogs/news/set-concurrency-limits-on-individual-aws-lambda-functions/ (AWS): the default
  // concurrency of all functions per account and Region is 1,000. Adjustable.
  lambdaConcurrency: 1_000,
  // repost.aws/knowledge-center/http-5xx-errors-s3 (AWS): "3,500 PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per
  // second per partitioned Amazon S3 prefix"; a new prefix is partitioned only after the rate grows (503 Slow Down).
  s3PutPerPrefix: 3_500,
  // docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: "Throttle quota per account, per Region across
  // HTTP APIs, REST APIs, WebSocket APIs, and WebSocket callback APIs: 10,000 requests per second (RPS)". Adjustable.
  apiGatewayRps: 10_000,
} as const;

export type LimitStatus = 'ok' | 'near' | 'binds';

export interface LimitCheck {
  readonly name: string;
  /** What the load needs, and the limit, in `unit`. */
  readonly value: number;
  readonly limit: number;
  readonly unit: string;
  /** binds: value > limit; near: value > 80 % of it. */
  readonly status: LimitStatus;
  /** What happens at this load and what the design does about it. */
  readonly message: string;
}

const statusOf = (value: number, limit: number): LimitStatus => (value > limit ? 'binds' : value > 0.8 * limit ? 'near' : 'ok');
const check = (name: string, value: number, limit: number, unit: string, message: string): LimitCheck => ({ name, value, limit, unit, status: statusOf(value, limit), message });
const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: Math.abs(x) < 10 ? 1 : 0 });

/** What one load puts on the services (model.ts fills it from its stream and pipelines). */
export interface LoadFacts {
  readonly eventsPerSecond: number;
  readonly tenants: number;
  readonly series: number;
  readonly metrics: number;
  readonly shards: number;
  readonly streamBytesPerSecond: number;
  readonly kinesisMode: 'provisioned' | 'on-demand';
  readonly keysPerTenant: number;
  readonly partitionBuckets: number;
  readonly spread: number;
  /** Segments per batch on a shard if every metric stayed on one shard (the cost of `spread`). */
  readonly segmentsPerBatchUnspread: number;
  readonly log: LogUsage;
  readonly rollupInvocationsPerSecond: number;
  readonly archiveInvocationsPerSecond: number;
  readonly rollupParallelization: number;
  readonly archiveParallelization: number;
  readonly apiRequestsPerSecond: number;
  readonly eventsPerRequest: number;
  readonly intakeRate: number;
  readonly intakeMemoryMb: number;
  readonly ioWaitFactor: number;
  readonly wcuPerSecond: number;
  readonly rcuPerSecond: number;
  /** The rollups table's priced capacity mode; provisioned capacity = consumed ÷ target utilisation. */
  readonly dynamoMode: 'provisioned' | 'on-demand';
  readonly dynamoTargetUtilization: number;
  /** Largest folded item the rollup bench wrote. */
  readonly maxFoldedItemBytes: number;
}

/** The checks of one load, in the order the report prints them. */
export function limitChecks(f: LoadFacts): LimitCheck[] {
  const q = QUOTAS;
  const u = f.log;
  const c = 1 / u.commitIntervalSeconds;
  const N = f.shards;
  const perShard = (total: number) => total / N;
  const out: LimitCheck[] = [];

  // Kinesis
  out.push(
    check(
      'Kinesis shards per stream',
      N,
      q.kinesisShardsPerStream,
      'shards',
      N > q.kinesisShardsPerStream
        ? `${n(N)} shards: more than one stream takes by default. Ask for more, or split tenants over ${Math.ceil(N / q.kinesisShardsPerStream)} streams (each with its own consumers); the log's keys name the shard id only (!head#<shardId>), so a second stream needs the stream in those keys, or its own rollups table`
        : `${n(N)} shards (bytes/s ÷ 1 MiB, records/s ÷ 1,000, 2 consumers' reads ÷ 2 MiB)`,
    ),
    check(
      'Kinesis shards per account (us-east-1)',
      N,
      q.kinesisShardsPerAccount,
      'shards',
      N > q.kinesisShardsPerAccount ? 'request a higher shard quota (Service Quotas), or spread over Regions' : 'adjustable; other Regions default to 1,000 or 6,000',
    ),
  );
  // On-demand streams only: a provisioned stream (priced when cheaper) has no such cap.
  const onDemand = check('Kinesis on-demand write per stream', f.streamBytesPerSecond / 1e9, q.kinesisOnDemandWriteBytesPerStream / 1e9, 'GB/s', '');
  out.push(
    f.kinesisMode === 'provisioned'
      ? { ...onDemand, status: 'ok', message: `applies to on-demand streams only; provisioned (priced: cheaper at a steady load) has no cap besides the shard quotas${onDemand.status === 'binds' ? '. On demand this load would need several streams' : ''}` }
      : { ...onDemand, message: onDemand.status === 'binds' ? 'on-demand is priced: past 10 GB/s split the stream, or provision it' : 'on-demand is priced' },
  );
  // A partition key carries all of its metrics' events unless they spread (K > 1).
  const keys = f.tenants * f.keysPerTenant * f.spread;
  const perKey = f.streamBytesPerSecond / (f.tenants * f.keysPerTenant);
  out.push({
    ...check('partition key (tenant × bucket) throughput', perKey / MIB, 1, 'MiB/s (a shard)', ''),
    message:
      f.spread > 1
        ? `${f.tenants} tenants × ${n(f.keysPerTenant)} buckets carry ${n(perKey / MIB)} MiB/s each, more than a shard: every metric spreads by series over K = ${f.spread} keys (${n(keys)} keys on ${n(N)} shards), so each shard writes ${n(u.segmentsPerBatch)} small segments a batch instead of ${n(f.segmentsPerBatchUnspread)}. Set INTAKE_PARTITION_BUCKETS ≥ shards ÷ tenants (npm run cost -- --config partitionBuckets=…) to keep metrics whole`
        : `${n(f.tenants * f.keysPerTenant)} keys on ${n(N)} shards: a metric stays on one shard (${n(u.segmentsPerBatch)} segments per batch)${N > f.tenants * f.keysPerTenant / 4 ? '; with few keys per shard, hashing leaves some shards above the mean: their throttled records retry under salted keys' : ''}`,
  });

  // DynamoDB: hot partitions (writes)
  const headWcu = c * (1 + 1 / u.unfoldedCommits) * u.headWcuPerWrite;
  out.push(
    check('DynamoDB head item !head#<shardId> (writes)', headWcu, q.dynamoPartitionWcu, 'WCU/s', `one conditional write per commit (${n(c)}/s) and per fold, ~${n(u.headWcuPerWrite)} KB each at ${n(u.unfoldedCommits)} unfolded commits`),
    check(
      'DynamoDB segment partition <tenant>#seg#<name>#<shardId>',
      c * u.segmentWcu,
      q.dynamoPartitionWcu,
      'WCU/s',
      `one shard's segments of one metric: ${n(u.segmentWcu)} WCU per commit; a metric too hot for a shard spreads over K shards, each its own partition`,
    ),
    check('DynamoDB manifest partition !man#<shardId>', c * u.manifestWcu, q.dynamoPartitionWcu, 'WCU/s', `${n(u.manifestWcu)} WCU per commit (${n(u.segmentsPerBatch)} metrics named)`),
  );
  const refresh = INDEX_REFRESH_MS / 1000;
  const metricListWrites = ((f.metrics / f.tenants) * Math.min(f.spread, N)) / refresh;
  out.push(
    check(
      'DynamoDB metric list <tenant>#metrics',
      metricListWrites,
      q.dynamoPartitionWcu,
      'WCU/s',
      `each container refreshes its (metric, shard) entries once an hour: ${n(f.metrics / f.tenants)} metrics per tenant × ${Math.min(f.spread, N)} shards ÷ ${refresh} s. A fleet of cold containers (a deploy) writes them all at once: throttled index writes are retried before the commit, so batches slow down, not fail`,
    ),
    check(
      'DynamoDB series index <tenant>#idx#<name>',
      f.series / f.metrics / refresh,
      q.dynamoPartitionWcu,
      'WCU/s',
      `steady state: each series' entry once an hour (${n(f.series / f.metrics)} series per metric). New series arrive as fast as a tenant creates them: past ~1,000 new series/s in one metric this partition throttles; the per-tenant new-series limit (429) is the guard`,
    ),
  );
  // Reads of a metric's unfolded log by queries: Query of its segments from the oldest unfolded
  // commit, eventually consistent (0.5 RCU per 4 KB), half the unfolded commits on average.
  const queryRcu = Math.max(0.5, ((u.unfoldedCommits / 2) * (u.segmentBytes + SEGMENT_OVERHEAD_BYTES)) / 8192);
  out.push({
    name: 'DynamoDB segment partition (query reads)',
    value: queryRcu,
    limit: q.dynamoPartitionRcu,
    unit: 'RCU per query',
    status: q.dynamoPartitionRcu / queryRcu < 10 ? 'near' : 'ok',
    message: `a query of one metric reads ~${n(u.unfoldedCommits / 2)} unfolded segments per shard (${n(queryRcu)} RCU): its shards' segment partitions take ≤ ${n(q.dynamoPartitionRcu / queryRcu)} such queries/s before they throttle (a shorter fold interval shortens the log)`,
  });

  // DynamoDB: table quotas (the same 40,000 units per table in both modes; provisioned, they bound
  // the capacity provisioned, consumed ÷ target utilisation)
  const provisioned = f.dynamoMode === 'provisioned';
  const wcuAsked = provisioned ? f.wcuPerSecond / f.dynamoTargetUtilization : f.wcuPerSecond;
  const rcuAsked = provisioned ? f.rcuPerSecond / f.dynamoTargetUtilization : f.rcuPerSecond;
  const unit = provisioned ? { w: 'WCU provisioned', r: 'RCU provisioned' } : { w: 'WRU/s', r: 'RRU/s' };
  out.push(
    check(
      `DynamoDB table write throughput (${f.dynamoMode})`,
      wcuAsked,
      q.dynamoTableWru,
      unit.w,
      wcuAsked > q.dynamoTableWru
        ? `request the table-level quota (adjustable) before the load arrives${provisioned ? ` (and the account's ${n(q.dynamoAccountProvisionedWcu)} WCU)` : ` and pre-warm the table (a new on-demand table starts at ${n(q.dynamoNewTableWru)} WRU/s)`}; the writes spread over series, segment and head partitions, none hot. Past what AWS will raise it to, split the table (e.g. one per stream)`
        : provisioned
          ? `${n(f.wcuPerSecond)} WCU/s consumed at ${n(f.dynamoTargetUtilization * 100)} % utilisation; within the quota (auto scaling's maximum must allow it: -c rollupsWriteCapacity=min-max)`
          : f.wcuPerSecond > q.dynamoNewTableWru
            ? `within the quota; above a new table's ${n(q.dynamoNewTableWru)} WRU/s warm throughput: pre-warm before cut-over`
            : 'within the quota and a new table\'s warm throughput',
    ),
    check(
      `DynamoDB table read throughput (${f.dynamoMode})`,
      rcuAsked,
      q.dynamoTableRru,
      unit.r,
      `the folds' consistent reads of the items their cache lacks (every new item; hit ${n(u.cacheHit * 100)} % of the rest: ${n(u.foldItemsPerFold)} items a fold per shard), the sweeper's head reads; queries not included${u.cacheHit < 1 ? '. A larger ROLLUP_ITEM_CACHE_ENTRIES (memory) or more shards (fewer series each) cut the misses' : ''}`,
    ),
  );
  if (provisioned) {
    // Worst case: every shard folds at once (after a deploy their fold timers start together, then drift apart).
    const foldAtOnce = u.foldItemsPerFold * u.foldWcuPerItem * N;
    const burst = q.dynamoBurstSeconds * (wcuAsked - f.wcuPerSecond);
    out.push(
      check(
        'DynamoDB burst capacity (provisioned), every shard folding at once',
        foldAtOnce,
        burst,
        'WCU',
        `auto scaling follows in minutes; a burst spends the up to ${q.dynamoBurstSeconds} s of unused capacity the table keeps (${n(burst)} WCU at ${n(f.dynamoTargetUtilization * 100)} % utilisation). Past it writes throttle, and every writer retries throttles (shared/retry.ts): the fold resumes where it stopped and batches wait, nothing is lost`,
      ),
    );
  }
  const headAtBound = (u.headWcuPerWrite / u.unfoldedCommits) * DEFAULT_ROLLUP_CONFIG.maxUnfoldedCommits * 1024;
  const largest = Math.max(Math.min(u.segmentBytes / u.segmentParts, MAX_PART_BYTES) + SEGMENT_OVERHEAD_BYTES, headAtBound, f.maxFoldedItemBytes);
  out.push(
    check(
      'DynamoDB item size',
      largest,
      q.dynamoItemBytes,
      'bytes',
      `segments and manifests are cut in parts under ${n(MAX_PART_BYTES / 1000)} kB (this load: ${n(u.segmentBytes / 1024)} KB a segment, ${u.segmentParts > 1 ? `${n(u.segmentParts)} parts` : 'one part'}); the head lists at most ${DEFAULT_ROLLUP_CONFIG.maxUnfoldedCommits} unfolded commits (~${n(headAtBound / 1024)} KB, a batch folds first); folded items ≤ ${n(f.maxFoldedItemBytes)} B in the bench`,
    ),
  );

  // Lambda, API Gateway, S3
  const intakeSeconds = f.eventsPerRequest * wallSecondsPerEvent(f.intakeRate, f.intakeMemoryMb, f.ioWaitFactor);
  const intakeConcurrency = f.apiRequestsPerSecond * intakeSeconds;
  const concurrency = N * f.rollupParallelization + N * f.archiveParallelization + intakeConcurrency + 2;
  out.push(
    check(
      'Lambda concurrency (account)',
      concurrency,
      q.lambdaConcurrency,
      'executions',
      `rollup ${n(N * f.rollupParallelization)} (one per shard, PF ${f.rollupParallelization}) + archive ${n(N * f.archiveParallelization)} (PF ${f.archiveParallelization}) + intake ${n(intakeConcurrency)} (${n(f.apiRequestsPerSecond)} requests/s × ${n(intakeSeconds * 1000)} ms) + sweeper and compaction${concurrency > q.lambdaConcurrency ? ': request the account quota; reserve the consumers\' share so the intake cannot starve them' : ''}`,
    ),
    check(
      'API Gateway requests (account)',
      f.apiRequestsPerSecond,
      q.apiGatewayRps,
      'requests/s',
      f.apiRequestsPerSecond > q.apiGatewayRps
        ? `${f.eventsPerRequest} events per request: bulk senders should write to the stream directly (Kinesis SDK/KPL, IAM; the record format is the same) and skip API Gateway and the intake; else request the throttle quota`
        : `${f.eventsPerRequest} events per request`,
    ),
  );
  const tenantShards = Math.min(N, f.keysPerTenant * f.spread);
  const putsPerPrefix = f.archiveInvocationsPerSecond * (tenantShards / N);
  out.push(
    check(
      'S3 PUT per tenant-hour prefix',
      putsPerPrefix,
      q.s3PutPerPrefix,
      'PUT/s',
      `one object per tenant per archive batch (${n(f.archiveInvocationsPerSecond)} batches/s; a tenant on ${n(tenantShards)} of ${n(N)} shards)${putsPerPrefix > q.s3PutPerPrefix ? ': S3 answers 503 Slow Down until it partitions the prefix; a longer archive batching window or larger batches cut the rate' : ''}`,
    ),
  );
  return out;
}
