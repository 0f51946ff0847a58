import { describe, expect, it } from 'vitest';
import { route } from '../../functions/intake/app.ts';
import type { IntakeDeps } from '../../functions/intake/core.ts';
import { CachedLimits, DEFAULT_LIMITS, limitMessage, TenantLimiter, TokenBucket, type LimitedEvent, type TenantLimits } from '../../functions/intake/limits.ts';
import type { PutRecord, PutResult, RecordSink } from '../../functions/shared/put-records.ts';

const T0 = Date.parse('2026-12-02T12:00:00Z');
const L: TenantLimits = { eventsPerSecond: 10, bytesPerSecond: 1_000_000, newSeriesPerMinute: 1_000, seriesPerMetric: 1_000, seriesPerTenant: 1_000 };
const ev = (series: string, metric = 'm', bytes = 10): LimitedEvent => ({ metric, series, bytes });
const same = (n: number) => Array.from({ length: n }, () => ev('a'));

describe('TenantLimiter', () => {
  it('takes exactly events/s, refuses the rest naming the limit, and refills by the elapsed time', () => {
    const lim = new TenantLimiter();
    const r = lim.admit('demo', L, same(25), T0);
    expect(r.admitted.filter(Boolean)).toHaveLength(10);
    expect(r.admitted.slice(0, 10).every(Boolean)).toBe(true);
    expect(r.refusals.map((f) => f.index)).toEqual([...Array(15).keys()].map((i) => i + 10));
    expect(r.message).toBe('tenant "demo" is over its events-per-second limit (10/s); retry after 1 s');
    expect(r.retryAfterS).toBe(1);
    // 300 ms later: 3 tokens back.
    expect(lim.admit('demo', L, same(5), T0 + 300).admitted).toEqual([true, true, true, false, false]);
    // Never more than one second's worth after a long pause.
    expect(lim.admit('demo', L, same(15), T0 + 60_000).admitted.filter(Boolean)).toHaveLength(10);
  });

  it('keeps tenants apart', () => {
    const lim = new TenantLimiter();
    lim.admit('a', L, same(100), T0);
    expect(lim.admit('b', L, same(10), T0).refusals).toEqual([]);
  });

  it('refuses bytes/s with a Retry-After of the seconds the bucket needs', () => {
    const lim = new TenantLimiter();
    const limits = { ...L, eventsPerSecond: 1_000, bytesPerSecond: 1_000 };
    const r = lim.admit('demo', limits, [ev('a', 'm', 600), ev('a', 'm', 600), ev('a', 'm', 300)], T0);
    expect(r.admitted).toEqual([true, false, true]);
    expect(r.refusals[0]!.reason).toBe('tenant "demo" is over its bytes-per-second limit (1000 B/s); retry after 1 s');
  });

  it('counts new series per clock minute; known series pass; Retry-After is the rest of the minute', () => {
    const lim = new TenantLimiter();
    const limits = { ...L, eventsPerSecond: 1_000, newSeriesPerMinute: 3 };
    const at = T0 + 45_000; // 15 s before the next minute
    const r = lim.admit('demo', limits, [ev('1'), ev('2'), ev('3'), ev('4'), ev('1')], at);
    expect(r.admitted).toEqual([true, true, true, false, true]);
    expect(r.refusals[0]!.reason).toBe('tenant "demo" is over its new-series-per-minute limit (3/min); retry after 15 s');
    expect(lim.admit('demo', limits, [ev('4')], T0 + 60_000).admitted).toEqual([true]);
  });

  it('caps active series per metric and per tenant, with no Retry-After', () => {
    const lim = new TenantLimiter();
    const limits = { ...L, eventsPerSecond: 1_000, seriesPerMetric: 2, seriesPerTenant: 3 };
    const r = lim.admit('demo', limits, [ev('1', 'x'), ev('2', 'x'), ev('3', 'x'), ev('1', 'y'), ev('2', 'y'), ev('1', 'x')], T0);
    expect(r.admitted).toEqual([true, true, false, true, false, true]);
    expect(r.refusals.map((f) => f.limit)).toEqual(['seriesPerMetric', 'seriesPerTenant']);
    expect(r.retryAfterS).toBe(0);
    expect(r.refusals[1]!.reason).toBe('tenant "demo" is over its series-per-tenant limit (3 series); it does not free up with time (ask for a higher limit)');
  });

  it('a lower rate set later caps the bucket at once', () => {
    const b = new TokenBucket(100, T0);
    expect(b.take(5, T0, 4)).toBe(false);
    expect(b.waitS(5, T0, 4)).toBe(0); // more than one second's worth waits for a full bucket only
    expect(b.take(4, T0, 4)).toBe(true);
    expect(b.waitS(1, T0, 4)).toBe(1);
  });
});

