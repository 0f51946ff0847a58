/**
 * Folding a shard's log into the series items (docs/ROLLUPS.md, "Folding"): the unfolded commits
 * of its head, their contents (the container's own, or read back from the manifests and
 * segments), grouped by item; each item merged with shared/rollups/fold.ts above its watermark and
 * written conditionally on its version; then the head drops the commits whose every item is
 * written. Run by the rollup container after a commit and by the sweeper; any number of folds of
 * one shard may run at once (zombies, the sweeper beside the container) without counting twice.
 */
import { settlePool } from '../shared/pool.ts';
import { foldItem, FoldStraddleError, sortParts, type FoldPart } from '../shared/rollups/fold.ts';
import type { Commit, ShardHead } from '../shared/rollups/head.ts';
import type { StoredBucket } from '../shared/rollups/item.ts';
import { bucketPk, bucketSk, bucketTtl, itemId, logItemKey, type ItemKey } from '../shared/rollups/keys.ts';
import { decodeManifest, decodeSegment, SegmentFormatError, type SegmentEntry } from '../shared/rollups/segment.ts';
import { MAX_BATCH_READ_KEYS, ConditionFailedError } from './port.ts';
import type { CommitContents } from './cache.ts';
import type { Run } from './run.ts';
import { StreamfoldError } from '../shared/errors.ts';

export interface FoldOutcome {
  /** Commits dropped from the head. */
  readonly folded: number;
  /** Commits still unfolded after this fold. */
  readonly left: number;
  /** Items not written this time (kept for the next fold). */
  readonly failedItems: number;
  /** The first failure, if any. */
  readonly error: unknown;
  readonly head: ShardHead | undefined;
}

/** A committed commit whose log items are gone or unreadable: its data cannot be folded. */
export class LogMissingError extends StreamfoldError {}

interface Work {
  readonly key: ItemKey;
  readonly id: string;
  readonly name: string;
  readonly ttl: number;
  readonly parts: FoldPart[];
}

/** Folds up to `maxCommitsPerFold` of the shard's oldest unfolded commits. */
export async function foldShard(run: Run, shardId: string, fresh = false): Promise<FoldOutcome> {
  const { config, stats, cache } = run;
  const got = await run.head(shardId, fresh);
  if (!got.ok) return { folded: 0, left: -1, failedItems: 0, error: got.error, head: undefined };
  const head = got.value;
  const commits = head.commits.slice(0, config.maxCommitsPerFold);
  if (commits.length === 0) return { folded: 0, left: 0, failedItems: 0, error: undefined, head };

  const contents = await loadContents(run, shardId, commits);
  if (!contents.ok) return { folded: 0, left: head.commits.length, failedItems: 0, error: contents.error, head };

  // Group by item, parts in the order every merge applies them.
  const byItem = new Map<string, Work>();
  commits.forEach((c, k) => {
    const commit = { shardId, n: c.n, lo: c.lo, to: c.to };
    for (const seg of contents.value[k]!.segments) {
      for (const entry of seg.entries) {
        const key = { pk: bucketPk(seg.tenant, entry.seriesId, entry.res), sk: bucketSk(entry.start) };
        const id = itemId(key);
        let w = byItem.get(id);
        if (w === undefined) byItem.set(id, (w = { key, id, name: seg.name, ttl: bucketTtl(entry.start, entry.res, config.ttlMs[entry.res]), parts: [] }));
        w.parts.push({ commit, entry });
      }
    }
  });
  const work = [...byItem.values()];
  for (const w of work) sortParts(w.parts);

  const stored = await run.items(work.map((w) => w.key), true);
  let error: unknown = stored.ok ? undefined : stored.error;
  let failedItems = 0;
  if (stored.ok) {
    await settlePool(work, config.writeConcurrency, async (w) => {
      const r = await foldOne(run, w, stored.value.get(w.id));
      if (r !== undefined) {
        failedItems++;
        error ??= r;
      }
    });
  } else failedItems = work.length;
  stats.unfolded += failedItems;
  if (failedItems > 0) {
    if (error instanceof FoldStraddleError || error instanceof LogMissingError) run.deps.logger?.error('fold left items unwritten', { shardId, failedItems, error });
    else run.deps.logger?.warn('fold left items unwritten; the next fold retries them', { shardId, failedItems, error });
    return { folded: 0, left: head.commits.length, failedItems, error, head };
  }

  const pruned = await prune(run, shardId, commits.at(-1)!.n);
  if (!pruned.ok) return { folded: 0, left: head.commits.length, failedItems: 0, error: pruned.error, head };
  stats.commitsFolded += commits.length;
  return { folded: commits.length, left: pruned.head.commits.length, failedItems: 0, error: undefined, head: pruned.head };
}

/** Merges and writes one item; returns the failure, or undefined when it is written or covered. */
async function foldOne(run: Run, w: Work, known: StoredBucket | undefined): Promise<unknown> {
  const { config, stats, cache } = run;
  let stored = known;
  for (let conflicts = 0; ; ) {
    let merged;
    try {
      merged = foldItem(stored, w.parts, { name: w.name, ttl: w.ttl }, { guard: config.idempotencyGuard });
    } catch (e) {
      if (e instanceof FoldStraddleError) return e;
      throw e;
    }
    if (merged.kind === 'covered') {
      stats.itemsCovered++;
      return undefined;
    }
    const put = await run.call(() => run.store.writeBucket(w.key, merged.item, stored?.ver));
    if (put.ok) {
      stats.itemsWritten++;
      cache.rememberItem(w.id, merged.item);
      return undefined;
    }
    cache.forgetItem(w.id);
    if (!(put.error instanceof ConditionFailedError)) return put.error;
    // Another fold (a zombie, the sweeper) wrote it since it was read: read it again and redo.
    stats.conflicts++;
    if (++conflicts > config.maxConflictRetries) return put.error;
    const again = await run.items([w.key], false);
    if (!again.ok) return again.error;
    stored = again.value.get(w.id);
  }
}

