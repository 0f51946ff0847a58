/**
 * Compaction planning, pure: which partition-hours are closed, which rows survive the reader rule
 * (functions/shared/archive/keys.ts), and which files to keep, merge or delete.
 *
 * **Survivors** are the rows the reader rule keeps, each lineage's *chosen* copy
 * (functions/shared/archive/dedupe.ts).
 *
 * **Plan.** Files with no chosen row are *drop-only*. The others are packed, in key order, into
 * bins whose chosen bytes (size × chosen share) stay within the target; a bin that is one
 * compacted file made only of chosen rows is *kept* as it is (so a compacted partition is left
 * alone and nothing churns); every other bin is *merged* into one output (more if it comes out
 * over the target) named from its inputs and the rows kept of them.
 * Executing: write every output, then delete merged inputs and drop-only files (whose chosen
 * copies live in kept files, deferred bins' inputs, or outputs already written). A crash anywhere
 * leaves extra copies that the reader rule hides and the next run removes.
 */
import { createHash } from 'node:crypto';
import { SETTINGS } from '../../lib/settings.ts';
import { type FileKeys, type Selection } from '../shared/archive/dedupe.ts';
import { compactedObjectKey, parseEventsKey, partitionEnd, type Partition } from '../shared/archive/keys.ts';

export { selectSurvivors, type FileKeys, type Selection } from '../shared/archive/dedupe.ts';

export const DEFAULT_TARGET_BYTES: number = SETTINGS.compact.targetMib.default * 1024 * 1024;
/** Most rows in one compacted file (COMPACT_MAX_ROWS: lib/settings.ts says why 4M). */
export const DEFAULT_MAX_ROWS: number = SETTINGS.compact.maxRows.default;
export const DEFAULT_GRACE_MS: number = SETTINGS.compact.graceMinutes.default * 60 * 1000;
export const DEFAULT_LOOKBACK_HOURS: number = SETTINGS.compact.lookbackHours.default;
export const DEFAULT_RESERVE_MS: number = SETTINGS.compact.reserveMs.default;

/** A partition-hour may be compacted once its hour has ended and the grace period passed. */
export function isPartitionClosed(p: Partition, now: number, graceMs = DEFAULT_GRACE_MS): boolean {
  return partitionEnd(p) + graceMs <= now;
}

/**
 * Whether a partition's listing may need work, decided without reading any file: it holds a batch
 * file, or two compacted files small enough to merge. A partition of compacted files that cannot
 * be packed together is what compaction leaves behind, so hourly runs over the lookback window
 * cost one LIST per settled partition. (Overlapping compacted files, left only by two runs at
 * once, are then merged only if small; the reader rule hides their duplicates either way.)
 */
export function needsCompaction(listing: ReadonlyArray<{ key: string; size: number }>, targetBytes = DEFAULT_TARGET_BYTES): boolean {
  const compacted: number[] = [];
  for (const o of listing) {
    if (!(parseEventsKey(o.key)?.compacted ?? false)) return true;
    compacted.push(o.size);
  }
  if (compacted.length < 2) return false;
  compacted.sort((a, b) => a - b);
  return compacted[0]! + compacted[1]! <= targetBytes;
}

export interface MergeBin {
  /** Input keys, in key order. */
  readonly inputs: readonly string[];
  /** Digest of the rows kept from each input (part of the output names). */
  readonly digest: string;
  /** Rows the output will hold. */
  readonly rows: number;
  /** Estimated output size (chosen share of the inputs' bytes). */
  readonly estimatedBytes: number;
  readonly output: string;
}

export interface CompactionPlan {
  readonly partition: Partition;
  /** Left as they are. */
  readonly keep: readonly string[];
  readonly merge: readonly MergeBin[];
  /**
   * Bins whose output name is already taken by a listed file (an earlier run crashed between
   * writing it and deleting its inputs). Left untouched this run, so that file is never
   * overwritten while it may still be read; the next run, after that file is gone or kept, merges.
   */
  readonly deferred: readonly MergeBin[];
  /** No chosen row: deleted once every output is written. */
  readonly dropOnly: readonly string[];
  /**
   * Deleted after every output is written: merged inputs and drop-only files, except any key that
   * is also an output (an earlier run that crashed after writing it left it beside its inputs).
   */
  readonly delete: readonly string[];
}

export function isNoop(plan: CompactionPlan): boolean {
  return plan.merge.length === 0 && plan.dropOnly.length === 0;
}

/**
 * Packs files into merge bins of at most `targetBytes` (estimated) and `maxRows`; see the module
 * comment. A file over either limit on its own makes a bin of its own.
 */
export function planCompaction(partition: Partition, sel: Selection, targetBytes = DEFAULT_TARGET_BYTES, maxRows = DEFAULT_MAX_ROWS): CompactionPlan {
  if (!(targetBytes > 0)) throw new RangeError(`targetBytes must be positive, got ${targetBytes}`);
  if (!(maxRows > 0)) throw new RangeError(`maxRows must be positive, got ${maxRows}`);
  const dropOnly: string[] = [];
  const live: Array<{ f: FileKeys; chosen: number; weight: number }> = [];
  sel.files.forEach((f, i) => {
    const chosen = sel.chosenCount[i]!;
    if (chosen === 0) dropOnly.push(f.key);
    else live.push({ f, chosen, weight: f.length === 0 ? 0 : (f.size * chosen) / f.length });
  });
  live.sort((a, b) => (a.f.key < b.f.key ? -1 : a.f.key > b.f.key ? 1 : 0));

  const bins: Array<typeof live> = [];
  let cur: typeof live = [];
  let weight = 0;
  let rows = 0;
  for (const item of live) {
    if (cur.length > 0 && (weight + item.weight > targetBytes || rows + item.chosen > maxRows)) {
      bins.push(cur);
      cur = [];
      weight = 0;
      rows = 0;
    }
    cur.push(item);
    weight += item.weight;
    rows += item.chosen;
  }
  if (cur.length > 0) bins.push(cur);

  const listed = new Set(sel.files.map((f) => f.key));
  const index = new Map(sel.files.map((f, i) => [f.key, i]));
  const keep: string[] = [];
  const merge: MergeBin[] = [];
  const deferred: MergeBin[] = [];
  for (const bin of bins) {
    const only = bin.length === 1 ? bin[0]! : undefined;
    if (only !== undefined && only.f.compacted && only.chosen === only.f.length) {
      keep.push(only.f.key);
      continue;
    }
    const inputs = bin.map((b) => b.f.key);
    const h = createHash('sha256');
    for (const b of bin) h.update(b.f.key).update('\n').update(sel.chosen[index.get(b.f.key)!]!);
    const digest = h.digest('hex');
    const m: MergeBin = {
      inputs,
      digest,
      rows: bin.reduce((n, b) => n + b.chosen, 0),
      estimatedBytes: Math.round(bin.reduce((n, b) => n + b.weight, 0)),
      output: compactedObjectKey(partition, inputs, 0, digest),
    };
    (listed.has(m.output) ? deferred : merge).push(m);
  }
  const outputs = new Set(merge.map((b) => b.output));
  const toDelete = [...merge.flatMap((b) => b.inputs), ...dropOnly].filter((k) => !outputs.has(k)).sort();
  return { partition, keep: keep.sort(), merge, deferred, dropOnly: dropOnly.sort(), delete: toDelete };
}
