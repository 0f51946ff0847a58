/**
 * Helpers for the rollup tests: Kinesis records in Lambda's event shape, and the ground truth of a
 * set of events computed directly (sorted values, no sketches, no watermarks).
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { aggregateBatch, inRollupRange, isEmptyPoint } from '../../../functions/rollup/aggregate.ts';
import { addAggToSketch, aggMinMax, explicitRepresentative } from '../../../functions/shared/rollups/histogram.ts';
import { Sketch } from '../../../functions/shared/rollups/sketch.ts';
import { segmentEntry } from '../../../functions/rollup/commit.ts';
import { foldItem, type FoldResult } from '../../../functions/shared/rollups/fold.ts';
import type { LineagedEvent } from '../../../functions/shared/codec.ts';
import { RESOLUTIONS, bucketPk, bucketSk, bucketStart, itemId, parseBucketSk, seriesId, type ItemKey, type Resolution } from '../../../functions/shared/rollups/keys.ts';
import { decodeMinutes } from '../../../functions/shared/rollups/minutes.ts';
import type { StoredBucket } from '../../../functions/shared/rollups/item.ts';
import type { Lineage } from '../../../functions/shared/errors.ts';
import type { DistributionAgg, StreamEvent } from '../../../functions/shared/event.ts';
import type { MemoryRollupStore } from '../../../functions/rollup/memory-store.ts';
import type { ShardHead } from '../../../functions/shared/rollups/head.ts';
import { decodeSegment } from '../../../functions/shared/rollups/segment.ts';
import { partsByItem, viewItem, type ReadSegment } from '../../../functions/shared/rollups/view.ts';

/** Kinesis-like 56-digit sequence number; `n` orders them. */
export function seqNo(n: number): string {
  return `4959${String(n).padStart(52, '0')}`;
}

export function kinesisRecord(shardId: string, sequenceNumber: string, data: Uint8Array, partitionKey = 'pk'): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey,
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/rollup',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/events',
  };
}

