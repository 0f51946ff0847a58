/**
 * Fairness under load against the embedded stack (startStack on port 0, a temp data dir): tenant A
 * with its own limits (100 events/s, 150 new series per minute, stored with the tenant) sends 20×
 * its quota with a burst of new series while tenant B sends at its normal rate. A's excess is
 * refused with 429 naming the limit (or listed per event in a 202 when part was taken); every
 * event B sent and every event A was told was accepted is counted by /v1/query exactly. Waits
 * poll with a deadline (support/poll.ts); nothing is timed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient } from '../../functions/shared/clients.ts';
import { TenantStore } from '../../functions/shared/tenants.ts';
import { TABLES } from '../../lib/resources.ts';
import { startStack, type RunningStack } from '../../local/index.ts';
import { until } from './support/poll.ts';

const KEY_A = 'tenant-a-fairness-key-01';
const KEY_B = 'tenant-b-fairness-key-01';
const H = 3_600_000;

interface Answer { status: number; retryAfter: string | null; body: { accepted?: number; rejected?: number; error?: string; errors?: Array<{ index: number; reason: string }> } }

describe('Fairness: a tenant over its limits does not take the others\' intake', () => {
  let dataDir: string;
  let stack: RunningStack;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-fairness-'));
    stack = await startStack({ port: 0, dataDir, tenants: { a: KEY_A, b: KEY_B }, batchingWindowSeconds: 0, log: () => {} });
    await new TenantStore(dynamoClient(stack.env), stack.env[TABLES.tenants.envVar]!).setLimits('a', { eventsPerSecond: 100, newSeriesPerMinute: 150 });
  });

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function post(key: string, events: unknown[]): Promise<Answer> {
    const res = await fetch(`${stack.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(events) });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
  }

  async function counted(key: string, metric: string): Promise<number> {
    const now = Date.now();
    const qs = new URLSearchParams({ metric, agg: 'sum', from: String(now - 2 * H), to: String(now + H), interval: '3600' });
    const res = await fetch(`${stack.url}/v1/query?${qs}`, { headers: { 'x-api-key': key } });
    const body = (await res.json()) as { series: Array<{ points: Array<[number, number]> }> };
    // Not yet known (404 until the rollup has indexed the metric): nothing counted.
    if (res.status !== 200) return 0;
    return body.series.reduce((n, s) => n + s.points.reduce((m, p) => m + p[1], 0), 0);
  }

  it('refuses A\'s excess naming the limit, takes what was within it, and counts B\'s events exactly', async () => {
    const ts = Date.now();
    // A: 20 requests of 100 events (2,000: 20× its 100 events/s), over 300 new series.
    const aRequests = Array.from({ length: 20 }, (_, r) =>
      post(KEY_A, Array.from({ length: 100 }, (_, i) => ({ name: 'a.flood', ts, value: 1, tags: { s: String((r * 100 + i) % 300) } }))),
    );
    // B: 10 requests of 50 events over 5 series, sent while A's are in flight.
    const bRequests = Array.from({ length: 10 }, (_, r) =>
      post(KEY_B, Array.from({ length: 50 }, (_, i) => ({ name: 'b.steady', ts, value: 1, tags: { s: String((r + i) % 5) } }))),
    );
    const [a, b] = await Promise.all([Promise.all(aRequests), Promise.all(bRequests)]);

    // B: every event taken.
    expect(b.map((x) => [x.status, x.body.accepted, x.body.rejected])).toEqual(Array.from({ length: 10 }, () => [202, 50, 0]));

    // A: what it was told, exactly: taken + refused = sent, some refused by a named limit.
    const accepted = a.reduce((n, x) => n + (x.body.accepted ?? 0), 0);
    const refused = a.reduce((n, x) => n + (x.body.rejected ?? 0), 0);
    expect(accepted + refused).toBe(2_000);
    expect(accepted).toBeGreaterThanOrEqual(100);
    expect(refused).toBeGreaterThan(0);
    const limitReason = /^tenant "a" is over its (events-per-second limit \(100\/s\); retry after 1 s|new-series-per-minute limit \(150\/min\); retry after \d+ s)$/;
    for (const x of a) {
      if (x.status === 429) {
        expect(x.body.error).toMatch(limitReason);
        expect(Number(x.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(x.body.accepted).toBe(0);
      } else {
        expect(x.status).toBe(202);
      }
      for (const e of x.body.errors ?? []) expect(e.reason).toMatch(limitReason);
    }
    expect(a.some((x) => x.status === 429)).toBe(true);

    // Counted by /v1/query exactly: all of B's, and A's accepted ones.
    await until(`B's 500 events counted`, async () => ((await counted(KEY_B, 'b.steady')) === 500 ? true : undefined), 60_000, 250);
    await until(`A's ${accepted} accepted events counted`, async () => ((await counted(KEY_A, 'a.flood')) === accepted ? true : undefined), 60_000, 250);
    await stack.drain(60_000);
    expect(await counted(KEY_A, 'a.flood')).toBe(accepted);
    expect(await counted(KEY_B, 'b.steady')).toBe(500);
  }, 120_000);
});
