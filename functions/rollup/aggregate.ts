/**
 * Pure aggregation of one decoded batch: every event lands in its series' 1 h bucket and in its
 * minute, which for count and gauge events is an entry of the 1 h item (shared/rollups/minutes.ts)
 * and for distributions a 1 m item of its own. Each touched item gets one partial aggregate per
 * shard, with the positions (indexes into the batch, ascending = lineage order) of the events that
 * built it, so merge.ts can drop the part a stored watermark already covers. No I/O, no clock:
 * `now` is passed in.
 *
 * Values: 0 and 1e-100 <= |v| <= 1e100 are rolled up (LIMITS in shared/event.ts). DynamoDB
 * numbers hold 1e-130..9.99e125 in magnitude, and with these bounds no sum of accepted values can
 * leave that range (a nonzero sum of doubles >= 1e-100 is >= ulp(1e-100) ~ 1e-116; |sum| <=
 * count * 1e100). The validator refuses any other value, in the intake and in both consumers'
 * decode, so none reaches this; one that did (defence in depth) would be counted (`outOfRange`)
 * and left out.
 *
 * Late events update their own bucket; an event older than a resolution's retention is counted in
 * `lateDropped[res]` and left out of that resolution only. The intake and both consumers refuse
 * events older than the 1 h retention, so `lateDropped['1h']` counts only an event that aged past
 * it while it waited in the stream (consumer lag at the retention's edge).
 */
import type { LineagedEvent } from '../shared/codec.ts';
import type { Lineage } from '../shared/errors.ts';
import { inRollupRange, LIMITS, type DistributionAgg, type EventType } from '../shared/event.ts';
import { addAggToSketch, aggMinMax } from '../shared/rollups/histogram.ts';
import { compareSeq } from '../shared/batch.ts';
import {
  RESOLUTION_MS,
  RESOLUTIONS,
  bucketPk,
  bucketSk,
  bucketTtl,
  itemId,
  seriesIdOfCanonical,
  seriesKey,
  sortedTagPairs,
  type ItemKey,
  type Resolution,
} from '../shared/rollups/keys.ts';

export { seriesKey };
import { MINUTES_PER_HOUR, minuteOf } from '../shared/rollups/minutes.ts';
import { Sketch } from '../shared/rollups/sketch.ts';

export const VALUE_MIN_ABS = LIMITS.valueMinAbs;
export const VALUE_MAX_ABS = LIMITS.valueMaxAbs;
export { inRollupRange };

/** The gauge event that wins `last`: greatest (ts, shardId, sequenceNumber, subIndex). */
export interface LastPoint {
  readonly value: number;
  readonly ts: number;
  readonly lineage: Lineage;
}

/** Aggregate of some events of one item. */
export interface Agg {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Gauge events only. */
  last: LastPoint | undefined;
  /** Distribution events only. */
  sketch: Sketch | undefined;
  /** 1 h items only: per minute of the hour, the count and gauge events packed there (shared/rollups/minutes.ts). */
  minutes: Array<Agg | undefined> | undefined;
  /** Cumulative distribution points (`start` with `agg`): the latest one, by (ts, lineage). */
  cum: CumPoint | undefined;
}

/** The latest cumulative histogram point of an aggregate: its totals since its start. */
export interface CumPoint {
  readonly agg: DistributionAgg;
  readonly ts: number;
  readonly lineage: Lineage;
}

/** What one shard's events contribute to an item in this batch. */
export interface ItemPart {
  readonly shardId: string;
  readonly agg: Agg;
  /** Batch positions of the contributing events, ascending (= lineage order within the shard). */
  readonly indexes: number[];
}

