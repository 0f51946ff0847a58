/**
 * Item layout of the rollups table (lib/resources.ts: `pk` S, `sk` S, TTL attribute `ttl`): the
 * keys of every item and what each attribute holds. The rollup function writes it; the query
 * function reads it through the helpers below and those of this folder (item.ts decodes a bucket
 * item, minutes.ts and sketch.ts its packed minutes and sketch, lineage.ts its lineage strings).
 * Tenants are `[a-z0-9_-]` (never `#`), metric names `[A-Za-z0-9_.:/-]` (never `#`), so `#`
 * separates safely.
 *
 * Bucket items, one per (series, resolution, bucket):
 *   pk  = `<tenant>#s#<seriesId>#<res>`             res: `1m` (distributions only) | `1h`
 *   sk  = bucket start, epoch ms, zero-padded to 13 digits (sorts as a number)
 *   count N, sum N, min N, max N         over every event of the bucket (values are 0 or
 *                                        1e-100 <= |v| <= 1e100: the validator refuses others)
 *   last N, lastTs N, lastLin S          gauges only: the value of the event with the greatest
 *                                        (ts, shardId, sequenceNumber, subIndex); lastLin is
 *                                        `<shardId>/<seq>:<sub>` of that event (tie-break on merge)
 *   sketch B                             distributions only: `Sketch.decode(bytes).quantile(q)`
 *                                        (sketch.ts: DDSketch 1 %, merge buckets with `merge`)
 *   cumCount N, cumSum N, cumTs N,       cumulative histogram series (`_sf_start`, event.ts): the
 *   cumLin S, cumSketch B                bucket's latest point, replace-if-newer by (cumTs, cumLin)
 *                                        as `last`: its count, sum and buckets (a sketch) since its
 *                                        start (a cumulative count keeps its total as `last`)
 *   mins B                               1 h items of count and gauge series: the hour's 1-minute
 *                                        buckets (count, sum, min, max, last), minutes.ts. They
 *                                        replace 1 m items for these types: a day of minutes is
 *                                        24 items, and a batch writes one item per series.
 *   name S, type S                       the series (type: of the first write; a series is expected
 *                                        to keep it); tags M<S> only on items the first layout wrote
 *   ttl N                                epoch s: bucket end + retention of the resolution (packed
 *                                        minutes live as long as their hour; the 1 m retention still
 *                                        bounds how late an event may come and enter its minute)
 *   wm M<S>                              shardId -> `<seq>:<sub>` of the last event applied from
 *                                        that shard: the `to` of the last commit folded in (the
 *                                        exactly-once watermark, fold.ts; docs/ROLLUPS.md)
 *   ver N                                version, +1 per write (optimistic concurrency)
 *
 * Series index, one per series:
 *   pk = `<tenant>#idx#<name>`, sk = `<seriesId>`
 *   tags M<S>, type S, firstSeen N, lastSeen N (event time, epoch ms), ttl N
 *   lastSeen is refreshed at most every INDEX_REFRESH_MS per container: it may trail the newest
 *   event of the series by up to that much, so a query for [from, to] keeps a series when
 *   `lastSeen >= from - INDEX_REFRESH_MS`. firstSeen is the oldest event of the batch that first
 *   indexed the series (late events older than that do not lower it).
 *
 * Metric list, one per metric name:
 *   pk = `<tenant>#metrics`, sk = `<name>`, type S, lastSeen N, ttl N (same refresh rule),
 *   shards SS: every shard that has written a segment of the metric (readers look at their logs)
 *
 * The log (docs/ROLLUPS.md), per shard; `!` starts no tenant, so these never meet a tenant's keys:
 *   segment   pk = `<tenant>#seg#<name>#<shardId>`, sk = logSk(n, attempt, part)
 *             d B (segment.ts), to S (`<seq>:<sub>`), parts N, ttl N
 *   manifest  pk = `!man#<shardId>`, sk = logSk(n, attempt, part)
 *             d B (segment.ts manifest), parts N, ttl N
 *   head      pk = `!head#<shardId>`, sk = `-`: n N, wm S, c B (head.ts), ver N
 *   shards    pk = `!heads`, sk = `<shardId>`: every shard with a head (the sweeper's list)
 * Segments and manifests of commit n count only if the head lists (n, attempt); they expire by
 * TTL some days after their commit, long after it is folded.
 *
 * The 1-day resolution is computed at query time from 1 h buckets.
 */
import { createHash } from 'node:crypto';
import { SETTINGS } from '../../../lib/settings.ts';

export type Resolution = '1m' | '1h';
export const RESOLUTIONS: readonly Resolution[] = ['1m', '1h'];
export const RESOLUTION_MS: Readonly<Record<Resolution, number>> = { '1m': 60_000, '1h': 3_600_000 };

/** How stale an index/list `lastSeen` may be (see above). */
export const INDEX_REFRESH_MS = 3_600_000;

