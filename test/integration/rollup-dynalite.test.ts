/**
 * The real rollup handler (factory bound to an environment object, folding right after each
 * commit) against dynalite in this process: batches in Lambda's KinesisStreamEvent shape built with
 * the record codec, redelivered whole and bisected, then a batch that crosses the boundary of an
 * earlier one; the items read back must be exactly the events applied once, and the log exactly
 * what docs/ROLLUPS.md says a commit writes.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLES } from '../../lib/resources.ts';
import { createRollupHandler, type RollupHandler } from '../../functions/rollup/app.ts';
import { bucketPk, bucketSk, bucketStart, seriesId } from '../../functions/shared/rollups/keys.ts';
import { decodeMinutes } from '../../functions/shared/rollups/minutes.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import { bucketFromItem } from '../../functions/shared/rollups/item.ts';
import { resetClients } from '../../functions/shared/clients.ts';
import { encodeRecords } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { kinesisRecord, seqNo } from '../unit/support/rollup.ts';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => {
  listen(port: number, host: string, cb: () => void): void;
  address(): AddressInfo;
  close(cb: (err?: Error) => void): void;
};

const TABLE = 'streamfold-rollups';
const SHARD = 'shardId-000000000000';
const NOW = Date.now();
// A fixed minute, a few minutes back, so every event of a series shares its buckets.
const MINUTE = bucketStart(NOW - 5 * 60_000, '1m');
const HOUR = bucketStart(MINUTE, '1h');
const MINUTE_OF_HOUR = (MINUTE - HOUR) / 60_000;

const lat = (value: number, offset: number): StreamEvent => ({ tenant: 'acme', name: 'http.duration', ts: MINUTE + offset, value, type: 'distribution', tags: { host: 'web-1', status: '200' } });
const cpu = (value: number, offset: number): StreamEvent => ({ tenant: 'acme', name: 'cpu', ts: MINUTE + offset, value, type: 'gauge', tags: { host: 'web-1' } });
const big = (value: number, offset: number): StreamEvent => ({ tenant: 'globex', name: 'bytes', ts: MINUTE + offset, value, type: 'count', tags: {} });

/** One gzip'd NDJSON record per group of events (one partition key each), on consecutive sequence numbers. */
function batch(groups: StreamEvent[][], firstSeq: number): KinesisStreamRecord[] {
  return groups.map((events, i) => {
    const recs = encodeRecords(events);
    if (recs.length !== 1) throw new Error('a group must share one partition key');
    return kinesisRecord(SHARD, seqNo(firstSeq + i), recs[0]!.data, recs[0]!.partitionKey);
  });
}