export interface ItemPartial {
  readonly key: ItemKey;
  readonly id: string;
  readonly res: Resolution;
  readonly start: number;
  readonly tenant: string;
  readonly name: string;
  /** Type of the first event (a series is expected to keep its type). */
  readonly type: EventType;
  readonly tags: Readonly<Record<string, string>>;
  readonly seriesId: string;
  /** Epoch seconds. */
  readonly ttl: number;
  /**
   * 1 h items: count and gauge events at or after this time (epoch ms; inside the 1 m retention)
   * also go to their minute's entry. Undefined for 1 m items.
   */
  readonly packFrom: number | undefined;
  readonly parts: ItemPart[];
}

/** A series seen in the batch, for the series index. */
export interface SeriesTouch {
  readonly tenant: string;
  readonly name: string;
  readonly seriesId: string;
  readonly type: EventType;
  readonly tags: Readonly<Record<string, string>>;
  minTs: number;
  maxTs: number;
  /** Batch position of its first contributing event. */
  firstIndex: number;
}

/** A metric name seen in the batch, for the metric list. */
export interface MetricTouch {
  readonly tenant: string;
  readonly name: string;
  readonly type: EventType;
  maxTs: number;
  firstIndex: number;
}

export interface AggregateStats {
  /** Valid events in the batch. */
  eventsIn: number;
  /** Events in at least one bucket. */
  rolledUp: number;
  lateDropped: Record<Resolution, number>;
  outOfRange: number;
  /** Pre-aggregated points of no observations (count 0, no start): valid, and nothing to add. */
  emptyPoints: number;
  /** Greatest event time among rolled-up events; -Infinity when none. */
  newestTs: number;
}

export interface BatchAggregate {
  /** The batch's events in lineage order (per shard); item parts index into it. */
  readonly events: readonly LineagedEvent[];
  readonly items: ItemPartial[];
  readonly series: SeriesTouch[];
  readonly metrics: MetricTouch[];
  readonly stats: AggregateStats;
}

export interface AggregateSettings {
  /** Retention per resolution, ms. */
  readonly ttlMs: Readonly<Record<Resolution, number>>;
}

/** A series' canonical key (`seriesKey`) and id (`seriesIdOfCanonical`). */
export interface SeriesRef {
  readonly key: string;
  readonly id: string;
}

interface TrieNode {
  /**
   * The tag key of the first child path seen, and its tag value -> node: events of one series
   * shape list the same key at the same depth, so one Map lookup per tag usually suffices.
   */
  key: string | undefined;
  byValue: Map<string, TrieNode> | undefined;
  /** Any other tag key -> tag value -> node (same tags in another order, other tag sets). */
  other: Map<string, Map<string, TrieNode>> | undefined;
  ref: SeriesRef | undefined;
}

const newNode = (): TrieNode => ({ key: undefined, byValue: undefined, other: undefined, ref: undefined });

/**
 * Series by (tenant, name, tags), kept across batches of one container. A trie over the event's
 * own strings, in the order its tags come: no key string is built or hashed per event (building
 * and hashing `seriesKey` was ~60 % of the aggregation's CPU), and short strings from JSON.parse
 * arrive with their hashes cached. The same tags listed in another order reach another leaf with
 * the same `SeriesRef`. Cleared whole when `maxEntries` leaves are reached.
 */
export class SeriesIdCache {
  private root = new Map<string, Map<string, TrieNode>>();
  private leaves = 0;
  private readonly byKey = new Map<string, SeriesRef>();
  constructor(private readonly maxEntries = 100_000) {}

