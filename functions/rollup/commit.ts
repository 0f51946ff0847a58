/**
 * Committing one batch of one shard to the rollup log (docs/ROLLUPS.md, "A batch"): drop the events
 * the shard's head has committed already, aggregate the rest, write the series index and metric
 * entries, the segments (one per touched metric) and the manifest under a fresh attempt id, then
 * append the commit to the head with one conditional write. Only that write makes the batch count;
 * a lost condition reads the head again and commits what is still above it.
 */
import type { LineagedEvent } from '../shared/codec.ts';
import { compareLineage } from '../shared/batch.ts';
import type { Commit, ShardHead } from '../shared/rollups/head.ts';
import type { Watermark } from '../shared/rollups/lineage.ts';
import { emptyMinutes, encodeMinutes, type Minutes } from '../shared/rollups/minutes.ts';
import { encodeManifest, splitManifest, splitSegment, type ManifestEntry, type SegmentEntry } from '../shared/rollups/segment.ts';
import { RESOLUTIONS } from '../shared/rollups/keys.ts';
import { addAggToSketch } from '../shared/rollups/histogram.ts';
import { Sketch } from '../shared/rollups/sketch.ts';
import { settlePool } from '../shared/pool.ts';
import { aggregateBatch, type Agg, type BatchAggregate, type ItemPartial } from './aggregate.ts';
import type { CommitContents } from './cache.ts';
import { ServiceError } from '../shared/errors.ts';
import { ConditionFailedError, type LogItem } from './port.ts';
import type { Run } from './run.ts';

export type CommitOutcome =
  | { readonly kind: 'committed'; readonly head: ShardHead; readonly commit: Commit; readonly agg: BatchAggregate }
  /** Nothing above the committed watermark (a replay), or nothing that rolls up. */
  | { readonly kind: 'nothing'; readonly head: ShardHead }
  /** The shard's log is too long to add to: fold first. */
  | { readonly kind: 'backlogged'; readonly head: ShardHead }
  /** Not committed; Lambda should resume at `resumeFrom` (the first record with new events). */
  | { readonly kind: 'failed'; readonly error: unknown; readonly resumeFrom: string };

/**
 * Commits `events` (valid events of shard `shardId`, in lineage order). `firstRecord` is where
 * Lambda resumes if nothing is known yet.
 */
