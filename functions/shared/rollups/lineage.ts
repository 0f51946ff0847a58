/**
 * The lineage strings a bucket item stores (keys.ts), and the one order of gauge points:
 *   wm values  `<seq>:<sub>` per shard: the exactly-once watermark, written and read by the rollup
 *              merge (functions/rollup/merge.ts)
 *   lastLin    `<shardId>/<seq>:<sub>` of the event behind a gauge's `last`: written by the merge,
 *              read by the query (functions/query/series.ts) to pick the latest point across
 *              buckets and series with `compareLastPoint`, the order the merge uses.
 */
import { compareSeq } from '../batch.ts';
import type { Lineage } from '../errors.ts';

export interface Watermark {
  readonly sequenceNumber: string;
  readonly subIndex: number;
}

export const formatWatermark = (l: Watermark): string => `${l.sequenceNumber}:${l.subIndex}`;

export function parseWatermark(s: string): Watermark {
  const i = s.lastIndexOf(':');
  return { sequenceNumber: s.slice(0, i), subIndex: Number(s.slice(i + 1)) };
}

export function compareWatermark(a: Watermark, b: Watermark): number {
  return compareSeq(a.sequenceNumber, b.sequenceNumber) || a.subIndex - b.subIndex;
}

export const formatLastLineage = (l: Lineage): string => `${l.shardId}/${l.sequenceNumber}:${l.subIndex}`;

export function parseLastLineage(s: string): Lineage {
  const slash = s.lastIndexOf('/');
  const w = parseWatermark(s.slice(slash + 1));
  return { shardId: s.slice(0, slash), sequenceNumber: w.sequenceNumber, subIndex: w.subIndex };
}

/** Orders gauge points by (ts, shardId, sequenceNumber, subIndex). */
export function compareLastPoint(a: { ts: number; lineage: Lineage }, b: { ts: number; lineage: Lineage }): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.lineage.shardId !== b.lineage.shardId) return a.lineage.shardId < b.lineage.shardId ? -1 : 1;
  return compareWatermark(a.lineage, b.lineage);
}
