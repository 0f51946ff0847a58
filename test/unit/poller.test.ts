import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FileCheckpointStore,
  FileOnFailureDestination,
  InMemoryCheckpointStore,
  InMemoryOnFailureDestination,
  interpretResponse,
  KinesisShardSource,
  ManualClock,
  MAX_PAYLOAD_BYTES,
  Poller,
  PollerConfigError,
  SourceReadError,
  systemClock,
} from '../../local/poller/index.ts';
import type {
  Clock,
  PollerLogger,
  PollerOptions,
  ReadResult,
  ShardInfo,
  ShardPosition,
  ShardSource,
  SourceRecord,
  StreamHandler,
  StreamHandlerResult,
} from '../../local/poller/index.ts';

const T0 = Date.UTC(2024, 0, 1);
const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/events';
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:rollup';
const A = 'shardId-000000000000';
const B = 'shardId-000000000001';

/** An in-memory stream: shards, records, closed shards, injected read failures. */
class FakeSource implements ShardSource {
  readonly shards: ShardInfo[];
  private readonly records = new Map<string, SourceRecord[]>();
  private readonly closed = new Set<string>();
  private readonly latestMarks = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  readonly reads: { shardId: string; position: ShardPosition; limit: number }[] = [];

  constructor(shards: ShardInfo[]) {
    this.shards = shards;
  }

  /** Appends records with sequence numbers `first`, `first + 1` … */
  put(shardId: string, first: number, count: number, options: { arrival?: number; size?: number } = {}): string[] {
    const list = this.records.get(shardId) ?? [];
    this.records.set(shardId, list);
    const added: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const sequenceNumber = String(first + i);
      list.push({
        sequenceNumber,
        partitionKey: `pk-${sequenceNumber}`,
        data: options.size === undefined ? new TextEncoder().encode(`record ${sequenceNumber}`) : new Uint8Array(options.size),
        approximateArrivalTimestamp: options.arrival ?? T0,
      });
      added.push(sequenceNumber);
    }
    return added;
  }

  close(shardId: string): void {
    this.closed.add(shardId);
  }

  failNextReads(shardId: string, count: number): void {
    this.failures.set(shardId, count);
  }

  async listShards(): Promise<ShardInfo[]> {
    return this.shards;
  }

  async read(shardId: string, position: ShardPosition, limit: number): Promise<ReadResult> {
    this.reads.push({ shardId, position, limit });
    const failures = this.failures.get(shardId) ?? 0;
    if (failures > 0) {
      this.failures.set(shardId, failures - 1);
      throw new SourceReadError('Rate exceeded for shard', { shardId, throttled: true });
    }
    const list = this.records.get(shardId) ?? [];
    let start = 0;
    if (position.type === 'LATEST') {
      if (!this.latestMarks.has(shardId)) this.latestMarks.set(shardId, list.length);
      start = this.latestMarks.get(shardId) ?? 0;
    } else if (position.type === 'AFTER_SEQUENCE_NUMBER') {
      const after = BigInt(position.sequenceNumber);
      start = list.findIndex((r) => BigInt(r.sequenceNumber) > after);
      if (start === -1) start = list.length;
    }
    const records = list.slice(start, start + limit);
    return {
      records,
      millisBehindLatest: 0,
      ...(this.closed.has(shardId) && start + records.length >= list.length ? { shardEnded: true } : {}),
    };
  }
}

interface Invocation {
  readonly shardId: string;
  readonly sequenceNumbers: string[];
  readonly event: KinesisStreamEvent;
  readonly context: Context;
  readonly remainingMs: number;
  readonly at: number;
}

type Behaviour = (invocation: Invocation, index: number) => StreamHandlerResult | Promise<StreamHandlerResult>;

function recordingHandler(clock: Clock, behaviour?: Behaviour): { handler: StreamHandler; invocations: Invocation[] } {
  const invocations: Invocation[] = [];
  const handler: StreamHandler = async (event, context) => {
    const invocation: Invocation = {
      shardId: event.Records[0]?.eventID.split(':')[0] ?? '',
      sequenceNumbers: event.Records.map((r) => r.kinesis.sequenceNumber),
      event: structuredClone(event),
      context,
      remainingMs: context.getRemainingTimeInMillis(),
      at: clock.now(),
    };
    invocations.push(invocation);
    return behaviour?.(invocation, invocations.length - 1);
  };
  return { handler, invocations };
}