/** Drops commits <= `upTo` from the head (conditional; read again when another writer moved it). */
async function prune(run: Run, shardId: string, upTo: number): Promise<{ ok: true; head: ShardHead } | { ok: false; error: unknown }> {
  let got = await run.head(shardId);
  for (let conflicts = 0; ; ) {
    if (!got.ok) return { ok: false, error: got.error };
    const head = got.value;
    if (!head.commits.some((c) => c.n <= upTo)) return { ok: true, head };
    const next: ShardHead = { ...head, commits: head.commits.filter((c) => c.n > upTo), ver: head.ver + 1 };
    const put = await run.call(() => run.store.writeHead(next, head.ver));
    if (put.ok) {
      run.cache.rememberHead(next);
      return { ok: true, head: next };
    }
    run.cache.forgetHead(shardId);
    // A lost condition (a commit or another prune moved the head): read it and prune again. Any
    // other failure leaves the commits listed; a later fold finds their items covered.
    if (!(put.error instanceof ConditionFailedError) || ++conflicts > run.config.maxConflictRetries) return { ok: false, error: put.error };
    run.stats.conflicts++;
    got = await run.head(shardId, true);
  }
}

/** Each commit's contents: the container's copy, else its manifest and segments read back. */
async function loadContents(run: Run, shardId: string, commits: readonly Commit[]): Promise<{ ok: true; value: CommitContents[] } | { ok: false; error: unknown }> {
  const out: CommitContents[] = [];
  const missing: number[] = [];
  commits.forEach((c, k) => {
    const known = run.cache.commitContents(shardId, c.n, c.attempt);
    if (known !== undefined) out[k] = known;
    else missing.push(k);
  });
  if (missing.length === 0) return { ok: true, value: out };
  run.stats.commitsRead += missing.length;

  // Manifests, then the segments they list.
  const mkeys: ItemKey[] = [];
  for (const k of missing) {
    const c = commits[k]!;
    for (let part = 0; part < c.manifestParts; part++) mkeys.push(logItemKey({ kind: 'manifest', tenant: '', name: '', shardId, n: c.n, attempt: c.attempt, part }));
  }
  const manifests = await readLog(run, mkeys);
  if (!manifests.ok) return manifests;
  const segs: Array<{ k: number; tenant: string; name: string; keys: ItemKey[] }> = [];
  try {
    for (const k of missing) {
      const c = commits[k]!;
      for (let part = 0; part < c.manifestParts; part++) {
        const key = logItemKey({ kind: 'manifest', tenant: '', name: '', shardId, n: c.n, attempt: c.attempt, part });
        const bytes = manifests.value.get(itemId(key));
        if (bytes === undefined) throw new LogMissingError(`commit ${c.n} of ${shardId}: manifest part ${part} (${key.pk} ${key.sk}) is missing`);
        for (const m of decodeManifest(bytes)) {
          const keys: ItemKey[] = [];
          for (let p = 0; p < m.parts; p++) keys.push(logItemKey({ kind: 'segment', tenant: m.tenant, name: m.name, shardId, n: c.n, attempt: c.attempt, part: p }));
          segs.push({ k, tenant: m.tenant, name: m.name, keys });
        }
      }
    }
  } catch (e) {
    if (e instanceof LogMissingError || e instanceof SegmentFormatError) return { ok: false, error: e };
    throw e;
  }
  const segments = await readLog(run, segs.flatMap((s) => s.keys));
  if (!segments.ok) return segments;
  const built = new Map<number, Array<{ tenant: string; name: string; entries: SegmentEntry[] }>>();
  try {
    for (const s of segs) {
      const entries: SegmentEntry[] = [];
      for (const key of s.keys) {
        const bytes = segments.value.get(itemId(key));
        if (bytes === undefined) throw new LogMissingError(`segment ${key.pk} ${key.sk} is missing`);
        for (const e of decodeSegment(bytes)) entries.push(e);
      }
      let list = built.get(s.k);
      if (list === undefined) built.set(s.k, (list = []));
      list.push({ tenant: s.tenant, name: s.name, entries });
    }
  } catch (e) {
    if (e instanceof LogMissingError || e instanceof SegmentFormatError) return { ok: false, error: e };
    throw e;
  }
  for (const k of missing) out[k] = { segments: built.get(k) ?? [] };
  return { ok: true, value: out };
}

async function readLog(run: Run, keys: readonly ItemKey[]): Promise<{ ok: true; value: Map<string, Uint8Array> } | { ok: false; error: unknown }> {
  const out = new Map<string, Uint8Array>();
  const chunks: ItemKey[][] = [];
  for (let i = 0; i < keys.length; i += MAX_BATCH_READ_KEYS) chunks.push(keys.slice(i, i + MAX_BATCH_READ_KEYS));
  let error: unknown;
  await settlePool(chunks, run.config.readConcurrency, async (chunk) => {
    if (error !== undefined) return;
    const got = await run.readAll(chunk, (ks) => run.store.readLog(ks));
    if (!got.ok) error ??= got.error;
    else for (const [k, v] of got.value) out.set(k, v);
  });
  return error === undefined ? { ok: true, value: out } : { ok: false, error };
}
