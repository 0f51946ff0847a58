/**
 * The on-failure destination of a mapping: the record Lambda sends for a discarded batch (built by
 * `onFailureRecord`: metadata about the records, never the records) and where it goes here (kept
 * in memory, or one JSON file per batch).
 */
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { safeName } from './checkpoints.ts';
import type { ResolvedConfig } from './config.ts';
import type { OnFailureCondition, OnFailureDestination, OnFailureRecord, SourceRecord } from './types.ts';

/** A batch given up on: why, its records, and the invocations it took. */
export interface DiscardedBatch {
  readonly condition: OnFailureCondition;
  readonly records: ReadonlyArray<{ readonly source: SourceRecord }>;
  readonly invokeCount: number;
  /** The last invocation's request id (a fresh one when the batch was never invoked). */
  readonly requestId: string;
  readonly functionError?: string;
}

/** What Lambda sends to the on-failure destination for a discarded batch of `shardId`. */
export function onFailureRecord(config: ResolvedConfig, shardId: string, discard: DiscardedBatch, nowMs: number): OnFailureRecord {
  const first = discard.records[0]?.source;
  const last = discard.records.at(-1)?.source;
  if (!first || !last) throw new Error('discarding an empty batch');
  return {
    requestContext: {
      requestId: discard.requestId,
      functionArn: config.functionArn,
      condition: discard.condition,
      approximateInvokeCount: discard.invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      ...(discard.functionError ? { functionError: discard.functionError } : {}),
    },
    version: '1.0',
    timestamp: new Date(nowMs).toISOString(),
    KinesisBatchInfo: {
      shardId,
      startSequenceNumber: first.sequenceNumber,
      endSequenceNumber: last.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(first.approximateArrivalTimestamp).toISOString(),
      approximateArrivalOfLastRecord: new Date(last.approximateArrivalTimestamp).toISOString(),
      batchSize: discard.records.length,
      streamArn: config.streamArn,
    },
  };
}

/** Keeps what was sent, for assertions. */
export class InMemoryOnFailureDestination implements OnFailureDestination {
  readonly records: OnFailureRecord[] = [];

  async send(record: OnFailureRecord): Promise<void> {
    this.records.push(structuredClone(record));
  }
}

/**
 * Stands in for the SQS queue / SNS topic / S3 bucket of a deployed mapping: one JSON file per
 * discarded batch, `<directory>/<shardId>-<startSequenceNumber>-<endSequenceNumber>.json`. The name
 * derives from the batch only, so a batch discarded again after a crash replaces its own file.
 */
export class FileOnFailureDestination implements OnFailureDestination {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  pathOf(record: OnFailureRecord): string {
    const info = record.KinesisBatchInfo;
    return join(this.directory, safeName(`${info.shardId}-${info.startSequenceNumber}-${info.endSequenceNumber}.json`));
  }

  async send(record: OnFailureRecord): Promise<void> {
    await writeFileAtomic(this.pathOf(record), `${JSON.stringify(record, null, 2)}\n`);
  }
}
