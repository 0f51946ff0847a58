/**
 * What a reader sees of the rollups (docs/ROLLUPS.md, "A query"): the folded items with the
 * shards' unfolded commits applied by the fold's own merge (fold.ts). A segment counts only if its
 * `(n, attempt)` is an unfolded commit of its shard's head; segments of attempts that never
 * committed are ignored. Used by the query's reader and by the tests that compare the table with
 * the ground truth.
 */
import { foldItem, FoldStraddleError, sortParts, type FoldPart, type PartCommit } from './fold.ts';
import type { ShardHead } from './head.ts';
import type { StoredBucket } from './item.ts';
import { bucketPk, bucketSk, itemId, type ItemKey } from './keys.ts';
import type { SegmentEntry } from './segment.ts';

/** A segment as read: whose commit attempt it is, and its entries. */
export interface ReadSegment {
  readonly tenant: string;
  readonly name: string;
  readonly shardId: string;
  readonly n: number;
  readonly attempt: string;
  readonly entries: readonly SegmentEntry[];
}

/** The commit each segment belongs to, or undefined for a segment of an attempt that did not commit. */
export function commitOf(heads: ReadonlyMap<string, ShardHead>, s: Pick<ReadSegment, 'shardId' | 'n' | 'attempt'>): PartCommit | undefined {
  const c = heads.get(s.shardId)?.commits.find((x) => x.n === s.n && x.attempt === s.attempt);
  return c === undefined ? undefined : { shardId: s.shardId, n: c.n, lo: c.lo, to: c.to };
}

export interface ItemParts {
  readonly key: ItemKey;
  readonly tenant: string;
  readonly name: string;
  readonly entry: SegmentEntry;
  readonly parts: FoldPart[];
}

/** The committed segments' entries by item, sorted as every merge applies them; `keep` filters entries. */
export function partsByItem(
  heads: ReadonlyMap<string, ShardHead>,
  segments: readonly ReadSegment[],
  keep: (tenant: string, entry: SegmentEntry) => boolean = () => true,
): Map<string, ItemParts> {
  const out = new Map<string, ItemParts>();
  for (const s of segments) {
    const commit = commitOf(heads, s);
    if (commit === undefined) continue;
    for (const entry of s.entries) {
      if (!keep(s.tenant, entry)) continue;
      const key = { pk: bucketPk(s.tenant, entry.seriesId, entry.res), sk: bucketSk(entry.start) };
      const id = itemId(key);
      let p = out.get(id);
      if (p === undefined) out.set(id, (p = { key, tenant: s.tenant, name: s.name, entry, parts: [] }));
      p.parts.push({ commit, entry });
    }
  }
  for (const p of out.values()) sortParts(p.parts);
  return out;
}

/** The item as a reader sees it: `stored` (undefined: not folded yet) with the parts above its watermarks. */
export function viewItem(stored: StoredBucket | undefined, parts: ItemParts | undefined): StoredBucket | undefined {
  if (parts === undefined) return stored;
  try {
    const r = foldItem(stored, parts.parts, { name: parts.name, ttl: 0 });
    return r.kind === 'write' ? r.item : stored;
  } catch (e) {
    // A first-layout watermark inside a commit: the fold refuses and logs it; a reader shows the
    // folded item as it is rather than fail the query.
    if (e instanceof FoldStraddleError) return stored;
    throw e;
  }
}
