import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FileCheckpointStore,
  InMemoryOnFailureDestination,
  KinesisShardSource,
  Poller,
} from '../../local/poller/index.ts';
import type { PollerLogger, PollerOptions, StreamHandler, StreamHandlerResult } from '../../local/poller/index.ts';
import { until } from './support/poll.ts';

// kinesalite is CommonJS without type declarations.
const require = createRequire(import.meta.url);
const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => Server;

const silentLogger: PollerLogger = { debug: () => {}, warn: () => {}, error: () => {} };

let server: Server;
let client: KinesisClient;
let directory: string;
const pollers: Poller[] = [];


async function createStream(name: string, shards: number): Promise<string> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  return until(`stream ${name} to be ACTIVE`, async () => {
    const { StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return summary?.StreamStatus === 'ACTIVE' ? summary.StreamARN : undefined;
  });
}

/** Puts `count` records named `<prefix>-<i>` and returns, per shard, the sequence numbers in put order. */
async function putRecords(stream: string, prefix: string, count: number): Promise<Map<string, { seq: string; body: string }[]>> {
  const perShard = new Map<string, { seq: string; body: string }[]>();
  for (let start = 0; start < count; start += 10) {
    const bodies = Array.from({ length: Math.min(10, count - start) }, (_, i) => `${prefix}-${start + i}`);
    const output = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: bodies.map((body, i) => ({ PartitionKey: `pk-${(start + i) % 13}`, Data: new TextEncoder().encode(body) })),
      }),
    );
    expect(output.FailedRecordCount ?? 0).toBe(0);
    (output.Records ?? []).forEach((result, i) => {
      const list = perShard.get(result.ShardId ?? '') ?? [];
      list.push({ seq: result.SequenceNumber ?? '', body: bodies[i] ?? '' });
      perShard.set(result.ShardId ?? '', list);
    });
  }
  return perShard;
}

/** Records every delivered record, per shard, in delivery order. */
function recorder(behaviour?: (event: KinesisStreamEvent, call: number) => StreamHandlerResult | Promise<StreamHandlerResult>) {
  const delivered = new Map<string, { seq: string; body: string }[]>();
  const batches: string[][] = [];
  let calls = 0;
  const handler: StreamHandler = async (event, context) => {
    const call = calls++;
    batches.push(event.Records.map((r) => r.kinesis.sequenceNumber));
    const result = await behaviour?.(event, call);
    const failedFrom = result ? result.batchItemFailures[0]?.itemIdentifier : undefined;
    for (const record of event.Records) {
      if (failedFrom !== undefined && BigInt(record.kinesis.sequenceNumber) >= BigInt(failedFrom)) break;
      const shardId = record.eventID.split(':')[0] ?? '';
      const list = delivered.get(shardId) ?? [];
      list.push({ seq: record.kinesis.sequenceNumber, body: Buffer.from(record.kinesis.data, 'base64').toString('utf8') });
      delivered.set(shardId, list);
    }
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    return result;
  };
  return { handler, delivered, batches };
}

function startPoller(options: Pick<PollerOptions, 'streamArn' | 'handler'> & Partial<PollerOptions>): Poller {
  const poller = new Poller({
    source: new KinesisShardSource({ client, stream: options.streamArn }),
    functionName: 'recorder',
    startingPosition: 'TRIM_HORIZON',
    batchSize: 7,
    pollIntervalMs: 20,
    shardDiscoveryIntervalMs: 200,
    retryBaseDelayMs: 20,
    functionTimeoutMs: 10_000,
    logger: silentLogger,
    ...options,
  });
  pollers.push(poller);
  poller.start();
  return poller;
}

