/**
 * The semantics of a Lambda event source mapping for one Kinesis shard, over narrow ports (source,
 * handler, checkpoint store, on-failure destination, clock). No AWS SDK, no file system, no timers
 * of its own: a `ShardConsumer` does one unit of work per `step()` and says when it wants the next,
 * so tests drive it deterministically and the `Poller` drives it with real time.
 *
 * Semantics follow the Lambda developer guide for Kinesis event source mappings:
 * - batches per shard, in order; one batch in flight per shard (ParallelizationFactor emulated as 1);
 * - a batch is up to BatchSize records, gathered until the batch is full, the 6 MB invocation payload
 *   limit is reached, or MaximumBatchingWindowInSeconds has passed since the previous invocation
 *   completed ("the next window begins as soon as the previous function invocation completes");
 * - ReportBatchItemFailures: checkpoint before the lowest failed sequence number and retry from
 *   there; an empty or null list is success; an empty/null/unknown itemIdentifier fails the batch;
 * - on a function error the whole batch is retried, or with BisectBatchOnFunctionError split in two,
 *   each half retried separately ("splitting batches doesn't consume the retry quota");
 * - MaximumRetryAttempts counts retries after the first attempt; MaximumRecordAgeInSeconds discards
 *   records older than that before any invocation; discarded records' metadata goes to the on-failure
 *   destination and the shard moves on.
 */
import { randomUUID } from 'node:crypto';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { backoffCap } from '../../functions/shared/retry.ts';
import { FunctionTimeoutError, PollerConfigError } from './errors.ts';
import type {
  Checkpoint,
  CheckpointStore,
  Clock,
  OnFailureCondition,
  OnFailureDestination,
  OnFailureRecord,
  PollerLogger,
  PollerOptions,
  ShardInfo,
  ShardPosition,
  ShardSource,
  SourceRecord,
  StreamHandler,
  StreamHandlerResult,
} from './types.ts';

/** Lambda's synchronous invocation payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** GetRecords returns at most this many records. */
export const MAX_READ_LIMIT = 10_000;
/** `{"Records":[` + `]}` */
const EVENT_ENVELOPE_BYTES = 14;

