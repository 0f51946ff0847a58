/**
 * Parsing and validation of the query API's parameters. Pure: every user-supplied string is
 * checked here, before it can reach an item key, an object key or a filter, and every rejection is
 * an HttpError(400) naming the parameter and saying what to change.
 *
 * Names, tag keys and tag values follow the event contract's one rule (functions/shared/event.ts:
 * checkName, checkTagKey, checkTagValue), so every name and tag the intake accepted can be asked
 * for, and nothing else. A name is a safe path by that rule (no `.`/`..` or empty segment, no `#`,
 * no `%`); tag values never reach a key or a path (series ids are hashes), only comparisons.
 *
 * `filter` and `by` are comma-separated lists in which `\` escapes the next character: `\,` is a
 * comma and `\\` a backslash inside an item (a tag value may hold both; a key holds no `,` and no
 * `:`). A `filter` item is `key:value`, the value being everything after the first `:`. The query
 * string itself is percent-decoded once before this (API Gateway, or the local front).
 */
import { checkName, checkTagKey, checkTagValue, LIMITS, quoted, RESERVED_TAG_PREFIX } from '../shared/event.ts';
import { HttpError } from '../shared/http.ts';

export const AGGS = ['sum', 'avg', 'min', 'max', 'count', 'last', 'p50', 'p90', 'p95', 'p99'] as const;
export type Agg = (typeof AGGS)[number];
export const QUANTILES: Readonly<Partial<Record<Agg, number>>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export const INTERVALS = [60, 3600, 86400] as const;
export type Interval = (typeof INTERVALS)[number];

/** Most points per series a query may return (auto interval picks the finest that fits). */
export const MAX_POINTS = 1500;
/** Most filter pairs and group-by keys. */
export const MAX_FILTERS = 16;
export const MAX_GROUP_BY = 4;
/** Default range when `from` is absent: the hour before `to`. */
export const DEFAULT_RANGE_MS = 3_600_000;

export interface Filter {
  readonly key: string;
  readonly value: string;
}

export interface QueryParams {
  readonly metric: string;
  /** Inclusive start, epoch ms. */
  readonly from: number;
  /** Exclusive end, epoch ms. */
  readonly to: number;
  readonly agg: Agg;
  readonly interval: Interval;
  readonly filter: readonly Filter[];
  readonly by: readonly string[];
}

export type RawParams = Readonly<Record<string, string | undefined>>;

const bad = (message: string): HttpError => new HttpError(400, message);

/** A metric name: the event contract's rule (checkName), under which a name is a safe path. */
export function parseMetricName(param: string, raw: string | undefined): string {
  if (raw === undefined || raw === '') throw bad(`${param}: required (a metric name)`);
  const problem = checkName(raw);
  if (problem !== undefined) throw bad(`${param}: ${problem}`);
  return raw;
}

/**
 * Splits a comma-separated list, `\` escaping the next character: `\,` is a comma and `\\` a
 * backslash inside an item. Any other escape, and a `\` at the end, is refused.
 */
export function splitList(param: string, raw: string): string[] {
  const items: string[] = [];
  let item = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\') {
      const next = raw[i + 1];
      if (next !== ',' && next !== '\\') {
        throw bad(`${param}: "\\" at position ${i} must be followed by "," or "\\" (write \\, for a comma and \\\\ for a backslash in a tag value)`);
      }
      item += next;
      i++;
    } else if (c === ',') {
      items.push(item);
      item = '';
    } else {
      item += c;
    }
  }
  items.push(item);
  return items;
}

function checkKey(param: string, key: string): void {
  if (key.length === 0) throw bad(`${param}: empty tag key`);
  if (key.startsWith(RESERVED_TAG_PREFIX)) throw bad(`${param}: tag key ${quoted(key)} is reserved (keys starting with ${RESERVED_TAG_PREFIX} are streamfold's own, hidden from every response)`);
  const problem = checkTagKey(key);
  if (problem !== undefined) throw bad(`${param}: tag key ${quoted(key)} ${problem}`);
}

/**
 * `env:prod,service:api`: pairs that must all match. The value is everything after the first `:`
 * (keys hold none), may be empty, and writes `,` as `\,` and `\` as `\\`.
 */
export function parseFilter(raw: string | undefined, param = 'filter'): Filter[] {
  if (raw === undefined || raw === '') return [];
  const parts = splitList(param, raw);
  if (parts.length > MAX_FILTERS) throw bad(`${param}: more than ${MAX_FILTERS} key:value pairs`);
  const out: Filter[] = [];
  const seen = new Set<string>();
  for (const p of parts) {
    const i = p.indexOf(':');
    if (i < 0) throw bad(`${param}: ${quoted(p)} is not key:value (e.g. filter=env:prod,service:api)`);
    const key = p.slice(0, i);
    const value = p.slice(i + 1);
    checkKey(param, key);
    const problem = checkTagValue(value);
    if (problem !== undefined) throw bad(`${param}: tag value ${quoted(value)} ${problem}`);
    if (seen.has(key)) throw bad(`${param}: tag key ${quoted(key)} given twice`);
    seen.add(key);
    out.push({ key, value });
  }
  return out;
}

