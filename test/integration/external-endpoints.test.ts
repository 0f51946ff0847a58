import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch } from '../../functions/shared/batch.ts';
import { kinesisClient } from '../../functions/shared/clients.ts';
import { startEmulators, type Emulators } from '../../local/emulators.ts';
import { startStack, type RunningStack } from '../../local/index.ts';

/**
 * The switch that runs the integration suite against LocalStack: with the standard endpoint
 * variables set, startStack() starts no emulator and uses those endpoints. Here the "remote"
 * services are a separately started set of emulators standing in for LocalStack.
 */
describe('Embedded stack on endpoints from the environment', () => {
  let dir: string;
  let remote: Emulators;
  let stack: RunningStack | undefined;
  const saved = { ...process.env };
  const seen: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'streamfold-external-'));
    remote = await startEmulators({ dataDir: join(dir, 'remote') });
    Object.assign(process.env, remote.env);
    stack = await startStack({
      port: 0,
      dataDir: join(dir, 'stack'),
      tenants: { acme: 'external-key-1' },
      onlyGivenConsumers: true,
      log: () => {},
      consumers: [
        {
          name: 'recorder',
          timeoutSeconds: 10,
          settings: { batchSize: 100, maxBatchingWindowSeconds: 0, parallelizationFactor: 1, retryAttempts: 1, maxRecordAgeSeconds: -1, bisectBatchOnError: false, reportBatchItemFailures: true },
          create: () => async (event: KinesisStreamEvent) => {
            seen.push(...decodeBatch(event.Records, Date.now()).events.map((e) => `${e.event.tenant}/${e.event.name}`));
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await remote?.stop();
    process.env = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('provisions its own prefixed resources on those endpoints and runs end to end', async () => {
    // Assess: the functions' endpoints are the remote ones, resources carry a per-stack prefix.
    expect(stack!.env.AWS_ENDPOINT_URL_KINESIS).toBe(remote.endpoints.kinesis);
    expect(stack!.env.EVENTS_STREAM_NAME).toMatch(/^streamfold-[0-9a-f]{8}-events$/);
    const streams = await kinesisClient(remote.env).send(new ListStreamsCommand({}));
    expect(streams.StreamNames).toContain(stack!.env.EVENTS_STREAM_NAME);
    // Act
    const res = await fetch(`${stack!.url}/v1/events`, {
      method: 'POST',
      headers: { 'x-api-key': 'external-key-1' },
      body: JSON.stringify([{ name: 'remote.metric', ts: Date.now() }]),
    });
    await stack!.drain();
    // Assess
    expect(res.status).toBe(202);
    expect(seen).toEqual(['acme/remote.metric']);
  });
});
