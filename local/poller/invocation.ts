/**
 * One invocation of the function as Lambda makes it for a batch of Kinesis records: the event's
 * records, the context (request id, remaining time), the call with the function timeout (async and
 * callback handlers alike), and how the answer is read (ReportBatchItemFailures). Never throws: a
 * handler error or timeout is an `error` outcome.
 */
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { ResolvedConfig } from './config.ts';
import { FunctionTimeoutError } from './errors.ts';
import type { Clock, SourceRecord, StreamHandler, StreamHandlerResult } from './types.ts';

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

/** The slice of a record the event needs: its source and its data already in base64. */
export interface InvocationRecord {
  readonly source: SourceRecord;
  readonly base64: string;
}

/** Invokes the handler with `records` as one event under `requestId`, and reads its answer. */
export async function invokeBatch(
  config: ResolvedConfig,
  handler: StreamHandler,
  clock: Clock,
  shardId: string,
  records: readonly InvocationRecord[],
  requestId: string,
): Promise<InvocationOutcome> {
  const event: KinesisStreamEvent = {
    Records: records.map((r) => toEventRecord(config, shardId, r.source, r.base64)),
  };
  const context = invocationContext(config, clock, requestId);
  try {
    const response = await callWithTimeout(config, handler, clock, event, context);
    return interpretResponse(
      response,
      records.map((r) => r.source.sequenceNumber),
      config.reportBatchItemFailures,
    );
  } catch (error) {
    return { kind: 'error', error };
  }
}

function callWithTimeout(config: ResolvedConfig, handler: StreamHandler, clock: Clock, event: KinesisStreamEvent, context: Context): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      cancel();
      fn();
    };
    const cancel = clock.setTimer(config.functionTimeoutMs, () =>
      settle(() => reject(new FunctionTimeoutError(config.functionName, config.functionTimeoutMs))),
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

function invocationContext(config: ResolvedConfig, clock: Clock, requestId: string): Context {
  const deadline = clock.now() + config.functionTimeoutMs;
  const noop = (): void => {};
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: config.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: config.functionArn,
    memoryLimitInMB: String(config.memoryLimitInMB),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${config.functionName}`,
    logStreamName: `${new Date(clock.now()).toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - clock.now()),
    done: noop,
    fail: noop,
    succeed: noop,
  };
}
