/**
 * The query function on the embedded stack: events posted through the HTTP intake, rolled up by
 * the real rollup handler (run by the stack's poller), read back by the query handler bound to
 * the stack's environment and compared with ground truth computed from the posted events, for
 * every aggregation with filter and group-by, across minute, hour and resolution boundaries.
 * Then adversarial requests: tenant A's key against B's metrics, crafted names, oversized ranges.
 *
 * GET /v1/events reads the Parquet archive written by the real archive handler, paged with the
 * cursor, against the posted events.
 *
 * The HTTP front does not route GET requests to the query function yet (local/index.ts), so the
 * test calls the handler with API Gateway v2 events built like the front builds them.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryHandler, type QueryHandler } from '../../functions/query/app.ts';
import { SERIES_ROUTE } from '../../functions/query/core.ts';
import { AGGS, type Agg, type Interval } from '../../functions/query/params.ts';
import { createArchiveHandler } from '../../functions/archive/app.ts';
import { createRollupHandler } from '../../functions/rollup/app.ts';
import { bucketStart } from '../../functions/shared/rollups/keys.ts';
import { dynamoClient } from '../../functions/shared/clients.ts';
import { TenantStore } from '../../functions/shared/tenants.ts';
import { CONSUMER_DEFAULTS } from '../../lib/functions.ts';
import { startStack, type LocalConsumer, type RunningStack } from '../../local/index.ts';
import { parseYamlSubset, responseSchema, validate } from '../unit/support/query-openapi.ts';
import { compareToTruth, truthQuery, type QEvent } from '../unit/support/query.ts';

const KEYS = { acme: 'acme-key-0001', globex: 'globex-key-0001' };
const WRITE_ONLY = 'acme-write-only-01';
const H = 3_600_000;
const NOW = Date.now();
// 2.5 h of events starting half an hour into an hour: crosses hour (and 1 m/1 h resolution) boundaries.
const BASE = bucketStart(NOW - 4 * H, '1h') + H / 2;
const SPAN = 2.5 * H;

const archiveConsumer: LocalConsumer = {
  name: 'archive',
  timeoutSeconds: 60,
  settings: { ...CONSUMER_DEFAULTS, maxBatchingWindowSeconds: 0 },
  create: (env) => createArchiveHandler(env, { onStats: () => {} }),
};

const rollupConsumer: LocalConsumer = {
  name: 'rollup',
  timeoutSeconds: 60,
  settings: { ...CONSUMER_DEFAULTS, maxBatchingWindowSeconds: 0 },
  create: (env) => createRollupHandler(env, { metrics: { add: () => {} }, flushMetrics: () => {} }),
};

function makeEvents(): QEvent[] {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: QEvent[] = [];
  for (let i = 0; i < 1200; i++) {
    const tags = { host: `web-${i % 3}`, env: i % 2 === 0 ? 'prod' : 'dev' };
    const ts = BASE + Math.floor(rnd() * SPAN) + i; // distinct ts: `last` has no ties
    out.push({ tenant: 'acme', name: 'req', ts, value: Math.floor(rnd() * 10) + 1, type: 'count', tags });
    out.push({ tenant: 'acme', name: 'cpu', ts, value: Math.round(rnd() * 1000) / 10, type: 'gauge', tags });
    out.push({ tenant: 'acme', name: 'lat', ts, value: Math.round(rnd() * 5000) / 10 + 0.1, type: 'distribution', tags });
  }
  // Series whose events do not all have their metric's type (the first event's): `mixed` is a count
  // metric with some distribution events, `mixdist` a distribution metric with some counts. Their
  // minutes are split between packed minutes and 1 m items; count, sum, min and max take them all.
  for (let i = 0; i < 240; i++) {
    const ts = BASE + Math.floor((i * SPAN) / 240) + 7;
    const odd = i % 4 === 3;
    out.push({ tenant: 'acme', name: 'mixed', ts, value: i + 1, type: odd ? 'distribution' : 'count', tags: { host: 'web-0' } });
    out.push({ tenant: 'acme', name: 'mixdist', ts, value: i + 0.5, type: odd ? 'count' : 'distribution', tags: { host: 'web-0' } });
  }
  // Tenant B: a metric A does not have, and one A has, with values A's data never reaches.
  for (let i = 0; i < 20; i++) {
    out.push({ tenant: 'globex', name: 'secret', ts: BASE + i * 60_000, value: 777_777, type: 'count', tags: { host: 'globex-only' } });
    out.push({ tenant: 'globex', name: 'req', ts: BASE + i * 60_000, value: 999_999, type: 'count', tags: { host: 'globex-only', env: 'prod' } });
  }
  return out;
}

const EVENTS = makeEvents();

describe('Query on the embedded stack', () => {
  let dataDir: string;
  let stack: RunningStack;
  let query: QueryHandler;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-query-'));
    stack = await startStack({ port: 0, dataDir, tenants: KEYS, consumers: [rollupConsumer, archiveConsumer], onlyGivenConsumers: true, log: () => {} });
    for (const tenant of ['acme', 'globex'] as const) {
      const events = EVENTS.filter((e) => e.tenant === tenant).map(({ tenant: _t, ...e }) => e);
      const res = await fetch(`${stack.url}/v1/events`, {
        method: 'POST',
        headers: { 'x-api-key': KEYS[tenant], 'content-type': 'application/json' },
        body: JSON.stringify(events),
      });
      expect(res.status).toBe(202);
      expect(((await res.json()) as { accepted: number }).accepted).toBe(events.length);
    }
    await stack.drain(60_000);
    await new TenantStore(dynamoClient(stack.env), stack.env.TENANTS_TABLE_NAME!).putKey('acme', WRITE_ONLY, ['write']);
    query = createQueryHandler(stack.env);
  });

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /**
   * An API Gateway v2 event as API Gateway (and the HTTP front) builds it: the path decoded before
   * routing, the series route's greedy `{name+}` holding `<name>/series`.
   */
  function get(path: string, query: Record<string, string> = {}, key: string | null = KEYS.acme): Promise<{ statusCode: number; body: string }> {
    const decoded = safeDecode(path);
    const rest = decoded.startsWith('/v1/metrics/') ? decoded.slice('/v1/metrics/'.length) : undefined;
    const event = {
      version: '2.0',
      routeKey: rest !== undefined ? SERIES_ROUTE : `GET ${path}`,
      rawPath: decoded,
      rawQueryString: new URLSearchParams(query).toString(),
      headers: key === null ? {} : { 'x-api-key': key },
      ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
      ...(rest !== undefined ? { pathParameters: { name: rest } } : {}),
      requestContext: { requestId: 'test', http: { method: 'GET', path } },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    return query_(event);
  }
  const query_ = async (event: APIGatewayProxyEventV2) => {
    const res = await query(event, {} as Context);
    return { statusCode: res.statusCode!, body: res.body! };
  };

  it('lists each tenant\'s metrics and series, nothing of the other', async () => {
    // Act
    const a = await get('/v1/metrics');
    const g = await get('/v1/metrics', {}, KEYS.globex);
    const s = await get('/v1/metrics/req/series');

    // Assess
    expect(a.statusCode).toBe(200);
    const metrics = (JSON.parse(a.body) as { metrics: Array<{ name: string; type: string; lastSeen: number }> }).metrics;
    expect(metrics.map((m) => [m.name, m.type])).toEqual([['cpu', 'gauge'], ['lat', 'distribution'], ['mixdist', 'distribution'], ['mixed', 'count'], ['req', 'count']]);
    for (const m of metrics) expect(m.lastSeen).toBeGreaterThanOrEqual(BASE);
    expect((JSON.parse(g.body) as { metrics: Array<{ name: string }> }).metrics.map((m) => m.name)).toEqual(['req', 'secret']);
    expect(s.statusCode).toBe(200);
    expect((JSON.parse(s.body) as { series: Array<{ tags: object }> }).series.map((x) => x.tags)).toEqual(
      ['dev', 'prod'].flatMap((env) => ['web-0', 'web-1', 'web-2'].map((host) => ({ env, host }))).sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1)),
    );
    expect(s.body).not.toContain('globex-only');
  });

  const cases: Array<{ metric: string; agg: Agg; interval: Interval; filter?: string; by?: string; range: [number, number] }> = [];
  for (const agg of AGGS) {
    const metric = agg === 'last' ? 'cpu' : agg.startsWith('p') ? 'lat' : 'req';
    // Minutes across an hour boundary, from/to inside minutes.
    cases.push({ metric, agg, interval: 60, filter: 'env:prod', by: 'host', range: [0.4 * H + 17_000, 0.75 * H + 5_000] });
    // Hours over the whole span.
    cases.push({ metric, agg, interval: 3600, by: 'env', range: [0, SPAN] });
    // Days computed from hours.
    cases.push({ metric, agg, interval: 86400, filter: 'host:web-1', by: 'env', range: [0, SPAN] });
  }
  for (const metric of ['mixed', 'mixdist']) {
    for (const agg of ['count', 'sum', 'min', 'max'] as const) {
      cases.push({ metric, agg, interval: 60, range: [0.4 * H + 17_000, 0.75 * H + 5_000] });
      cases.push({ metric, agg, interval: 3600, range: [0, SPAN] });
    }
  }

  it.each(cases)('$agg of $metric at $interval s, filter=$filter by=$by matches ground truth', async (c) => {
    // Prepare
    const from = BASE + c.range[0];
    const to = BASE + c.range[1];
    const q: Record<string, string> = { metric: c.metric, agg: c.agg, interval: String(c.interval), from: new Date(from).toISOString(), to: String(to) };
    if (c.filter) q.filter = c.filter;
    if (c.by) q.by = c.by;

    // Act
    const res = await get('/v1/query', q);

    // Assess
    expect(res.statusCode).toBe(200);
    const out = JSON.parse(res.body) as { series: Array<{ tags: Record<string, string>; points: Array<[number, number]> }>; interval: number };
    expect(out.interval).toBe(c.interval);
    const filter = c.filter ? [{ key: c.filter.split(':')[0]!, value: c.filter.split(':')[1]! }] : [];
    const truth = truthQuery(EVENTS, { tenant: 'acme', metric: c.metric, from, to, agg: c.agg, interval: c.interval, filter, by: c.by ? [c.by] : [] });
    expect(truth.flatMap((t) => t.points).length).toBeGreaterThan(0);
    expect(compareToTruth(out.series, truth, c.agg.startsWith('p') ? 0.01 : 1e-9)).toBeUndefined();
  });

  it('chooses the interval from the range when none is given', async () => {
    const short = JSON.parse((await get('/v1/query', { metric: 'req', agg: 'sum', from: String(BASE), to: String(BASE + SPAN) })).body) as { interval: number };
    const long = JSON.parse((await get('/v1/query', { metric: 'req', agg: 'sum', from: String(BASE - 2 * 86_400_000), to: String(BASE + SPAN) })).body) as { interval: number };
    expect(short.interval).toBe(60);
    expect(long.interval).toBe(3600);
  });

  it('pages raw events newest first from the archive, each posted event exactly once', async () => {
    // Prepare
    const from = BASE + 0.25 * H;
    const to = BASE + 2.1 * H;
    const expected = EVENTS.filter((e) => e.tenant === 'acme' && e.ts >= from && e.ts < to);

    // Act
    const seen: Array<{ name: string; ts: number; value: number; type: string; tags: Record<string, string> }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get('/v1/events', { from: String(from), to: new Date(to).toISOString(), limit: '1000', ...(cursor ? { cursor } : {}) });
      expect(res.statusCode).toBe(200);
      const page = JSON.parse(res.body) as { events: typeof seen; nextCursor: string | null };
      seen.push(...page.events);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);

    // Assess
    expect(pages).toBe(Math.ceil(expected.length / 1000));
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.ts).toBeLessThanOrEqual(seen[i - 1]!.ts);
    const key = (e: { name: string; ts: number; value: number; type: string; tags: Record<string, string> }) => `${e.ts}|${e.name}|${e.value}|${e.type}|${e.tags.host}|${e.tags.env}`;
    expect(seen.map(key).sort()).toEqual(expected.map(key).sort());
  });

  it('filters raw events by name and tag, and never shows another tenant\'s', async () => {
    const res = await get('/v1/events', { from: String(BASE), to: String(BASE + SPAN), name: 'req', filter: 'host:web-2,env:dev', limit: '1000' });
    const page = JSON.parse(res.body) as { events: Array<{ name: string; tags: Record<string, string> }>; nextCursor: string | null };
    const expected = EVENTS.filter((e) => e.tenant === 'acme' && e.name === 'req' && e.tags.host === 'web-2' && e.tags.env === 'dev');
    expect(page.events).toHaveLength(expected.length);
    expect(page.nextCursor).toBeNull();
    const all = await get('/v1/events', { from: String(BASE), to: String(BASE + 20 * 60_000), limit: '1000' });
    const leaked = (JSON.parse(all.body) as { events: Array<{ name: string; value: number; tags: Record<string, string> }> }).events.filter(
      (e) => e.name === 'secret' || e.value >= 777_777 || e.tags.host === 'globex-only',
    );
    expect(leaked).toEqual([]);
    expect(all.body).not.toContain('globex-only');
  });

  it('answers as openapi.yaml documents, on every route and status', async () => {
    // Prepare
    const doc = parseYamlSubset(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));
    const range = { from: String(BASE), to: String(BASE + H) };
    const cases: Array<[string, string, Promise<{ statusCode: number; body: string }>]> = [
      ['/v1/metrics', 'GET', get('/v1/metrics')],
      ['/v1/metrics/{name}/series', 'GET', get('/v1/metrics/cpu/series')],
      ['/v1/metrics/{name}/series', 'GET', get('/v1/metrics/nope/series')],
      ['/v1/metrics/{name}/series', 'GET', get('/v1/metrics/a%2Fb/series')],
      ['/v1/query', 'GET', get('/v1/query', { metric: 'lat', agg: 'p99', by: 'host', ...range })],
      ['/v1/query', 'GET', get('/v1/query', { metric: 'cpu', agg: 'last', interval: '86400', ...range })],
      ['/v1/query', 'GET', get('/v1/query', { metric: 'cpu', agg: 'median' })],
      ['/v1/query', 'GET', get('/v1/query', { metric: 'nope' })],
      ['/v1/query', 'GET', get('/v1/query', { metric: 'cpu' }, WRITE_ONLY)],
      ['/v1/query', 'GET', get('/v1/query', { metric: 'cpu' }, null)],
      ['/v1/events', 'GET', get('/v1/events', { ...range, limit: '5' })],
      ['/v1/events', 'GET', get('/v1/events', { ...range, limit: '5000' })],
    ];
    const post = (body: string, key: string | null = KEYS.acme) =>
      fetch(`${stack.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) }, body }).then(async (r) => ({ statusCode: r.status, body: await r.text() }));
    cases.push(['/v1/events', 'POST', post(JSON.stringify([{ name: 'openapi.check', ts: NOW }, { name: 'bad name!', ts: NOW }]))]);
    cases.push(['/v1/events', 'POST', post('[{')]);
    cases.push(['/v1/events', 'POST', post('[]', null)]);

    // Act
    const answers = await Promise.all(cases.map(async ([path, method, res]) => ({ path, method, res: await res })));

    // Assess
    expect(answers.map((a) => a.res.statusCode)).toEqual([200, 200, 404, 404, 200, 200, 400, 404, 403, 401, 200, 400, 202, 400, 401]);
    for (const a of answers) {
      const errors = validate(doc, responseSchema(doc, a.path, a.method, a.res.statusCode), JSON.parse(a.res.body));
      expect(errors, `${a.method} ${a.path} ${a.res.statusCode}: ${a.res.body.slice(0, 200)}`).toEqual([]);
    }
  });

  describe('adversarial requests with tenant A\'s key', () => {
    it.each([
      ['B\'s metric', '/v1/query', { metric: 'secret' }, 404, 'metric "secret" not found'],
      ['B\'s metric (series)', '/v1/metrics/secret/series', {}, 404, 'metric "secret" not found'],
      ['a parent path', '/v1/query', { metric: '../globex' }, 400, 'metric: ".." path segment at position 0 is not allowed (a name must be a safe path)'],
      ['a key separator', '/v1/query', { metric: 'globex#metrics' }, 400, 'metric: invalid character "#" at position 6 (allowed: A-Z a-z 0-9 _ . : / -)'],
      ['B\'s index key', '/v1/query', { metric: 'req#idx#globex' }, 400, 'metric: invalid character "#" at position 3 (allowed: A-Z a-z 0-9 _ . : / -)'],
      ['an encoded slash', '/v1/metrics/..%2Fglobex%2Freq/series', {}, 400, 'name: ".." path segment at position 0 is not allowed (a name must be a safe path)'],
      ['a double-encoded slash', '/v1/query', { metric: 'a%2Fb' }, 400, 'metric: invalid character "%" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
      ['unicode', '/v1/query', { metric: 'sécret' }, 400, 'metric: invalid character "é" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
      ['a control character', '/v1/query', { metric: 'req\u0000' }, 400, 'metric: invalid character "\\u0000" at position 3 (allowed: A-Z a-z 0-9 _ . : / -)'],
      ['a tenant parameter', '/v1/query', { metric: 'req', tenant: 'globex' }, 400, 'unknown parameter "tenant" (allowed: metric, from, to, agg, interval, filter, by)'],
      ['a crafted filter', '/v1/query', { metric: 'req', filter: 'host:web-0\u0000' }, 400, 'filter: tag value "web-0\\u0000" contains control character U+0000 at position 5'],
      ['an oversized range', '/v1/query', { metric: 'req', from: '2000-01-01T00:00:00Z' }, 400, /^range too large: \d+ days is more than 1500 points even at interval=86400; narrow from\/to$/],
      ['too many minutes', '/v1/query', { metric: 'req', interval: '60', from: String(BASE - 86_400_000), to: String(BASE + 3 * H) }, 400, 'interval: 60 s over this range is 1620 points, more than 1500; use a larger interval or a shorter range'],
    ] as const)('%s', async (_l, path, q, status, error) => {
      // Act
      const res = await get(path, q as Record<string, string>);

      // Assess
      expect(res.statusCode).toBe(status);
      const body = JSON.parse(res.body) as { error: string };
      if (typeof error === 'string') expect(body.error).toBe(error);
      else expect(body.error).toMatch(error);
      expect(res.body).not.toMatch(/777777|999999|globex-only/);
    });

    it('sees none of B\'s series of a shared metric name', async () => {
      const res = await get('/v1/query', { metric: 'req', agg: 'max', interval: '3600', from: String(BASE), to: String(BASE + SPAN), by: 'host' });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('globex-only');
      const out = JSON.parse(res.body) as { series: Array<{ tags: { host: string }; points: Array<[number, number]> }> };
      expect(Math.max(...out.series.flatMap((s) => s.points.map((p) => p[1])))).toBeLessThanOrEqual(10);
      expect(out.series.map((s) => s.tags.host)).toEqual(['web-0', 'web-1', 'web-2']);
    });

    it('refuses missing, unknown and write-only keys', async () => {
      expect(await get('/v1/metrics', {}, null)).toEqual({ statusCode: 401, body: '{"error":"missing API key: send it in the x-api-key header"}' });
      expect(await get('/v1/metrics', {}, 'globex-key-0002')).toEqual({ statusCode: 401, body: '{"error":"invalid API key"}' });
      expect(await get('/v1/metrics', {}, WRITE_ONLY)).toEqual({ statusCode: 403, body: '{"error":"this API key lacks the \\"read\\" scope"}' });
    });
  });
});

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