const DAY_MS = 86_400_000;
/** Default retention per resolution (SETTINGS.rollup); ROLLUP_TTL_1M_DAYS / ROLLUP_TTL_1H_DAYS override it. */
export const DEFAULT_TTL_DAYS: Readonly<Record<Resolution, number>> = {
  '1m': SETTINGS.rollup.ttl1mDays.default,
  '1h': SETTINGS.rollup.ttl1hDays.default,
};
export const daysToMs = (days: number): number => days * DAY_MS;

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** One string per item, for maps. */
export const itemId = (k: ItemKey): string => `${k.pk}\u0000${k.sk}`;

/** Start of the bucket holding `ts` (epoch ms; ts is always after 2000-01-01). */
export function bucketStart(ts: number, res: Resolution): number {
  const size = RESOLUTION_MS[res];
  return ts - (ts % size);
}

export const bucketSk = (start: number): string => String(start).padStart(13, '0');
export const parseBucketSk = (sk: string): number => Number(sk);

export const bucketPk = (tenant: string, seriesId: string, res: Resolution): string => `${tenant}#s#${seriesId}#${res}`;
export const indexPk = (tenant: string, name: string): string => `${tenant}#idx#${name}`;
export const metricsPk = (tenant: string): string => `${tenant}#metrics`;

/** Expiry of a bucket item, epoch seconds: bucket end plus the resolution's retention. */
export function bucketTtl(start: number, res: Resolution, ttlMs: number): number {
  return Math.ceil((start + RESOLUTION_MS[res] + ttlMs) / 1000);
}

/** Tag pairs sorted by key (UTF-16 code unit order): the tags in a series id's canonical JSON. */
export function sortedTagPairs(tags: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.keys(tags)
    .sort()
    .map((k) => [k, tags[k]!]);
}

/**
 * Unambiguous key of (tenant, name, tags sorted by key): lengths prefix the tag strings, which may
 * hold any character.
 */
export function seriesKey(tenant: string, name: string, tags: Readonly<Record<string, string>>): string {
  let key = `${tenant}#${name}`;
  let prev: string | undefined;
  let sorted = true;
  for (const k in tags) {
    if (prev !== undefined && k < prev) {
      sorted = false;
      break;
    }
    prev = k;
    const v = tags[k]!;
    key += `|${k.length}:${k}${v.length}:${v}`;
  }
  if (sorted) return key;
  key = `${tenant}#${name}`;
  for (const k of Object.keys(tags).sort()) {
    const v = tags[k]!;
    key += `|${k.length}:${k}${v.length}:${v}`;
  }
  return key;
}

/**
 * Stable id of a series: sha256 of (tenant, name, sorted tags) as canonical JSON, base64url,
 * 22 chars (132 bits).
 */
export function seriesId(tenant: string, name: string, tags: Readonly<Record<string, string>>): string {
  return seriesIdOfCanonical(JSON.stringify([tenant, name, sortedTagPairs(tags)]));
}

export function seriesIdOfCanonical(canonical: string): string {
  return createHash('sha256').update(canonical, 'utf8').digest('base64url').slice(0, 22);
}

/** The log's keys (see above). */
export const segmentPk = (tenant: string, name: string, shardId: string): string => `${tenant}#seg#${name}#${shardId}`;
export const manifestPk = (shardId: string): string => `!man#${shardId}`;
export const headPk = (shardId: string): string => `!head#${shardId}`;
export const HEAD_SK = '-';
export const SHARDS_PK = '!heads';
/** Commit number (10 digits, so keys sort by it), attempt id, part (3 digits). */
export const logSk = (n: number, attempt: string, part: number): string => `${String(n).padStart(10, '0')}#${attempt}#${String(part).padStart(3, '0')}`;
export const logSkPrefix = (n: number, attempt: string): string => `${String(n).padStart(10, '0')}#${attempt}#`;
/** The first sort key of commit `n` (every key of commits >= n sorts at or after it). */
export const logSkFrom = (n: number): string => String(n).padStart(10, '0');
export function parseLogSk(sk: string): { n: number; attempt: string; part: number } {
  const [n, attempt, part] = sk.split('#');
  return { n: Number(n), attempt: attempt ?? '', part: Number(part) };
}

/** What names a log item: a segment part of (tenant, name), or a manifest part of a commit. */
export interface LogItemRef {
  readonly kind: 'segment' | 'manifest';
  readonly tenant: string;
  readonly name: string;
  readonly shardId: string;
  readonly n: number;
  readonly attempt: string;
  readonly part: number;
}

/** The table key of a log item. */
export function logItemKey(l: LogItemRef): ItemKey {
  return { pk: l.kind === 'segment' ? segmentPk(l.tenant, l.name, l.shardId) : manifestPk(l.shardId), sk: logSk(l.n, l.attempt, l.part) };
}
