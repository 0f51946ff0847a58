import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient } from '../../functions/shared/clients.ts';
import { encodeRecords } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { STREAM } from '../../lib/resources.ts';
import { startStack, type RunningStack } from '../../local/index.ts';
import { recordingConsumer } from './support/recorder.ts';
import { until } from './support/poll.ts';

async function portIsClosed(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), hostname);
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}


describe('Embedded stack: startStack', () => {
  let dataDir: string;
  let stack: RunningStack | undefined;
  const seen = new Map<string, StreamEvent[]>();
  const KEY = 'acme-test-key-1';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-stack-'));
    stack = await startStack({ port: 0, dataDir, tenants: { acme: KEY }, consumers: [recordingConsumer((events) => events.forEach((e) => seen.set(e.lineage.shardId, [...(seen.get(e.lineage.shardId) ?? []), e.event])))], onlyGivenConsumers: true, log: () => {} });
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('gives functions the environment a deployed function gets', () => {
    const env = stack!.env;
    // The embedded default uses the plain prefix; on a shared endpoint (LocalStack) each stack has its own.
    const prefix = /^(streamfold(?:-[0-9a-f]{8})?)-events$/.exec(env[STREAM.envVar]!)?.[1];
    expect(prefix).toBeDefined();
    expect(env.TENANTS_TABLE_NAME).toBe(`${prefix}-tenants`);
    expect(env.ARCHIVE_BUCKET_NAME).toBe(`${prefix}-archive-000000000000-us-east-1`);
    expect(env.AWS_REGION).toBe('us-east-1');
    for (const k of ['AWS_ENDPOINT_URL_KINESIS', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3']) {
      expect(env[k]).toMatch(/^https?:\/\/[\w.-]+:\d+$/);
    }
  });

  it('answers /health once ready', async () => {
    const res = await fetch(`${stack!.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('delivers events posted over HTTP and records put on the stream to the consumers, in order per shard', async () => {
    // Prepare
    const now = Date.now();
    const posted = Array.from({ length: 300 }, (_, i) => ({ name: `m.${i % 7}`, ts: now - 1000 + i, value: i, tags: { seq: String(i) } }));
    const direct: StreamEvent[] = Array.from({ length: 200 }, (_, i) => ({ tenant: 'acme', name: `d.${i % 5}`, ts: now, value: 1000 + i, type: 'gauge', tags: {} }));
    // Act
    const res = await fetch(`${stack!.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(posted) });
    const records = encodeRecords(direct, { targetRawBytes: 2048 });
    await kinesisClient(stack!.env).send(
      new PutRecordsCommand({ StreamName: stack!.env[STREAM.envVar], Records: records.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) }),
    );
    await stack!.drain();
    // Assess
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 300, rejected: 0, errors: [] });
    const all = [...seen.values()].flat();
    expect(all).toHaveLength(500);
    // Per metric name (one partition key each), values arrive in the order they were sent.
    const byName = new Map<string, number[]>();
    for (const e of all) byName.set(e.name, [...(byName.get(e.name) ?? []), e.value]);
    for (const [name, values] of byName) expect(values, name).toEqual([...values].sort((a, b) => a - b));
    expect(all.filter((e) => e.name.startsWith('m.')).every((e) => e.tenant === 'acme')).toBe(true);
  });

  it('stop() closes every port and can be called twice', async () => {
    const urls = [stack!.url, stack!.env.AWS_ENDPOINT_URL_KINESIS!, stack!.env.AWS_ENDPOINT_URL_DYNAMODB!, stack!.env.AWS_ENDPOINT_URL_S3!];
    await stack!.stop();
    await stack!.stop();
    for (const u of urls) expect(await until(`port of ${u} closed`, async () => ((await portIsClosed(u)) ? true : undefined))).toBe(true);
    stack = undefined;
  });
});