  lookup(tenant: string, name: string, tags: Readonly<Record<string, string>>): SeriesRef {
    let byName = this.root.get(tenant);
    if (byName === undefined) this.root.set(tenant, (byName = new Map()));
    let node: TrieNode | undefined = byName.get(name);
    if (node === undefined) byName.set(name, (node = newNode()));
    for (const k in tags) {
      let byValue: Map<string, TrieNode> | undefined;
      if (node.key === k) byValue = node.byValue!;
      else if (node.key === undefined) {
        node.key = k;
        byValue = node.byValue = new Map();
      } else {
        const other: Map<string, Map<string, TrieNode>> = (node.other ??= new Map());
        byValue = other.get(k);
        if (byValue === undefined) other.set(k, (byValue = new Map()));
      }
      const v = tags[k]!;
      let child: TrieNode | undefined = byValue.get(v);
      if (child === undefined) byValue.set(v, (child = newNode()));
      node = child;
    }
    if (node.ref !== undefined) return node.ref;
    if (this.leaves >= this.maxEntries) {
      // Clear, then walk again so the new leaf is in the new trie.
      this.root = new Map();
      this.byKey.clear();
      this.leaves = 0;
      return this.lookup(tenant, name, tags);
    }
    const key = seriesKey(tenant, name, tags);
    let ref = this.byKey.get(key);
    if (ref === undefined) {
      ref = { key, id: seriesIdOfCanonical(JSON.stringify([tenant, name, sortedTagPairs(tags)])) };
      this.byKey.set(key, ref);
    }
    this.leaves++;
    return (node.ref = ref);
  }
}

interface SeriesState {
  readonly touch: SeriesTouch;
  readonly metric: MetricTouch;
  readonly buckets: [Map<number, ItemPartial>, Map<number, ItemPartial>];
  /** The bucket each resolution last added to (a batch mostly hits one bucket per resolution). */
  readonly last: [ItemPartial | undefined, ItemPartial | undefined];
}

export function newAgg(): Agg {
  return { count: 0, sum: 0, min: Infinity, max: -Infinity, last: undefined, sketch: undefined, minutes: undefined, cum: undefined };
}

/**
 * Adds one event; events of one shard must come in lineage order.
 *
 * - A pre-aggregated point (`agg`, no `start`) adds its count, sum, min and max (histogram.ts
 *   aggMinMax) and its buckets to the sketch (addAggToSketch).
 * - A cumulative point (`start`) is a sample of its totals, never added up: a count's total is
 *   kept as a gauge's `last`, a histogram's (count, sum, buckets) as `cum`, each the latest by
 *   (ts, lineage). Either adds 1 to the bucket's count (points received) and its total (the count's
 *   value, the histogram's count) to sum, min and max, as a gauge sample does; the query shows
 *   increases of the totals instead (functions/query/cumulative.ts).
 */
export function addToAgg(agg: Agg, e: LineagedEvent): void {
  const ev = e.event;
  if (ev.start !== undefined) {
    addCumulative(agg, e);
    return;
  }
  const a = ev.agg;
  if (a !== undefined) {
    const mm = aggMinMax(a);
    if (mm === undefined) return;
    agg.count += a.count;
    agg.sum += a.sum;
    if (mm.min < agg.min) agg.min = mm.min;
    if (mm.max > agg.max) agg.max = mm.max;
    addAggToSketch((agg.sketch ??= new Sketch()), a);
    return;
  }
  const v = ev.value;
  agg.count++;
  agg.sum += v;
  if (v < agg.min) agg.min = v;
  if (v > agg.max) agg.max = v;
  const type = e.event.type;
  if (type === 'gauge') {
    if (agg.last === undefined || e.event.ts >= agg.last.ts) agg.last = { value: v, ts: e.event.ts, lineage: e.lineage };
  } else if (type === 'distribution') {
    (agg.sketch ??= new Sketch()).add(v);
  }
}

function addCumulative(agg: Agg, e: LineagedEvent): void {
  const ev = e.event;
  const a = ev.agg;
  const v = a === undefined ? ev.value : a.count;
  agg.count++;
  agg.sum += v;
  if (v < agg.min) agg.min = v;
  if (v > agg.max) agg.max = v;
  if (a === undefined) {
    if (agg.last === undefined || ev.ts >= agg.last.ts) agg.last = { value: v, ts: ev.ts, lineage: e.lineage };
  } else if (agg.cum === undefined || ev.ts >= agg.cum.ts) {
    agg.cum = { agg: a, ts: ev.ts, lineage: e.lineage };
  }
}