describe('Integration: rollup handler on dynalite', () => {
  let server: ReturnType<typeof dynalite>;
  let client: DynamoDBClient;
  let handler: RollupHandler;
  const context = { getRemainingTimeInMillis: () => 30_000 };

  beforeAll(async () => {
    server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${server.address().port}`;
    const env = {
      ROLLUPS_TABLE_NAME: TABLE,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    };
    client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const def = TABLES.rollups;
    await client.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: def.sortKey.name, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: def.partitionKey.name, AttributeType: def.partitionKey.type },
          { AttributeName: def.sortKey.name, AttributeType: def.sortKey.type },
        ],
      }),
    );
    handler = createRollupHandler(env, { metrics: { add: () => {} }, flushMetrics: () => {}, config: { foldIntervalMs: 0 } });
  });

  afterAll(async () => {
    resetClients();
    client?.destroy();
    if (server) await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  async function table(): Promise<Map<string, Record<string, AttributeValue>>> {
    const out = new Map<string, Record<string, AttributeValue>>();
    let start: Record<string, AttributeValue> | undefined;
    do {
      const res = await client.send(new ScanCommand({ TableName: TABLE, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
      for (const item of res.Items ?? []) out.set(`${item.pk!.S}|${item.sk!.S}`, item);
      start = res.LastEvaluatedKey;
    } while (start !== undefined);
    return out;
  }

  const latId = seriesId('acme', 'http.duration', { host: 'web-1', status: '200' });
  const cpuId = seriesId('acme', 'cpu', { host: 'web-1' });
  const bigId = seriesId('globex', 'bytes', {});
  const bucketAt = async (pk: string, start: number) => {
    const item = (await table()).get(`${pk}|${bucketSk(start)}`);
    return item === undefined ? undefined : bucketFromItem(item);
  };
  /** The test minute of a series, packed in its 1 h item. */
  const minuteAt = async (tenant: string, id: string) => {
    const hour = await bucketAt(bucketPk(tenant, id, '1h'), HOUR);
    return hour?.mins === undefined ? undefined : decodeMinutes(hour.mins, HOUR)[MINUTE_OF_HOUR];
  };

  // r10: lat 12, lat -3   r11: cpu 0.5   r12: lat 0   r13: cpu 0.9 (latest)   r14: big 1e100, 1e-100, 1e200 (refused by the validator)
  const first = batch([[lat(12, 1_000), lat(-3, 3_000)], [cpu(0.5, 2_000)], [lat(0, 4_000)], [cpu(0.9, 50_000)], [big(1e100, 5_000), big(1e-100, 6_000), big(1e200, 7_000)]], 10);

  it('writes exactly the expected log, head, bucket, index and metric items', async () => {
    // Act
    const res = await handler({ Records: first }, context);

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    const items = await table();
    const attempt = /^!man#[^|]+\|0000000001#([0-9a-f]{12})#000$/.exec([...items.keys()].find((k) => k.startsWith('!man#'))!)![1]!;
    const log = (pk: string) => `${pk}|0000000001#${attempt}#000`;
    expect([...items.keys()].sort()).toEqual(
      [
        `!head#${SHARD}|-`,
        `!heads|${SHARD}`,
        log(`!man#${SHARD}`),
        log(`acme#seg#cpu#${SHARD}`),
        log(`acme#seg#http.duration#${SHARD}`),
        log(`globex#seg#bytes#${SHARD}`),
        `acme#idx#cpu|${cpuId}`,
        `acme#idx#http.duration|${latId}`,
        'acme#metrics|cpu',
        'acme#metrics|http.duration',
        `acme#s#${cpuId}#1h|${bucketSk(HOUR)}`,
        `acme#s#${latId}#1h|${bucketSk(HOUR)}`,
        `acme#s#${latId}#1m|${bucketSk(MINUTE)}`,
        `globex#idx#bytes|${bigId}`,
        'globex#metrics|bytes',
        `globex#s#${bigId}#1h|${bucketSk(HOUR)}`,
      ].sort(),
    );
    // Gauge and count minutes are packed into the 1 h item; distributions keep 1 m items.

    // The commit: every valid event of the batch, the last being record 14's second (its third,
    // 1e200, is more than the rollups hold: the validator refuses it, as the intake would).
    const to = `${seqNo(14)}:1`;
    expect(items.get(`!head#${SHARD}|-`)).toMatchObject({ n: { N: '1' }, wm: { S: to }, ver: { N: '2' } });
    expect(items.get(`acme#metrics|cpu`)!.shards).toEqual({ SS: [SHARD] });

    const latMinute = await bucketAt(bucketPk('acme', latId, '1m'), MINUTE);
    expect(latMinute).toMatchObject({
      name: 'http.duration',
      type: 'distribution',
      count: 3,
      sum: 9,
      min: -3,
      max: 12,
      ttl: Math.ceil((MINUTE + 60_000 + 15 * 86_400_000) / 1000),
      wm: { [SHARD]: to },
      ver: 1,
    });
    expect(latMinute!.tags).toBeUndefined();
    const sketch = Sketch.decode(latMinute!.sketch!);
    expect([sketch.quantile(0), sketch.quantile(0.5), sketch.quantile(1)]).toEqual([expect.closeTo(-3, 1), 0, expect.closeTo(12, 0)]);

    expect(await bucketAt(bucketPk('acme', cpuId, '1h'), HOUR)).toMatchObject({
      count: 2,
      sum: 1.4,
      min: 0.5,
      max: 0.9,
      last: 0.9,
      lastTs: MINUTE + 50_000,
      // The commit's last event stands in for the point's sequence number (shared/rollups/fold.ts).
      lastLin: `${SHARD}/${to}`,
      ttl: Math.ceil((HOUR + 3_600_000 + 400 * 86_400_000) / 1000),
      wm: { [SHARD]: to },
      ver: 1,
    });
    const m = MINUTE_OF_HOUR;
    expect(await minuteAt('acme', cpuId)).toEqual({ count: 2, sum: 1.4, min: 0.5, max: 0.9, last: { value: 0.9, ts: MINUTE + 50_000, shardId: SHARD } });
    const bigHour = await bucketAt(bucketPk('globex', bigId, '1h'), HOUR);
    expect(bigHour).toMatchObject({ count: 2, sum: 1e100, min: 1e-100, max: 1e100, wm: { [SHARD]: to } });
    expect(decodeMinutes(bigHour!.mins!, HOUR).flatMap((x, i) => (x === undefined ? [] : [[i, x]]))).toEqual([[m, { count: 2, sum: 1e100, min: 1e-100, max: 1e100 }]]);
    expect((await bucketAt(bucketPk('acme', latId, '1h'), HOUR))!.mins).toBeUndefined();

    const index = items.get(`acme#idx#http.duration|${latId}`)!;
    expect(index).toMatchObject({
      tags: { M: { host: { S: 'web-1' }, status: { S: '200' } } },
      type: { S: 'distribution' },
      firstSeen: { N: String(MINUTE + 1_000) },
      lastSeen: { N: String(MINUTE + 4_000) },
    });
    expect(items.get('acme#metrics|cpu')).toMatchObject({ type: { S: 'gauge' }, lastSeen: { N: String(MINUTE + 50_000) } });
  });

  it('changes nothing when the batch is redelivered whole, or as a bisected half', async () => {
    // Prepare
    const before = await table();

    // Act
    const whole = await handler({ Records: first }, context);
    const half = await handler({ Records: first.slice(0, 3) }, context);
    const otherHalf = await handler({ Records: first.slice(3) }, context);

    // Assess
    expect([whole, half, otherHalf]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(await table()).toEqual(before);
  });

  it('applies only the new events of a batch that crosses the boundary of an earlier one', async () => {
    // Prepare: record 13 (already applied) with new records 15 and 16 in one batch.
    const crossing = [first[3]!, ...batch([[lat(100, 30_000)], [cpu(0.1, 40_000)]], 15)];

    // Act
    const res = await handler({ Records: crossing }, context);

    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    // The second commit is records 15 and 16: every item it touches gets its last event as watermark.
    expect(await bucketAt(bucketPk('acme', latId, '1m'), MINUTE)).toMatchObject({ count: 4, sum: 109, max: 100, ver: 2, wm: { [SHARD]: `${seqNo(16)}:0` } });
    // cpu: 0.1 is newer by lineage but older by ts: last stays 0.9.
    expect(await bucketAt(bucketPk('acme', cpuId, '1h'), HOUR)).toMatchObject({ count: 3, min: 0.1, last: 0.9, ver: 2, wm: { [SHARD]: `${seqNo(16)}:0` } });
    expect(await minuteAt('acme', cpuId)).toMatchObject({ count: 3, min: 0.1, max: 0.9, last: { value: 0.9, ts: MINUTE + 50_000, shardId: SHARD } });
    expect((await minuteAt('acme', cpuId))!.sum).toBeCloseTo(1.5, 12);
    expect(await bucketAt(bucketPk('globex', bigId, '1h'), HOUR)).toMatchObject({ count: 2, ver: 1 });
  });
});
