/**
 * Helpers for the query tests: an in-memory rollup reader built from events (the rollup's item
 * fields, computed directly), and the ground truth of a query computed from the raw events
 * (exact values and exact quantiles, no buckets, no sketches).
 */
import { bucketStart, seriesId, type Resolution } from '../../../functions/shared/rollups/keys.ts';
import { Sketch } from '../../../functions/shared/rollups/sketch.ts';
import type { EventType } from '../../../functions/shared/event.ts';
import { QUANTILES, type Agg, type Filter, type Interval } from '../../../functions/query/params.ts';
import type { BucketFields, MetricInfo, RollupReader, SeriesInfo } from '../../../functions/query/rollup-reader.ts';
import type { BucketData } from '../../../functions/query/series.ts';
import { HttpError } from '../../../functions/shared/http.ts';
import { expect } from 'vitest';

export interface QEvent {
  readonly tenant: string;
  readonly name: string;
  readonly ts: number;
  readonly value: number;
  readonly type: EventType;
  readonly tags: Readonly<Record<string, string>>;
}

/** Rollup reader over events; `lastLin` orders events by their index in the list. */
export class MemoryRollupReader implements RollupReader {
  calls = 0;
  readonly reads: Array<{ tenant: string; seriesIds: readonly string[]; res: Resolution; first: number; last: number; fields: BucketFields }> = [];

  constructor(private readonly events: readonly QEvent[]) {}

  async listMetrics(tenant: string): Promise<MetricInfo[]> {
    const out = new Map<string, MetricInfo>();
    for (const e of this.events) {
      if (e.tenant !== tenant) continue;
      const m = out.get(e.name);
      out.set(e.name, { name: e.name, type: m?.type ?? e.type, lastSeen: Math.max(m?.lastSeen ?? 0, e.ts) });
    }
    return [...out.values()];
  }

  async getMetric(tenant: string, name: string): Promise<MetricInfo | undefined> {
    return (await this.listMetrics(tenant)).find((m) => m.name === name);
  }

  async listSeries(tenant: string, name: string): Promise<SeriesInfo[]> {
    const out = new Map<string, SeriesInfo>();
    for (const e of this.events) {
      if (e.tenant !== tenant || e.name !== name) continue;
      const id = seriesId(tenant, name, e.tags);
      const s = out.get(id);
      out.set(id, {
        seriesId: id,
        tags: e.tags,
        type: s?.type ?? e.type,
        firstSeen: Math.min(s?.firstSeen ?? Infinity, e.ts),
        lastSeen: Math.max(s?.lastSeen ?? 0, e.ts),
      });
    }
    return [...out.values()];
  }

  async readBuckets(tenant: string, _name: string, seriesIds: readonly string[], res: Resolution, first: number, last: number, fields: BucketFields): Promise<Map<string, BucketData[]>> {
    this.reads.push({ tenant, seriesIds, res, first, last, fields });
    const out = new Map<string, BucketData[]>();
    for (const id of seriesIds) {
      const byStart = new Map<number, { count: number; sum: number; min: number; max: number; last?: number; lastTs?: number; lastLin?: string; sketch?: Sketch }>();
      this.events.forEach((e, i) => {
        if (e.tenant !== tenant || seriesId(e.tenant, e.name, e.tags) !== id) return;
        const start = bucketStart(e.ts, res);
        if (start < first || start > last) return;
        let b = byStart.get(start);
        if (b === undefined) byStart.set(start, (b = { count: 0, sum: 0, min: Infinity, max: -Infinity }));
        b.count++;
        b.sum += e.value;
        b.min = Math.min(b.min, e.value);
        b.max = Math.max(b.max, e.value);
        if (e.type === 'gauge' && (b.lastTs === undefined || e.ts >= b.lastTs)) {
          b.last = e.value;
          b.lastTs = e.ts;
          b.lastLin = `shardId-000000000000/${String(i).padStart(20, '0')}:0`;
        }
        if (e.type === 'distribution') (b.sketch ??= new Sketch()).add(e.value);
      });
      out.set(
        id,
        [...byStart.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([start, b]) => ({
            start,
            count: b.count,
            // As the DynamoDB reader: attributes outside `fields` are not read (0).
            sum: fields === 'sum' ? b.sum : 0,
            min: fields === 'min' ? b.min : 0,
            max: fields === 'max' ? b.max : 0,
            ...(fields === 'last' && b.last !== undefined ? { last: b.last, lastTs: b.lastTs!, lastLin: b.lastLin! } : {}),
            ...(fields === 'sketch' && b.sketch !== undefined ? { sketch: b.sketch.encode() } : {}),
          })),
      );
    }
    return out;
  }
}