export async function commitBatch(run: Run, shardId: string, events: readonly LineagedEvent[], firstRecord: string): Promise<CommitOutcome> {
  const { config, stats } = run;
  let got = await run.head(shardId);
  // Counted for this shard's events once, whatever the number of tries below.
  const before = { covered: stats.eventsCovered, late: stats.lateDropped, outOfRange: stats.outOfRange };
  for (let conflicts = 0; ; ) {
    if (!got.ok) return { kind: 'failed', error: got.error, resumeFrom: firstRecord };
    const head = got.value;
    const wm = head.wm;
    const fresh = config.idempotencyGuard && wm !== undefined ? events.filter((e) => compareLineage(e.lineage, wm) > 0) : events;
    stats.eventsCovered = before.covered + events.length - fresh.length;
    if (fresh.length === 0) return { kind: 'nothing', head };
    const resumeFrom = fresh[0]!.lineage.sequenceNumber;
    const now = run.now();
    if (head.commits.length >= config.maxUnfoldedCommits || (head.commits.length > 0 && now - head.commits[0]!.at > config.maxFoldLagMs)) {
      return { kind: 'backlogged', head };
    }

    const agg = aggregateBatch(fresh, now, config, run.cache.ids);
    stats.lateDropped = before.late + agg.stats.lateDropped['1m'] + agg.stats.lateDropped['1h'];
    stats.outOfRange = before.outOfRange + agg.stats.outOfRange;
    if (agg.items.length === 0) return { kind: 'nothing', head };

    const indexed = await writeIndex(run, shardId, agg);
    if (!indexed.ok) return { kind: 'failed', error: indexed.error, resumeFrom };

    const n = head.n + 1;
    const attempt = attemptId(run.deps.random);
    const { items, contents } = logItems(shardId, n, attempt, agg, Math.ceil((now + config.logTtlMs) / 1000));
    if (head.ver === 0 && !run.cache.isRegistered(shardId)) {
      const reg = await run.call(() => run.store.registerShard(shardId));
      if (!reg.ok) return { kind: 'failed', error: reg.error, resumeFrom };
      run.cache.recordRegistered(shardId);
    }
    const written = await writeLog(run, items);
    if (!written.ok) return { kind: 'failed', error: written.error, resumeFrom };

    const commit: Commit = {
      n,
      attempt,
      lo: watermarkOf(fresh[0]!.lineage),
      to: watermarkOf(fresh[fresh.length - 1]!.lineage),
      at: now,
      manifestParts: items.filter((i) => i.kind === 'manifest').length,
    };
    const next: ShardHead = { shardId, n, wm: commit.to, commits: [...head.commits, commit], ver: head.ver + 1 };
    const committed = (h: ShardHead): CommitOutcome => {
      run.cache.rememberContents(shardId, n, attempt, contents);
      stats.commits++;
      stats.logItems += items.length;
      for (const i of items) stats.logBytes += i.data.length;
      return { kind: 'committed', head: h, commit, agg };
    };
    const put = await run.call(() => run.store.writeHead(next, head.ver));
    if (put.ok) {
      run.cache.rememberHead(next);
      return committed(next);
    }
    const lost = put.error instanceof ConditionFailedError;
    if (!lost && !(put.error instanceof ServiceError && put.error.retryable)) return { kind: 'failed', error: put.error, resumeFrom };
    // Another writer moved the head (a zombie, a fold's prune), or our write landed unanswered:
    // read it again. Our attempt in it means it landed; otherwise commit what is above it.
    run.cache.forgetHead(shardId);
    got = await run.head(shardId, true);
    const landed = (c: Commit) => c.n === n && c.attempt === attempt && compareLineage(c.to, commit.to) === 0 && compareLineage(c.lo, commit.lo) === 0;
    if (got.ok && got.value.commits.some(landed)) return committed(got.value);
    if (lost) stats.conflicts++;
    if (++conflicts > config.maxConflictRetries) return { kind: 'failed', error: put.error, resumeFrom };
  }
}

const watermarkOf = (l: Watermark): Watermark => ({ sequenceNumber: l.sequenceNumber, subIndex: l.subIndex });

/** 12 hex characters: two attempts of one commit never share a key. */
function attemptId(random: () => number): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

/** The series index and metric entries this container has not written (or whose lastSeen moved). */
async function writeIndex(run: Run, shardId: string, agg: BatchAggregate): Promise<{ ok: true } | { ok: false; error: unknown }> {
  const { cache, store, config, stats } = run;
  const longest = Math.max(...RESOLUTIONS.map((r) => config.ttlMs[r]));
  const ttlOf = (lastSeen: number) => Math.ceil((lastSeen + longest) / 1000);
  const writes: Array<{ readonly write: () => Promise<void>; readonly done: () => void }> = [];
  for (const s of agg.series) {
    const key = `s\u0000${s.tenant}\u0000${s.seriesId}`;
    if (!cache.needsIndex(key, s.maxTs)) continue;
    writes.push({
      write: () => store.touchSeries({ tenant: s.tenant, name: s.name, seriesId: s.seriesId, type: s.type, tags: s.tags, firstSeen: s.minTs, lastSeen: s.maxTs, ttl: ttlOf(s.maxTs) }),
      done: () => cache.recordIndex(key, s.maxTs),
    });
  }
  for (const m of agg.metrics) {
    const key = `m\u0000${m.tenant}\u0000${m.name}`;
    if (cache.metricHasShard(m.tenant, m.name, shardId) && !cache.needsIndex(key, m.maxTs)) continue;
    writes.push({
      write: () => store.touchMetric({ tenant: m.tenant, name: m.name, type: m.type, lastSeen: m.maxTs, ttl: ttlOf(m.maxTs), shardId }),
      done: () => {
        cache.recordIndex(key, m.maxTs);
        cache.recordMetricShard(m.tenant, m.name, shardId);
      },
    });
  }
  let error: unknown;
  await settlePool(writes, config.writeConcurrency, async (w) => {
    if (error !== undefined) return;
    const r = await run.call(w.write);
    if (!r.ok) {
      error ??= r.error;
      return;
    }
    w.done();
    stats.indexWrites++;
  });
  return error === undefined ? { ok: true } : { ok: false, error };
}

