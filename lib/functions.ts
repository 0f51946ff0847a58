/**
 * The functions and their event source mapping settings, defined once: the CDK stack deploys
 * them and the embedded stack's poller runs them with the same values. Pure data.
 */

export interface ConsumerSettings {
  /** Records per invocation (Lambda caps a batch at 6 MB of payload whatever this says). */
  readonly batchSize: number;
  /** How long Lambda gathers records before invoking. */
  readonly maxBatchingWindowSeconds: number;
  /** Concurrent batches per shard (order kept per partition key). */
  readonly parallelizationFactor: number;
  /** Retries of a failing batch before it goes to the on-failure destination. */
  readonly retryAttempts: number;
  /** Records older than this go to the on-failure destination unprocessed. */
  readonly maxRecordAgeSeconds: number;
  readonly bisectBatchOnError: boolean;
  readonly reportBatchItemFailures: boolean;
}

export interface FunctionDef {
  /**
   * Short name: the Powertools service name, and with the stack's prefix the function name
   * (`streamfold-intake`), as the embedded stack names it.
   */
  readonly id: string;
  /** Handler module, relative to the repository root; exports `handler`. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly description: string;
  /**
   * Extra Node.js flags for this function (appended to NODE_OPTIONS on Lambda; the benchmark of
   * the function's hot path runs with the same flags).
   * @default - none
   */
  readonly nodeOptions?: readonly string[];
  /** Present for Kinesis consumers (`{ ...CONSUMER_DEFAULTS, ... }`); StreamConsumer requires it. */
  readonly consumer?: ConsumerSettings;
  /** Present for functions run on a schedule: seconds between runs. */
  readonly scheduleSeconds?: number;
  /**
   * What the embedded stack (`npm start`) runs differently, and why: one machine with few events,
   * where write cost does not matter and freshness does.
   * @default - exactly what is deployed
   */
  readonly local?: {
    readonly maxBatchingWindowSeconds?: number;
    readonly scheduleSeconds?: number;
    /** Settings (lib/settings.ts variables) the embedded stack sets for this function. */
    readonly environment?: Readonly<Record<string, string>>;
  };
}

/**
 * Event source mapping settings of every consumer unless its definition says otherwise; the README
 * ("Event source mapping defaults") explains each value.
 */
export const CONSUMER_DEFAULTS: ConsumerSettings = {
  // Lambda also caps a batch at 6 MB of payload, which binds first for ~1 MiB gzip'd records.
  batchSize: 500,
  // A few seconds make batches, and so DynamoDB writes per event, far fewer; costs that latency.
  maxBatchingWindowSeconds: 5,
  parallelizationFactor: 1,
  // Bounded: a poison batch cannot block its shard until its records expire.
  retryAttempts: 10,
  // The default stream retention: older records would be trimmed anyway.
  maxRecordAgeSeconds: 86_400,
  bisectBatchOnError: true,
  // The consumers return batchItemFailures, so Lambda checkpoints before the first failed record.
  reportBatchItemFailures: true,
};

