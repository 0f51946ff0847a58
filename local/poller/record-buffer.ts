/**
 * Records read from a shard and not yet in a batch, each with its base64 data and its size in the
 * invocation payload computed once, and how a batch is cut from them: at most BatchSize records and
 * Lambda's 6 MB synchronous payload, always at least one record.
 */
import type { ResolvedConfig } from './config.ts';
import { toEventRecord } from './invocation.ts';
import type { SourceRecord } from './types.ts';

/** Lambda's synchronous invocation payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** GetRecords returns at most this many records. */
export const MAX_READ_LIMIT = 10_000;
/** `{"Records":[` + `]}` */
const EVENT_ENVELOPE_BYTES = 14;

/** A record read from the shard, with what every invocation needs precomputed. */
export interface BufferedRecord {
  readonly source: SourceRecord;
  readonly base64: string;
  /** Bytes this record adds to the invocation payload (its JSON plus a separator). */
  readonly size: number;
}

export class RecordBuffer {
  private records: BufferedRecord[] = [];
  private bytes = 0;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly shardId: string,
  ) {}

  get length(): number {
    return this.records.length;
  }

  /** The oldest record buffered. */
  first(): BufferedRecord | undefined {
    return this.records[0];
  }

  /** Another read may add records: under BatchSize and under the payload limit. */
  hasRoom(): boolean {
    return this.records.length < this.config.batchSize && this.bytes < MAX_PAYLOAD_BYTES;
  }

  /** How many records the next read asks for. */
  readLimit(): number {
    return Math.min(MAX_READ_LIMIT, this.config.batchSize - this.records.length);
  }

  add(record: SourceRecord): void {
    const base64 = Buffer.from(record.data).toString('base64');
    const size = Buffer.byteLength(JSON.stringify(toEventRecord(this.config, this.shardId, record, base64))) + 1;
    this.records.push({ source: record, base64, size });
    this.bytes += size;
  }

  /** A whole batch is buffered: BatchSize records, or the payload limit reached. */
  full(): boolean {
    return this.records.length >= this.config.batchSize || this.bytes >= MAX_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES;
  }

  /** Up to batchSize records and 6 MB of payload; always at least one record. */
  take(): BufferedRecord[] {
    let bytes = EVENT_ENVELOPE_BYTES;
    let count = 0;
    for (const record of this.records) {
      if (count >= this.config.batchSize || (count > 0 && bytes + record.size > MAX_PAYLOAD_BYTES)) break;
      bytes += record.size;
      count += 1;
    }
    const batch = this.records.splice(0, count);
    this.bytes -= batch.reduce((n, r) => n + r.size, 0);
    return batch;
  }
}