/** Whether an event adds nothing to any bucket: a pre-aggregated delta point of no observations. */
export const isEmptyPoint = (e: { readonly agg?: DistributionAgg; readonly start?: number }): boolean => e.agg !== undefined && e.start === undefined && e.agg.count === 0;

/** Adds one event to a 1 h item's aggregate and, for count and gauge events, to its minute's. */
export function addToHour(agg: Agg, e: LineagedEvent, start: number, packFrom: number): void {
  addToAgg(agg, e);
  const ev = e.event;
  if (ev.type === 'distribution' || ev.ts < packFrom) return;
  const minutes = (agg.minutes ??= new Array<Agg | undefined>(MINUTES_PER_HOUR).fill(undefined));
  const m = minuteOf(ev.ts, start);
  addToAgg((minutes[m] ??= newAgg()), e);
}

/** The aggregate of some of a batch's events for one item (the slow path of merge.ts). */
export function aggregateIndexes(events: readonly LineagedEvent[], indexes: readonly number[], item: Pick<ItemPartial, 'start' | 'packFrom'>): Agg {
  const agg = newAgg();
  const packFrom = item.packFrom;
  if (packFrom === undefined) for (const i of indexes) addToAgg(agg, events[i]!);
  else for (const i of indexes) addToHour(agg, events[i]!, item.start, packFrom);
  return agg;
}

export function aggregateBatch(
  input: readonly LineagedEvent[],
  now: number,
  settings: AggregateSettings,
  ids: SeriesIdCache = new SeriesIdCache(),
): BatchAggregate {
  const events = inLineageOrder(input);
  const stats: AggregateStats = {
    eventsIn: events.length,
    rolledUp: 0,
    lateDropped: { '1m': 0, '1h': 0 },
    outOfRange: 0,
    emptyPoints: 0,
    newestTs: -Infinity,
  };
  const seriesByKey = new Map<string, SeriesState>();
  const metricsByKey = new Map<string, MetricTouch>();
  const items: ItemPartial[] = [];
  const ttl0 = settings.ttlMs[RESOLUTIONS[0]!];
  const ttl1 = settings.ttlMs[RESOLUTIONS[1]!];
  if (ttl0 > ttl1) throw new RangeError(`the 1 m retention (${ttl0} ms) is longer than the 1 h retention (${ttl1} ms): minutes live in 1 h items`);
  const size0 = RESOLUTION_MS[RESOLUTIONS[0]!];
  const size1 = RESOLUTION_MS[RESOLUTIONS[1]!];
  const packFrom = now - ttl0;

  for (let i = 0; i < events.length; i++) {
    const le = events[i]!;
    const e = le.event;
    if (!inRollupRange(e.value)) {
      stats.outOfRange++;
      continue;
    }
    if (isEmptyPoint(e)) {
      stats.emptyPoints++;
      continue;
    }
    const age = now - e.ts;
    const in0 = age <= ttl0;
    const in1 = age <= ttl1;
    if (!in0) stats.lateDropped[RESOLUTIONS[0]!]++;
    if (!in1) stats.lateDropped[RESOLUTIONS[1]!]++;
    if (!in0 && !in1) continue;

    const ref = ids.lookup(e.tenant, e.name, e.tags);
    let s = seriesByKey.get(ref.key);
    if (s === undefined) {
      const id = ref.id;
      const mk = `${e.tenant}#${e.name}`;
      let metric = metricsByKey.get(mk);
      if (metric === undefined) metricsByKey.set(mk, (metric = { tenant: e.tenant, name: e.name, type: e.type, maxTs: e.ts, firstIndex: i }));
      else if (e.ts > metric.maxTs) metric.maxTs = e.ts;
      s = {
        touch: { tenant: e.tenant, name: e.name, seriesId: id, type: e.type, tags: e.tags, minTs: e.ts, maxTs: e.ts, firstIndex: i },
        metric,
        buckets: [new Map(), new Map()],
        last: [undefined, undefined],
      };
      seriesByKey.set(ref.key, s);
    } else {
      const t = s.touch;
      if (e.ts < t.minTs) t.minTs = e.ts;
      if (e.ts > t.maxTs) {
        t.maxTs = e.ts;
        if (e.ts > s.metric.maxTs) s.metric.maxTs = e.ts;
      }
    }
    stats.rolledUp++;
    if (e.ts > stats.newestTs) stats.newestTs = e.ts;
    // Count and gauge minutes are packed into the 1 h item (the 1 m retention is not longer).
    if (in0 && e.type === 'distribution') addToBucket(s, 0, e.ts - (e.ts % size0), le, i, settings, items, packFrom);
    if (in1) addToBucket(s, 1, e.ts - (e.ts % size1), le, i, settings, items, packFrom);
  }

  return {
    events,
    items,
    series: [...seriesByKey.values()].map((s) => s.touch),
    metrics: [...metricsByKey.values()],
    stats,
  };
}