async function writeLog(run: Run, items: readonly LogItem[]): Promise<{ ok: true } | { ok: false; error: unknown }> {
  let error: unknown;
  await settlePool(items, run.config.writeConcurrency, async (item) => {
    if (error !== undefined) return;
    const r = await run.call(() => run.store.putLog(item));
    if (!r.ok) error ??= r.error;
  });
  return error === undefined ? { ok: true } : { ok: false, error };
}

/** The segments (per tenant and name) and the manifest of commit `n`, and what they hold. */
export function logItems(shardId: string, n: number, attempt: string, agg: BatchAggregate, ttl: number): { items: LogItem[]; contents: CommitContents } {
  const byMetric = new Map<string, { tenant: string; name: string; entries: SegmentEntry[] }>();
  for (const p of agg.items) {
    const key = `${p.tenant}\u0000${p.name}`;
    let m = byMetric.get(key);
    if (m === undefined) byMetric.set(key, (m = { tenant: p.tenant, name: p.name, entries: [] }));
    m.entries.push(segmentEntry(p));
  }
  const items: LogItem[] = [];
  const manifest: ManifestEntry[] = [];
  for (const m of byMetric.values()) {
    // A series' entries side by side, so a part holds its 1 h entry with its 1 m entries (derived
    // 1 h entries, segment.ts).
    m.entries.sort((a, b) => (a.seriesId < b.seriesId ? -1 : a.seriesId > b.seriesId ? 1 : a.start - b.start));
    const parts = splitSegment(m.entries);
    parts.forEach((data, part) => items.push({ kind: 'segment', tenant: m.tenant, name: m.name, shardId, n, attempt, part, parts: parts.length, data, ttl }));
    manifest.push({ tenant: m.tenant, name: m.name, parts: parts.length });
  }
  const mparts = manifest.length === 0 ? [encodeManifest([])] : splitManifest(manifest);
  mparts.forEach((data, part) => items.push({ kind: 'manifest', tenant: '', name: '', shardId, n, attempt, part, parts: mparts.length, data, ttl }));
  return { items, contents: { segments: [...byMetric.values()] } };
}

/** What the batch adds to one item, as a segment entry (the batch is of one shard: one part). */
export function segmentEntry(p: ItemPartial): SegmentEntry {
  if (p.parts.length !== 1) throw new RangeError(`item ${p.id} has parts from ${p.parts.length} shards; a Kinesis batch is of one shard`);
  const a: Agg = p.parts[0]!.agg;
  const e: { -readonly [K in keyof SegmentEntry]: SegmentEntry[K] } = { seriesId: p.seriesId, res: p.res, start: p.start, type: p.type, count: a.count, sum: a.sum, min: a.min, max: a.max };
  if (a.last !== undefined) e.last = { value: a.last.value, ts: a.last.ts };
  if (a.sketch !== undefined) e.sketch = a.sketch.encode();
  if (a.cum !== undefined) {
    const sketch = new Sketch();
    addAggToSketch(sketch, a.cum.agg);
    e.cum = { count: a.cum.agg.count, sum: a.cum.agg.sum, ts: a.cum.ts, sketch: sketch.encode() };
  }
  if (a.minutes !== undefined) {
    const minutes: Minutes = emptyMinutes();
    let any = false;
    a.minutes.forEach((m, i) => {
      if (m === undefined) return;
      any = true;
      minutes[i] = { count: m.count, sum: m.sum, min: m.min, max: m.max, ...(m.last !== undefined ? { last: { value: m.last.value, ts: m.last.ts, shardId: '' } } : {}) };
    });
    if (any) e.minutes = encodeMinutes(minutes, p.start);
  }
  return e;
}