/** Every option with its default applied, validated once. */
export interface ResolvedConfig {
  readonly mappingId: string;
  readonly streamArn: string;
  readonly region: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryLimitInMB: number;
  readonly invokeIdentityArn: string;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly parallelizationFactor: number;
  readonly reportBatchItemFailures: boolean;
  readonly bisectBatchOnFunctionError: boolean;
  readonly maximumRetryAttempts: number;
  /** -1 = never. */
  readonly maximumRecordAgeMs: number;
  readonly functionTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly shardDiscoveryIntervalMs: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PollerConfigError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Applies Lambda's defaults and rejects what `CreateEventSourceMapping` would reject. */
export function resolveConfig(options: PollerOptions): ResolvedConfig {
  if (!options.functionName) throw new PollerConfigError('functionName is required');
  if (!/^arn:[^:]+:kinesis:[^:]*:[^:]*:stream\/.+/.test(options.streamArn ?? '')) {
    throw new PollerConfigError(`streamArn must be a Kinesis stream ARN, got ${JSON.stringify(options.streamArn)}`);
  }
  if (options.startingPosition !== 'TRIM_HORIZON' && options.startingPosition !== 'LATEST') {
    throw new PollerConfigError(`startingPosition must be TRIM_HORIZON or LATEST, got ${String(options.startingPosition)}`);
  }
  const region = options.region ?? 'us-east-1';
  const functionArn = options.functionArn ?? `arn:aws:lambda:${region}:000000000000:function:${options.functionName}`;
  const account = functionArn.split(':')[4] || '000000000000';
  const maximumRecordAgeInSeconds = options.maximumRecordAgeInSeconds ?? -1;
  if (maximumRecordAgeInSeconds !== -1) integerIn('maximumRecordAgeInSeconds', maximumRecordAgeInSeconds, 60, 604_800);
  const retryBaseDelayMs = integerIn('retryBaseDelayMs', options.retryBaseDelayMs ?? 100, 0, 3_600_000);
  return {
    mappingId: options.mappingId ?? `${options.functionName}--${streamNameFromArn(options.streamArn)}`,
    streamArn: options.streamArn,
    region,
    functionName: options.functionName,
    functionArn,
    memoryLimitInMB: integerIn('memoryLimitInMB', options.memoryLimitInMB ?? 128, 128, 10_240),
    invokeIdentityArn: options.invokeIdentityArn ?? `arn:aws:iam::${account}:role/${options.functionName}-role`,
    batchSize: integerIn('batchSize', options.batchSize ?? 100, 1, 10_000),
    batchingWindowMs: integerIn('maximumBatchingWindowInSeconds', options.maximumBatchingWindowInSeconds ?? 0, 0, 300) * 1000,
    startingPosition: options.startingPosition,
    parallelizationFactor: integerIn('parallelizationFactor', options.parallelizationFactor ?? 1, 1, 10),
    reportBatchItemFailures: options.reportBatchItemFailures ?? false,
    bisectBatchOnFunctionError: options.bisectBatchOnFunctionError ?? false,
    maximumRetryAttempts: integerIn('maximumRetryAttempts', options.maximumRetryAttempts ?? -1, -1, 10_000),
    maximumRecordAgeMs: maximumRecordAgeInSeconds === -1 ? -1 : maximumRecordAgeInSeconds * 1000,
    functionTimeoutMs: integerIn('functionTimeoutMs', options.functionTimeoutMs ?? 3000, 1, 900_000),
    pollIntervalMs: integerIn('pollIntervalMs', options.pollIntervalMs ?? 200, 0, 3_600_000),
    shardDiscoveryIntervalMs: integerIn('shardDiscoveryIntervalMs', options.shardDiscoveryIntervalMs ?? 5000, 1, 3_600_000),
    retryBaseDelayMs,
    retryMaxDelayMs: integerIn('retryMaxDelayMs', options.retryMaxDelayMs ?? 5000, retryBaseDelayMs, 3_600_000),
  };
}

export function streamNameFromArn(streamArn: string): string {
  const at = streamArn.indexOf(':stream/');
  return at === -1 ? streamArn : streamArn.slice(at + ':stream/'.length);
}

/**
 * Delay before the `attempt`-th retry (1-based) of a batch or of a failed poll: base, 2×base,
 * 4×base … capped (the shared policy's `backoffCap`, un-jittered so tests are deterministic).
 */
export function retryDelay(config: ResolvedConfig, attempt: number): number {
  return backoffCap(attempt, { baseMs: config.retryBaseDelayMs, maxMs: config.retryMaxDelayMs });
}

/** A record read from the shard, with what every invocation needs precomputed. */
interface BufferedRecord {
  readonly source: SourceRecord;
  readonly base64: string;
  /** Bytes this record adds to the invocation payload (its JSON plus a separator). */
  readonly size: number;
}

export function toEventRecord(config: ResolvedConfig, shardId: string, record: SourceRecord, base64?: string): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: base64 ?? Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: record.approximateArrivalTimestamp / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: config.invokeIdentityArn,
    awsRegion: config.region,
    eventSourceARN: config.streamArn,
  };
}

/** What the function's answer means for the batch. */
export type InvocationOutcome =
  | { readonly kind: 'success' }
  /** ReportBatchItemFailures: records from `fromIndex` on are retried. */
  | { readonly kind: 'partial'; readonly fromIndex: number }
  /** An answer Lambda cannot use (empty, null or unknown itemIdentifier): the whole batch failed. */
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'error'; readonly error: unknown };

/** Reads a handler's answer the way Lambda does for a stream event source mapping. */
export function interpretResponse(
  response: unknown,
  sequenceNumbers: readonly string[],
  reportBatchItemFailures: boolean,
): InvocationOutcome {
  if (!reportBatchItemFailures || response === undefined || response === null) return { kind: 'success' };
  if (typeof response !== 'object' || Array.isArray(response)) {
    return { kind: 'invalid', reason: `response is not an object: ${JSON.stringify(response)}` };
  }
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'invalid', reason: 'batchItemFailures is not a list' };
  if (failures.length === 0) return { kind: 'success' };
  const indexOf = new Map(sequenceNumbers.map((sequenceNumber, index) => [sequenceNumber, index]));
  let lowest = Number.POSITIVE_INFINITY;
  for (const failure of failures as unknown[]) {
    const id = failure !== null && typeof failure === 'object' ? (failure as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') {
      return { kind: 'invalid', reason: `itemIdentifier is empty or missing: ${JSON.stringify(failure)}` };
    }
    const index = indexOf.get(id);
    if (index === undefined) return { kind: 'invalid', reason: `itemIdentifier ${id} is not in the batch` };
    lowest = Math.min(lowest, index);
  }
  return { kind: 'partial', fromIndex: lowest };
}

