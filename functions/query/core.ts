/**
 * The query API over the rollups: routing, authentication (the `read` scope), validation and the
 * answer of each route. Pure over ports (no SDK here). Every read is scoped to the tenant of the
 * caller's key; no parameter names a tenant.
 *
 *   GET /v1/metrics                 → { metrics: [{ name, type, lastSeen }] }
 *   GET /v1/metrics/{name}/series   → { metric, type, series: [{ tags, firstSeen, lastSeen }] }
 *                                     (route `GET /v1/metrics/{name+}`: a name may hold `/`)
 *   GET /v1/query                   → { series: [{ tags, points: [[tsMs, value], …] }], interval }
 */
import { SETTINGS } from '../../lib/settings.ts';
import { checkTenant, clientTags, type EventType } from '../shared/event.ts';
import { HttpError, json, requireKey, type HttpResponse, type KeyAuthenticator } from '../shared/http.ts';
import { bucketStart, INDEX_REFRESH_MS, type Resolution } from '../shared/rollups/keys.ts';
import { countIncreases, histogramIncreases, isCumulative } from './cumulative.ts';
import { checkKnown, clip, parseFilter, parseMetricName, parseQueryParams, QUANTILES, type Agg, type Filter, type RawParams } from './params.ts';
import type { BucketFields, RollupReader, SeriesInfo } from './rollup-reader.ts';
import { aggregateSeries, bucketRange, resolutionFor, type BucketData } from './series.ts';

/** Most series one query may read; more is a 400 asking for a filter. */
export const DEFAULT_MAX_SERIES: number = SETTINGS.query.maxSeries.default;