const silentLogger: PollerLogger = { debug: () => {}, warn: () => {}, error: () => {} };

function setup(options: Partial<PollerOptions> & { behaviour?: Behaviour; shards?: ShardInfo[] } = {}) {
  const clock = new ManualClock(T0);
  const source = new FakeSource(options.shards ?? [{ shardId: A }]);
  const { handler, invocations } = recordingHandler(clock, options.behaviour);
  const checkpoints = new InMemoryCheckpointStore();
  const onFailure = new InMemoryOnFailureDestination();
  const make = (overrides: Partial<PollerOptions> = {}): Poller =>
    new Poller({
      source,
      handler,
      streamArn: STREAM_ARN,
      functionName: 'rollup',
      startingPosition: 'TRIM_HORIZON',
      checkpoints,
      onFailure,
      clock,
      logger: silentLogger,
      ...options,
      ...overrides,
    });
  return { clock, source, invocations, checkpoints, onFailure, make, poller: make() };
}

const seqs = (invocations: Invocation[], shardId?: string): string[][] =>
  invocations.filter((i) => shardId === undefined || i.shardId === shardId).map((i) => i.sequenceNumbers);

describe('Class: Poller (Kinesis event source mapping semantics)', () => {
  describe('batching', () => {
    it('delivers a shard in order, in batches of at most batchSize', async () => {
      // Prepare
      const { source, poller, invocations, checkpoints } = setup({ batchSize: 3 });
      source.put(A, 1001, 7);

      // Act
      const result = await poller.runUntilIdle();

      // Assess
      expect(result.idle).toBe(true);
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003'],
        ['1004', '1005', '1006'],
        ['1007'],
      ]);
      expect(checkpoints.get(poller.config.mappingId, A)?.sequenceNumber).toBe('1007');
    });

    it('builds the KinesisStreamEvent and Context that Lambda passes', async () => {
      // Prepare
      const { source, poller, invocations } = setup({ functionTimeoutMs: 30_000, memoryLimitInMB: 512 });
      source.put(A, 1001, 1, { arrival: T0 - 1500 });

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(invocations).toHaveLength(1);
      expect(invocations[0]?.event).toEqual({
        Records: [
          {
            kinesis: {
              kinesisSchemaVersion: '1.0',
              partitionKey: 'pk-1001',
              sequenceNumber: '1001',
              data: Buffer.from('record 1001').toString('base64'),
              approximateArrivalTimestamp: (T0 - 1500) / 1000,
            },
            eventSource: 'aws:kinesis',
            eventVersion: '1.0',
            eventID: `${A}:1001`,
            eventName: 'aws:kinesis:record',
            invokeIdentityArn: 'arn:aws:iam::000000000000:role/rollup-role',
            awsRegion: 'us-east-1',
            eventSourceARN: STREAM_ARN,
          },
        ],
      });
      const context = invocations[0]?.context;
      expect(context).toMatchObject({
        functionName: 'rollup',
        functionVersion: '$LATEST',
        invokedFunctionArn: FUNCTION_ARN,
        memoryLimitInMB: '512',
        logGroupName: '/aws/lambda/rollup',
      });
      expect(context?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(invocations[0]?.remainingMs).toBe(30_000);
    });

    it('waits for the batching window before invoking with a partial batch', async () => {
      // Prepare
      const { source, poller, invocations } = setup({ batchSize: 10, maximumBatchingWindowInSeconds: 5 });
      source.put(A, 1001, 3);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1001', '1002', '1003']]);
      expect(invocations[0]?.at).toBe(T0 + 5000);
    });

    it('invokes at once when a full batch is available inside the window', async () => {
      // Prepare
      const { source, poller, invocations } = setup({ batchSize: 2, maximumBatchingWindowInSeconds: 5 });
      source.put(A, 1001, 3);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1001', '1002'], ['1003']]);
      expect(invocations.map((i) => i.at)).toEqual([T0, T0 + 5000]);
    });

    it('caps a batch at the 6 MB invocation payload', async () => {
      // Prepare
      const { source, poller, invocations } = setup({ batchSize: 100 });
      source.put(A, 1001, 6, { size: 1024 * 1024 });

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003', '1004'],
        ['1005', '1006'],
      ]);
      for (const invocation of invocations) {
        expect(Buffer.byteLength(JSON.stringify(invocation.event))).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
      }
    });

    it('starts at the tip with LATEST', async () => {
      // Prepare
      const { source, poller, invocations } = setup({ startingPosition: 'LATEST' });
      source.put(A, 1001, 2);
      await poller.runUntilIdle();
      source.put(A, 1003, 2);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1003', '1004']]);
    });
  });

  describe('ReportBatchItemFailures', () => {
    it('checkpoints before the lowest failed sequence number and retries from it', async () => {
      // Prepare
      const mappingCheckpoints: (string | undefined)[] = [];
      const { source, poller, invocations, checkpoints } = setup({
        reportBatchItemFailures: true,
        behaviour: (_invocation, index) => {
          mappingCheckpoints.push(checkpoints.get('rollup--events', A)?.sequenceNumber);
          return index === 0 ? { batchItemFailures: [{ itemIdentifier: '1004' }, { itemIdentifier: '1003' }] } : undefined;
        },
      });
      source.put(A, 1001, 5);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003', '1004', '1005'],
        ['1003', '1004', '1005'],
      ]);
      expect(mappingCheckpoints).toEqual([undefined, '1002']);
      expect(checkpoints.get('rollup--events', A)?.sequenceNumber).toBe('1005');
    });

    it.each([
      ['an empty itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
      ['a null itemIdentifier', { batchItemFailures: [{ itemIdentifier: null }] }],
      ['a misspelt key', { batchItemFailures: [{ itemIdentifer: '1002' }] }],
      ['a sequence number not in the batch', { batchItemFailures: [{ itemIdentifier: '1002' }, { itemIdentifier: '9999' }] }],
    ])('retries the whole batch on %s', async (_label, response) => {
      // Prepare
      const { source, poller, invocations } = setup({
        reportBatchItemFailures: true,
        behaviour: (_invocation, index) => (index === 0 ? (response as never) : undefined),
      });
      source.put(A, 1001, 3);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003'],
        ['1001', '1002', '1003'],
      ]);
    });

    it('ignores the response when ReportBatchItemFailures is off', async () => {
      // Prepare
      const { source, poller, invocations } = setup({
        behaviour: () => ({ batchItemFailures: [{ itemIdentifier: '1001' }] }),
      });
      source.put(A, 1001, 2);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1001', '1002']]);
    });
  });

  describe('Function: interpretResponse', () => {
    it.each([
      ['undefined', undefined, { kind: 'success' }],
      ['null', null, { kind: 'success' }],
      ['an empty object', {}, { kind: 'success' }],
      ['a null list', { batchItemFailures: null }, { kind: 'success' }],
      ['an empty list', { batchItemFailures: [] }, { kind: 'success' }],
      ['failures', { batchItemFailures: [{ itemIdentifier: '3' }, { itemIdentifier: '2' }] }, { kind: 'partial', fromIndex: 1 }],
      ['a list that is not a list', { batchItemFailures: 'x' }, { kind: 'invalid', reason: 'batchItemFailures is not a list' }],
    ])('reads %s', (_label, response, expected) => {
      // Prepare
      const sequenceNumbers = ['1', '2', '3'];

      // Act
      const outcome = interpretResponse(response, sequenceNumbers, true);

      // Assess
      expect(outcome).toEqual(expected);
    });
  });

  describe('BisectBatchOnFunctionError', () => {
    it('splits a failing batch into halves until the bad record is isolated', async () => {
      // Prepare
      const { source, poller, invocations, onFailure, checkpoints } = setup({
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 1,
        behaviour: ({ sequenceNumbers }) => {
          if (sequenceNumbers.includes('1003')) throw new Error('poison record');
        },
      });
      source.put(A, 1001, 4);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003', '1004'],
        ['1001', '1002'],
        ['1003', '1004'],
        ['1003'],
        ['1003'],
        ['1004'],
      ]);
      expect(onFailure.records).toHaveLength(1);
      expect(onFailure.records[0]?.requestContext).toEqual({
        requestId: invocations[4]?.context.awsRequestId,
        functionArn: FUNCTION_ARN,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 4,
      });
      expect(onFailure.records[0]?.KinesisBatchInfo).toMatchObject({
        startSequenceNumber: '1003',
        endSequenceNumber: '1003',
        batchSize: 1,
      });
      expect(checkpoints.get(poller.config.mappingId, A)?.sequenceNumber).toBe('1004');
    });

    it('puts the extra record of an odd batch in the first half', async () => {
      // Prepare
      const { source, poller, invocations } = setup({
        bisectBatchOnFunctionError: true,
        behaviour: (_invocation, index) => {
          if (index === 0) throw new Error('transient');
        },
      });
      source.put(A, 1001, 5);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003', '1004', '1005'],
        ['1001', '1002', '1003'],
        ['1004', '1005'],
      ]);
    });

    it('with a partial batch response, retries only from the lowest failed record', async () => {
      // Prepare
      const { source, poller, invocations } = setup({
        bisectBatchOnFunctionError: true,
        reportBatchItemFailures: true,
        behaviour: (_invocation, index) => (index === 0 ? { batchItemFailures: [{ itemIdentifier: '1002' }] } : undefined),
      });
      source.put(A, 1001, 4);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003', '1004'],
        ['1002', '1003', '1004'],
      ]);
    });
  });

  describe('retries and discards', () => {
    it('after MaximumRetryAttempts sends the batch metadata to the on-failure destination and moves on', async () => {
      // Prepare
      const { source, poller, invocations, onFailure, checkpoints } = setup({
        batchSize: 3,
        maximumRetryAttempts: 2,
        behaviour: ({ sequenceNumbers }) => {
          if (sequenceNumbers.includes('1002')) throw new Error('boom');
        },
      });
      source.put(A, 1001, 1, { arrival: T0 - 3000 });
      source.put(A, 1002, 1, { arrival: T0 - 2000 });
      source.put(A, 1003, 1, { arrival: T0 - 1000 });
      source.put(A, 1004, 2, { arrival: T0 });

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003'],
        ['1001', '1002', '1003'],
        ['1001', '1002', '1003'],
        ['1004', '1005'],
      ]);
      // Retries back off 100 ms, then 200 ms; the discard happens right after the third attempt.
      expect(invocations.map((i) => i.at)).toEqual([T0, T0 + 100, T0 + 300, T0 + 300]);
      expect(onFailure.records).toEqual([
        {
          requestContext: {
            requestId: invocations[2]?.context.awsRequestId,
            functionArn: FUNCTION_ARN,
            condition: 'RetryAttemptsExhausted',
            approximateInvokeCount: 3,
          },
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          version: '1.0',
          timestamp: new Date(T0 + 300).toISOString(),
          KinesisBatchInfo: {
            shardId: A,
            startSequenceNumber: '1001',
            endSequenceNumber: '1003',
            approximateArrivalOfFirstRecord: new Date(T0 - 3000).toISOString(),
            approximateArrivalOfLastRecord: new Date(T0 - 1000).toISOString(),
            batchSize: 3,
            streamArn: STREAM_ARN,
          },
        },
      ]);
      expect(checkpoints.get(poller.config.mappingId, A)?.sequenceNumber).toBe('1005');
    });

    it('with MaximumRetryAttempts 0 discards after the first failed attempt', async () => {
      // Prepare
      const { source, poller, invocations, onFailure } = setup({
        maximumRetryAttempts: 0,
        behaviour: () => {
          throw new Error('boom');
        },
      });
      source.put(A, 1001, 2);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1001', '1002']]);
      expect(onFailure.records.map((r) => r.requestContext.approximateInvokeCount)).toEqual([1]);
    });

    it('discards the remaining records of a partial failure once retries are exhausted', async () => {
      // Prepare
      const { source, poller, invocations, onFailure } = setup({
        reportBatchItemFailures: true,
        maximumRetryAttempts: 1,
        behaviour: ({ sequenceNumbers }) => ({
          batchItemFailures: sequenceNumbers.filter((s) => s >= '1003').map((itemIdentifier) => ({ itemIdentifier })),
        }),
      });
      source.put(A, 1001, 4);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003', '1004'],
        ['1003', '1004'],
      ]);
      expect(onFailure.records[0]?.KinesisBatchInfo).toMatchObject({
        startSequenceNumber: '1003',
        endSequenceNumber: '1004',
        batchSize: 2,
      });
      expect(onFailure.records[0]?.responseContext).toEqual({ statusCode: 200, executedVersion: '$LATEST' });
    });

    it('discards records older than MaximumRecordAgeInSeconds without invoking the function', async () => {
      // Prepare
      const { source, poller, invocations, onFailure, checkpoints } = setup({ maximumRecordAgeInSeconds: 60 });
      source.put(A, 1001, 2, { arrival: T0 - 61_000 });
      source.put(A, 1003, 1, { arrival: T0 - 60_000 });

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1003']]);
      expect(onFailure.records).toHaveLength(1);
      expect(onFailure.records[0]?.requestContext).toMatchObject({ condition: 'RecordAgeExceeded', approximateInvokeCount: 0 });
      expect(onFailure.records[0]?.KinesisBatchInfo).toEqual({
        shardId: A,
        startSequenceNumber: '1001',
        endSequenceNumber: '1002',
        approximateArrivalOfFirstRecord: new Date(T0 - 61_000).toISOString(),
        approximateArrivalOfLastRecord: new Date(T0 - 61_000).toISOString(),
        batchSize: 2,
        streamArn: STREAM_ARN,
      });
      expect(checkpoints.get(poller.config.mappingId, A)?.sequenceNumber).toBe('1003');
    });

    it('discards records that reach MaximumRecordAgeInSeconds while being retried', async () => {
      // Prepare
      const { source, poller, invocations, onFailure, clock } = setup({
        maximumRecordAgeInSeconds: 60,
        retryBaseDelayMs: 10_000,
        retryMaxDelayMs: 10_000,
        behaviour: () => {
          throw new Error('down');
        },
      });
      source.put(A, 1001, 1, { arrival: T0 });

      // Act
      const result = await poller.runUntilIdle();

      // Assess
      expect(result.idle).toBe(true);
      expect(invocations.map((i) => i.at)).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => T0 + n * 10_000));
      expect(onFailure.records[0]?.requestContext).toMatchObject({ condition: 'RecordAgeExceeded', approximateInvokeCount: 7 });
      expect(onFailure.records[0]?.timestamp).toBe(new Date(T0 + 70_000).toISOString());
      expect(clock.now()).toBe(T0 + 70_000);
    });

    it('treats a function timeout as a function error', async () => {
      // Prepare
      let release!: () => void;
      const firstCall = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { source, poller, invocations, clock } = setup({
        functionTimeoutMs: 1000,
        behaviour: (_invocation, index) => {
          if (index > 0) return undefined;
          release();
          return new Promise<void>(() => {});
        },
      });
      source.put(A, 1001, 2);

      // Act
      const run = poller.runUntilIdle();
      await firstCall;
      clock.advance(1000);
      await run;

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002'],
        ['1001', '1002'],
      ]);
      expect(invocations[1]?.at).toBe(T0 + 1000 + 100);
    });
  });

  describe('checkpoints', () => {
    let directory: string;

    beforeEach(async () => {
      directory = await mkdtemp(join(tmpdir(), 'poller-test-'));
    });

    afterEach(async () => {
      await rm(directory, { recursive: true, force: true });
    });

    it('a new Poller resumes after the last completed batch', async () => {
      // Prepare
      const { source, make, invocations } = setup({ batchSize: 2 });
      const store = new FileCheckpointStore(join(directory, 'checkpoints'));
      source.put(A, 1001, 3);
      await make({ checkpoints: store }).runUntilIdle();
      source.put(A, 1004, 2);

      // Act
      await make({ checkpoints: store }).runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1001', '1002'], ['1003'], ['1004', '1005']]);
      const file = JSON.parse(await readFile(store.pathOf('rollup--events', A), 'utf8')) as Record<string, unknown>;
      expect(file).toMatchObject({ sequenceNumber: '1005' });
    });

    it('a new Poller re-delivers from the checkpoint what a partial failure left in flight', async () => {
      // Prepare
      const { source, make, invocations } = setup({
        reportBatchItemFailures: true,
        maximumRetryAttempts: -1,
        behaviour: (_invocation, index) => (index === 0 ? { batchItemFailures: [{ itemIdentifier: '1002' }] } : undefined),
      });
      const store = new FileCheckpointStore(directory);
      source.put(A, 1001, 3);
      await make({ checkpoints: store }).runUntilIdle({ maxRounds: 1 });

      // Act
      await make({ checkpoints: store }).runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([
        ['1001', '1002', '1003'],
        ['1002', '1003'],
      ]);
    });

    it('ignores a checkpoint taken on an earlier stream of the same name', async () => {
      // Prepare
      const { source, poller, invocations, checkpoints } = setup({ shards: [{ shardId: A, startingSequenceNumber: '1001' }] });
      await checkpoints.save('rollup--events', A, { sequenceNumber: '5000', shardStartingSequenceNumber: '4000' });
      source.put(A, 1001, 2);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations)).toEqual([['1001', '1002']]);
    });

    it('writes one JSON file per discarded batch', async () => {
      // Prepare
      const destination = new FileOnFailureDestination(directory);
      const { source, make } = setup({ maximumRetryAttempts: 0, behaviour: () => Promise.reject(new Error('boom')) });
      source.put(A, 1001, 2);

      // Act
      await make({ onFailure: destination }).runUntilIdle();

      // Assess
      const path = join(directory, `${A}-1001-1002.json`);
      const record = JSON.parse(await readFile(path, 'utf8')) as { KinesisBatchInfo: unknown };
      expect(record.KinesisBatchInfo).toMatchObject({ shardId: A, startSequenceNumber: '1001', endSequenceNumber: '1002' });
    });
  });

  describe('shards', () => {
    it('processes shards independently: a failing shard does not block another', async () => {
      // Prepare
      const { source, poller, invocations, checkpoints } = setup({
        shards: [{ shardId: A }, { shardId: B }],
        batchSize: 2,
        behaviour: ({ shardId }) => {
          if (shardId === A) throw new Error('shard A is stuck');
        },
      });
      source.put(A, 1001, 2);
      source.put(B, 2001, 5);

      // Act
      const result = await poller.runUntilIdle({ maxRounds: 30 });

      // Assess
      expect(result.idle).toBe(false);
      expect(seqs(invocations, B)).toEqual([['2001', '2002'], ['2003', '2004'], ['2005']]);
      expect(new Set(seqs(invocations, A).map((s) => s.join()))).toEqual(new Set(['1001,1002']));
      expect(seqs(invocations, A).length).toBeGreaterThan(3);
      expect(checkpoints.get(poller.config.mappingId, A)).toBeUndefined();
      expect(checkpoints.get(poller.config.mappingId, B)?.sequenceNumber).toBe('2005');
    });

    it('reads a closed parent shard to its end before its children', async () => {
      // Prepare
      const C1 = 'shardId-000000000002';
      const C2 = 'shardId-000000000003';
      const { source, poller, invocations, checkpoints } = setup({
        shards: [
          { shardId: A },
          { shardId: C1, parentShardId: A },
          { shardId: C2, parentShardId: A },
        ],
        batchSize: 1,
      });
      source.put(A, 1001, 2);
      source.close(A);
      source.put(C1, 3001, 1);
      source.put(C2, 4001, 1);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(seqs(invocations).slice(0, 2)).toEqual([['1001'], ['1002']]);
      expect(seqs(invocations).slice(2).sort()).toEqual([['3001'], ['4001']]);
      expect(checkpoints.get(poller.config.mappingId, A)).toEqual({ sequenceNumber: '1002', shardEnded: true });
    });

    it('retries failed reads with backoff and loses nothing', async () => {
      // Prepare
      const { source, poller, invocations, clock } = setup();
      source.put(A, 1001, 3);
      source.failNextReads(A, 3);

      // Act
      const result = await poller.runUntilIdle();

      // Assess
      expect(result.idle).toBe(true);
      expect(seqs(invocations)).toEqual([['1001', '1002', '1003']]);
      expect(clock.now()).toBe(T0 + 100 + 200 + 400);
    });
  });

  describe('progress and lag', () => {
    it('reports each record once it is done, handled or discarded, and counts them', async () => {
      // Prepare
      const done: Array<[string, string[], string]> = [];
      const { source, poller } = setup({
        batchSize: 3,
        reportBatchItemFailures: true,
        maximumRetryAttempts: 0,
        onRecordsDone: (shardId, records, outcome) => done.push([shardId, records.map((r) => r.sequenceNumber), outcome]),
        behaviour: ({ sequenceNumbers }) => (sequenceNumbers.includes('1002') ? { batchItemFailures: [{ itemIdentifier: '1002' }] } : undefined),
      });
      source.put(A, 1001, 4);

      // Act
      await poller.runUntilIdle();

      // Assess
      expect(done).toEqual([
        [A, ['1001'], 'processed'],
        [A, ['1002', '1003'], 'discarded'],
        [A, ['1004'], 'processed'],
      ]);
      expect(poller.status()[0]).toMatchObject({ recordsProcessed: 2, recordsDiscarded: 2, invocations: 2, ageOfOldestMs: 0, buffered: 0, inFlight: 0 });
    });

    it('ages the oldest record read and not yet done, in the window and in flight', async () => {
      // Prepare
      let seen: { ageOfOldestMs: number; inFlight: number } | undefined;
      const { source, make, clock } = setup({ batchSize: 10, maximumBatchingWindowInSeconds: 5 });
      const poller: Poller = make({
        handler: async () => {
          const s = poller.status()[0]!;
          seen = { ageOfOldestMs: s.ageOfOldestMs, inFlight: s.inFlight };
          await clock.sleep(250);
        },
      });
      source.put(A, 1001, 3, { arrival: T0 - 1000 });

      // Act
      await poller.runUntilIdle();

      // Assess: invoked at the end of the 5 s window, 6 s after the records arrived.
      expect(seen).toEqual({ ageOfOldestMs: 6000, inFlight: 3 });
      expect(poller.status()[0]).toMatchObject({ ageOfOldestMs: 0, recordsProcessed: 3, invocations: 1, invokeMs: 250 });
    });
  });

  describe('start, drain and stop', () => {
    it('drains with real timers and stops only after the invocation in flight', async () => {
      // Prepare
      let finishSlow!: () => void;
      let slowStarted!: () => void;
      const started = new Promise<void>((resolve) => {
        slowStarted = resolve;
      });
      const source = new FakeSource([{ shardId: A }, { shardId: B }]);
      const { handler, invocations } = recordingHandler(systemClock, ({ sequenceNumbers }) => {
        if (!sequenceNumbers.includes('1004')) return undefined;
        slowStarted();
        return new Promise<void>((resolve) => {
          finishSlow = resolve;
        });
      });
      const poller = new Poller({
        source,
        handler,
        streamArn: STREAM_ARN,
        functionName: 'rollup',
        startingPosition: 'TRIM_HORIZON',
        logger: silentLogger,
        pollIntervalMs: 5,
        shardDiscoveryIntervalMs: 50,
      });
      source.put(A, 1001, 3);
      source.put(B, 2001, 2);

      // Act
      poller.start();
      await poller.drain({ timeoutMs: 5000 });
      source.put(A, 1004, 1);
      await started;
      let stopped = false;
      const stopping = poller.stop().then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const stoppedBeforeFinish = stopped;
      finishSlow();
      await stopping;

      // Assess
      expect(seqs(invocations, A)).toEqual([['1001', '1002', '1003'], ['1004']]);
      expect(seqs(invocations, B)).toEqual([['2001', '2002']]);
      expect(stoppedBeforeFinish).toBe(false);
      expect(poller.isRunning).toBe(false);
    });

    it('rejects settings Lambda would reject', () => {
      // Prepare
      const { make } = setup();

      // Act & Assess
      expect(() => make({ batchSize: 0 })).toThrow(PollerConfigError);
      expect(() => make({ maximumRecordAgeInSeconds: 30 })).toThrow(PollerConfigError);
      expect(() => make({ maximumRetryAttempts: -2 })).toThrow(PollerConfigError);
      expect(() => make({ streamArn: 'events' })).toThrow(PollerConfigError);
    });
  });

  describe('Class: KinesisShardSource', () => {
    const kinesis = mockClient(KinesisClient);

    beforeEach(() => {
      kinesis.reset();
    });

    it('keeps the shard iterator between reads and renews it when it expires', async () => {
      // Prepare
      kinesis.on(GetShardIteratorCommand).resolvesOnce({ ShardIterator: 'it-1' }).resolves({ ShardIterator: 'it-3' });
      kinesis
        .on(GetRecordsCommand)
        .resolvesOnce({
          Records: [{ SequenceNumber: '7', PartitionKey: 'k', Data: new Uint8Array([1]), ApproximateArrivalTimestamp: new Date(T0) }],
          NextShardIterator: 'it-2',
          MillisBehindLatest: 0,
        })
        .rejectsOnce(Object.assign(new Error('Iterator expired'), { name: 'ExpiredIteratorException' }))
        .resolves({ Records: [], NextShardIterator: 'it-4', MillisBehindLatest: 0 });
      const source = new KinesisShardSource({ client: new KinesisClient({}), stream: STREAM_ARN });

      // Act
      const first = await source.read(A, { type: 'TRIM_HORIZON' }, 5);
      const second = await source.read(A, { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '7' }, 5);

      // Assess
      expect(first).toEqual({
        records: [{ sequenceNumber: '7', partitionKey: 'k', data: new Uint8Array([1]), approximateArrivalTimestamp: T0 }],
        millisBehindLatest: 0,
      });
      expect(second).toEqual({ records: [], millisBehindLatest: 0 });
      expect(kinesis.commandCalls(GetShardIteratorCommand).map((c) => c.args[0].input)).toEqual([
        { StreamName: 'events', ShardId: A, ShardIteratorType: 'TRIM_HORIZON' },
        { StreamName: 'events', ShardId: A, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: '7' },
      ]);
      expect(kinesis.commandCalls(GetRecordsCommand).map((c) => c.args[0].input.ShardIterator)).toEqual(['it-1', 'it-2', 'it-3']);
    });

    it('turns throttling into a SourceReadError marked throttled', async () => {
      // Prepare
      kinesis.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-1' });
      kinesis
        .on(GetRecordsCommand)
        .rejects(new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} }));
      const source = new KinesisShardSource({ client: new KinesisClient({}), stream: 'events' });

      // Act
      const reading = source.read(A, { type: 'LATEST' }, 5);

      // Assess
      await expect(reading).rejects.toBeInstanceOf(SourceReadError);
      await expect(reading).rejects.toMatchObject({ throttled: true, shardId: A });
    });

    it('reports the end of a closed shard and stops calling Kinesis for it', async () => {
      // Prepare
      kinesis.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-1' });
      kinesis.on(GetRecordsCommand).resolves({ Records: [], MillisBehindLatest: 0 });
      const source = new KinesisShardSource({ client: new KinesisClient({}), stream: 'events' });

      // Act
      const first = await source.read(A, { type: 'TRIM_HORIZON' }, 5);
      const second = await source.read(A, { type: 'TRIM_HORIZON' }, 5);

      // Assess
      expect(first).toEqual({ records: [], millisBehindLatest: 0, shardEnded: true });
      expect(second).toEqual({ records: [], millisBehindLatest: 0, shardEnded: true });
      expect(kinesis.commandCalls(GetRecordsCommand)).toHaveLength(1);
    });

    it('lists shards across pages', async () => {
      // Prepare
      kinesis
        .on(ListShardsCommand, { StreamName: 'events' })
        .resolves({ Shards: [{ ShardId: A, HashKeyRange: undefined, SequenceNumberRange: { StartingSequenceNumber: '1' } }], NextToken: 't' })
        .on(ListShardsCommand, { NextToken: 't' })
        .resolves({
          Shards: [{ ShardId: B, ParentShardId: A, HashKeyRange: undefined, SequenceNumberRange: { StartingSequenceNumber: '2' } }],
        });
      const source = new KinesisShardSource({ client: new KinesisClient({}), stream: 'events' });

      // Act
      const shards = await source.listShards();

      // Assess
      expect(shards).toEqual([
        { shardId: A, startingSequenceNumber: '1' },
        { shardId: B, parentShardId: A, startingSequenceNumber: '2' },
      ]);
    });
  });
});
