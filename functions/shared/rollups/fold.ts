/**
 * The one merge of the rollup log into a series item (docs/ROLLUPS.md): the rollup's fold writes
 * its result, and the query's reader computes the same result for the commits not folded yet.
 *
 * Invariant, per (item, shard): the commits of that shard applied to the item are exactly those
 * with `to <= wm[shard]`. It holds because a commit is applied only when its `to` is above the
 * item's watermark, the watermark then moves to that `to`, and the fold's write is conditional on
 * the version read. A watermark is always the `to` of some commit, so it never falls inside one;
 * only a watermark written by the first layout (an event lineage, docs/ROLLUPS.md "Migrating")
 * can, and then the merge refuses (FoldStraddleError) rather than count a prefix twice.
 *
 * A gauge's `last` from a commit is ordered with lineage `<shard>/<to>`: later commits of a
 * shard hold later events, so this orders points of one shard as their events; points of
 * different shards are ordered by shard id, then by these stand-ins.
 */
import { StreamfoldError } from '../errors.ts';
import type { Lineage } from '../errors.ts';
import { hasCum, type StoredBucket } from './item.ts';
import { compareLastPoint, compareWatermark, formatLastLineage, formatWatermark, parseLastLineage, parseWatermark, type Watermark } from './lineage.ts';
import { decodeMinutes, mergeMinutes, type MinuteAdd } from './minutes.ts';
import type { SegmentEntry } from './segment.ts';
import { Sketch } from './sketch.ts';

/** The commit a part comes from (head.ts Commit, with its shard). */
export interface PartCommit {
  readonly shardId: string;
  readonly n: number;
  readonly lo: Watermark;
  readonly to: Watermark;
}

/** What one commit adds to one item. */
export interface FoldPart {
  readonly commit: PartCommit;
  readonly entry: SegmentEntry;
}

/** A first-layout watermark inside a commit: the commit cannot be split, and is not applied. */
export class FoldStraddleError extends StreamfoldError {}

export interface FoldOptions {
  /**
   * Skip commits at or below the item's watermark. Always true in production; false only in the
   * test that shows the fault-injection suite catches double counting.
   * @default true
   */
  readonly guard?: boolean;
}

export type FoldResult =
  | { readonly kind: 'write'; readonly item: StoredBucket; readonly applied: number }
  /** Every part is in the stored item already. */
  | { readonly kind: 'covered' };

/** Parts in the order they are applied: by shard, then commit (sums round the same everywhere). */
export function sortParts(parts: FoldPart[]): FoldPart[] {
  return parts.sort((a, b) => (a.commit.shardId < b.commit.shardId ? -1 : a.commit.shardId > b.commit.shardId ? 1 : a.commit.n - b.commit.n));
}

/**
 * The stored item (undefined: none yet) with the parts above its watermarks applied. `parts` must
 * be of one item and sorted (sortParts). `name` and `ttl` are those of a new item.
 */