describe('limitMessage', () => {
  it('names the tenant, the limit and its value', () => {
    expect(limitMessage('demo', 'eventsPerSecond', 5000, 1)).toBe('tenant "demo" is over its events-per-second limit (5000/s); retry after 1 s');
  });
});

describe('CachedLimits', () => {
  it('lays a tenant\'s stored limits over the defaults and reads them again after the TTL', async () => {
    let reads = 0;
    let stored: Partial<TenantLimits> = { eventsPerSecond: 5 };
    const c = new CachedLimits({ limitsFor: async () => (reads++, stored) }, DEFAULT_LIMITS, 1_000);
    expect(await c.limitsFor('demo', T0)).toEqual({ ...DEFAULT_LIMITS, eventsPerSecond: 5 });
    stored = { eventsPerSecond: 7 };
    expect((await c.limitsFor('demo', T0 + 999)).eventsPerSecond).toBe(5);
    expect((await c.limitsFor('demo', T0 + 1_000)).eventsPerSecond).toBe(7);
    expect(reads).toBe(2);
  });
});

class MemorySink implements RecordSink {
  records = 0;
  async putRecords(records: readonly PutRecord[]): Promise<PutResult[]> {
    this.records += records.length;
    return records.map(() => ({ ok: true }));
  }
}

function deps(limits: Partial<TenantLimits>): IntakeDeps {
  return {
    auth: { authenticate: async (k: string) => (k === 'key-demo' ? { tenant: 'demo', keyId: 'k1', scopes: ['write'], createdAt: '' } : undefined) },
    sink: new MemorySink(),
    idempotency: undefined as never,
    now: () => T0,
    limits: { limiter: new TenantLimiter(), source: new CachedLimits({ limitsFor: async () => limits }) },
  };
}
const req = (body: string, contentType = 'application/json') => ({ headers: { 'x-api-key': 'key-demo', 'content-type': contentType }, body: Buffer.from(body), remainingMs: () => 10_000 });
const events = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ name: 'm', ts: T0, value: i })));

describe('the routes over a limit', () => {
  it('POST /v1/events: 202 with the events over the limit in errors, then 429 with Retry-After', async () => {
    const d = deps({ eventsPerSecond: 3 });
    const first = await route('POST /v1/events', req(events(5)), d);
    expect(first.statusCode).toBe(202);
    const reason = 'tenant "demo" is over its events-per-second limit (3/s); retry after 1 s';
    expect(JSON.parse(first.body!)).toEqual({ accepted: 3, rejected: 2, errors: [{ index: 3, reason }, { index: 4, reason }] });
    const second = await route('POST /v1/events', req(events(2)), d);
    expect(second.statusCode).toBe(429);
    expect(second.headers!['retry-after']).toBe('1');
    expect(JSON.parse(second.body!)).toEqual({ error: reason, accepted: 0, rejected: 2, errors: [{ index: 0, reason }, { index: 1, reason }] });
    expect((d.sink as MemorySink).records).toBe(1);
  });

  it('OTLP: partial_success naming the limit, then 429 with a google.rpc.Status', async () => {
    const d = deps({ eventsPerSecond: 1 });
    const body = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', gauge: { dataPoints: [{ timeUnixNano: String(T0 * 1e6), asDouble: 1 }, { timeUnixNano: String(T0 * 1e6), asDouble: 2 }] } }] }] }] });
    const first = await route('POST /v1/metrics', req(body), d);
    expect(first.statusCode).toBe(200);
    expect(JSON.parse(first.body!)).toEqual({ partialSuccess: { rejectedDataPoints: '1', errorMessage: '1 data point rejected: metric "m": tenant "demo" is over its events-per-second limit (1/s); retry after 1 s' } });
    const second = await route('POST /v1/metrics', req(body), d);
    expect(second.statusCode).toBe(429);
    expect(second.headers!['retry-after']).toBe('1');
    expect(JSON.parse(second.body!).message).toBe('tenant "demo" is over its events-per-second limit (1/s); retry after 1 s');
  });

  it('Datadog: 429 with its errors array', async () => {
    const d = deps({ eventsPerSecond: 1 });
    const body = JSON.stringify({ series: [{ metric: 'm', type: 3, points: [{ timestamp: T0 / 1000, value: 1 }] }] });
    expect((await route('POST /api/v2/series', req(body), d)).statusCode).toBe(202);
    const second = await route('POST /api/v2/series', req(body), d);
    expect(second.statusCode).toBe(429);
    expect(second.headers!['retry-after']).toBe('1');
    expect(JSON.parse(second.body!)).toEqual({ errors: ['tenant "demo" is over its events-per-second limit (1/s); retry after 1 s'] });
  });
});