export const FUNCTIONS = {
  intake: {
    id: 'intake',
    entry: 'functions/intake/handler.ts',
    memoryMb: 1024,
    // Below API Gateway's 30 s integration limit, with room for PutRecords retries.
    timeoutSeconds: 15,
    description: 'POST /v1/events: authenticate, validate, pack and write events to the stream',
  },
  query: {
    id: 'query',
    entry: 'functions/query/handler.ts',
    memoryMb: 1024,
    timeoutSeconds: 15,
    description: 'GET /v1/metrics, /v1/metrics/{name}/series, /v1/query (rollups), /v1/events (archive), GET / dashboard',
  },
  rollup: {
    id: 'rollup',
    entry: 'functions/rollup/handler.ts',
    memoryMb: 1024,
    timeoutSeconds: 60,
    description: 'Kinesis consumer: exactly-once 1 m / 1 h rollups and the series index in DynamoDB',
    // A batch allocates ~10 KB per event (parsed events, partial aggregates, sketches) that dies
    // young: with V8's default 16 MB semi-space, scavenges took ~30 % of the CPU; 64 MB measured
    // 1.6x the events/s (bench/rollup.ts; 128 MB was slower again). Young generation: 192 MB of 1 GB.
    nodeOptions: ['--max-semi-space-size=64'],
    consumer: {
      ...CONSUMER_DEFAULTS,
      // A batch writes one log entry per touched item (docs/ROLLUPS.md), so batches should be as
      // long as freshness allows: Lambda's largest record count, ended by the 6 MB payload cap
      // (~5.7 s of a full shard) or the window. 500 records ended them at ~2.6 s (bench/cost).
      batchSize: 10_000,
      // 5 s batches write a fifth of the log bytes 1 s batches do, for ~5 s of freshness (queries
      // see a batch once it is committed).
      maxBatchingWindowSeconds: 5,
      // The log is kept per shard in sequence order: one batch per shard at a time. A shard
      // carries at most 2 MiB/s, well under what one invocation rolls up (bench/rollup.ts).
      parallelizationFactor: 1,
    },
    local: {
      // Freshness on a laptop (e2e bench: POST to counted by /v1/query, p99 <= 3 s). Folding is left
      // to the sweeper (every 10 s, logs older than 30 s): a fold writes every touched series item
      // (~1,400 per shard for 2,000 series, 2-4 s on dynalite), and in the container it holds up the
      // shard's next batch for that long (e2e freshness p99 4.4-5.8 s with 15 s container folds,
      // 2.3-2.7 s with the sweeper). 120 s is the container's fallback should the sweeper fall
      // behind; queries merge a log of at most ~40 commits (dynalite reads ~15 us per item). A 0 s
      // window gave p50 0.34 s against 1.1 s, for 30 % more CPU per event (4x the invocations).
      maxBatchingWindowSeconds: 1,
      environment: { ROLLUP_FOLD_INTERVAL_SECONDS: '120', ROLLUP_SWEEP_AFTER_SECONDS: '30' },
    },
  },
  sweep: {
    id: 'sweep',
    entry: 'functions/rollup/sweep-handler.ts',
    memoryMb: 1024,
    // A run folds what the containers left; the next run takes what this one could not.
    timeoutSeconds: 300,
    description: 'Scheduled: folds the rollup log of shards no rollup container folded (idle or closed shards, dead containers)',
    scheduleSeconds: 300,
    local: {
      scheduleSeconds: 10,
      // A sweep writes ~2,800 items for 2,000 series; 4 writes in flight leave dynalite to the
      // consumers' commits (e2e freshness p99 2.3 s against 3.4 s with 16) and still finish in seconds.
      environment: { ROLLUP_SWEEP_AFTER_SECONDS: '30', ROLLUP_WRITE_CONCURRENCY: '4' },
    },
  },
  archive: {
    id: 'archive',
    entry: 'functions/archive/handler.ts',
    // A 6 MB batch of gzip'd records inflates to ~60 MB of events; Parquet encoding peaked at
    // 650-800 MB for 100k events (bench/archive).
    memoryMb: 2048,
    timeoutSeconds: 120,
    description: 'Kinesis consumer: valid events to S3 as Parquet per tenant-hour, rejected pieces to quarantine/',
    consumer: {
      ...CONSUMER_DEFAULTS,
      // Fewer, larger Parquet files: the 6 MB payload cap ends most batches before this does.
      batchSize: 10_000,
      maxBatchingWindowSeconds: 20,
    },
    local: {
      // Events reach /v1/events within seconds, and a load's last batch is archived ~5 s after it
      // arrives (npm run load: consumers caught up within 10 s of the load stopping); more, smaller
      // files than on AWS, which local compaction merges.
      maxBatchingWindowSeconds: 5,
    },
  },
  compact: {
    id: 'compact',
    entry: 'functions/compact/handler.ts',
    // Holds an output file's rows twice: 1.16 GB measured for 2M rows.
    memoryMb: 3008,
    timeoutSeconds: 900,
    description: 'Hourly: merges the small Parquet files of closed partition-hours, dropping duplicates',
  },
} as const satisfies Record<string, FunctionDef>;

export type FunctionKey = keyof typeof FUNCTIONS;