export function foldItem(stored: StoredBucket | undefined, parts: readonly FoldPart[], meta: { readonly name: string; readonly ttl: number }, opts: FoldOptions = {}): FoldResult {
  const guard = opts.guard ?? true;
  const wm: Record<string, string> = stored === undefined ? {} : { ...stored.wm };
  const apply: FoldPart[] = [];
  for (const p of parts) {
    const current = wm[p.commit.shardId];
    const mark = current === undefined ? undefined : parseWatermark(current);
    if (guard && mark !== undefined) {
      if (compareWatermark(mark, p.commit.to) >= 0) continue;
      if (compareWatermark(mark, p.commit.lo) >= 0) {
        throw new FoldStraddleError(
          `fold: watermark inside a commit: ${p.commit.shardId} ${current} lies in commit ${p.commit.n} (${formatWatermark(p.commit.lo)}..${formatWatermark(p.commit.to)}) of ${p.entry.seriesId} ${p.entry.res} ${p.entry.start}; see docs/ROLLUPS.md, "Migrating"`,
        );
      }
    }
    apply.push(p);
    if (mark === undefined || compareWatermark(mark, p.commit.to) < 0) wm[p.commit.shardId] = formatWatermark(p.commit.to);
  }
  if (apply.length === 0) return { kind: 'covered' };

  let count = stored?.count ?? 0;
  let sum = stored?.sum ?? 0;
  let min = stored?.min ?? Infinity;
  let max = stored?.max ?? -Infinity;
  let last: { value: number; ts: number; lineage: Lineage } | undefined =
    stored?.last !== undefined && stored.lastTs !== undefined && stored.lastLin !== undefined
      ? { value: stored.last, ts: stored.lastTs, lineage: parseLastLineage(stored.lastLin) }
      : undefined;
  let cum: { count: number; sum: number; ts: number; lineage: Lineage; sketch: Uint8Array } | undefined =
    stored !== undefined && hasCum(stored)
      ? { count: stored.cumCount, sum: stored.cumSum, ts: stored.cumTs, lineage: parseLastLineage(stored.cumLin), sketch: stored.cumSketch }
      : undefined;
  const sketches: Sketch[] = [];
  const minutes: Array<Array<MinuteAdd | undefined>> = [];
  let applied = 0;
  const first = apply[0]!.entry;
  for (const { commit, entry: e } of apply) {
    applied += e.count;
    count += e.count;
    sum += e.sum;
    if (e.min < min) min = e.min;
    if (e.max > max) max = e.max;
    if (e.last !== undefined) {
      const p = { value: e.last.value, ts: e.last.ts, lineage: { shardId: commit.shardId, sequenceNumber: commit.to.sequenceNumber, subIndex: commit.to.subIndex } };
      if (last === undefined || compareLastPoint(p, last) > 0) last = p;
    }
    if (e.cum !== undefined) {
      // Replace if newer, as `last`: idempotent, so a commit applied again changes nothing.
      const p = { ...e.cum, lineage: { shardId: commit.shardId, sequenceNumber: commit.to.sequenceNumber, subIndex: commit.to.subIndex } };
      if (cum === undefined || compareLastPoint(p, cum) > 0) cum = p;
    }
    if (e.sketch !== undefined) sketches.push(Sketch.decode(e.sketch));
    if (e.minutes !== undefined) minutes.push(minuteAdds(e, commit.shardId));
  }

  const item: { -readonly [K in keyof StoredBucket]: StoredBucket[K] } = {
    name: stored?.name ?? meta.name,
    type: stored?.type ?? first.type,
    count,
    sum,
    min,
    max,
    ttl: Math.max(stored?.ttl ?? 0, meta.ttl),
    wm,
    ver: (stored?.ver ?? 0) + 1,
  };
  if (stored?.tags !== undefined) item.tags = stored.tags;
  if (last !== undefined) {
    item.last = last.value;
    item.lastTs = last.ts;
    item.lastLin = formatLastLineage(last.lineage);
  }
  if (sketches.length > 0) item.sketch = mergeSketches(stored?.sketch, sketches);
  else if (stored?.sketch !== undefined) item.sketch = stored.sketch;
  if (minutes.length > 0) item.mins = mergeMinutes(stored?.mins, first.start, minutes);
  else if (stored?.mins !== undefined) item.mins = stored.mins;
  if (cum !== undefined) {
    item.cumCount = cum.count;
    item.cumSum = cum.sum;
    item.cumTs = cum.ts;
    item.cumLin = formatLastLineage(cum.lineage);
    item.cumSketch = cum.sketch;
  }
  return { kind: 'write', item, applied };
}

/** A segment entry's packed minutes as the adds mergeMinutes takes, their shard filled in. */
function minuteAdds(e: SegmentEntry, shardId: string): Array<MinuteAdd | undefined> {
  return decodeMinutes(e.minutes!, e.start).map((m) =>
    m === undefined ? undefined : { count: m.count, sum: m.sum, min: m.min, max: m.max, last: m.last && { value: m.last.value, ts: m.last.ts, lineage: { shardId } } },
  );
}

/** The stored sketch (if any) merged with the adds, in stored form. */
function mergeSketches(stored: Uint8Array | undefined, adds: readonly Sketch[]): Uint8Array {
  if (stored !== undefined) {
    const fast = Sketch.mergeEncoded(stored, adds);
    if (fast !== undefined) return fast;
  }
  const sketch = stored !== undefined ? Sketch.decode(stored) : new Sketch();
  for (const a of adds) sketch.merge(a);
  return sketch.encode();
}