/** The outcome of one `step()`; the caller decides how long to wait before the next. */
export type StepResult =
  /** Something happened (an invocation, a discard, records read): step again now. */
  | { readonly kind: 'progress' }
  /** Caught up with the shard, nothing buffered or in flight: poll again after the poll interval. */
  | { readonly kind: 'idle' }
  /** Nothing to do before `until` (batching window, retry backoff, error backoff). */
  | { readonly kind: 'wait'; readonly until: number; readonly error?: unknown }
  /** The shard is closed and fully processed. */
  | { readonly kind: 'ended' };

export interface ShardConsumerDeps {
  readonly config: ResolvedConfig;
  readonly shard: ShardInfo;
  /** Child shards of a reshard start at TRIM_HORIZON whatever the mapping says. */
  readonly startAt: 'mapping' | 'TRIM_HORIZON';
  readonly source: ShardSource;
  readonly handler: StreamHandler;
  readonly checkpoints: CheckpointStore;
  readonly onFailure: OnFailureDestination | undefined;
  readonly clock: Clock;
  readonly logger: PollerLogger;
  readonly newRequestId?: () => string;
}

/** Records in flight, after any bisection. */
interface Segment {
  records: BufferedRecord[];
  /** Retries consumed (bisection does not consume any). */
  retries: number;
  /** Invocations these records were part of. */
  invokeCount: number;
  last?: LastInvocation;
}

interface LastInvocation {
  readonly requestId: string;
  readonly functionError?: string;
}

interface PendingDiscard {
  readonly condition: OnFailureCondition;
  readonly records: readonly BufferedRecord[];
  readonly invokeCount: number;
  readonly last?: LastInvocation;
}

export interface ShardStatus {
  readonly shardId: string;
  readonly ended: boolean;
  /** Number of `step()` calls started so far. */
  readonly stepsStarted: number;
  /** The step number of the latest step that ended `idle`, if the latest step did. */
  readonly idleSinceStep: number | undefined;
  readonly buffered: number;
  readonly inFlight: number;
  readonly checkpoint: Checkpoint;
}

/** Consumes one shard with Lambda's semantics. Not re-entrant: one `step()` at a time. */
export class ShardConsumer {
  readonly shardId: string;
  private readonly deps: ShardConsumerDeps;
  private readonly config: ResolvedConfig;
  private readonly newRequestId: () => string;

  private initialized = false;
  private ended = false;
  private position: ShardPosition = { type: 'TRIM_HORIZON' };
  private buffer: BufferedRecord[] = [];
  private bufferBytes = 0;
  private sourceEnded = false;
  private segments: Segment[] = [];
  private discard: PendingDiscard | undefined;
  private checkpoint: Checkpoint = {};
  private checkpointDirty = false;
  private windowStart = 0;
  private notBefore = 0;
  private consecutiveErrors = 0;
  private stepsStarted = 0;
  private idleSinceStep: number | undefined;

  constructor(deps: ShardConsumerDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.shardId = deps.shard.shardId;
    this.newRequestId = deps.newRequestId ?? randomUUID;
  }

  status(): ShardStatus {
    return {
      shardId: this.shardId,
      ended: this.ended,
      stepsStarted: this.stepsStarted,
      idleSinceStep: this.idleSinceStep,
      buffered: this.buffer.length,
      inFlight: this.segments.reduce((n, s) => n + s.records.length, 0),
      checkpoint: this.checkpoint,
    };
  }

