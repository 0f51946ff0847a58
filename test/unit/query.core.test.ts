import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createQueryHandler } from '../../functions/query/app.ts';
import { handleQueryRequest, SERIES_ROUTE, type QueryDeps, type QueryRequest } from '../../functions/query/core.ts';
import { AGGS, type Agg, type Interval } from '../../functions/query/params.ts';
import type { KeyAuthenticator } from '../../functions/shared/http.ts';
import type { ApiKeyRecord } from '../../functions/shared/tenants.ts';
import { compareToTruth, MemoryRollupReader, truthQuery, type QEvent } from './support/query.ts';

const H = 3_600_000;
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
// Crosses a day boundary, hour boundaries and minute boundaries.
const BASE = Date.UTC(2026, 10, 27, 22, 0, 0);

const record = (tenant: string, scopes: ApiKeyRecord['scopes']): ApiKeyRecord => ({ tenant, keyId: `k_${tenant}`, scopes, createdAt: '2026-11-28T00:00:00Z' });
const KEYS: Record<string, ApiKeyRecord> = {
  'key-acme': record('acme', ['read', 'write']),
  'key-globex': record('globex', ['read']),
  'key-acme-write': record('acme', ['write']),
};
const auth: KeyAuthenticator = { authenticate: async (k) => KEYS[k] };

/** Deterministic pseudo-random events: 3 hosts × 2 envs, all three types, over 26 h. */
function makeEvents(): QEvent[] {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: QEvent[] = [];
  for (let i = 0; i < 3000; i++) {
    const host = `web-${i % 3}`;
    const env = i % 2 === 0 ? 'prod' : 'dev';
    const ts = BASE + Math.floor(rnd() * 26 * H) + i; // distinct ts: `last` has no ties
    out.push({ tenant: 'acme', name: 'req', ts, value: Math.floor(rnd() * 10) + 1, type: 'count', tags: { host, env } });
    out.push({ tenant: 'acme', name: 'cpu', ts, value: Math.round(rnd() * 1000) / 10, type: 'gauge', tags: { host, env } });
    out.push({ tenant: 'acme', name: 'lat', ts, value: Math.round(rnd() * 5000) / 10 + 0.1, type: 'distribution', tags: { host, env } });
  }
  out.push({ tenant: 'globex', name: 'secret', ts: BASE + 1000, value: 7, type: 'count', tags: { host: 'web-0' } });
  out.push({ tenant: 'globex', name: 'req', ts: BASE + 2000, value: 1e6, type: 'count', tags: { host: 'web-0', env: 'prod' } });
  return out;
}

const EVENTS = makeEvents();

function deps(reader = new MemoryRollupReader(EVENTS), extra: Partial<QueryDeps> = {}): QueryDeps {
  return { auth, rollups: reader, now: () => NOW, ...extra };
}

/** A request as API Gateway passes it: the path decoded, the series route's `{name+}` as `<name>/series`. */
function req(routeKey: string, query: Record<string, string> = {}, opts: { key?: string | undefined; name?: string; rest?: string } = {}): QueryRequest {
  const key = 'key' in opts ? opts.key : 'key-acme';
  const rest = opts.rest ?? (opts.name !== undefined ? `${opts.name}/series` : undefined);
  return {
    routeKey,
    rawPath: rest !== undefined ? `/v1/metrics/${rest}` : routeKey.split(' ')[1]!,
    pathParameters: rest !== undefined ? { name: rest } : {},
    query,
    headers: key === undefined ? {} : { 'x-api-key': key },
  };
}

const body = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown>;

describe('Function: handleQueryRequest (auth)', () => {
  it.each([
    ['no key', undefined, 401, 'missing API key: send it in the x-api-key header'],
    ['an unknown key', 'nope', 401, 'invalid API key'],
    ['a write-only key', 'key-acme-write', 403, 'this API key lacks the "read" scope'],
  ])('refuses %s', async (_l, key, status, error) => {
    // Act
    const res = await handleQueryRequest(req('GET /v1/metrics', {}, { key }), deps());

    // Assess
    expect(res.statusCode).toBe(status);
    expect(body(res)).toEqual({ error });
  });
});