/** `host` or `host,region` (the same list syntax as filter). */
export function parseGroupBy(raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return [];
  const keys = splitList('by', raw);
  if (keys.length > MAX_GROUP_BY) throw bad(`by: more than ${MAX_GROUP_BY} tag keys`);
  for (const k of keys) checkKey('by', k);
  if (new Set(keys).size !== keys.length) throw bad('by: a tag key is given twice');
  return keys;
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Epoch ms (digits) or RFC 3339; 2000-01-01 or later, and representable. */
export function parseTime(param: string, raw: string): number {
  let ms: number;
  if (/^\d{1,16}$/.test(raw)) {
    ms = Number(raw);
  } else {
    const m = RFC3339_RE.exec(raw);
    if (m === null) throw bad(`${param}: ${JSON.stringify(clip(raw))} is neither epoch milliseconds nor an RFC 3339 date-time (e.g. 2026-11-28T01:02:03Z)`);
    const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
    const date = new Date(Date.UTC(y, mo - 1, d, h, mi, Math.min(s, 59)));
    if (mo < 1 || mo > 12 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 60) throw bad(`${param}: ${JSON.stringify(raw)} is not a valid date-time`);
    const frac = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
    let offsetMin = 0;
    if (m[8] === undefined) {
      const oh = Number(m[10]);
      const om = Number(m[11]);
      if (oh > 23 || om > 59) throw bad(`${param}: ${JSON.stringify(raw)}: offset out of range`);
      offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
    }
    ms = date.getTime() + frac - offsetMin * 60_000;
  }
  if (ms < LIMITS.minTs) throw bad(`${param}: ${raw} is before 2000-01-01T00:00:00Z; give epoch milliseconds (not seconds) or RFC 3339`);
  if (ms > 8.64e15) throw bad(`${param}: ${raw} is out of range`);
  return ms;
}

/** Checks that only `allowed` parameters are present. */
export function checkKnown(q: RawParams, allowed: readonly string[]): void {
  for (const k of Object.keys(q)) {
    if (!allowed.includes(k)) throw bad(`unknown parameter ${JSON.stringify(clip(k))} (allowed: ${allowed.join(', ')})`);
  }
}

export const QUERY_PARAMS = ['metric', 'from', 'to', 'agg', 'interval', 'filter', 'by'] as const;

/** `from`/`to` with defaults (`to` = now, `from` = to - 1 h) and order checked. */
export function parseRange(q: RawParams, now: number): { from: number; to: number } {
  const to = q.to === undefined || q.to === '' ? now : parseTime('to', q.to);
  const from = q.from === undefined || q.from === '' ? to - DEFAULT_RANGE_MS : parseTime('from', q.from);
  if (from >= to) throw bad(`from must be before to (from=${new Date(from).toISOString()}, to=${new Date(to).toISOString()})`);
  return { from, to };
}

/** Points of [from, to) at `interval` seconds: the intervals it overlaps. */
export function pointCount(from: number, to: number, interval: number): number {
  const ms = interval * 1000;
  return Math.ceil(to / ms) - Math.floor(from / ms);
}

/** The finest interval with at most MAX_POINTS points over the range. */
export function autoInterval(from: number, to: number): Interval {
  for (const i of INTERVALS) if (pointCount(from, to, i) <= MAX_POINTS) return i;
  throw bad(`range too large: ${Math.round((to - from) / 86_400_000)} days is more than ${MAX_POINTS} points even at interval=86400; narrow from/to`);
}

export function parseQueryParams(q: RawParams, now: number): QueryParams {
  checkKnown(q, QUERY_PARAMS);
  const metric = parseMetricName('metric', q.metric);
  const { from, to } = parseRange(q, now);
  let agg: Agg = 'avg';
  if (q.agg !== undefined && q.agg !== '') {
    if (!(AGGS as readonly string[]).includes(q.agg)) throw bad(`agg: must be one of ${AGGS.join(', ')}, got ${JSON.stringify(clip(q.agg))}`);
    agg = q.agg as Agg;
  }
  let interval: Interval;
  if (q.interval === undefined || q.interval === '') {
    interval = autoInterval(from, to);
  } else {
    const n = Number(q.interval);
    if (!/^\d+$/.test(q.interval) || !(INTERVALS as readonly number[]).includes(n)) {
      throw bad(`interval: must be 60, 3600 or 86400 (seconds), got ${JSON.stringify(clip(q.interval))}`);
    }
    interval = n as Interval;
    const points = pointCount(from, to, interval);
    if (points > MAX_POINTS) {
      throw bad(`interval: ${interval} s over this range is ${points} points, more than ${MAX_POINTS}; use a larger interval or a shorter range`);
    }
  }
  return { metric, from, to, agg, interval, filter: parseFilter(q.filter), by: parseGroupBy(q.by) };
}

export function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