  /** Does the next unit of work. Never throws: poller-side failures become a `wait` with backoff. */
  async step(): Promise<StepResult> {
    const stepNumber = ++this.stepsStarted;
    this.idleSinceStep = undefined;
    if (this.ended) return { kind: 'ended' };
    const now = this.deps.clock.now();
    if (now < this.notBefore) return { kind: 'wait', until: this.notBefore };
    try {
      const result = await this.work();
      this.consecutiveErrors = 0;
      if (result.kind === 'idle') this.idleSinceStep = stepNumber;
      return result;
    } catch (error) {
      this.consecutiveErrors += 1;
      const delay = retryDelay(this.config, this.consecutiveErrors);
      this.notBefore = this.deps.clock.now() + delay;
      this.deps.logger.warn('poller error; retrying', {
        mappingId: this.config.mappingId,
        shardId: this.shardId,
        attempt: this.consecutiveErrors,
        retryInMs: delay,
        error: describeError(error),
      });
      return { kind: 'wait', until: this.notBefore, error };
    }
  }

  private async work(): Promise<StepResult> {
    if (!this.initialized) {
      await this.init();
      if (this.ended) return { kind: 'ended' };
    }
    if (this.checkpointDirty) await this.persist();
    if (this.discard) {
      await this.sendDiscard();
      return { kind: 'progress' };
    }
    if (this.segments.length > 0) {
      await this.processSegment();
      return this.afterProcessing();
    }
    if (this.sourceEnded && this.buffer.length === 0) {
      this.setCheckpoint({ ...this.checkpoint, shardEnded: true });
      await this.persist();
      this.ended = true;
      this.deps.logger.debug('shard read to its end', { mappingId: this.config.mappingId, shardId: this.shardId });
      return { kind: 'ended' };
    }

    let read: { count: number; behind: boolean } | undefined;
    if (!this.sourceEnded && this.buffer.length < this.config.batchSize && this.bufferBytes < MAX_PAYLOAD_BYTES) {
      read = await this.read();
    }
    if (this.shouldFlush()) {
      this.segments.push({ records: this.takeBatch(), retries: 0, invokeCount: 0 });
      await this.processSegment();
      return this.afterProcessing();
    }
    // Empty read while behind the tip: Kinesis is skipping an empty stretch of the shard; read on.
    if (read && read.count === 0 && read.behind) return { kind: 'progress' };
    if (this.buffer.length === 0) return this.sourceEnded ? { kind: 'progress' } : { kind: 'idle' };
    // A partial batch inside its batching window: read again after the poll interval, flush at the window's end.
    const now = this.deps.clock.now();
    return { kind: 'wait', until: Math.min(this.windowStart + this.config.batchingWindowMs, now + this.config.pollIntervalMs) };
  }

  private afterProcessing(): StepResult {
    return this.notBefore > this.deps.clock.now() ? { kind: 'wait', until: this.notBefore } : { kind: 'progress' };
  }