export function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/**
 * The answer a query must give, from raw events: groups by `by`, points per interval overlapping
 * [from, to) (buckets are whole: an interval counts every event in it). Sorted as the API sorts.
 */
export function truthQuery(
  events: readonly QEvent[],
  q: { tenant: string; metric: string; from: number; to: number; agg: Agg; interval: Interval; filter?: readonly Filter[]; by?: readonly string[] },
): Array<{ tags: Record<string, string>; points: Array<[number, number]> }> {
  const ms = q.interval * 1000;
  const first = Math.floor(q.from / ms) * ms;
  const end = Math.ceil(q.to / ms) * ms;
  const by = q.by ?? [];
  const groups = new Map<string, { tags: Record<string, string>; slots: Map<number, QEvent[]> }>();
  for (const e of events) {
    if (e.tenant !== q.tenant || e.name !== q.metric || e.ts < first || e.ts >= end) continue;
    if (!(q.filter ?? []).every((f) => e.tags[f.key] === f.value)) continue;
    const tags: Record<string, string> = {};
    for (const k of by) if (e.tags[k] !== undefined) tags[k] = e.tags[k]!;
    const key = JSON.stringify(by.map((k) => e.tags[k] ?? null));
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { tags, slots: new Map() }));
    const t = Math.floor(e.ts / ms) * ms;
    let slot = g.slots.get(t);
    if (slot === undefined) g.slots.set(t, (slot = []));
    slot.push(e);
  }
  const out = [...groups.values()].map((g) => ({
    tags: g.tags,
    points: [...g.slots.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([t, evs]): [number, number] => {
        const vals = evs.map((e) => e.value);
        const sum = vals.reduce((a, b) => a + b, 0);
        const qv = QUANTILES[q.agg];
        switch (q.agg) {
          case 'count':
            return [t, vals.length];
          case 'sum':
            return [t, sum];
          case 'avg':
            return [t, sum / vals.length];
          case 'min':
            return [t, Math.min(...vals)];
          case 'max':
            return [t, Math.max(...vals)];
          case 'last':
            return [t, [...evs].sort((a, b) => a.ts - b.ts).at(-1)!.value];
          default:
            return [t, exactQuantile([...vals].sort((a, b) => a - b), qv!)];
        }
      }),
  }));
  const key = (t: Record<string, string>) => JSON.stringify(Object.entries(t).sort());
  return out.sort((a, b) => (key(a.tags) < key(b.tags) ? -1 : key(a.tags) > key(b.tags) ? 1 : 0));
}

/** Asserts answer ≈ truth: same groups, same timestamps, values within `rel` (quantiles: 1 %). */
export function compareToTruth(
  answer: ReadonlyArray<{ tags: Record<string, string>; points: ReadonlyArray<readonly [number, number]> }>,
  truth: ReturnType<typeof truthQuery>,
  rel: number,
): string | undefined {
  if (answer.length !== truth.length) return `groups: ${answer.length} != ${truth.length}: ${JSON.stringify(answer.map((a) => a.tags))} vs ${JSON.stringify(truth.map((t) => t.tags))}`;
  for (let i = 0; i < truth.length; i++) {
    const a = answer[i]!;
    const t = truth[i]!;
    if (JSON.stringify(a.tags) !== JSON.stringify(t.tags)) return `group ${i}: tags ${JSON.stringify(a.tags)} != ${JSON.stringify(t.tags)}`;
    if (a.points.length !== t.points.length) return `group ${JSON.stringify(t.tags)}: ${a.points.length} points != ${t.points.length}`;
    for (let j = 0; j < t.points.length; j++) {
      const [at, av] = a.points[j]!;
      const [tt, tv] = t.points[j]!;
      if (at !== tt) return `group ${JSON.stringify(t.tags)} point ${j}: ts ${at} != ${tt}`;
      const tol = rel * Math.abs(tv) + 1e-9;
      if (Math.abs(av - tv) > tol) return `group ${JSON.stringify(t.tags)} at ${new Date(tt).toISOString()}: ${av} != ${tv}`;
    }
  }
  return undefined;
}

/** The message of the 400 that `fn` throws. */
export function error400(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(400);
    return (err as HttpError).message;
  }
  throw new Error('expected a 400');
}
