/**
 * Drop-in intake with the emitters' own client libraries, against the embedded stack (startStack on
 * port 0, a temp data dir): OpenTelemetry's SDK with its OTLP/HTTP protobuf exporter (default
 * cumulative temporality, a restart in the middle) and its JSON exporter (delta), and Datadog's
 * API client (v2 series with deflate and zstd, v1 series, distribution points, a bad key). What
 * they send is read back through /v1/query: exact sums and counts, the last gauge value, p50
 * within the stated bound, attributes and tags usable in filter and by. Tenant isolation on every
 * new route.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { AggregationTemporalityPreference, OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadZstd } from '../../functions/shared/archive/zstd.ts';
import { startStack, type RunningStack } from '../../local/index.ts';

const KEY = 'acme-dropin-key-0001';
const OTHER = 'globex-dropin-key-0001';
const H = 3_600_000;

type Point = [number, number];
interface QueryBody {
  series: Array<{ tags: Record<string, string>; points: Point[] }>;
}

describe('Drop-in intake with the real client libraries', () => {
  let dataDir: string;
  let stack: RunningStack;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-dropin-'));
    stack = await startStack({ port: 0, dataDir, tenants: { acme: KEY, globex: OTHER }, batchingWindowSeconds: 0, log: () => {} });
  });

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function query(params: Record<string, string>, key = KEY): Promise<{ status: number; body: QueryBody & { error?: string } }> {
    const now = Date.now();
    const qs = new URLSearchParams({ from: String(now - 2 * H), to: String(now + H), interval: '3600', ...params });
    const res = await fetch(`${stack.url}/v1/query?${qs}`, { headers: { 'x-api-key': key } });
    return { status: res.status, body: (await res.json()) as never };
  }

  const total = (b: QueryBody) => b.series.reduce((n, s) => n + s.points.reduce((m, p) => m + p[1], 0), 0);

  /** Polls a query until `done` holds of its answer, or fails with the last one after the deadline. */
  async function until(params: Record<string, string>, done: (b: QueryBody) => boolean, key = KEY, deadlineMs = 45_000): Promise<QueryBody> {
    const end = Date.now() + deadlineMs;
    let last: unknown;
    for (;;) {
      const r = await query(params, key);
      last = r.body;
      if (r.status === 200 && done(r.body)) return r.body;
      if (Date.now() > end) throw new Error(`query ${JSON.stringify(params)} never satisfied; last answer: ${JSON.stringify(last)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  interface ArchivedEvent {
    name: string;
    ts: number;
    value: number;
    tags: Record<string, string>;
    start?: number;
    agg?: unknown;
  }

  /** Polls GET /v1/events for a metric until `done` holds of its events. */
  async function untilEvents(name: string, done: (events: ArchivedEvent[]) => boolean, deadlineMs = 45_000): Promise<ArchivedEvent[]> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const now = Date.now();
      const qs = new URLSearchParams({ name, from: String(now - 2 * H), to: String(now + H), limit: '1000' });
      const res = await fetch(`${stack.url}/v1/events?${qs}`, { headers: { 'x-api-key': KEY } });
      const body = (await res.json()) as { events: ArchivedEvent[] };
      if (res.status === 200 && done(body.events)) return body.events;
      if (Date.now() > end) throw new Error(`events of ${name} never matched; last answer: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  function otel(exporter: PushMetricExporter, service: string) {
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service, 'host.name': 'otel-host-1' }), readers: [reader] });
    return { provider, reader, meter: provider.getMeter('dropin-test') };
  }

  describe('OpenTelemetry', () => {
    it('protobuf exporter, cumulative (the default): several exports of one counter and one histogram, the SDK restarted in the middle, counted once', async () => {
      // Prepare, Act: a first SDK exports three times, then restarts (a new start time) and exports twice more.
      const recorded: Array<{ route: string; n: number }> = [];
      const latencies: number[] = [];
      for (const run of [1, 2]) {
        const exporter = new ProtoExporter({ url: `${stack.url}/v1/metrics`, headers: { 'x-api-key': KEY } });
        const sdk = otel(exporter, 'checkout');
        const counter = sdk.meter.createCounter('dropin.otel.requests');
        const histogram = sdk.meter.createHistogram('dropin.otel.latency', { unit: 'ms' });
        for (let e = 0; e < (run === 1 ? 3 : 2); e++) {
          for (const [route, n] of [['/a', 3 + e], ['/b', 1]] as const) {
            counter.add(n, { route });
            recorded.push({ route, n });
          }
          for (const v of [12, 40, 40, 700 + e]) {
            histogram.record(v, { route: '/a' });
            latencies.push(v);
          }
          await sdk.reader.forceFlush();
        }
        await sdk.provider.shutdown();
      }
      const want = (route?: string) => recorded.filter((r) => route === undefined || r.route === route).reduce((n, r) => n + r.n, 0);

      // Assess: exact sums (all, by route, filtered), the histogram's count and sum, p50 within its bucket.
      const all = await until({ metric: 'dropin.otel.requests', agg: 'sum' }, (b) => total(b) === want());
      expect(total(all)).toBe(want());
      const byRoute = await until({ metric: 'dropin.otel.requests', agg: 'sum', by: 'route' }, (b) => b.series.length === 2 && total(b) === want());
      expect(byRoute.series.map((s) => [s.tags, s.points.reduce((n, p) => n + p[1], 0)])).toEqual([
        [{ route: '/a' }, want('/a')],
        [{ route: '/b' }, want('/b')],
      ]);
      const filtered = await until({ metric: 'dropin.otel.requests', agg: 'sum', filter: 'route:/b,host.name:otel-host-1' }, (b) => total(b) === want('/b'));
      expect(total(filtered)).toBe(want('/b'));
      const count = await until({ metric: 'dropin.otel.latency', agg: 'count' }, (b) => total(b) === latencies.length);
      expect(total(count)).toBe(latencies.length);
      const sum = await until({ metric: 'dropin.otel.latency', agg: 'sum' }, (b) => total(b) === latencies.reduce((a, v) => a + v, 0));
      expect(total(sum)).toBe(latencies.reduce((a, v) => a + v, 0));
      // The SDK's default buckets: 40 (the median) is in (25, 50]; the sketch holds it at 37.5.
      const p50 = await until({ metric: 'dropin.otel.latency', agg: 'p50' }, (b) => b.series.length === 1);
      expect(p50.series[0]!.points[0]![1]).toBeGreaterThan(25);
      expect(p50.series[0]!.points[0]![1]).toBeLessThanOrEqual(50 * 1.01);
      // The start times never show: one series per route for the listing.
      const listed = (await (await fetch(`${stack.url}/v1/metrics/dropin.otel.requests/series`, { headers: { 'x-api-key': KEY } })).json()) as { series: Array<{ tags: Record<string, string> }> };
      expect(listed.series.map((s) => s.tags.route)).toEqual(['/a', '/b']);
      expect(listed.series.every((s) => !Object.keys(s.tags).some((k) => k.startsWith('_sf_')))).toBe(true);
      // The archive keeps each exported point as sent: its start and agg, no reserved tag. The
      // SDK exports once more at shutdown, the same totals again: 4 + 3 points, counted once above.
      const archived = await untilEvents('dropin.otel.latency', (es) => es.length === 7);
      expect(archived.every((e) => typeof e.start === 'number' && e.start <= e.ts && e.agg !== undefined && e.tags.route === '/a' && !('_sf_start' in e.tags))).toBe(true);
      expect(new Set(archived.map((e) => e.start)).size).toBe(2);
      expect(archived.map((e) => (e.agg as { count: number }).count).sort((a, b) => a - b)).toEqual([4, 4, 8, 8, 8, 12, 12]);
    });

    it('JSON exporter, delta: exact sums and counts, attributes usable in filter and by', async () => {
      // Prepare
      const exporter = new JsonExporter({ url: `${stack.url}/v1/metrics`, headers: { 'x-api-key': KEY }, temporalityPreference: AggregationTemporalityPreference.DELTA });
      const sdk = otel(exporter, 'billing');
      const counter = sdk.meter.createCounter('dropin.otel.delta.jobs');
      const histogram = sdk.meter.createHistogram('dropin.otel.delta.size');
      const gauge = sdk.meter.createGauge('dropin.otel.delta.temp');

      // Act: three exports.
      for (let e = 0; e < 3; e++) {
        counter.add(2, { queue: 'fast' });
        counter.add(5 + e, { queue: 'slow' });
        histogram.record(100 + e, { queue: 'fast' });
        histogram.record(3, { queue: 'fast' });
        gauge.record(20 + e);
        await sdk.reader.forceFlush();
      }
      await sdk.provider.shutdown();

      // Assess
      const jobs = await until({ metric: 'dropin.otel.delta.jobs', agg: 'sum', by: 'queue' }, (b) => total(b) === 24);
      expect(jobs.series.map((s) => [s.tags.queue, s.points[0]![1]])).toEqual([['fast', 6], ['slow', 18]]);
      const slow = await until({ metric: 'dropin.otel.delta.jobs', agg: 'sum', filter: 'queue:slow,service.name:billing' }, (b) => total(b) === 18);
      expect(total(slow)).toBe(18);
      const sizes = await until({ metric: 'dropin.otel.delta.size', agg: 'count' }, (b) => total(b) === 6);
      expect(total(sizes)).toBe(6);
      expect(total(await until({ metric: 'dropin.otel.delta.size', agg: 'sum' }, (b) => total(b) === 312))).toBe(312);
      const temp = await until({ metric: 'dropin.otel.delta.temp', agg: 'last' }, (b) => b.series[0]?.points[0]?.[1] === 22);
      expect(temp.series[0]!.points[0]![1]).toBe(22);
    });
  });

  describe('Datadog API client', () => {
    const configuration = (key: string) =>
      client.createConfiguration({
        authMethods: { apiKeyAuth: key },
        baseServer: new client.BaseServerConfiguration(stack.url, {}),
        zstdCompressorCallback: (body: string) => Buffer.from(zstd!.compress(Buffer.from(body))),
      });
    let zstd: Awaited<ReturnType<typeof loadZstd>> | undefined;
    beforeAll(async () => {
      zstd = await loadZstd();
    });
    const nowS = () => Math.floor(Date.now() / 1000);

    it('v2 submitMetrics with deflate and zstd: counts, rates as value × interval, the last gauge value; tags and host in filter and by', async () => {
      // Prepare
      const api = new v2.MetricsApi(configuration(KEY));
      const t = nowS();
      const series = (host: string) => [
        { metric: 'dropin.dd.v2.hits', type: 1 as const, points: [{ timestamp: t - 20, value: 5 }, { timestamp: t - 10, value: 7 }], resources: [{ name: host, type: 'host' }], tags: ['env:prod', 'team:web'] },
        { metric: 'dropin.dd.v2.rate', type: 2 as const, interval: 10, points: [{ timestamp: t - 10, value: 1.5 }], resources: [{ name: host, type: 'host' }], tags: ['env:prod'] },
        { metric: 'dropin.dd.v2.load', type: 3 as const, points: [{ timestamp: t - 30, value: 0.5 }, { timestamp: t - 5, value: 0.75 }], resources: [{ name: host, type: 'host' }], tags: ['env:prod', 'canary'] },
      ];

      // Act
      const a = await api.submitMetrics({ body: { series: series('dd-host-1') }, contentEncoding: 'deflate' });
      const b = await api.submitMetrics({ body: { series: series('dd-host-2') }, contentEncoding: 'zstd1' });

      // Assess
      expect(a).toEqual({ errors: [] });
      expect(b).toEqual({ errors: [] });
      const hits = await until({ metric: 'dropin.dd.v2.hits', agg: 'sum', by: 'host' }, (r) => total(r) === 24);
      expect(hits.series.map((s) => [s.tags.host, s.points[0]![1]])).toEqual([['dd-host-1', 12], ['dd-host-2', 12]]);
      expect(total(await until({ metric: 'dropin.dd.v2.hits', agg: 'sum', filter: 'team:web,host:dd-host-2' }, (r) => total(r) === 12))).toBe(12);
      expect(total(await until({ metric: 'dropin.dd.v2.rate', agg: 'sum' }, (r) => total(r) === 30))).toBe(30);
      const load = await until({ metric: 'dropin.dd.v2.load', agg: 'last', filter: 'host:dd-host-1,canary:' }, (r) => r.series.length === 1);
      expect(load.series[0]!.points[0]![1]).toBe(0.75);
    });

    it('v1 submitMetrics and submitDistributionPoints: exact sums, p50 within the sketch\'s 1 %, host in by', async () => {
      // Prepare
      const api = new v1.MetricsApi(configuration(KEY));
      const t = nowS();
      const values = Array.from({ length: 101 }, (_, i) => i + 1); // p50 = 51

      // Act
      const s = await api.submitMetrics({
        body: {
          series: [
            { metric: 'dropin.dd.v1.count', type: 'count', points: [[t - 10, 4], [t - 5, 6]], host: 'v1-host', tags: ['env:dev'] },
            { metric: 'dropin.dd.v1.rate', type: 'rate', interval: 20, points: [[t - 10, 0.25]], host: 'v1-host' },
            { metric: 'dropin.dd.v1.gauge', points: [[t - 10, 3], [t - 1, 9]], host: 'v1-host' },
          ],
        },
      });
      const d = await api.submitDistributionPoints({ body: { series: [{ metric: 'dropin.dd.v1.dist', points: [[t - 10, values]], host: 'v1-host', tags: ['env:dev'] }] } });

      // Assess
      expect(s).toEqual({ status: 'ok' });
      expect(d).toEqual({ status: 'ok' });
      expect(total(await until({ metric: 'dropin.dd.v1.count', agg: 'sum', filter: 'host:v1-host,env:dev' }, (r) => total(r) === 10))).toBe(10);
      expect(total(await until({ metric: 'dropin.dd.v1.rate', agg: 'sum' }, (r) => total(r) === 5))).toBe(5);
      const gauge = await until({ metric: 'dropin.dd.v1.gauge', agg: 'last', by: 'host' }, (r) => r.series.length === 1);
      expect(gauge.series).toEqual([{ tags: { host: 'v1-host' }, points: [[expect.any(Number), 9]] }]);
      expect(total(await until({ metric: 'dropin.dd.v1.dist', agg: 'count' }, (r) => total(r) === 101))).toBe(101);
      expect(total(await until({ metric: 'dropin.dd.v1.dist', agg: 'sum' }, (r) => total(r) === 5151))).toBe(5151);
      const p50 = await until({ metric: 'dropin.dd.v1.dist', agg: 'p50', by: 'host' }, (r) => r.series.length === 1);
      expect(p50.series[0]!.tags).toEqual({ host: 'v1-host' });
      expect(Math.abs(p50.series[0]!.points[0]![1] - 51) / 51).toBeLessThanOrEqual(0.01);
    });

    it('refuses a bad key with 403, and the client says so', async () => {
      // Prepare
      const api = new v2.MetricsApi(configuration('not-a-key'));

      // Act
      const err = await api.submitMetrics({ body: { series: [{ metric: 'dropin.dd.nokey', type: 1, points: [{ timestamp: nowS(), value: 1 }] }] } }).then(
        () => undefined,
        (e: unknown) => e as { code?: number; body?: unknown; message?: string },
      );
      const validate = await new v1.AuthenticationApi(configuration('not-a-key')).validate().then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );

      // Assess
      expect(err?.code).toBe(403);
      expect(JSON.stringify(err?.body)).toContain('Forbidden');
      expect(validate?.code).toBe(403);
      expect(await new v1.AuthenticationApi(configuration(KEY)).validate()).toEqual({ valid: true });
    });
  });

  describe('tenant isolation', () => {
    it('writes every route\'s points to the key\'s tenant only', async () => {
      // Prepare: globex sends one point on each new route.
      const t = Math.floor(Date.now() / 1000);
      const dd = (path: string, body: unknown) => fetch(`${stack.url}${path}`, { method: 'POST', headers: { 'dd-api-key': OTHER, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const exporter = new JsonExporter({ url: `${stack.url}/v1/metrics`, headers: { 'x-api-key': OTHER }, temporalityPreference: AggregationTemporalityPreference.DELTA });
      const sdk = otel(exporter, 'globex-svc');

      // Act
      sdk.meter.createCounter('dropin.iso.otlp').add(1);
      await sdk.reader.forceFlush();
      await sdk.provider.shutdown();
      const codes = [
        (await dd('/api/v2/series', { series: [{ metric: 'dropin.iso.v2', type: 1, points: [{ timestamp: t, value: 1 }] }] })).status,
        (await dd('/api/v1/series', { series: [{ metric: 'dropin.iso.v1', type: 'count', points: [[t, 1]] }] })).status,
        (await dd('/api/v1/distribution_points', { series: [{ metric: 'dropin.iso.dist', points: [[t, [1]]] }] })).status,
      ];

      // Assess: globex sees each, acme none.
      expect(codes).toEqual([202, 202, 202]);
      for (const metric of ['dropin.iso.otlp', 'dropin.iso.v2', 'dropin.iso.v1', 'dropin.iso.dist']) {
        expect(total(await until({ metric, agg: 'count' }, (r) => total(r) === 1, OTHER))).toBe(1);
        const mine = await query({ metric, agg: 'count' });
        expect(mine.status, metric).toBe(404);
      }
      // And acme's metrics are not globex's.
      expect((await query({ metric: 'dropin.otel.requests', agg: 'sum' }, OTHER)).status).toBe(404);
    });
  });
});
