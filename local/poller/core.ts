/**
 * The shard consumer: the semantics of a Lambda event source mapping for one Kinesis shard, over
 * narrow ports (source, handler, checkpoint store, on-failure destination, clock). No AWS SDK, no
 * file system, no timers of its own: a `ShardConsumer` does one unit of work per `step()` and says
 * when it wants the next, so tests drive it deterministically and the `Poller` drives it with real
 * time. It owns the shard's state (position, batches in flight, retries, bisection, discards,
 * checkpoint); the mapping's settings are config.ts's, cutting batches is record-buffer.ts's, one
 * invocation is invocation.ts's, the on-failure record is on-failure.ts's.
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
import { retryDelay, type ResolvedConfig } from './config.ts';
import { describeError } from './errors.ts';
import { invokeBatch } from './invocation.ts';
import { onFailureRecord } from './on-failure.ts';
import { RecordBuffer, type BufferedRecord } from './record-buffer.ts';
import type {
  Checkpoint,
  CheckpointStore,
  Clock,
  OnFailureCondition,
  OnFailureDestination,
  PollerLogger,
  ShardInfo,
  ShardPosition,
  ShardSource,
  RecordsDoneListener,
  StreamHandler,
} from './types.ts';

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
  /** Told of records once they are done: handled by the function, or discarded. */
  readonly onRecordsDone?: RecordsDoneListener;
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
  /** Records the function handled (checkpointed after a success or a partial success). */
  readonly recordsProcessed: number;
  /** Records sent to the on-failure destination (retries exhausted, too old). */
  readonly recordsDiscarded: number;
  /** Invocations made, and the time spent in them. */
  readonly invocations: number;
  readonly invokeMs: number;
  /**
   * Age of the oldest record read and not yet processed (buffered or in flight), at the time of
   * the call; when nothing is buffered, what the last read said of the records still unread
   * (MillisBehindLatest, plus the time since that read); 0 when caught up.
   */
  readonly ageOfOldestMs: number;
  /** MillisBehindLatest of the last read (kinesalite always says 0 for an open shard). */
  readonly millisBehindLatest: number;
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
  private readonly buffer: RecordBuffer;
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
  private recordsProcessed = 0;
  private recordsDiscarded = 0;
  private invocations = 0;
  private invokeMs = 0;
  private lastRead: { at: number; millisBehindLatest: number } = { at: 0, millisBehindLatest: 0 };

  constructor(deps: ShardConsumerDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.shardId = deps.shard.shardId;
    this.newRequestId = deps.newRequestId ?? randomUUID;
    this.buffer = new RecordBuffer(deps.config, this.shardId);
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
      recordsProcessed: this.recordsProcessed,
      recordsDiscarded: this.recordsDiscarded,
      invocations: this.invocations,
      invokeMs: this.invokeMs,
      ageOfOldestMs: this.ageOfOldestMs(),
      millisBehindLatest: this.lastRead.millisBehindLatest,
    };
  }

  private ageOfOldestMs(): number {
    const now = this.deps.clock.now();
    // Segments (in flight, after any bisection) come before the buffer, in sequence order.
    const oldest = this.discard?.records[0] ?? this.segments[0]?.records[0] ?? this.buffer.first();
    if (oldest !== undefined) return Math.max(0, now - oldest.source.approximateArrivalTimestamp);
    return this.lastRead.millisBehindLatest > 0 ? this.lastRead.millisBehindLatest + Math.max(0, now - this.lastRead.at) : 0;
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
    if (!this.sourceEnded && this.buffer.hasRoom()) {
      read = await this.read();
    }
    if (this.shouldFlush()) {
      this.segments.push({ records: this.buffer.take(), retries: 0, invokeCount: 0 });
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
    const result = await this.deps.source.read(this.shardId, this.position, this.buffer.readLimit());
    for (const record of result.records) this.buffer.add(record);
    const last = result.records.at(-1);
    if (last) this.position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: last.sequenceNumber };
    if (result.shardEnded) this.sourceEnded = true;
    this.lastRead = { at: this.deps.clock.now(), millisBehindLatest: result.millisBehindLatest ?? 0 };
    return { count: result.records.length, behind: (result.millisBehindLatest ?? 0) > 0 };
  }

  /** A batch goes out when it is full, the shard has ended, or the batching window has passed. */
  private shouldFlush(): boolean {
    if (this.buffer.length === 0) return false;
    return this.buffer.full() || this.sourceEnded || this.deps.clock.now() - this.windowStart >= this.config.batchingWindowMs;
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

    const requestId = this.newRequestId();
    const invoked = this.deps.clock.now();
    const outcome = await invokeBatch(this.config, this.deps.handler, this.deps.clock, this.shardId, segment.records, requestId);
    segment.invokeCount += 1;
    this.windowStart = this.deps.clock.now();
    this.invocations += 1;
    this.invokeMs += this.windowStart - invoked;

    if (outcome.kind === 'success') {
      this.segments.shift();
      this.setCheckpointAt(segment.records);
      this.done(segment.records, 'processed');
      await this.persist();
      return;
    }

    if (outcome.kind === 'partial') {
      segment.last = { requestId };
      const done = segment.records.splice(0, outcome.fromIndex);
      if (done.length > 0) {
        this.setCheckpointAt(done);
        this.done(done, 'processed');
      }
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
    const record = onFailureRecord(
      this.config,
      this.shardId,
      {
        condition: discard.condition,
        records: discard.records,
        invokeCount: discard.invokeCount,
        requestId: discard.last?.requestId ?? this.newRequestId(),
        ...(discard.last?.functionError ? { functionError: discard.last.functionError } : {}),
      },
      this.deps.clock.now(),
    );
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
    this.done(discard.records, 'discarded');
    await this.persist();
  }

  /** Counts records that are done and tells the listener; a listener that throws is the listener's bug. */
  private done(records: readonly BufferedRecord[], outcome: 'processed' | 'discarded'): void {
    if (outcome === 'processed') this.recordsProcessed += records.length;
    else this.recordsDiscarded += records.length;
    const listener = this.deps.onRecordsDone;
    if (listener === undefined) return;
    try {
      listener(this.shardId, records.map((r) => r.source), outcome);
    } catch (error) {
      this.deps.logger.error('onRecordsDone listener failed', { mappingId: this.config.mappingId, shardId: this.shardId, error: describeError(error) });
    }
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