  private async init(): Promise<void> {
    const { shard, checkpoints } = this.deps;
    let stored = await checkpoints.load(this.config.mappingId, this.shardId);
    if (
      stored?.shardStartingSequenceNumber !== undefined &&
      shard.startingSequenceNumber !== undefined &&
      stored.shardStartingSequenceNumber !== shard.startingSequenceNumber
    ) {
      this.deps.logger.warn('checkpoint belongs to an earlier stream with the same name; ignoring it', {
        mappingId: this.config.mappingId,
        shardId: this.shardId,
      });
      stored = undefined;
    }
    this.checkpoint = stored ?? { shardStartingSequenceNumber: shard.startingSequenceNumber };
    if (stored?.shardEnded) {
      this.ended = true;
    } else if (stored?.sequenceNumber !== undefined) {
      this.position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: stored.sequenceNumber };
    } else {
      this.position = { type: this.deps.startAt === 'TRIM_HORIZON' ? 'TRIM_HORIZON' : this.config.startingPosition };
    }
    this.windowStart = this.deps.clock.now();
    this.initialized = true;
  }

  private async read(): Promise<{ count: number; behind: boolean }> {
    const limit = Math.min(MAX_READ_LIMIT, this.config.batchSize - this.buffer.length);
    const result = await this.deps.source.read(this.shardId, this.position, limit);
    for (const record of result.records) {
      const base64 = Buffer.from(record.data).toString('base64');
      const size = Buffer.byteLength(JSON.stringify(toEventRecord(this.config, this.shardId, record, base64))) + 1;
      this.buffer.push({ source: record, base64, size });
      this.bufferBytes += size;
    }
    const last = result.records.at(-1);
    if (last) this.position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: last.sequenceNumber };
    if (result.shardEnded) this.sourceEnded = true;
    return { count: result.records.length, behind: (result.millisBehindLatest ?? 0) > 0 };
  }

  private shouldFlush(): boolean {
    if (this.buffer.length === 0) return false;
    return (
      this.buffer.length >= this.config.batchSize ||
      this.bufferBytes >= MAX_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES ||
      this.sourceEnded ||
      this.deps.clock.now() - this.windowStart >= this.config.batchingWindowMs
    );
  }

  /** Up to batchSize records and 6 MB of payload; always at least one record. */
  private takeBatch(): BufferedRecord[] {
    let bytes = EVENT_ENVELOPE_BYTES;
    let count = 0;
    for (const record of this.buffer) {
      if (count >= this.config.batchSize || (count > 0 && bytes + record.size > MAX_PAYLOAD_BYTES)) break;
      bytes += record.size;
      count += 1;
    }
    const batch = this.buffer.splice(0, count);
    this.bufferBytes -= batch.reduce((n, r) => n + r.size, 0);
    return batch;
  }

  private async processSegment(): Promise<void> {
    const segment = this.segments[0];
    if (!segment) return;

    if (this.config.maximumRecordAgeMs >= 0) {
      const now = this.deps.clock.now();
      let expired = 0;
      while (expired < segment.records.length) {
        const record = segment.records[expired];
        if (!record || now - record.source.approximateArrivalTimestamp <= this.config.maximumRecordAgeMs) break;
        expired += 1;
      }
      if (expired > 0) {
        const records = segment.records.splice(0, expired);
        if (segment.records.length === 0) this.segments.shift();
        this.discard = { condition: 'RecordAgeExceeded', records, invokeCount: segment.invokeCount, last: segment.last };
        await this.sendDiscard();
        return;
      }
    }

    const { outcome, requestId } = await this.invoke(segment.records);
    segment.invokeCount += 1;
    this.windowStart = this.deps.clock.now();

    if (outcome.kind === 'success') {
      this.segments.shift();
      this.setCheckpointAt(segment.records);
      await this.persist();
      return;
    }

    if (outcome.kind === 'partial') {
      segment.last = { requestId };
      const done = segment.records.splice(0, outcome.fromIndex);
      if (done.length > 0) this.setCheckpointAt(done);
      this.deps.logger.debug('partial batch failure; retrying from the lowest failed record', {
        mappingId: this.config.mappingId,
        shardId: this.shardId,
        retryFrom: segment.records[0]?.source.sequenceNumber,
      });
      await this.retryOrDiscard(segment);
      return;
    }

    segment.last = { requestId, functionError: 'Unhandled' };
    this.deps.logger.warn(outcome.kind === 'invalid' ? 'invalid batch response; whole batch failed' : 'function error', {
      mappingId: this.config.mappingId,
      shardId: this.shardId,
      firstSequenceNumber: segment.records[0]?.source.sequenceNumber,
      batchSize: segment.records.length,
      error: outcome.kind === 'invalid' ? outcome.reason : describeError(outcome.error),
    });
    if (this.config.bisectBatchOnFunctionError && segment.records.length > 1) {
      const half = Math.ceil(segment.records.length / 2);
      const first: Segment = { ...segment, records: segment.records.slice(0, half) };
      const second: Segment = { ...segment, records: segment.records.slice(half) };
      this.segments.splice(0, 1, first, second);
      if (this.checkpointDirty) await this.persist();
      return;
    }
    await this.retryOrDiscard(segment);
  }

  private async retryOrDiscard(segment: Segment): Promise<void> {
    segment.retries += 1;
    const max = this.config.maximumRetryAttempts;
    if (max >= 0 && segment.retries > max) {
      this.segments.shift();
      this.discard = {
        condition: 'RetryAttemptsExhausted',
        records: segment.records,
        invokeCount: segment.invokeCount,
        last: segment.last,
      };
      await this.sendDiscard();
      return;
    }
    this.notBefore = this.deps.clock.now() + retryDelay(this.config, segment.retries);
    if (this.checkpointDirty) await this.persist();
  }

  private async sendDiscard(): Promise<void> {
    const discard = this.discard;
    if (!discard) return;
    const record = this.onFailureRecord(discard);
    if (this.deps.onFailure) {
      await this.deps.onFailure.send(record);
    }
    this.deps.logger.warn('records discarded', {
      mappingId: this.config.mappingId,
      destination: this.deps.onFailure ? 'on-failure destination' : 'none',
      ...record.requestContext,
      ...record.KinesisBatchInfo,
    });
    this.discard = undefined;
    this.setCheckpointAt(discard.records);
    await this.persist();
  }

  private onFailureRecord(discard: PendingDiscard): OnFailureRecord {
    const first = discard.records[0]?.source;
    const last = discard.records.at(-1)?.source;
    if (!first || !last) throw new Error('discarding an empty batch');
    return {
      requestContext: {
        requestId: discard.last?.requestId ?? this.newRequestId(),
        functionArn: this.config.functionArn,
        condition: discard.condition,
        approximateInvokeCount: discard.invokeCount,
      },
      responseContext: {
        statusCode: 200,
        executedVersion: '$LATEST',
        ...(discard.last?.functionError ? { functionError: discard.last.functionError } : {}),
      },
      version: '1.0',
      timestamp: new Date(this.deps.clock.now()).toISOString(),
      KinesisBatchInfo: {
        shardId: this.shardId,
        startSequenceNumber: first.sequenceNumber,
        endSequenceNumber: last.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.approximateArrivalTimestamp).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.approximateArrivalTimestamp).toISOString(),
        batchSize: discard.records.length,
        streamArn: this.config.streamArn,
      },
    };
  }

  private async invoke(records: readonly BufferedRecord[]): Promise<{ outcome: InvocationOutcome; requestId: string }> {
    const requestId = this.newRequestId();
    const event: KinesisStreamEvent = {
      Records: records.map((r) => toEventRecord(this.config, this.shardId, r.source, r.base64)),
    };
    const context = this.context(requestId);
    try {
      const response = await this.callWithTimeout(event, context);
      return {
        requestId,
        outcome: interpretResponse(
          response,
          records.map((r) => r.source.sequenceNumber),
          this.config.reportBatchItemFailures,
        ),
      };
    } catch (error) {
      return { requestId, outcome: { kind: 'error', error } };
    }
  }

  private callWithTimeout(event: KinesisStreamEvent, context: Context): Promise<unknown> {
    const { handler, clock } = this.deps;
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        cancel();
        fn();
      };
      const cancel = clock.setTimer(this.config.functionTimeoutMs, () =>
        settle(() => reject(new FunctionTimeoutError(this.config.functionName, this.config.functionTimeoutMs))),
      );
      const callback = (error?: Error | string | null, result?: StreamHandlerResult): void =>
        settle(() => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result)));
      try {
        const returned = handler(event, context, callback);
        if (returned !== null && typeof returned === 'object' && typeof returned.then === 'function') {
          returned.then(
            (value) => settle(() => resolve(value)),
            (error: unknown) => settle(() => reject(error)),
          );
        } else if (handler.length < 3) {
          settle(() => resolve(returned));
        }
      } catch (error) {
        settle(() => reject(error));
      }
    });
  }

  private context(requestId: string): Context {
    const { clock } = this.deps;
    const deadline = clock.now() + this.config.functionTimeoutMs;
    const noop = (): void => {};
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: this.config.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.config.functionArn,
      memoryLimitInMB: String(this.config.memoryLimitInMB),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${this.config.functionName}`,
      logStreamName: `${new Date(clock.now()).toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - clock.now()),
      done: noop,
      fail: noop,
      succeed: noop,
    };
  }

  private setCheckpointAt(records: readonly BufferedRecord[]): void {
    const last = records.at(-1);
    if (last) this.setCheckpoint({ ...this.checkpoint, sequenceNumber: last.source.sequenceNumber });
  }

  private setCheckpoint(checkpoint: Checkpoint): void {
    this.checkpoint = checkpoint;
    this.checkpointDirty = true;
  }

  private async persist(): Promise<void> {
    if (!this.checkpointDirty) return;
    const saving = this.checkpoint;
    await this.deps.checkpoints.save(this.config.mappingId, this.shardId, saving);
    if (this.checkpoint === saving) this.checkpointDirty = false;
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
