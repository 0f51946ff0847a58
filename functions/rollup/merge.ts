/**
 * Pure merge of a batch's partial aggregate into a stored bucket, honouring the per-shard watermark
 * (DESIGN.md, "Exactly-once effect").
 *
 * Invariant, per (item, shard): the events of that shard applied to the item are exactly those of
 * the item with lineage <= wm[shard]. It holds because
 * - an invocation covers a contiguous run of the shard's records, and every record before the run
 *   was reported done, which the core does only once each item that record feeds is written (or
 *   already covered), so all earlier events of the item are <= wm;
 * - the merge applies exactly the batch's events of the item above wm (fast path: all of them when
 *   wm is below the first; none when wm covers the last; else re-aggregated from the positions)
 *   and sets wm to the last of them;
 * - the write is conditional on the version read, so no other write slips in between.
 * Duplicates, whole-batch retries, resumes, bisected halves and zombie invocations therefore add
 * nothing twice, and concurrent writers from other shards only cost a re-read.
 * The merge is the writer's algorithm; the stored forms it reads and writes (item, watermark and
 * lineage strings, packed minutes, sketch) are defined in functions/shared/rollups/.
 */
import type { LineagedEvent } from '../shared/codec.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import { compareLastPoint, compareWatermark, formatLastLineage, formatWatermark, parseLastLineage, parseWatermark } from '../shared/rollups/lineage.ts';
import { mergeMinutes } from '../shared/rollups/minutes.ts';
import { Sketch } from '../shared/rollups/sketch.ts';
import { aggregateIndexes, type Agg, type ItemPartial, type LastPoint } from './aggregate.ts';

export interface MergeOptions {
  /**
   * Drop contributions at or below the watermark. Always true in production; false only in the
   * test that shows the fault-injection suite catches double counting.
   * @default true
   */
  readonly guard?: boolean;
}

export type MergeResult =
  | { readonly kind: 'write'; readonly item: StoredBucket; readonly applied: number; readonly skipped: number }
  /** Every contribution is already in the stored item. */
  | { readonly kind: 'covered'; readonly skipped: number };

export function mergeBucket(
  stored: StoredBucket | undefined,
  partial: ItemPartial,
  events: readonly LineagedEvent[],
  opts: MergeOptions = {},
): MergeResult {
  const guard = opts.guard ?? true;
  const wm: Record<string, string> = stored === undefined ? {} : { ...stored.wm };
  const toApply: Agg[] = [];
  let skipped = 0;

  for (const part of partial.parts) {
    const first = events[part.indexes[0]!]!.lineage;
    const lastEvent = events[part.indexes[part.indexes.length - 1]!]!.lineage;
    const current = wm[part.shardId];
    const mark = current === undefined ? undefined : parseWatermark(current);
    let agg = part.agg;
    if (guard && mark !== undefined) {
      if (compareWatermark(mark, lastEvent) >= 0) {
        skipped += part.agg.count;
        continue;
      }
      if (compareWatermark(mark, first) >= 0) {
        const above = part.indexes.filter((i) => compareWatermark(events[i]!.lineage, mark) > 0);
        agg = aggregateIndexes(events, above, partial);
        skipped += part.agg.count - agg.count;
      }
    }
    toApply.push(agg);
    if (mark === undefined || compareWatermark(mark, lastEvent) < 0) wm[part.shardId] = formatWatermark(lastEvent);
  }

  if (toApply.length === 0) return { kind: 'covered', skipped };

  let count = stored?.count ?? 0;
  let sum = stored?.sum ?? 0;
  let min = stored?.min ?? Infinity;
  let max = stored?.max ?? -Infinity;
  let last: LastPoint | undefined =
    stored?.last !== undefined && stored.lastTs !== undefined && stored.lastLin !== undefined
      ? { value: stored.last, ts: stored.lastTs, lineage: parseLastLineage(stored.lastLin) }
      : undefined;
  const sketches: Sketch[] = [];
  const minutes: Array<NonNullable<Agg['minutes']>> = [];
  let applied = 0;
  for (const a of toApply) {
    applied += a.count;
    count += a.count;
    sum += a.sum;
    if (a.min < min) min = a.min;
    if (a.max > max) max = a.max;
    if (a.last !== undefined && (last === undefined || compareLastPoint(a.last, last) > 0)) last = a.last;
    if (a.sketch !== undefined) sketches.push(a.sketch);
    if (a.minutes !== undefined) minutes.push(a.minutes);
  }

  const item: { -readonly [K in keyof StoredBucket]: StoredBucket[K] } = {
    name: stored?.name ?? partial.name,
    type: stored?.type ?? partial.type,
    tags: stored?.tags ?? partial.tags,
    count,
    sum,
    min,
    max,
    ttl: partial.ttl,
    wm,
    ver: (stored?.ver ?? 0) + 1,
  };
  if (last !== undefined) {
    item.last = last.value;
    item.lastTs = last.ts;
    item.lastLin = formatLastLineage(last.lineage);
  }
  if (sketches.length > 0) item.sketch = mergeSketches(stored?.sketch, sketches);
  else if (stored?.sketch !== undefined) item.sketch = stored.sketch;
  if (minutes.length > 0) item.mins = mergeMinutes(stored?.mins, partial.start, minutes);
  else if (stored?.mins !== undefined) item.mins = stored.mins;
  return { kind: 'write', item, applied, skipped };
}

/** The stored sketch (if any) merged with the batch's, in stored form; `adds` are not modified. */
function mergeSketches(stored: Uint8Array | undefined, adds: readonly Sketch[]): Uint8Array {
  if (stored !== undefined) {
    const fast = Sketch.mergeEncoded(stored, adds);
    if (fast !== undefined) return fast;
  }
  const sketch = stored !== undefined ? Sketch.decode(stored) : new Sketch();
  for (const a of adds) sketch.merge(a);
  return sketch.encode();
}
