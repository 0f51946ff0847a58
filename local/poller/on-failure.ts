import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { safeName } from './checkpoints.ts';
import type { OnFailureDestination, OnFailureRecord } from './types.ts';

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
