import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient, kinesisClient, resetClients, s3Client } from '../../functions/shared/clients.ts';
import { EmulatorError, startEmulators, type Emulators } from '../../local/emulators.ts';
import { provisionResources, type ProvisionResult } from '../../local/provision.ts';
import { STREAM } from '../../lib/resources.ts';

const DEADLINE_MS = 10_000;

interface ReadRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: string;
}

/** Reads every shard from TRIM_HORIZON until `expected` records have come back or the deadline passes. */
async function readStream(kinesis: KinesisClient, stream: string, expected: number): Promise<ReadRecord[]> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const iterators = new Map<string, string | undefined>();
  for (const shard of Shards) {
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    iterators.set(shard.ShardId!, ShardIterator);
  }
  const records: ReadRecord[] = [];
  const deadline = Date.now() + DEADLINE_MS;
  while (records.length < expected) {
    if (Date.now() > deadline) throw new Error(`Read ${records.length} of ${expected} records before the deadline`);
    for (const [shardId, iterator] of iterators) {
      if (iterator === undefined) continue;
      const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of out.Records ?? []) {
        records.push({
          shardId,
          sequenceNumber: r.SequenceNumber!,
          partitionKey: r.PartitionKey!,
          data: Buffer.from(r.Data!).toString('utf8'),
        });
      }
      iterators.set(shardId, out.NextShardIterator);
    }
  }
  return records;
}

function portOf(endpoint: string): number {
  return Number(new URL(endpoint).port);
}

/** Resolves with the connection error code, or 'connected' if something still listens. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('Integration: embedded emulators', () => {
  let dataDir: string;
  let emulators: Emulators | undefined;
  let provisioned: ProvisionResult;
  const sent = Array.from({ length: 20 }, (_, i) => ({ partitionKey: `tenant-${i % 7}#${i}`, data: `record-${i}` }));
  let written: { shardId: string; sequenceNumber: string; data: string }[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-emulators-'));
    emulators = await startEmulators({ dataDir, region: 'eu-west-1' });
    provisioned = await provisionResources(emulators.env);
  });

  afterAll(async () => {
    resetClients();
    await emulators?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts each emulator on a loopback port chosen at run time', () => {
    // Assess
    const { endpoints } = emulators!;
    for (const endpoint of Object.values(endpoints)) {
      expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(portOf(endpoint)).toBeGreaterThan(0);
    }
    expect(new Set(Object.values(endpoints)).size).toBe(3);
    expect(emulators!.env).toMatchObject({
      AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_REGION: 'eu-west-1',
    });
  });

  it('provisions the stream, tables and bucket, and does it again without error', async () => {
    // Act
    const again = await provisionResources(emulators!.env);

    // Assess
    expect(again).toEqual(provisioned);
    expect(provisioned.names.buckets.archive).toBe('streamfold-archive-000000000000-eu-west-1');
    // dynalite has no UpdateTimeToLive; the tables with a TTL attribute report it.
    expect(provisioned.ttl).toEqual({ rollups: 'unsupported', tenants: 'none', idempotency: 'unsupported' });
    const { StreamDescriptionSummary } = await kinesisClient(emulators!.env).send(
      new DescribeStreamSummaryCommand({ StreamName: provisioned.names.stream }),
    );
    expect(StreamDescriptionSummary).toMatchObject({
      StreamStatus: 'ACTIVE',
      OpenShardCount: STREAM.localShards,
      StreamARN: `arn:aws:kinesis:eu-west-1:000000000000:stream/${provisioned.names.stream}`,
    });
  });

  it('round-trips records through the stream', async () => {
    // Prepare
    const kinesis = kinesisClient(emulators!.env);

    // Act
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: provisioned.names.stream,
        Records: sent.map((r) => ({ PartitionKey: r.partitionKey, Data: Buffer.from(r.data) })),
      }),
    );
    const read = await readStream(kinesis, provisioned.names.stream, sent.length);

    // Assess
    expect(out.FailedRecordCount).toBe(0);
    written = out.Records!.map((r, i) => ({ shardId: r.ShardId!, sequenceNumber: r.SequenceNumber!, data: sent[i]!.data }));
    expect(new Set(written.map((w) => w.shardId)).size).toBe(STREAM.localShards);
    expect(read.map(({ shardId, sequenceNumber, data }) => ({ shardId, sequenceNumber, data }))).toEqual(
      expect.arrayContaining(written),
    );
    expect(read).toHaveLength(sent.length);
    // Within a shard, records come back in sequence order.
    for (const shardId of new Set(read.map((r) => r.shardId))) {
      const seqs = read.filter((r) => r.shardId === shardId).map((r) => BigInt(r.sequenceNumber));
      expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  });

  it('writes and reads an item', async () => {
    // Prepare
    const dynamo = dynamoClient(emulators!.env);
    const item = { pk: 'tenant-1#m', sk: '1m#2026-11-28T00:00', count: 3, sum: 4.5, dropped: undefined };

    // Act
    await dynamo.send(new PutCommand({ TableName: provisioned.names.tables.rollups, Item: item }));
    const { Item } = await dynamo.send(
      new GetCommand({ TableName: provisioned.names.tables.rollups, Key: { pk: item.pk, sk: item.sk }, ConsistentRead: true }),
    );

    // Assess
    expect(Item).toEqual({ pk: 'tenant-1#m', sk: '1m#2026-11-28T00:00', count: 3, sum: 4.5 });
  });

  it('writes, reads and lists an object', async () => {
    // Prepare
    const s3 = s3Client(emulators!.env);
    const Bucket = provisioned.names.buckets.archive;
    const Key = 'events/tenant=t1/dt=2026-11-28/hour=00/shardId-000000000000-1-2.parquet';

    // Act
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from('PAR1 fake parquet') }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'events/' }));

    // Assess
    expect(await got.Body!.transformToString()).toBe('PAR1 fake parquet');
    expect(listed.Contents?.map((o) => o.Key)).toEqual([Key]);
  });

  it('refuses a second start on a directory in use', async () => {
    // Act
    const second = startEmulators({ dataDir, region: 'eu-west-1' });

    // Assess
    await expect(second).rejects.toThrow(EmulatorError);
    await expect(second).rejects.toThrow(/already running/);
  });

  it('frees every port on stop and keeps all state across a restart on the same directory', async () => {
    // Prepare
    const before = emulators!;
    resetClients();

    // Act
    await before.stop();
    const refused = await Promise.all(Object.values(before.endpoints).map((e) => tryConnect(portOf(e))));
    emulators = await startEmulators({ dataDir, region: 'eu-west-1' });
    const reprovisioned = await provisionResources(emulators.env);
    const kinesis = kinesisClient(emulators.env);
    const read = await readStream(kinesis, reprovisioned.names.stream, written.length);
    const { Item } = await dynamoClient(emulators.env).send(
      new GetCommand({
        TableName: reprovisioned.names.tables.rollups,
        Key: { pk: 'tenant-1#m', sk: '1m#2026-11-28T00:00' },
        ConsistentRead: true,
      }),
    );
    const listed = await s3Client(emulators.env).send(
      new ListObjectsV2Command({ Bucket: reprovisioned.names.buckets.archive }),
    );

    // Assess
    expect(refused).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    expect(reprovisioned).toEqual(provisioned);
    expect(read.map(({ shardId, sequenceNumber, data }) => ({ shardId, sequenceNumber, data }))).toEqual(
      expect.arrayContaining(written),
    );
    expect(read).toHaveLength(written.length);
    expect(Item).toMatchObject({ count: 3, sum: 4.5 });
    expect(listed.Contents).toHaveLength(1);
  });
});
