/**
 * What one rollup container remembers between invocations, all of it optional: a lost or stale
 * entry costs a read, never a wrong count (every write it feeds is conditional on a version).
 *
 * - series ids (aggregate.ts SeriesIdCache) and the index entries already written;
 * - the folded items it last read or wrote, so the next fold merges into them without reading
 *   them again. A stale copy (another container or the sweeper folded since) fails the write's
 *   version condition and is read again. Versions restart at 1 if an item is deleted and written
 *   again, so a copy kept across that could pass the condition: TTL deletes an item only after the
 *   last event it can still accept (aggregate.ts drops older ones), and nothing else deletes
 *   folded items;
 * - the heads of the shards it commits to (a stale one fails the commit's condition);
 * - what its own commits wrote (the segment entries, by commit and attempt), so its fold need not
 *   read the log back; commits it did not write are read from the log.
 */
import { INDEX_REFRESH_MS } from '../shared/rollups/keys.ts';
import type { ShardHead } from '../shared/rollups/head.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import type { SegmentEntry } from '../shared/rollups/segment.ts';
import { DEFAULT_ITEM_CACHE_ENTRIES } from './config.ts';
import { SeriesIdCache } from './aggregate.ts';

/** The segments of one commit: per (tenant, name), the entries written. */
export interface CommitContents {
  readonly segments: ReadonlyArray<{ readonly tenant: string; readonly name: string; readonly entries: readonly SegmentEntry[] }>;
}

/** Segment entries kept for unfolded commits, at most (~200 B each): past it, folds read the log. */
const MAX_CONTENT_ENTRIES = 500_000;

export class RollupCache {
  readonly ids: SeriesIdCache;
  private readonly indexed = new Map<string, number>();
  /** By item id, least recently used first. */
  private readonly items = new Map<string, StoredBucket>();
  private readonly heads = new Map<string, ShardHead>();
  /** By `shardId n attempt`, oldest first. */
  private readonly contents = new Map<string, { contents: CommitContents; entries: number }>();
  private contentEntries = 0;
  /** `tenant name shardId` of metric entries whose shard set holds the shard. */
  private readonly metricShards = new Set<string>();
  private readonly registered = new Set<string>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly maxItems = DEFAULT_ITEM_CACHE_ENTRIES,
  ) {
    this.ids = new SeriesIdCache(maxEntries);
  }

  item(id: string): StoredBucket | undefined {
    const item = this.items.get(id);
    if (item !== undefined) {
      this.items.delete(id);
      this.items.set(id, item);
    }
    return item;
  }

  rememberItem(id: string, item: StoredBucket): void {
    if (this.maxItems <= 0) return;
    this.items.delete(id);
    if (this.items.size >= this.maxItems) this.items.delete(this.items.keys().next().value!);
    this.items.set(id, item);
  }

  forgetItem(id: string): void {
    this.items.delete(id);
  }

  head(shardId: string): ShardHead | undefined {
    return this.heads.get(shardId);
  }

  rememberHead(head: ShardHead): void {
    this.heads.set(head.shardId, head);
    // Contents of commits the head no longer lists are folded: drop them.
    const live = new Set(head.commits.map((c) => contentKey(head.shardId, c.n, c.attempt)));
    for (const [k, v] of this.contents) {
      if (k.startsWith(`${head.shardId}\u0000`) && !live.has(k)) {
        this.contents.delete(k);
        this.contentEntries -= v.entries;
      }
    }
  }

  forgetHead(shardId: string): void {
    this.heads.delete(shardId);
  }

  commitContents(shardId: string, n: number, attempt: string): CommitContents | undefined {
    return this.contents.get(contentKey(shardId, n, attempt))?.contents;
  }

  rememberContents(shardId: string, n: number, attempt: string, contents: CommitContents): void {
    let entries = 0;
    for (const s of contents.segments) entries += s.entries.length;
    if (entries > MAX_CONTENT_ENTRIES) return;
    while (this.contentEntries + entries > MAX_CONTENT_ENTRIES && this.contents.size > 0) {
      const [k, v] = this.contents.entries().next().value!;
      this.contents.delete(k);
      this.contentEntries -= v.entries;
    }
    this.contents.set(contentKey(shardId, n, attempt), { contents, entries });
    this.contentEntries += entries;
  }

  /** True when the entry was never written here, or its lastSeen moved by INDEX_REFRESH_MS. */
  needsIndex(key: string, lastSeen: number): boolean {
    const written = this.indexed.get(key);
    return written === undefined || lastSeen >= written + INDEX_REFRESH_MS;
  }

  recordIndex(key: string, lastSeen: number): void {
    const written = this.indexed.get(key);
    if (written !== undefined && written >= lastSeen) return;
    if (this.indexed.size >= this.maxEntries) this.indexed.clear();
    this.indexed.set(key, lastSeen);
  }

  /** Whether this container added `shardId` to the metric's shard set. */
  metricHasShard(tenant: string, name: string, shardId: string): boolean {
    return this.metricShards.has(`${tenant}\u0000${name}\u0000${shardId}`);
  }

  recordMetricShard(tenant: string, name: string, shardId: string): void {
    if (this.metricShards.size >= this.maxEntries) this.metricShards.clear();
    this.metricShards.add(`${tenant}\u0000${name}\u0000${shardId}`);
  }

  isRegistered(shardId: string): boolean {
    return this.registered.has(shardId);
  }

  recordRegistered(shardId: string): void {
    this.registered.add(shardId);
  }
}

const contentKey = (shardId: string, n: number, attempt: string): string => `${shardId}\u0000${n}\u0000${attempt}`;