export interface QueryRequest {
  /** `GET /v1/query`, as API Gateway's routeKey. */
  readonly routeKey: string;
  /** The path as sent (still percent-encoded). */
  readonly rawPath: string;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
  readonly query: RawParams;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

export interface QueryDeps {
  readonly auth: KeyAuthenticator;
  readonly rollups: RollupReader;
  readonly now?: () => number;
  readonly maxSeries?: number;
  /** Routes served by other modules (events, dashboard); they get the authenticated tenant. */
  readonly extraRoutes?: Readonly<Record<string, (req: QueryRequest, tenant: string) => Promise<HttpResponse>>>;
  /** Routes served without a key (the dashboard page). */
  readonly publicRoutes?: Readonly<Record<string, (req: QueryRequest) => Promise<HttpResponse>>>;
}

/** Answers one request; HttpErrors become their response, anything else is thrown (a 500). */
export async function handleQueryRequest(req: QueryRequest, deps: QueryDeps): Promise<HttpResponse> {
  try {
    return await route(req, deps);
  } catch (err) {
    if (err instanceof HttpError) return json(err.statusCode, { error: err.message }, err.headers);
    throw err;
  }
}

async function route(req: QueryRequest, deps: QueryDeps): Promise<HttpResponse> {
  const pub = deps.publicRoutes?.[req.routeKey];
  if (pub !== undefined) return pub(req);
  const known = ['GET /v1/metrics', SERIES_ROUTE, 'GET /v1/query'];
  const extra = deps.extraRoutes?.[req.routeKey];
  if (!known.includes(req.routeKey) && extra === undefined) throw new HttpError(404, `no route ${req.routeKey}`);
  const key = await requireKey(req.headers, deps.auth, 'read');
  const tenant = key.tenant;
  // Defence in depth: the tenant is a key component; it was validated when the key was created.
  if (checkTenant(tenant) !== undefined) throw new HttpError(403, 'this API key has an invalid tenant');
  if (extra !== undefined) return extra(req, tenant);
  switch (req.routeKey) {
    case 'GET /v1/metrics':
      return listMetrics(req, tenant, deps);
    case SERIES_ROUTE:
      return listSeries(req, tenant, deps);
    default:
      return query(req, tenant, deps);
  }
}

async function listMetrics(req: QueryRequest, tenant: string, deps: QueryDeps): Promise<HttpResponse> {
  checkKnown(req.query, []);
  const metrics = await deps.rollups.listMetrics(tenant);
  metrics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return json(200, { metrics: metrics.map((m) => ({ name: m.name, type: m.type, lastSeen: m.lastSeen })) });
}

/** The series route (lib/routes.ts): its greedy `{name+}` is `<metric name>/series`. */
export const SERIES_ROUTE = 'GET /v1/metrics/{name+}';
const SERIES_SUFFIX = '/series';

/**
 * The metric name of `GET /v1/metrics/{name}/series`: the greedy path parameter (decoded, as API
 * Gateway passes it: a name's `/` may be sent as is or as %2F) without its `/series` end, checked
 * by the event contract's name rule, under which a name is a safe path.
 */
export function pathName(req: QueryRequest): string {
  const rest = req.pathParameters.name ?? '';
  if (!rest.endsWith(SERIES_SUFFIX) || rest.length === SERIES_SUFFIX.length) {
    throw new HttpError(404, `no route GET /v1/metrics/${clip(rest)} (the series of a metric are at GET /v1/metrics/{name}/series)`);
  }
  return parseMetricName('name', rest.slice(0, -SERIES_SUFFIX.length));
}

async function listSeries(req: QueryRequest, tenant: string, deps: QueryDeps): Promise<HttpResponse> {
  const name = pathName(req);
  checkKnown(req.query, ['filter']);
  const filter = parseFilter(req.query.filter);
  const metric = await deps.rollups.getMetric(tenant, name);
  if (metric === undefined) throw new HttpError(404, `metric ${JSON.stringify(name)} not found`);
  // Series that differ only by reserved tags (a cumulative series' start) are one series here.
  const merged = new Map<string, { tags: Record<string, string>; firstSeen: number; lastSeen: number; order: string }>();
  for (const s of await deps.rollups.listSeries(tenant, name)) {
    const tags = sortedTags(clientTags(s.tags));
    if (!matches(tags, filter)) continue;
    const order = JSON.stringify(Object.entries(tags));
    const m = merged.get(order);
    if (m === undefined) merged.set(order, { tags, firstSeen: s.firstSeen, lastSeen: s.lastSeen, order });
    else {
      m.firstSeen = Math.min(m.firstSeen, s.firstSeen);
      m.lastSeen = Math.max(m.lastSeen, s.lastSeen);
    }
  }
  const series = [...merged.values()].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  return json(200, {
    metric: name,
    type: metric.type,
    series: series.map(({ order: _o, ...s }) => s),
  });
}

async function query(req: QueryRequest, tenant: string, deps: QueryDeps): Promise<HttpResponse> {
  const now = (deps.now ?? Date.now)();
  const p = parseQueryParams(req.query, now);
  // Both reads are keyed by (tenant, validated name): issued together, one round trip.
  const [metric, index] = await Promise.all([deps.rollups.getMetric(tenant, p.metric), deps.rollups.listSeries(tenant, p.metric)]);
  if (metric === undefined) throw new HttpError(404, `metric ${JSON.stringify(p.metric)} not found`);
  const candidates = index.filter(
    (s) => matches(s.tags, p.filter) && s.lastSeen >= p.from - INDEX_REFRESH_MS,
  );
  const cumulative = candidates.filter((s) => isCumulative(s.tags));
  const plain = cumulative.length === 0 ? candidates : candidates.filter((s) => !isCumulative(s.tags));
  checkAggForType(p.agg, metric.type, p.metric, cumulative.length > 0);
  const max = deps.maxSeries ?? DEFAULT_MAX_SERIES;
  if (candidates.length > max) {
    throw new HttpError(400, `query matches ${candidates.length} series of ${JSON.stringify(p.metric)}, more than ${max}; narrow it with filter`);
  }
  const { first, last } = bucketRange(p.from, p.to, p.interval);
  const res = resolutionFor(p.interval);
  const [buckets, increases] = await Promise.all([
    plain.length === 0 ? new Map<string, BucketData[]>() : deps.rollups.readBuckets(tenant, p.metric, plain.map((s) => s.seriesId), res, first, last, AGG_FIELDS[p.agg], metric.type),
    cumulative.length === 0 ? [] : readIncreases(deps.rollups, tenant, p.metric, cumulative, res, first, last, metric.type),
  ]);
  const series = aggregateSeries(
    [...plain.map((s: SeriesInfo) => ({ tags: s.tags, buckets: buckets.get(s.seriesId) ?? [] })), ...increases],
    { agg: p.agg, interval: p.interval, by: p.by, from: p.from, to: p.to },
  );
  return json(200, { series, interval: p.interval });
}

/** How far before a range a cumulative series' previous point is looked for (cumulative.ts). */
export const LOOKBACK_MS = 24 * 3_600_000;

/**
 * Cumulative series' buckets of [first, last] as increases (cumulative.ts), with their previous
 * points read from the lookback: the 1 h items of the 24 h before the range (at 1 min: before the
 * range's first hour, and that hour's minutes before the range).
 */
async function readIncreases(
  rollups: RollupReader,
  tenant: string,
  name: string,
  series: readonly SeriesInfo[],
  res: Resolution,
  first: number,
  last: number,
  type: EventType,
): Promise<Array<{ tags: Readonly<Record<string, string>>; buckets: BucketData[] }>> {
  const ids = series.map((s) => s.seriesId);
  const hour = bucketStart(first, '1h');
  const lookbackFrom = hour - LOOKBACK_MS;
  const none = Promise.resolve(new Map<string, BucketData[]>());
  const [range, hours, minutes] = await Promise.all([
    rollups.readBuckets(tenant, name, ids, res, first, last, 'cumulative', type),
    rollups.readBuckets(tenant, name, ids, '1h', lookbackFrom, hour - 3_600_000, 'cumulative', type),
    res === '1m' && first > hour ? rollups.readBuckets(tenant, name, ids, '1m', hour, first - 60_000, 'cumulative', type) : none,
  ]);
  const increasesOf = type === 'distribution' ? histogramIncreases : countIncreases;
  return series.map((s) => ({
    tags: s.tags,
    buckets: increasesOf({ tags: s.tags, buckets: range.get(s.seriesId) ?? [], before: [...(hours.get(s.seriesId) ?? []), ...(minutes.get(s.seriesId) ?? [])], lookbackFrom }),
  }));
}

/** The bucket attributes each aggregation reads (series.ts: valueOf); fewer attributes, smaller pages. */
export const AGG_FIELDS: Readonly<Record<Agg, BucketFields>> = {
  count: 'count',
  sum: 'sum',
  avg: 'sum',
  min: 'min',
  max: 'max',
  last: 'last',
  p50: 'sketch',
  p90: 'sketch',
  p95: 'sketch',
  p99: 'sketch',
};

/**
 * `last` needs gauges or cumulative counters (only they keep a last value: a counter's is its
 * current total); quantiles need distributions (sketches). A cumulative counter's points are
 * totals: avg, min and max of them are refused (sum and count are its increase).
 */
export function checkAggForType(agg: Agg, type: EventType, name: string, cumulative = false): void {
  if (agg === 'last' && type !== 'gauge' && !(type === 'count' && cumulative)) {
    throw new HttpError(400, `agg: last needs a gauge metric or a cumulative counter; ${JSON.stringify(name)} is a ${type}${type === 'distribution' && cumulative ? ' (a cumulative histogram: use count or sum for its increase)' : ''}`);
  }
  if (cumulative && type === 'count' && (agg === 'avg' || agg === 'min' || agg === 'max')) {
    throw new HttpError(400, `agg: ${agg} is not defined for ${JSON.stringify(name)}: it has cumulative series (points are totals since a start); use sum or count (the increase) or last (the current total)`);
  }
  if (QUANTILES[agg] !== undefined && type !== 'distribution') {
    throw new HttpError(400, `agg: ${agg} needs a distribution metric; ${JSON.stringify(name)} is a ${type}`);
  }
}

export function matches(tags: Readonly<Record<string, string>>, filter: readonly Filter[]): boolean {
  for (const f of filter) if (!Object.hasOwn(tags, f.key) || tags[f.key] !== f.value) return false;
  return true;
}

function sortedTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(tags).sort()) out[k] = tags[k]!;
  return out;
}
