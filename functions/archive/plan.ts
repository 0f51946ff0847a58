/**
 * What one Kinesis batch becomes in the archive, decided before anything is written. Pure and
 * deterministic: it depends only on the records (and on `now` only for records without an arrival
 * timestamp), so a retried batch plans the same objects under the same keys.
 *
 * - Each record is decoded and validated with its own arrival time as "now": for the future-ts
 *   check, and for the age check (the rollups' 1 h retention plus LIMITS.arrivalSlackMs, so an
 *   event the intake accepted is never refused here, and one the rollup cannot hold is quarantined
 *   with the reason rather than archived but missing from the rollups).
 * - Valid events → one Parquet file per (shard, tenant, UTC hour of `ts`), named by the batch's
 *   first and last sequence numbers (shared/archive/keys.ts); its columns come from table.ts.
 * - Rejected pieces → one quarantine object per record (quarantine.ts). Nothing is dropped.
 * - Each object carries the lowest sequence number among the records that contributed to it, which
 *   is what the batch is retried from if the object cannot be written.
 *
 * A planned object's bytes are produced by its `body()` when the core is about to write it, so only
 * the objects being written are held encoded at once.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { batchObjectKey, partitionOf, type Partition } from '../shared/archive/keys.ts';
import { encodeArchiveTable, PARQUET_CONTENT_TYPE } from '../shared/archive/parquet.ts';
import type { BlockCodec } from '../shared/archive/zstd.ts';
import { compareSeq, decodeBatch, shardIdOf } from '../shared/batch.ts';
import type { LineagedEvent } from '../shared/codec.ts';
import type { RecordRejectedError } from '../shared/errors.ts';
import { consumerMaxAgeMs } from '../shared/event.ts';
import { daysToMs } from '../shared/rollups/keys.ts';
import { SETTINGS } from '../../lib/settings.ts';
import { buildQuarantineObjects } from './quarantine.ts';
import { tableOf } from './table.ts';

export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/** One object to write and the records it holds data of. */
export interface PlannedObject {
  readonly key: string;
  readonly contentType: string;
  readonly shardId: string;
  /** Lowest sequence number among the records contributing to this object. */
  readonly minSeq: string;
  /** Rows or lines in it. */
  readonly count: number;
  /** Produces the body (Parquet encoding is deferred until the object is written). */
  body(): Uint8Array;
}

export interface BatchPlan {
  readonly objects: PlannedObject[];
  readonly records: number;
  readonly events: number;
  readonly rejected: number;
}

interface RecordInfo {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly arrivalMs: number;
}

/** The record's arrival in Kinesis, epoch ms (`approximateArrivalTimestamp` is in seconds). */
export function arrivalMsOf(record: KinesisStreamRecord, fallback: number): number {
  const s = record.kinesis.approximateArrivalTimestamp;
  return typeof s === 'number' && Number.isFinite(s) ? Math.round(s * 1000) : fallback;
}

/**
 * Decides every object a batch produces. Pure and deterministic: depends only on the records
 * (and `now` only for records without an arrival timestamp).
 */
export function planBatch(
  records: readonly KinesisStreamRecord[],
  now: number,
  opts: { codec: BlockCodec; rowGroupRows?: number; /** The rollups' 1 h retention, ms. @default the setting's default (400 days) */ maxAgeMs?: number },
): BatchPlan {
  const decodeOpts = { maxAgeMs: consumerMaxAgeMs(opts.maxAgeMs ?? daysToMs(SETTINGS.archive.rollupTtl1hDays.default)) };
  const infos: RecordInfo[] = [];
  const events: Array<{ e: LineagedEvent; arrivalMs: number }> = [];
  const rejected: RecordRejectedError[] = [];
  const arrivals = new Map<string, number>();
  // Per shard: first and last sequence numbers of the batch's records.
  const bounds = new Map<string, { first: string; last: string }>();

  for (const r of records) {
    const shardId = shardIdOf(r);
    const sequenceNumber = r.kinesis.sequenceNumber;
    const arrivalMs = arrivalMsOf(r, now);
    infos.push({ shardId, sequenceNumber, arrivalMs });
    arrivals.set(`${shardId}\u0000${sequenceNumber}`, arrivalMs);
    const b = bounds.get(shardId);
    if (b === undefined) bounds.set(shardId, { first: sequenceNumber, last: sequenceNumber });
    else {
      if (compareSeq(sequenceNumber, b.first) < 0) b.first = sequenceNumber;
      if (compareSeq(sequenceNumber, b.last) > 0) b.last = sequenceNumber;
    }
    const d = decodeBatch([r], arrivalMs, decodeOpts);
    for (const e of d.events) events.push({ e, arrivalMs });
    for (const x of d.rejected) rejected.push(x);
  }

  // Group valid events by file.
  interface Group {
    readonly partition: Partition;
    readonly shardId: string;
    readonly items: Array<{ e: LineagedEvent; arrivalMs: number }>;
    minSeq: string;
  }
  const groups = new Map<string, Group>();
  for (const item of events) {
    const { event, lineage } = item.e;
    const partition = partitionOf(event.tenant, event.ts);
    const k = `${lineage.shardId}\u0000${partition.tenant}\u0000${partition.dt}\u0000${partition.hour}`;
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = { partition, shardId: lineage.shardId, items: [], minSeq: lineage.sequenceNumber }));
    g.items.push(item);
    if (compareSeq(lineage.sequenceNumber, g.minSeq) < 0) g.minSeq = lineage.sequenceNumber;
  }

  const objects: PlannedObject[] = [];
  for (const g of groups.values()) {
    const b = bounds.get(g.shardId)!;
    objects.push({
      key: batchObjectKey(g.partition, g.shardId, b.first, b.last),
      contentType: PARQUET_CONTENT_TYPE,
      shardId: g.shardId,
      minSeq: g.minSeq,
      count: g.items.length,
      body: () => encodeArchiveTable(tableOf(g.items), { codec: opts.codec, ...(opts.rowGroupRows !== undefined && { rowGroupRows: opts.rowGroupRows }) }),
    });
  }
  for (const q of buildQuarantineObjects(rejected, (s, seq) => arrivals.get(`${s}\u0000${seq}`) ?? now)) {
    objects.push({
      key: q.key,
      contentType: NDJSON_CONTENT_TYPE,
      shardId: q.shardId,
      minSeq: q.sequenceNumber,
      count: q.pieces,
      body: () => q.body,
    });
  }
  return { objects, records: infos.length, events: events.length, rejected: rejected.length };
}
