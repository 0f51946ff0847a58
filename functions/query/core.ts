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
import { checkTenant, type EventType } from '../shared/event.ts';
import { HttpError, json, requireKey, type HttpResponse, type KeyAuthenticator } from '../shared/http.ts';
import { INDEX_REFRESH_MS } from '../shared/rollups/keys.ts';
import { checkKnown, clip, parseFilter, parseMetricName, parseQueryParams, QUANTILES, type Agg, type Filter, type RawParams } from './params.ts';
import type { BucketFields, RollupReader, SeriesInfo } from './rollup-reader.ts';
import { aggregateSeries, bucketRange, resolutionFor } from './series.ts';

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
  const series = (await deps.rollups.listSeries(tenant, name))
    .filter((s) => matches(s.tags, filter))
    .map((s) => ({ tags: sortedTags(s.tags), firstSeen: s.firstSeen, lastSeen: s.lastSeen, order: JSON.stringify(Object.entries(sortedTags(s.tags))) }))
    .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
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
  checkAggForType(p.agg, metric.type, p.metric);
  const candidates = index.filter(
    (s) => matches(s.tags, p.filter) && s.lastSeen >= p.from - INDEX_REFRESH_MS,
  );
  const max = deps.maxSeries ?? DEFAULT_MAX_SERIES;
  if (candidates.length > max) {
    throw new HttpError(400, `query matches ${candidates.length} series of ${JSON.stringify(p.metric)}, more than ${max}; narrow it with filter`);
  }
  const { first, last } = bucketRange(p.from, p.to, p.interval);
  const buckets = await deps.rollups.readBuckets(tenant, p.metric, candidates.map((s) => s.seriesId), resolutionFor(p.interval), first, last, AGG_FIELDS[p.agg], metric.type);
  const series = aggregateSeries(
    candidates.map((s: SeriesInfo) => ({ tags: s.tags, buckets: buckets.get(s.seriesId) ?? [] })),
    { agg: p.agg, interval: p.interval, by: p.by, from: p.from, to: p.to },
  );
  return json(200, { series, interval: p.interval });
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

/** `last` needs gauges (only they keep a last value); quantiles need distributions (sketches). */
export function checkAggForType(agg: Agg, type: EventType, name: string): void {
  if (agg === 'last' && type !== 'gauge') {
    throw new HttpError(400, `agg: last needs a gauge metric; ${JSON.stringify(name)} is a ${type}`);
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
