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
  /** Present for Kinesis consumers (`{ ...CONSUMER_DEFAULTS, ... }`); StreamConsumer requires it. */
  readonly consumer?: ConsumerSettings;
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
} as const satisfies Record<string, FunctionDef>;

export type FunctionKey = keyof typeof FUNCTIONS;
