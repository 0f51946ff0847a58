/**
 * GET /v1/status on the embedded stack: the operator key (new at each start, in running.json,
 * never printed) and what it shows per consumer: events behind while a consumer holds a batch,
 * exact counts once everything is drained, records from other producers counted as records only.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient } from '../../functions/shared/clients.ts';
import { encodeRecords } from '../../functions/shared/codec.ts';
import { STREAM } from '../../lib/resources.ts';
import { RUN_FILE, startStack, type LocalConsumer, type RunningStack } from '../../local/index.ts';
import type { StackStatus } from '../../local/lag.ts';
import { parseYamlSubset, responseSchema, validate } from '../unit/support/query-openapi.ts';
import { until } from './support/poll.ts';

const KEY = 'status-acme-key-01';
const doc = parseYamlSubset(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));

/** A consumer whose invocations wait until the test opens the gate. */
function gatedConsumer(): { consumer: LocalConsumer; open(): void; invoked: Promise<void> } {
  let open!: () => void;
  let invoked!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const first = new Promise<void>((resolve) => (invoked = resolve));
  return {
    open,
    invoked: first,
    consumer: {
      name: 'gated',
      timeoutSeconds: 60,
      settings: { batchSize: 500, maxBatchingWindowSeconds: 0, parallelizationFactor: 1, retryAttempts: 3, maxRecordAgeSeconds: -1, bisectBatchOnError: true, reportBatchItemFailures: true },
      create: () => async (_event: KinesisStreamEvent) => {
        invoked();
        await gate;
      },
    },
  };
}


describe('Embedded stack: GET /v1/status', () => {
  let dataDir: string;
  let stack: RunningStack | undefined;
  const logged: string[] = [];
  const gated = gatedConsumer();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-status-'));
    stack = await startStack({
      port: 0,
      dataDir,
      tenants: { acme: KEY },
      consumers: [gated.consumer],
      batchingWindowSeconds: 0,
      log: (line) => logged.push(line),
      pollerLogger: { debug: () => {}, warn: (m) => logged.push(m), error: (m) => logged.push(m) },
    });
  });

  afterAll(async () => {
    gated.open();
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const get = async (key?: string) => {
    const res = await fetch(`${stack!.url}/v1/status`, { headers: key === undefined ? {} : { 'x-api-key': key } });
    return { statusCode: res.status, body: (await res.json()) as unknown };
  };
  const status = async () => {
    const res = await get(stack!.operatorKey);
    expect(res.statusCode).toBe(200);
    expect(validate(doc, responseSchema(doc, '/v1/status', 'GET', 200), res.body)).toEqual([]);
    return res.body as StackStatus;
  };
  const consumer = (s: StackStatus, name: string) => s.consumers.find((c) => c.name === name)!;

  it('keeps the operator key in running.json, for the owner only, and never prints it', () => {
    // Assess
    const runFile = join(dataDir, RUN_FILE);
    const run = JSON.parse(readFileSync(runFile, 'utf8')) as { url: string; operatorKey: string };
    expect(run).toMatchObject({ url: stack!.url, operatorKey: stack!.operatorKey });
    expect(stack!.operatorKey).toMatch(/^sfop_/);
    expect(statSync(runFile).mode & 0o077).toBe(0);
    expect(logged.join('\n')).not.toContain(stack!.operatorKey);
  });

  it('answers 401 without the operator key and 403 to a tenant key, as documented', async () => {
    // Act
    const answers = [await get(), await get('not-a-key'), await get(KEY)];

    // Assess
    expect(answers.map((a) => a.statusCode)).toEqual([401, 401, 403]);
    for (const a of answers) expect(validate(doc, responseSchema(doc, '/v1/status', 'GET', a.statusCode), a.body)).toEqual([]);
  });

  it('shows events behind while a consumer holds them, and exact counts once drained', async () => {
    // Prepare
    const now = Date.now();
    const events = Array.from({ length: 700 }, (_, i) => ({ name: `status.m${i % 9}`, ts: now - i, value: i, tags: { host: `h${i % 3}` } }));

    // Act: 700 events over HTTP; the gated consumer holds its first batch.
    const res = await fetch(`${stack!.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(await res.json()).toMatchObject({ accepted: 700, rejected: 0 });
    await gated.invoked;
    const held = await status();

    // Assess: the intake wrote 700 events; the gated consumer has them in flight.
    expect(held.intake.eventsAccepted).toBe(700);
    const g = consumer(held, 'gated');
    expect(g.eventsBehind).toBeGreaterThan(0);
    expect(g.eventsProcessed + g.eventsBehind).toBe(700);
    expect(g.recordsPending).toBeGreaterThan(0);
    expect(g.caughtUp).toBe(false);
    for (const c of held.consumers) expect(c.eventsProcessed + c.eventsDiscarded + c.eventsBehind).toBe(700);

    // Act: open the gate; one record from another producer, straight to the stream.
    gated.open();
    const direct = encodeRecords([{ tenant: 'acme', name: 'status.direct', ts: now, value: 1, type: 'count', tags: {} }]);
    await kinesisClient(stack!.env).send(new PutRecordsCommand({ StreamName: stack!.env[STREAM.envVar], Records: direct.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) }));
    await stack!.drain(60_000);
    const drained = await until('every consumer caught up', async () => {
      const s = await status();
      return s.consumers.every((c) => c.caughtUp) ? s : undefined;
    });

    // Assess: exact, per consumer and summed over the shards; the direct record is a record, not an intake event.
    expect(drained.intake).toEqual({ eventsAccepted: 700, recordsWritten: held.intake.recordsWritten });
    expect(drained.consumers.map((c) => c.name).sort()).toEqual(['archive', 'gated', 'rollup']);
    for (const c of drained.consumers) {
      expect(c, c.name).toMatchObject({ eventsProcessed: 700, eventsDiscarded: 0, eventsBehind: 0, recordsPending: 0, ageOfOldestMs: 0, caughtUp: true });
      expect(c.recordsProcessed, c.name).toBe(drained.intake.recordsWritten + direct.length);
      expect(c.shards.reduce((n, s) => n + s.eventsProcessed, 0), c.name).toBe(700);
    }
    expect(stack!.status().consumers.map((c) => c.eventsProcessed)).toEqual([700, 700, 700]);
  });
});
