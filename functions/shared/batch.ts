/**
 * What every Kinesis consumer does first: turn a Lambda `KinesisStreamEvent` into validated
 * events with lineage and rejected pieces with their raw bytes, and compare positions.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { decodeEvents, type DecodedEvents } from './codec.ts';

export interface BatchRecordRef {
  readonly shardId: string;
  readonly sequenceNumber: string;
}

export interface DecodedBatch extends DecodedEvents {
  /** Every record of the batch, in delivery order. */
  readonly records: BatchRecordRef[];
}

/** `eventID` is `shardId:sequenceNumber`. */
export function shardIdOf(record: KinesisStreamRecord): string {
  const id = record.eventID;
  const i = id.lastIndexOf(':');
  return i > 0 ? id.slice(0, i) : id;
}

/**
 * Decodes and validates a whole batch, as of `now` (validateEvent's clock) and, with `maxAgeMs`,
 * refusing events older than that (a consumer passes consumerMaxAgeMs of the rollups' 1 h
 * retention, shared/event.ts). Events written straight to the stream carry their own tenant;
 * nothing here throws for bad data.
 */
export function decodeBatch(records: readonly KinesisStreamRecord[], now: number, opts: { readonly maxAgeMs?: number } = {}): DecodedBatch {
  const out: DecodedBatch = { events: [], rejected: [], records: [] };
  const validate = opts.maxAgeMs === undefined ? { now } : { now, maxAgeMs: opts.maxAgeMs };
  for (const r of records) {
    const pos = { shardId: shardIdOf(r), sequenceNumber: r.kinesis.sequenceNumber };
    out.records.push(pos);
    decodeEvents(Buffer.from(r.kinesis.data, 'base64'), pos, validate, out);
  }
  return out;
}

/** Orders Kinesis sequence numbers (decimal strings of up to 128 bits). */
export function compareSeq(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders lineages within one shard: sequence number, then sub-index. */
export function compareLineage(
  a: { sequenceNumber: string; subIndex: number },
  b: { sequenceNumber: string; subIndex: number },
): number {
  return compareSeq(a.sequenceNumber, b.sequenceNumber) || a.subIndex - b.subIndex;
}
