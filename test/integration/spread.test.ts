/**
 * One metric spread over every shard (issue 15, "No hot shard"): the embedded stack with a
 * 4-shard stream and INTAKE_SPREAD=16, events of one metric over 400 series posted over HTTP, the
 * stack stopped in the middle of the stream and started again on its data: the metric's events
 * land on all four shards (each shard's log holds it), and the query's sums are exact.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient } from '../../functions/shared/clients.ts';
import { bucketStart, metricsPk } from '../../functions/shared/rollups/keys.ts';
import { TABLES } from '../../lib/resources.ts';
import { startStack, type RunningStack } from '../../local/index.ts';

const KEY = 'spread-acme-key-01';
const H = 3_600_000;
const HOUR = bucketStart(Date.now() - 2 * H, '1h');
const SERIES = 400;

describe('One metric over every shard of a 4-shard stream', () => {
  let dataDir: string;
  let stack: RunningStack | undefined;

  const start = () =>
    startStack({
      port: 0,
      dataDir,
      shards: 4,
      environment: { INTAKE_SPREAD: '16' },
      tenants: { acme: KEY },
      batchingWindowSeconds: 0,
      log: () => {},
      pollerLogger: { debug: () => {}, warn: () => {}, error: () => {} },
    });
  const post = (s: RunningStack, events: unknown[]) =>
    fetch(`${s.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(events) });
  const batch = (from: number, n: number) =>
    Array.from({ length: n }, (_, k) => {
      const i = from + k;
      return { name: 'hot.requests', ts: HOUR + ((i * 997) % H), value: i % 7, tags: { host: `h${i % SERIES}`, az: `az${(i % SERIES) % 3}` } };
    });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-spread-'));
    stack = await start();
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lands on every shard and counts every event exactly once across a restart', async () => {
    // Prepare: 4,000 events in 20 requests; stop while the consumers are still on them.
    const N = 4000;
    for (let r = 0; r < 10; r++) expect((await post(stack!, batch(r * 200, 200))).status).toBe(202);
    await stack!.stop();
    stack = await start();
    for (let r = 10; r < 20; r++) expect((await post(stack, batch(r * 200, 200))).status).toBe(202);

    // Act
    await stack.drain(90_000);
    const range = { metric: 'hot.requests', from: String(HOUR), to: String(HOUR + H - 1), interval: '3600' };
    const get = async (params: Record<string, string>) => {
      const res = await fetch(`${stack!.url}/v1/query?${new URLSearchParams(params)}`, { headers: { 'x-api-key': KEY } });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      return body as { series: Array<{ tags: Record<string, string>; points: Array<[number, number]> }> };
    };
    const count = await get({ ...range, agg: 'count' });
    const byAz = await get({ ...range, agg: 'sum', by: 'az' });
    const metric = await dynamoClient(stack.env).send(
      new GetItemCommand({ TableName: stack.env[TABLES.rollups.envVar], Key: { pk: { S: metricsPk('acme') }, sk: { S: 'hot.requests' } }, ConsistentRead: true }),
    );

    // Assess
    expect(metric.Item?.shards?.SS?.sort()).toEqual(['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002', 'shardId-000000000003']);
    expect(count.series.map((s) => s.points)).toEqual([[[HOUR, N]]]);
    const want = (az: number) => Array.from({ length: N }, (_, i) => i).filter((i) => (i % SERIES) % 3 === az).reduce((a, i) => a + (i % 7), 0);
    expect(Object.fromEntries(byAz.series.map((s) => [s.tags.az, s.points]))).toEqual({ az0: [[HOUR, want(0)]], az1: [[HOUR, want(1)]], az2: [[HOUR, want(2)]] });
  });
});
