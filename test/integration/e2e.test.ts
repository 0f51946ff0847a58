/**
 * The whole embedded stack, as `npm start` runs it: events posted over HTTP go through the intake,
 * the stream and the product's own rollup and archive consumers, and come back from the query API
 * over HTTP. Then a restart in the middle of the stream: every event is counted exactly once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketStart } from '../../functions/shared/rollups/keys.ts';
import { startStack, type RunningStack } from '../../local/index.ts';

const KEY = 'e2e-acme-key-01';
const H = 3_600_000;
// Two hours ago, at an hour boundary: every event lands in one 1 h bucket.
const HOUR = bucketStart(Date.now() - 2 * H, '1h');

interface QueryResponse {
  series: Array<{ tags: Record<string, string>; points: Array<[number, number]> }>;
  interval: number;
}

describe('End to end on the embedded stack, with a restart mid-stream', () => {
  let dataDir: string;
  let stack: RunningStack | undefined;

  const start = () => startStack({ port: 0, dataDir, tenants: { acme: KEY }, batchingWindowSeconds: 0, log: () => {}, pollerLogger: { debug: () => {}, warn: () => {}, error: () => {} } });
  const post = (s: RunningStack, events: unknown[]) =>
    fetch(`${s.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(events) });
  const query = async (s: RunningStack, params: Record<string, string>) => {
    const res = await fetch(`${s.url}/v1/query?${new URLSearchParams(params)}`, { headers: { 'x-api-key': KEY } });
    return { status: res.status, body: (await res.json()) as QueryResponse };
  };
  /** Events i of the batch: value i, host by parity, ts spread over the hour. */
  const batch = (from: number, n: number) =>
    Array.from({ length: n }, (_, k) => {
      const i = from + k;
      return { name: 'e2e.requests', ts: HOUR + ((i * 997) % H), value: i, tags: { host: `h${i % 2}` } };
    });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-e2e-'));
    stack = await start();
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('counts every event exactly once across a stop in the middle of the stream', async () => {
    // Prepare: 3,000 events in 30 requests; stop while the consumers are still working on them.
    const N = 3000;
    for (let r = 0; r < 15; r++) expect((await post(stack!, batch(r * 100, 100))).status).toBe(202);
    await stack!.stop();
    // Act: start again on the same data directory and send the rest.
    stack = await start();
    for (let r = 15; r < 30; r++) expect((await post(stack, batch(r * 100, 100))).status).toBe(202);
    await stack.drain(60_000);
    // Assess: count and sum over the hour, per host and overall, exactly as posted.
    const range = { metric: 'e2e.requests', from: String(HOUR), to: String(HOUR + H - 1), interval: '3600' };
    const count = await query(stack, { ...range, agg: 'count' });
    const sum = await query(stack, { ...range, agg: 'sum', by: 'host' });
    expect(count.status).toBe(200);
    expect(count.body.series).toHaveLength(1);
    expect(count.body.series[0]!.points).toEqual([[HOUR, N]]);
    const expected = (parity: number) => Array.from({ length: N }, (_, i) => i).filter((i) => i % 2 === parity).reduce((a, b) => a + b, 0);
    const byHost = Object.fromEntries(sum.body.series.map((s) => [s.tags.host, s.points]));
    expect(byHost).toEqual({ h0: [[HOUR, expected(0)]], h1: [[HOUR, expected(1)]] });
  });

  it('serves the raw events back from the archive, each exactly once', async () => {
    const seen = new Set<number>();
    let cursor: string | undefined;
    do {
      const params = new URLSearchParams({ from: String(HOUR), to: String(HOUR + H - 1), name: 'e2e.requests', limit: '1000', ...(cursor ? { cursor } : {}) });
      const res = await fetch(`${stack!.url}/v1/events?${params}`, { headers: { 'x-api-key': KEY } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { events: Array<{ value: number }>; nextCursor?: string | null };
      for (const e of body.events) {
        expect(seen.has(e.value)).toBe(false);
        seen.add(e.value);
      }
      cursor = body.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.size).toBe(3000);
  });

  it('lists the metric and serves the dashboard page', async () => {
    const metrics = await fetch(`${stack!.url}/v1/metrics`, { headers: { 'x-api-key': KEY } });
    expect(((await metrics.json()) as { metrics: Array<{ name: string }> }).metrics.map((m) => m.name)).toEqual(['e2e.requests']);
    const page = await fetch(`${stack!.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
