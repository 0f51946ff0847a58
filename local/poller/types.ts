/**
 * Ports and options of the local event-source poller. Nothing here imports the AWS SDK or the file
 * system: the core works over these narrow interfaces, and adapters implement them.
 */
import type { Callback, Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';

/** One record as the stream holds it. */
export interface SourceRecord {
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Epoch milliseconds. */
  readonly approximateArrivalTimestamp: number;
}

export interface ShardInfo {
  readonly shardId: string;
  readonly parentShardId?: string;
  readonly adjacentParentShardId?: string;
  /**
   * First sequence number of the shard. Stored with the checkpoint, so a checkpoint taken on an
   * earlier incarnation of the stream (deleted and re-created under the same name) is not reused.
   */
  readonly startingSequenceNumber?: string;
}

/** Where to read from in a shard. */
export type ShardPosition =
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'LATEST' }
  | { readonly type: 'AFTER_SEQUENCE_NUMBER'; readonly sequenceNumber: string };

export interface ReadResult {
  /** In sequence order, at most `limit`. */
  readonly records: readonly SourceRecord[];
  /** How far the reader is behind the tip of the shard; 0 when caught up. */
  readonly millisBehindLatest?: number;
  /** The shard is closed (resharded) and nothing follows the records returned. */
  readonly shardEnded?: boolean;
}

/**
 * The slice of a stream the poller uses. `read` is called with the position right after the last
 * record it returned for that shard, so an adapter may keep an iterator between calls; any other
 * position starts a new one.
 */
export interface ShardSource {
  listShards(): Promise<ShardInfo[]>;
  read(shardId: string, position: ShardPosition, limit: number): Promise<ReadResult>;
}

export interface Checkpoint {
  /** Last sequence number whose processing is complete (handled or sent to the on-failure destination). */
  readonly sequenceNumber?: string;
  /** The shard is closed and has been read to its end. */
  readonly shardEnded?: boolean;
  readonly shardStartingSequenceNumber?: string;
}

export interface CheckpointStore {
  load(mappingId: string, shardId: string): Promise<Checkpoint | undefined>;
  save(mappingId: string, shardId: string, checkpoint: Checkpoint): Promise<void>;
}

export type OnFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * What Lambda sends to a Kinesis event source mapping's on-failure destination: metadata about the
 * discarded records, never the records themselves.
 */
export interface OnFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: OnFailureCondition;
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    readonly functionError?: string;
  };
  readonly version: '1.0';
  /** ISO 8601 time of the discard. */
  readonly timestamp: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    /** ISO 8601, milliseconds. */
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

export interface OnFailureDestination {
  send(record: OnFailureRecord): Promise<void>;
}

/** Time as the poller sees it. Tests pass a manual clock; nothing in the core reads `Date.now()`. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export type StreamHandlerResult = KinesisStreamBatchResponse | void;

/**
 * A Lambda handler for Kinesis batches. Async handlers (the norm) are awaited; a handler that
 * returns nothing and takes the callback is completed by the callback.
 */
export type StreamHandler = (
  event: KinesisStreamEvent,
  context: Context,
  callback: Callback<StreamHandlerResult>,
) => void | Promise<StreamHandlerResult>;

/**
 * Told of a shard's records once the mapping is done with them: `processed` when the function
 * handled them (the checkpoint moved past them), `discarded` when they went to the on-failure
 * destination. Each record is reported once per poller run, in sequence order per shard.
 */
export type RecordsDoneListener = (shardId: string, records: readonly SourceRecord[], outcome: 'processed' | 'discarded') => void;

export interface PollerLogger {
  debug(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** The settings of `AWS::Lambda::EventSourceMapping` that apply to Kinesis, with Lambda's defaults. */
export interface EventSourceMappingOptions {
  /** @default 100 (1–10000) */
  readonly batchSize?: number;
  /** @default 0 (0–300) */
  readonly maximumBatchingWindowInSeconds?: number;
  /** Where to start in a shard that has no checkpoint. Child shards of a reshard always start at TRIM_HORIZON. */
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /**
   * Accepted (1–10) for parity with the deployed mapping, but emulated as 1: one batch per shard at
   * a time. This keeps a stronger ordering than Lambda gives (per shard, not per partition key).
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /** `FunctionResponseTypes: ['ReportBatchItemFailures']`. @default false */
  readonly reportBatchItemFailures?: boolean;
  /** @default false */
  readonly bisectBatchOnFunctionError?: boolean;
  /** Retries after the first attempt; -1 = until the records expire. @default -1 (-1–10000) */
  readonly maximumRetryAttempts?: number;
  /** -1 = never discard by age. @default -1 (-1, or 60–604800) */
  readonly maximumRecordAgeInSeconds?: number;
  /** Function timeout: an invocation that runs longer fails as a function error. @default 3000 */
  readonly functionTimeoutMs?: number;
  /** Where metadata of discarded batches goes; without one, discarded records are only logged. */
  readonly onFailure?: OnFailureDestination;
}

export interface PollerOptions extends EventSourceMappingOptions {
  readonly source: ShardSource;
  readonly handler: StreamHandler;
  readonly streamArn: string;
  readonly functionName: string;
  /** @default arn:aws:lambda:<region>:000000000000:function:<functionName> */
  readonly functionArn?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 128 */
  readonly memoryLimitInMB?: number;
  /** @default arn:aws:iam::<account of functionArn>:role/<functionName>-role */
  readonly invokeIdentityArn?: string;
  /** Names this mapping's checkpoints. @default `<functionName>--<stream name>` */
  readonly mappingId?: string;
  /** @default an in-memory store (progress is lost on restart) */
  readonly checkpoints?: CheckpointStore;
  /** @default the system clock */
  readonly clock?: Clock;
  /** Told of records once they are handled or discarded (lag accounting). @default none */
  readonly onRecordsDone?: RecordsDoneListener;
  /** @default warnings and errors to the console, no debug */
  readonly logger?: PollerLogger;
  /** Wait between reads of a shard that is caught up. @default 200 (Kinesis allows 5 reads/s per shard) */
  readonly pollIntervalMs?: number;
  /** How often the shard list is refreshed (it is also refreshed when a shard ends). @default 5000 */
  readonly shardDiscoveryIntervalMs?: number;
  /** First delay after a failed read, failed invocation or failed destination write; doubles each time. @default 100 */
  readonly retryBaseDelayMs?: number;
  /** @default 5000 */
  readonly retryMaxDelayMs?: number;
}