describe('Class: Poller against kinesalite', () => {
  beforeAll(async () => {
    server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    client = new KinesisClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestHandler: new NodeHttpHandler(),
    });
    directory = await mkdtemp(join(tmpdir(), 'poller-kinesis-'));
  });

  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
    client?.destroy();
    if (server) await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('delivers every record of a 2-shard stream once, in order per shard', async () => {
    // Prepare
    const streamArn = await createStream('ordered', 2);
    const { handler, delivered, batches } = recorder();
    const put = await putRecords('ordered', 'event', 60);

    // Act
    const poller = startPoller({ streamArn, handler });
    await poller.drain({ timeoutMs: 20_000 });

    // Assess
    expect(put.size).toBe(2);
    expect(delivered).toEqual(put);
    expect(Math.max(...batches.map((b) => b.length))).toBe(7);
  });

  it('retries from the lowest failed record and resumes from its checkpoint after a restart', async () => {
    // Prepare
    const streamArn = await createStream('restart', 2);
    const checkpoints = new FileCheckpointStore(join(directory, 'checkpoints'));
    const onFailure = new InMemoryOnFailureDestination();
    const failOnce = new Set<string>();
    const first = recorder((event) => {
      const third = event.Records[2]?.kinesis.sequenceNumber;
      if (third === undefined || failOnce.has(third)) return undefined;
      failOnce.add(third);
      return { batchItemFailures: [{ itemIdentifier: third }] };
    });
    const before = await putRecords('restart', 'before', 30);
    const poller = startPoller({ streamArn, handler: first.handler, checkpoints, onFailure, reportBatchItemFailures: true });
    await poller.drain({ timeoutMs: 20_000 });
    await poller.stop();
    const second = recorder();
    const after = await putRecords('restart', 'after', 20);

    // Act
    const restarted = startPoller({ streamArn, handler: second.handler, checkpoints, onFailure, reportBatchItemFailures: true });
    await restarted.drain({ timeoutMs: 20_000 });

    // Assess
    expect(first.delivered).toEqual(before);
    expect(second.delivered).toEqual(after);
    expect(onFailure.records).toEqual([]);
    const fullBatches = first.batches.filter((b) => b.length === 7);
    expect(fullBatches.length).toBeGreaterThan(0);
    for (const batch of fullBatches) {
      const retry = first.batches.find((b) => b[0] === batch[2]);
      expect(retry).toEqual(batch.slice(2));
    }
  });

  it('sends a poison batch to the on-failure destination and carries on', async () => {
    // Prepare
    const streamArn = await createStream('poison', 1);
    const onFailure = new InMemoryOnFailureDestination();
    const put = await putRecords('poison', 'p', 10);
    const records = [...put.values()][0] ?? [];
    const poison = records[3]?.seq ?? '';
    const { handler, delivered } = recorder((event) => {
      if (event.Records.some((r) => r.kinesis.sequenceNumber === poison)) throw new Error('poison');
      return undefined;
    });

    // Act
    const poller = startPoller({
      streamArn,
      handler,
      onFailure,
      batchSize: 4,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 1,
    });
    await poller.drain({ timeoutMs: 20_000 });

    // Assess
    expect([...delivered.values()][0]?.map((r) => r.seq)).toEqual(records.filter((r) => r.seq !== poison).map((r) => r.seq));
    expect(onFailure.records.map((r) => r.KinesisBatchInfo)).toEqual([
      expect.objectContaining({ startSequenceNumber: poison, endSequenceNumber: poison, batchSize: 1, streamArn }),
    ]);
  });

  it('reads a split parent shard to its end before its children', async () => {
    // Prepare
    const streamArn = await createStream('reshard', 1);
    const { handler, delivered, batches } = recorder();
    const before = await putRecords('reshard', 'before', 20);
    const [parent = ''] = [...before.keys()];
    await client.send(
      new SplitShardCommand({ StreamName: 'reshard', ShardToSplit: parent, NewStartingHashKey: (2n ** 127n).toString() }),
    );
    await until('split to finish', async () => {
      const { StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'reshard' }));
      return summary?.StreamStatus === 'ACTIVE' ? true : undefined;
    });
    const after = await putRecords('reshard', 'after', 30);

    // Act
    const poller = startPoller({ streamArn, handler });
    await poller.drain({ timeoutMs: 20_000 });

    // Assess
    expect(after.size).toBe(2);
    expect(after.has(parent)).toBe(false);
    expect(delivered).toEqual(new Map([...before, ...after]));
    const parentSeqs = new Set(before.get(parent)?.map((r) => r.seq));
    const firstChildBatch = batches.findIndex((b) => !parentSeqs.has(b[0] ?? ''));
    expect(batches.slice(0, firstChildBatch).flat()).toEqual(before.get(parent)?.map((r) => r.seq));
    expect(poller.status().find((s) => s.shardId === parent)).toMatchObject({ ended: true, checkpoint: { shardEnded: true } });
  });
});