describe('Function: handleQueryRequest (metrics and series)', () => {
  it('lists the tenant\'s metrics only', async () => {
    // Act
    const a = body(await handleQueryRequest(req('GET /v1/metrics'), deps()));
    const g = body(await handleQueryRequest(req('GET /v1/metrics', {}, { key: 'key-globex' }), deps()));

    // Assess
    expect((a.metrics as Array<{ name: string; type: string }>).map((m) => [m.name, m.type])).toEqual([
      ['cpu', 'gauge'],
      ['lat', 'distribution'],
      ['req', 'count'],
    ]);
    expect(g).toEqual({ metrics: [{ name: 'req', type: 'count', lastSeen: BASE + 2000 }, { name: 'secret', type: 'count', lastSeen: BASE + 1000 }].sort((x, y) => (x.name < y.name ? -1 : 1)) });
  });

  it('lists tag sets of a metric, filtered', async () => {
    // Act
    const res = body(await handleQueryRequest(req(SERIES_ROUTE, { filter: 'env:prod' }, { name: 'req' }), deps()));

    // Assess
    expect(res.metric).toBe('req');
    expect(res.type).toBe('count');
    expect((res.series as Array<{ tags: object }>).map((s) => s.tags)).toEqual([
      { env: 'prod', host: 'web-0' },
      { env: 'prod', host: 'web-1' },
      { env: 'prod', host: 'web-2' },
    ]);
  });

  it('hides reserved tags: series differing only by their start are one series, and filter/by refuse _sf_ keys', async () => {
    // Prepare: one counter restarted (two starts), another host once.
    const events: QEvent[] = [
      { tenant: 'acme', name: 'otel.requests', ts: BASE + 1000, value: 5, type: 'count', tags: { host: 'a', _sf_start: String(BASE) } },
      { tenant: 'acme', name: 'otel.requests', ts: BASE + 9000, value: 2, type: 'count', tags: { host: 'a', _sf_start: String(BASE + 5000) } },
      { tenant: 'acme', name: 'otel.requests', ts: BASE + 3000, value: 1, type: 'count', tags: { host: 'b', _sf_start: String(BASE) } },
    ];
    const d = deps(new MemoryRollupReader(events));

    // Act
    const listed = body(await handleQueryRequest(req(SERIES_ROUTE, {}, { name: 'otel.requests' }), d));
    const byReserved = await handleQueryRequest(req('GET /v1/query', { metric: 'otel.requests', by: '_sf_start' }), d);
    const filterReserved = await handleQueryRequest(req(SERIES_ROUTE, { filter: '_sf_start:1' }, { name: 'otel.requests' }), d);

    // Assess
    expect(listed.series).toEqual([
      { tags: { host: 'a' }, firstSeen: BASE + 1000, lastSeen: BASE + 9000 },
      { tags: { host: 'b' }, firstSeen: BASE + 3000, lastSeen: BASE + 3000 },
    ]);
    expect(byReserved.statusCode).toBe(400);
    expect(body(byReserved).error).toBe('by: tag key "_sf_start" is reserved (keys starting with _sf_ are streamfold\'s own, hidden from every response)');
    expect(body(filterReserved).error).toBe('filter: tag key "_sf_start" is reserved (keys starting with _sf_ are streamfold\'s own, hidden from every response)');
  });

  it('refuses avg, min and max of a metric with cumulative counters, and last of a cumulative histogram', async () => {
    // Prepare
    const events: QEvent[] = [
      { tenant: 'acme', name: 'otel.requests', ts: BASE + 1000, value: 5, type: 'count', tags: { host: 'a', _sf_start: String(BASE) } },
      { tenant: 'acme', name: 'otel.latency', ts: BASE + 1000, value: 5, type: 'distribution', tags: { host: 'a', _sf_start: String(BASE) } },
    ];
    const d = deps(new MemoryRollupReader(events));
    const range = { from: String(BASE), to: String(BASE + H) };

    // Act
    const avg = await handleQueryRequest(req('GET /v1/query', { metric: 'otel.requests', agg: 'avg', ...range }), d);
    const last = await handleQueryRequest(req('GET /v1/query', { metric: 'otel.latency', agg: 'last', ...range }), d);

    // Assess
    expect(body(avg).error).toBe('agg: avg is not defined for "otel.requests": it has cumulative series (points are totals since a start); use sum or count (the increase) or last (the current total)');
    expect(body(last).error).toBe('agg: last needs a gauge metric or a cumulative counter; "otel.latency" is a distribution (a cumulative histogram: use count or sum for its increase)');
  });

  it('answers 404 for another tenant\'s metric, reading nothing of it', async () => {
    // Prepare
    const reader = new MemoryRollupReader(EVENTS);

    // Act
    const s = await handleQueryRequest(req(SERIES_ROUTE, {}, { name: 'secret' }), deps(reader));
    const q = await handleQueryRequest(req('GET /v1/query', { metric: 'secret', from: String(BASE), to: String(BASE + H) }), deps(reader));

    // Assess
    expect(s.statusCode).toBe(404);
    expect(body(s)).toEqual({ error: 'metric "secret" not found' });
    expect(q.statusCode).toBe(404);
    expect(body(q)).toEqual({ error: 'metric "secret" not found' });
    expect(reader.reads).toEqual([]);
  });

  it.each([
    ['a parent segment (..%2F decoded)', '../globex', 'name: ".." path segment at position 0 is not allowed (a name must be a safe path)'],
    ['a parent segment inside', 'a/../secret', 'name: ".." path segment at position 2 is not allowed (a name must be a safe path)'],
    ['a current segment', './secret', 'name: "." path segment at position 0 is not allowed (a name must be a safe path)'],
    ['a doubled slash', 'a//b', 'name: empty path segment at position 2 (a leading, trailing or doubled "/" is not allowed)'],
    ['a key separator (%23 decoded)', 'globex#metrics', 'name: invalid character "#" at position 6 (allowed: A-Z a-z 0-9 _ . : / -)'],
    ['a second escape (%252F decoded once)', 'a%2Fb', 'name: invalid character "%" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
    ['a NUL (%00 decoded)', 'a\u0000b', 'name: invalid character "\\u0000" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
    ['unicode', 'ｓecret', 'name: invalid character "ｓ" at position 0 (allowed: A-Z a-z 0-9 _ . : / -)'],
  ])('refuses a crafted name: %s', async (_l, name, error) => {
    // Act
    const res = await handleQueryRequest(req(SERIES_ROUTE, {}, { name }), deps());

    // Assess
    expect(res.statusCode).toBe(400);
    expect(body(res)).toEqual({ error });
  });

  it('serves the series of a name holding "/" (sent as is or as %2F, decoded by API Gateway)', async () => {
    // Prepare
    const reader = new MemoryRollupReader([{ tenant: 'acme', name: 'http/server/requests', ts: BASE, value: 1, type: 'count', tags: { route: '/a' } }]);

    // Act
    const res = await handleQueryRequest(req(SERIES_ROUTE, {}, { name: 'http/server/requests' }), deps(reader));

    // Assess
    expect(res.statusCode).toBe(200);
    expect(body(res)).toEqual({ metric: 'http/server/requests', type: 'count', series: [{ tags: { route: '/a' }, firstSeen: BASE, lastSeen: BASE }] });
  });

  it.each([['cpu'], ['series'], ['/series'], ['cpu/seriesx']])('answers 404 for /v1/metrics/%s, which is not a series path', async (rest) => {
    const res = await handleQueryRequest(req(SERIES_ROUTE, {}, { rest }), deps());
    expect(res.statusCode).toBe(404);
    expect(body(res)).toEqual({ error: `no route GET /v1/metrics/${rest} (the series of a metric are at GET /v1/metrics/{name}/series)` });
  });

  it('answers 404 for an unknown route', async () => {
    const res = await handleQueryRequest(req('GET /v1/nothing'), deps());
    expect(res.statusCode).toBe(404);
    expect(body(res)).toEqual({ error: 'no route GET /v1/nothing' });
  });
});

describe('Function: handleQueryRequest (query against ground truth)', () => {
  const cases: Array<{ metric: string; agg: Agg; interval: Interval; filter?: string; by?: string; hours: [number, number] }> = [];
  for (const agg of AGGS) {
    const metric = agg === 'last' ? 'cpu' : agg.startsWith('p') ? 'lat' : 'req';
    cases.push({ metric, agg, interval: 60, filter: 'env:prod', by: 'host', hours: [1.5, 2.75] });
    cases.push({ metric, agg, interval: 3600, by: 'env', hours: [0.5, 25.25] });
    cases.push({ metric, agg, interval: 86400, filter: 'host:web-1', hours: [0, 26] });
  }

  it.each(cases)('$agg of $metric at $interval s, filter=$filter by=$by', async (c) => {
    // Prepare
    const from = BASE + c.hours[0] * H;
    const to = BASE + c.hours[1] * H;
    const query: Record<string, string> = { metric: c.metric, agg: c.agg, interval: String(c.interval), from: String(from), to: new Date(to).toISOString() };
    if (c.filter) query.filter = c.filter;
    if (c.by) query.by = c.by;

    // Act
    const res = await handleQueryRequest(req('GET /v1/query', query), deps());

    // Assess
    expect(res.statusCode).toBe(200);
    const out = body(res) as { series: Array<{ tags: Record<string, string>; points: Array<[number, number]> }>; interval: number };
    expect(out.interval).toBe(c.interval);
    const filter = c.filter ? [{ key: c.filter.split(':')[0]!, value: c.filter.split(':')[1]! }] : [];
    const truth = truthQuery(EVENTS, { tenant: 'acme', metric: c.metric, from, to, agg: c.agg, interval: c.interval, filter, by: c.by ? [c.by] : [] });
    expect(truth.length).toBeGreaterThan(0);
    expect(compareToTruth(out.series, truth, c.agg.startsWith('p') ? 0.01 : 1e-12)).toBeUndefined();
  });

  it('never mixes in another tenant\'s series of the same name', async () => {
    // Act
    const res = body(await handleQueryRequest(req('GET /v1/query', { metric: 'req', agg: 'max', from: String(BASE), to: String(BASE + H) }), deps()));

    // Assess
    const max = Math.max(...(res.series as Array<{ points: Array<[number, number]> }>).flatMap((s) => s.points.map((p) => p[1])));
    expect(max).toBeLessThanOrEqual(10);
  });

  it.each([
    [{ metric: 'req', agg: 'last' }, 'agg: last needs a gauge metric or a cumulative counter; "req" is a count'],
    [{ metric: 'cpu', agg: 'p99' }, 'agg: p99 needs a distribution metric; "cpu" is a gauge'],
  ])('refuses %j', async (q, error) => {
    const res = await handleQueryRequest(req('GET /v1/query', q), deps());
    expect(res.statusCode).toBe(400);
    expect(body(res)).toEqual({ error });
  });

  it('refuses a query over too many series', async () => {
    const res = await handleQueryRequest(req('GET /v1/query', { metric: 'req', from: String(BASE), to: String(BASE + H) }), deps(undefined, { maxSeries: 5 }));
    expect(res.statusCode).toBe(400);
    expect(body(res)).toEqual({ error: 'query matches 6 series of "req", more than 5; narrow it with filter' });
  });

  it('reads the buckets the aggregation needs, and only its tenant\'s', async () => {
    // Prepare
    const reader = new MemoryRollupReader(EVENTS);

    // Act
    await handleQueryRequest(req('GET /v1/query', { metric: 'lat', agg: 'p90', interval: '86400', from: String(BASE + 5 * H), to: String(BASE + 6 * H) }), deps(reader));

    // Assess
    expect(reader.reads).toHaveLength(1);
    expect(reader.reads[0]).toMatchObject({ tenant: 'acme', res: '1h', first: Date.UTC(2026, 10, 28), last: Date.UTC(2026, 10, 29) - H, fields: 'sketch' });
    expect(reader.reads[0]!.seriesIds).toHaveLength(6);
  });
});

describe('Function: createQueryHandler', () => {
  const env = { ROLLUPS_TABLE_NAME: 'r', TENANTS_TABLE_NAME: 't', ARCHIVE_BUCKET_NAME: 'b', AWS_REGION: 'us-east-1', POWERTOOLS_LOG_LEVEL: 'SILENT' };
  const event = (routeKey: string, query?: Record<string, string>): APIGatewayProxyEventV2 =>
    ({
      version: '2.0',
      routeKey,
      rawPath: routeKey.split(' ')[1]!,
      rawQueryString: '',
      headers: { 'X-Api-Key': 'key-acme' },
      ...(query ? { queryStringParameters: query } : {}),
      requestContext: { requestId: 'r1', http: { method: 'GET' } },
      isBase64Encoded: false,
    }) as unknown as APIGatewayProxyEventV2;

  it('answers 500 without internals when a read fails', async () => {
    // Prepare
    const reader = new MemoryRollupReader(EVENTS);
    reader.listMetrics = async () => {
      throw new Error('ProvisionedThroughputExceededException at /var/task/secret.js:1');
    };
    const handler = createQueryHandler(env, { auth, rollups: reader });

    // Act
    const res = await handler(event('GET /v1/metrics'), {} as Context);

    // Assess
    expect(res).toEqual({ statusCode: 500, headers: { 'content-type': 'application/json' }, body: '{"error":"internal error; retry later"}' });
  });

  it('maps the API Gateway event (header case, query string) to the core', async () => {
    const handler = createQueryHandler(env, { auth, rollups: new MemoryRollupReader(EVENTS) });
    const res = await handler(event('GET /v1/query', { metric: 'req', agg: 'count', interval: '3600', from: String(BASE), to: String(BASE + H) }), {} as Context);
    expect(res.statusCode).toBe(200);
    const out = JSON.parse(res.body!) as { series: Array<{ points: Array<[number, number]> }>; interval: number };
    expect(out.interval).toBe(3600);
    expect(out.series[0]!.points[0]![0]).toBe(BASE);
  });
});
