/**
 * `GET /v1/events?from=&to=&name=&filter=&limit=&cursor=`: raw events from the archive, newest
 * first (by ts, then lineage), one page at a time. Pure over the PartitionReader port.
 *
 * Partitions are the tenant's hours overlapping [from, to), read newest first (a few at a time)
 * until the page is full. The cursor is the position (ts and lineage) of the last event returned,
 * opaque to the caller; it carries no tenant and no path, so it can only move within the caller's
 * own partitions, and the next page is asked for with the same parameters plus `cursor`.
 *
 *   → { events: [{ name, ts, type, value, tags, id?, attrs?, start?, agg? }], nextCursor: string | null }
 */
import { partitionOf, partitionStart, type Partition } from '../shared/archive/keys.ts';
import { compareSeq } from '../shared/batch.ts';
import { HttpError, json, type HttpResponse } from '../shared/http.ts';
import type { EventRow, PartitionReader } from './events-reader.ts';
import { checkKnown, clip, parseFilter, parseMetricName, parseRange, type Filter, type RawParams } from './params.ts';

export const EVENTS_PARAMS = ['from', 'to', 'name', 'filter', 'limit', 'cursor'] as const;
export const DEFAULT_EVENTS_LIMIT = 100;
export const MAX_EVENTS_LIMIT = 1000;
/** Widest range of one request, in hours (partitions). */
export const MAX_EVENTS_HOURS = 168;
/** Partitions read concurrently. */
export const PARTITION_CONCURRENCY = 4;

const HOUR_MS = 3_600_000;

export interface Position {
  readonly ts: number;
  readonly shard: string;
  readonly seq: string;
  readonly sub: number;
}

export interface EventsParams {
  readonly from: number;
  readonly to: number;
  readonly name?: string;
  readonly filter: readonly Filter[];
  readonly limit: number;
  readonly cursor?: Position;
}

const bad = (m: string) => new HttpError(400, m);

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([1, p.ts, p.shard, p.seq, p.sub]), 'utf8').toString('base64url');
}

export function decodeCursor(raw: string): Position {
  const invalid = bad('cursor: invalid; pass the nextCursor of the previous page unchanged');
  if (raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalid;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(v) || v.length !== 5 || v[0] !== 1) throw invalid;
  const [, ts, shard, seq, sub] = v as [number, unknown, unknown, unknown, unknown];
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) throw invalid;
  if (typeof shard !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(shard)) throw invalid;
  if (typeof seq !== 'string' || !/^\d{1,128}$/.test(seq)) throw invalid;
  if (typeof sub !== 'number' || !Number.isSafeInteger(sub) || sub < 0) throw invalid;
  return { ts, shard, seq, sub };
}

export function parseEventsParams(q: RawParams, now: number): EventsParams {
  checkKnown(q, EVENTS_PARAMS);
  const { from, to } = parseRange(q, now);
  const hours = Math.ceil(to / HOUR_MS) - Math.floor(from / HOUR_MS);
  if (hours > MAX_EVENTS_HOURS) throw bad(`range too large: ${hours} hours, more than ${MAX_EVENTS_HOURS} (7 days) for /v1/events; narrow from/to`);
  let limit = DEFAULT_EVENTS_LIMIT;
  if (q.limit !== undefined && q.limit !== '') {
    if (!/^\d{1,5}$/.test(q.limit) || Number(q.limit) < 1 || Number(q.limit) > MAX_EVENTS_LIMIT) {
      throw bad(`limit: must be an integer from 1 to ${MAX_EVENTS_LIMIT}, got ${JSON.stringify(clip(q.limit))}`);
    }
    limit = Number(q.limit);
  }
  const name = q.name === undefined || q.name === '' ? undefined : parseMetricName('name', q.name);
  const cursor = q.cursor === undefined || q.cursor === '' ? undefined : decodeCursor(q.cursor);
  return { from, to, filter: parseFilter(q.filter), limit, ...(name ? { name } : {}), ...(cursor ? { cursor } : {}) };
}

/** Newest first: ts descending, then lineage descending. */
export function compareDesc(a: EventRow, b: EventRow): number {
  if (a.ts !== b.ts) return b.ts - a.ts;
  if (a._shard !== b._shard) return a._shard < b._shard ? 1 : -1;
  return compareSeq(b._seq, a._seq) || b._sub - a._sub;
}

const positionOf = (r: EventRow): Position => ({ ts: r.ts, shard: r._shard, seq: r._seq, sub: r._sub });
const asRow = (p: Position): EventRow => ({ ts: p.ts, _shard: p.shard, _seq: p.seq, _sub: p.sub, name: '', type: '', value: 0, tags: '', id: null, attrs: null });

/** Hours of the tenant overlapping [from, to), newest first. */
export function partitionsOf(tenant: string, from: number, to: number): Partition[] {
  const out: Partition[] = [];
  for (let h = Math.floor((to - 1) / HOUR_MS) * HOUR_MS; h >= Math.floor(from / HOUR_MS) * HOUR_MS; h -= HOUR_MS) out.push(partitionOf(tenant, h));
  return out;
}

function matchesRow(r: EventRow, p: EventsParams): boolean {
  if (p.name !== undefined && r.name !== p.name) return false;
  if (p.filter.length === 0) return true;
  let tags: Record<string, unknown>;
  try {
    tags = JSON.parse(r.tags) as Record<string, unknown>;
  } catch {
    return false;
  }
  return p.filter.every((f) => Object.hasOwn(tags, f.key) && tags[f.key] === f.value);
}

export async function listEvents(tenant: string, q: RawParams, reader: PartitionReader, now: number): Promise<HttpResponse> {
  const p = parseEventsParams(q, now);
  const to = p.cursor ? Math.min(p.to, p.cursor.ts + 1) : p.to;
  if (to <= p.from) return json(200, { events: [], nextCursor: null });
  const parts = partitionsOf(tenant, p.from, to);
  const after = p.cursor ? asRow(p.cursor) : undefined;
  const page: EventRow[] = [];
  for (let i = 0; i < parts.length && page.length <= p.limit; i += PARTITION_CONCURRENCY) {
    const chunk = parts.slice(i, i + PARTITION_CONCURRENCY);
    const results = await Promise.all(
      chunk.map((part) => reader.read(part, Math.max(p.from, partitionStart(part)), Math.min(to, partitionStart(part) + HOUR_MS))),
    );
    for (const rows of results) {
      if (page.length > p.limit) break;
      const kept = rows.filter((r) => matchesRow(r, p) && (after === undefined || compareDesc(after, r) < 0)).sort(compareDesc);
      page.push(...kept.slice(0, p.limit + 1 - page.length));
    }
  }
  const more = page.length > p.limit;
  const events = page.slice(0, p.limit);
  return json(200, {
    events: events.map(toJson),
    nextCursor: more ? encodeCursor(positionOf(events.at(-1)!)) : null,
  });
}

function toJson(r: EventRow): Record<string, unknown> {
  const e: Record<string, unknown> = { name: r.name, ts: r.ts, type: r.type, value: r.value, tags: parseObject(r.tags) ?? {} };
  if (r.id !== null) e.id = r.id;
  if (r.attrs !== null) {
    const a = parseObject(r.attrs);
    if (a !== undefined) e.attrs = a;
  }
  if (r.start != null) e.start = r.start;
  if (r.agg != null) {
    const a = parseObject(r.agg);
    if (a !== undefined) e.agg = a;
  }
  return e;
}

function parseObject(s: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(s) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