/** One record per event list, NDJSON (not gzip'd), events in order. */
export function ndjson(events: readonly object[]): Uint8Array {
  return Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`, 'utf8');
}

export interface TruthEvent {
  readonly event: StreamEvent;
  readonly lineage: Lineage;
}

export interface TruthBucket {
  readonly id: string;
  readonly name: string;
  readonly tags: Readonly<Record<string, string>>;
  count: number;
  sum: number;
  sumAbs: number;
  min: number;
  max: number;
  last?: { value: number; ts: number; lineage: Lineage };
  /** Cumulative histograms: the latest point, and its buckets as the rollup's sketch (stored form). */
  cum?: { count: number; sum: number; ts: number; lineage: Lineage; sketch: Uint8Array };
  /**
   * Distribution values, for exact quantiles; a pre-aggregated point's buckets count as their
   * representative values (shared/rollups/histogram.ts), whose quantiles the sketch must give.
   */
  values: number[];
}

/**
 * Expected bucket items of `events` (each applied once): only in-range events, and per resolution
 * only events at most `ttlMs[res]` older than `now`.
 */
export function truthBuckets(events: readonly TruthEvent[], now: number, ttlMs: Readonly<Record<Resolution, number>>): Map<string, TruthBucket> {
  const out = new Map<string, TruthBucket>();
  for (const { event: e, lineage } of events) {
    if (!inRollupRange(e.value) || isEmptyPoint(e)) continue;
    for (const res of RESOLUTIONS) {
      if (now - e.ts > ttlMs[res]) continue;
      const id = itemId({ pk: bucketPk(e.tenant, seriesId(e.tenant, e.name, e.tags), res), sk: bucketSk(bucketStart(e.ts, res)) });
      let b = out.get(id);
      if (b === undefined) out.set(id, (b = { id, name: e.name, tags: e.tags, count: 0, sum: 0, sumAbs: 0, min: Infinity, max: -Infinity, values: [] }));
      if (e.start !== undefined) {
        // A cumulative point: a sample of its total (the count's value, the histogram's count).
        const v = e.agg === undefined ? e.value : e.agg.count;
        b.count++;
        b.sum += v;
        b.sumAbs += Math.abs(v);
        b.min = Math.min(b.min, v);
        b.max = Math.max(b.max, v);
        if (e.agg === undefined) {
          if (b.last === undefined || laterPoint({ ts: e.ts, lineage }, b.last)) b.last = { value: v, ts: e.ts, lineage };
        } else if (b.cum === undefined || laterPoint({ ts: e.ts, lineage }, b.cum)) {
          const sketch = new Sketch();
          addAggToSketch(sketch, e.agg);
          b.cum = { count: e.agg.count, sum: e.agg.sum, ts: e.ts, lineage, sketch: sketch.encode() };
        }
        continue;
      }
      if (e.agg !== undefined) {
        const mm = aggMinMax(e.agg)!;
        b.count += e.agg.count;
        b.sum += e.agg.sum;
        b.sumAbs += Math.abs(e.agg.sum);
        b.min = Math.min(b.min, mm.min);
        b.max = Math.max(b.max, mm.max);
        b.values.push(...representativeValues(e.agg));
        continue;
      }
      b.count++;
      b.sum += e.value;
      b.sumAbs += Math.abs(e.value);
      b.min = Math.min(b.min, e.value);
      b.max = Math.max(b.max, e.value);
      if (e.type === 'gauge' && (b.last === undefined || laterPoint({ ts: e.ts, lineage }, b.last))) b.last = { value: e.value, ts: e.ts, lineage };
      if (e.type === 'distribution') b.values.push(e.value);
    }
  }
  return out;
}

/** A pre-aggregated point's observations as the sketch gets them: each bucket's count at its representative value. */
export function representativeValues(a: DistributionAgg): number[] {
  const out: number[] = [];
  const mm = aggMinMax(a);
  if (mm === undefined) return out;
  const clamp = (v: number) => Math.min(mm.max, Math.max(mm.min, v));
  const b = a.buckets;
  const push = (v: number, n: number) => {
    for (let i = 0; i < n; i++) out.push(v);
  };
  if (b === undefined) push(clamp(a.sum / a.count), a.count);
  else if ('bounds' in b) b.counts.forEach((c, i) => push(explicitRepresentative(b.bounds, i, mm.min, mm.max), c));
  else {
    push(0, b.zeroCount);
    const w = 2 ** -b.scale;
    b.positive?.counts.forEach((c, k) => push(clamp(2 ** ((b.positive!.offset + k) * w + w / 2)), c));
    b.negative?.counts.forEach((c, k) => push(clamp(-(2 ** ((b.negative!.offset + k) * w + w / 2))), c));
  }
  return out;
}

function laterPoint(a: { ts: number; lineage: Lineage }, b: { ts: number; lineage: Lineage }): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.lineage.shardId !== b.lineage.shardId) return a.lineage.shardId > b.lineage.shardId;
  const sa = a.lineage.sequenceNumber;
  const sb = b.lineage.sequenceNumber;
  if (sa !== sb) return sa.length !== sb.length ? sa.length > sb.length : sa > sb;
  return a.lineage.subIndex > b.lineage.subIndex;
}

/** The element of rank floor(q (n - 1)) of the sorted values. */
export function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** A bucket as queries see it; a packed minute's `last` knows only its shard (minutes.ts). */
export type LogicalBucket = StoredBucket & { readonly lastShard?: string };

/**
 * The stored buckets by item id, with each 1 h item's packed minutes (`mins`) also listed as the
 * 1 m buckets they stand for (id of the 1 m item they replace; series attributes, ttl, wm and ver
 * of the 1 h item).
 */
export function logicalBuckets(entries: Iterable<{ readonly key: ItemKey; readonly item: StoredBucket }>): Map<string, LogicalBucket> {
  const out = new Map<string, LogicalBucket>();
  for (const { key, item } of entries) {
    out.set(itemId(key), item);
    if (item.mins === undefined) continue;
    const hour = parseBucketSk(key.sk);
    const pk = key.pk.replace(/#1h$/, '#1m');
    decodeMinutes(item.mins, hour).forEach((m, i) => {
      if (m === undefined) return;
      const id = itemId({ pk, sk: bucketSk(hour + i * 60_000) });
      const { last, lastTs: _t, lastLin: _l, sketch: _s, mins: _m, ...series } = item;
      out.set(id, {
        ...series,
        count: m.count,
        sum: m.sum,
        min: m.min,
        max: m.max,
        ...(m.last !== undefined ? { last: m.last.value, lastTs: m.last.ts, lastShard: m.last.shardId } : {}),
      });
      void last;
    });
  }
  return out;
}

/**
 * Every item a reader sees in a memory store (functions/shared/rollups/view.ts): the folded items
 * with the committed, unfolded segments of every shard applied, and items that are only in the log.
 */
export function viewOfStore(store: MemoryRollupStore): Array<{ key: ItemKey; item: StoredBucket }> {
  const heads = new Map<string, ShardHead>();
  for (const h of store.heads.values()) heads.set(h.shardId, h);
  const segments: ReadSegment[] = [];
  for (const [id, l] of store.log) {
    if (l.kind !== 'segment') continue;
    void id;
    segments.push({ tenant: l.tenant, name: l.name, shardId: l.shardId, n: l.n, attempt: l.attempt, entries: decodeSegment(l.data) });
  }
  const parts = partsByItem(heads, segments);
  const out: Array<{ key: ItemKey; item: StoredBucket }> = [];
  for (const [id, { key, item }] of store.buckets) {
    const seen = viewItem(item, parts.get(id));
    if (seen !== undefined) out.push({ key, item: seen });
  }
  for (const [id, p] of parts) {
    if (store.buckets.has(id)) continue;
    const seen = viewItem(undefined, p);
    if (seen !== undefined) out.push({ key: p.key, item: seen });
  }
  return out;
}

/**
 * What committing `events` (of one shard, as commit `n`) adds to its 1 h item (or `res`), as
 * fold parts, and that item folded into `stored`: the path a batch takes through commit.ts and
 * folding.ts, without the table.
 */
export function foldEvents(
  stored: StoredBucket | undefined,
  events: readonly LineagedEvent[],
  n: number,
  opts: { now: number; ttlMs: Readonly<Record<Resolution, number>>; res?: Resolution; guard?: boolean },
): FoldResult {
  const res = opts.res ?? '1h';
  const item = aggregateBatch(events, opts.now, { ttlMs: opts.ttlMs }).items.find((i) => i.res === res)!;
  const commit = { shardId: events[0]!.lineage.shardId, n, lo: events[0]!.lineage, to: events[events.length - 1]!.lineage };
  return foldItem(stored, [{ commit, entry: segmentEntry(item) }], { name: item.name, ttl: item.ttl }, { guard: opts.guard });
}