function addToBucket(
  s: SeriesState,
  r: 0 | 1,
  start: number,
  le: LineagedEvent,
  index: number,
  settings: AggregateSettings,
  items: ItemPartial[],
  packFrom: number,
): void {
  let item = s.last[r];
  if (item === undefined || item.start !== start) item = s.buckets[r].get(start);
  if (item === undefined) {
    const res = RESOLUTIONS[r]!;
    const t = s.touch;
    const key = { pk: bucketPk(t.tenant, t.seriesId, res), sk: bucketSk(start) };
    item = {
      key,
      id: itemId(key),
      res,
      start,
      tenant: t.tenant,
      name: t.name,
      type: t.type,
      tags: t.tags,
      seriesId: t.seriesId,
      ttl: bucketTtl(start, res, settings.ttlMs[res]),
      packFrom: r === 1 ? packFrom : undefined,
      parts: [],
    };
    s.buckets[r].set(start, item);
    items.push(item);
  }
  s.last[r] = item;
  const shardId = le.lineage.shardId;
  let part = item.parts[item.parts.length - 1];
  if (part === undefined || part.shardId !== shardId) {
    part = item.parts.find((p) => p.shardId === shardId);
    if (part === undefined) {
      part = { shardId, agg: newAgg(), indexes: [] };
      item.parts.push(part);
    }
  }
  if (r === 1) addToHour(part.agg, le, start, packFrom);
  else addToAgg(part.agg, le);
  part.indexes.push(index);
}


/**
 * Lambda delivers a shard's records in order and the codec keeps sub-indexes in order, so the
 * batch is already in lineage order; sort (stably, per shard) only if it is not.
 */
function inLineageOrder(events: readonly LineagedEvent[]): readonly LineagedEvent[] {
  const lastByShard = new Map<string, Lineage>();
  let prev: Lineage | undefined;
  for (const e of events) {
    const l = e.lineage;
    // Events of one record share their position strings: only sub-indexes to compare.
    if (prev !== undefined && prev.sequenceNumber === l.sequenceNumber && prev.shardId === l.shardId) {
      if (l.subIndex < prev.subIndex) return sortByLineage(events);
    } else {
      // A new record: the previous one's last event is its shard's latest so far.
      if (prev !== undefined) lastByShard.set(prev.shardId, prev);
      const before = lastByShard.get(l.shardId);
      if (before !== undefined && compareLin(before, l) > 0) return sortByLineage(events);
    }
    prev = l;
  }
  return events;
}

function sortByLineage(events: readonly LineagedEvent[]): LineagedEvent[] {
  return [...events].sort((a, b) =>
    a.lineage.shardId === b.lineage.shardId ? compareLin(a.lineage, b.lineage) : a.lineage.shardId < b.lineage.shardId ? -1 : 1,
  );
}

function compareLin(a: Lineage, b: Lineage): number {
  return compareSeq(a.sequenceNumber, b.sequenceNumber) || a.subIndex - b.subIndex;
}
