/**
 * The DynamoDB adapter of the rollup port against aws-sdk-client-mock: the requests it sends, how
 * it reads answers (unprocessed keys included), and how SDK errors become domain errors.
 */
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  RequestLimitExceeded,
  ThrottlingException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRollupHandler } from '../../functions/rollup/app.ts';
import { ConditionFailedError, RollupStoreError } from '../../functions/rollup/port.ts';
import { DynamoRollupStore, toStoreError } from '../../functions/rollup/store.ts';
import { bucketFromItem, bucketToItem, type StoredBucket } from '../../functions/shared/rollups/item.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import { resetClients } from '../../functions/shared/clients.ts';
import { kinesisRecord, ndjson, seqNo } from './support/rollup.ts';

const TABLE = 'streamfold-rollups';
const ddb = mockClient(DynamoDBClient);
const meta = { $metadata: { httpStatusCode: 400 } };
const key = { pk: 'acme#s#AAAAAAAAAAAAAAAAAAAAAA#1m', sk: '1795867140000' };

const bucket: StoredBucket = {
  name: 'lat',
  type: 'distribution',
  tags: { host: 'a', 'weird key': 'ü' },
  count: 3,
  sum: 1e100 + 1e-100,
  min: -1e-100,
  max: 1e100,
  last: 0.1,
  lastTs: 1795867150000,
  lastLin: `shardId-000000000001/${seqNo(9)}:2`,
  sketch: (() => {
    const s = new Sketch();
    s.add(1);
    return s.encode();
  })(),
  ttl: 1797163200,
  wm: { 'shardId-000000000001': `${seqNo(9)}:2` },
  ver: 7,
};

describe('Class: DynamoRollupStore', () => {
  const store = new DynamoRollupStore(new DynamoDBClient({ region: 'us-east-1' }), TABLE);
  beforeEach(() => ddb.reset());

  it('reads with one strongly consistent BatchGetItem and returns found items and unprocessed keys', async () => {
    // Prepare
    const other = { pk: 'acme#s#BBBBBBBBBBBBBBBBBBBBBB#1m', sk: '1795867140000' };
    const missing = { pk: 'acme#s#CCCCCCCCCCCCCCCCCCCCCC#1m', sk: '1795867140000' };
    ddb.on(BatchGetItemCommand).resolves({
      Responses: { [TABLE]: [bucketToItem(key, bucket)] },
      UnprocessedKeys: { [TABLE]: { Keys: [{ pk: { S: other.pk }, sk: { S: other.sk } }] } },
    });

    // Act
    const res = await store.readBuckets([key, other, missing]);

    // Assess
    const input = ddb.commandCalls(BatchGetItemCommand)[0]!.args[0].input;
    expect(input.RequestItems![TABLE]).toEqual({
      Keys: [key, other, missing].map((k) => ({ pk: { S: k.pk }, sk: { S: k.sk } })),
      ConsistentRead: true,
    });
    expect([...res.items.keys()]).toEqual([`${key.pk}\u0000${key.sk}`]);
    expect(res.items.get(`${key.pk}\u0000${key.sk}`)).toEqual(bucket);
    expect(res.unprocessed).toEqual([other]);
  });

  it('creates an item only if absent, and replaces one only at the version it read', async () => {
    // Prepare
    ddb.on(PutItemCommand).resolves({});

    // Act
    await store.writeBucket(key, { ...bucket, ver: 1 }, undefined);
    await store.writeBucket(key, bucket, 6);

    // Assess
    const [create, replace] = ddb.commandCalls(PutItemCommand).map((c) => c.args[0].input);
    expect(create).toMatchObject({ TableName: TABLE, ConditionExpression: 'attribute_not_exists(pk)' });
    expect(create!.ExpressionAttributeValues).toBeUndefined();
    expect(replace).toMatchObject({
      ConditionExpression: '#ver = :ver',
      ExpressionAttributeNames: { '#ver': 'ver' },
      ExpressionAttributeValues: { ':ver': { N: '6' } },
    });
    expect(replace!.Item).toMatchObject({
      pk: { S: key.pk },
      sk: { S: key.sk },
      count: { N: '3' },
      sum: { N: '1e+100' },
      min: { N: '-1e-100' },
      ttl: { N: '1797163200' },
      ver: { N: '7' },
      wm: { M: { 'shardId-000000000001': { S: `${seqNo(9)}:2` } } },
      tags: { M: { host: { S: 'a' }, 'weird key': { S: 'ü' } } },
    });
  });

  it('turns a lost condition into ConditionFailedError', async () => {
    // Prepare
    ddb.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', ...meta }));

    // Act + Assess
    await expect(store.writeBucket(key, bucket, 6)).rejects.toBeInstanceOf(ConditionFailedError);
  });

  it.each([
    ['ThrottlingException', new ThrottlingException({ message: 'Rate exceeded', ...meta }), true],
    ['ProvisionedThroughputExceededException', new ProvisionedThroughputExceededException({ message: 'too fast', ...meta }), true],
    ['RequestLimitExceeded', new RequestLimitExceeded({ message: 'account limit', ...meta }), true],
    ['InternalServerError', new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 500 } }), true],
    [
      'ServiceUnavailable',
      new DynamoDBServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: 'down', $metadata: { httpStatusCode: 503 } }),
      true,
    ],
    ['ValidationException', new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', message: 'bad', ...meta }), false],
    ['AccessDeniedException', new DynamoDBServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'no', ...meta }), false],
  ])('maps %s to a %s-retryable RollupStoreError', async (name, error, retryable) => {
    // Prepare
    ddb.on(PutItemCommand).rejects(error);

    // Act
    const err = await store.writeBucket(key, bucket, 6).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(RollupStoreError);
    expect(err).toMatchObject({ code: name, retryable });
    expect((err as Error).cause).toBe(error);
  });

  it('treats network failures as retryable and leaves other errors (bugs) alone', () => {
    // Prepare
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const bug = new TypeError('x is undefined');

    // Act + Assess
    expect(toStoreError(reset, 'PutItem')).toMatchObject({ retryable: true, code: 'ECONNRESET' });
    expect(toStoreError(bug, 'PutItem')).toBe(bug);
  });

  it('advances an index entry with an idempotent max update, and takes a lost condition as already newer', async () => {
    // Prepare
    ddb.on(UpdateItemCommand).rejectsOnce(new ConditionalCheckFailedException({ message: 'newer', ...meta })).resolves({});
    const entry = { tenant: 'acme', name: 'lat', seriesId: 'AAAAAAAAAAAAAAAAAAAAAA', type: 'distribution' as const, tags: { host: 'a' }, firstSeen: 1, lastSeen: 2, ttl: 3 };

    // Act
    await store.touchSeries(entry);
    await store.touchMetric({ tenant: 'acme', name: 'lat', type: 'distribution', lastSeen: 2, ttl: 3 });

    // Assess
    const [series, metric] = ddb.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    expect(series).toMatchObject({
      Key: { pk: { S: 'acme#idx#lat' }, sk: { S: 'AAAAAAAAAAAAAAAAAAAAAA' } },
      UpdateExpression:
        'SET #tags = if_not_exists(#tags, :tags), #type = if_not_exists(#type, :type), #first = if_not_exists(#first, :first), #last = :last, #ttl = :ttl',
      ConditionExpression: 'attribute_not_exists(#last) OR #last < :last',
      ExpressionAttributeValues: { ':tags': { M: { host: { S: 'a' } } }, ':last': { N: '2' }, ':first': { N: '1' } },
    });
    expect(metric).toMatchObject({ Key: { pk: { S: 'acme#metrics' }, sk: { S: 'lat' } }, ConditionExpression: 'attribute_not_exists(#last) OR #last < :last' });
  });

  it('round-trips every attribute, numbers at the ends of the accepted range included', () => {
    // Prepare
    const plain: StoredBucket = { name: 'c', type: 'count', tags: {}, count: 1, sum: -0, min: 0, max: 0, ttl: 5, wm: {}, ver: 1 };

    // Act + Assess
    expect(bucketFromItem(bucketToItem(key, bucket))).toEqual(bucket);
    expect(bucketFromItem(bucketToItem(key, plain))).toEqual({ ...plain, sum: 0 });
    expect(() => bucketToItem(key, { ...plain, sum: Infinity })).toThrow(RangeError);
  });

  it('copies the binary attributes it reads (the SDK may hand out views into a shared pool)', () => {
    // Prepare: 3-byte views into an 8 KB pool, as Buffer.from(base64) can give.
    const pool = new Uint8Array(8192);
    pool.set([2, 0, 0], 100);
    pool.set([1, 0, 7], 200);
    const item = { ...bucketToItem(key, bucket), sketch: { B: pool.subarray(100, 103) }, mins: { B: pool.subarray(200, 203) } };

    // Act
    const read = bucketFromItem(item);

    // Assess
    expect([...read.sketch!]).toEqual([2, 0, 0]);
    expect([...read.mins!]).toEqual([1, 0, 7]);
    expect([read.sketch!.buffer.byteLength, read.mins!.buffer.byteLength]).toEqual([3, 3]);
  });
});

describe('Function: createRollupHandler (shared document client, aws-sdk-client-mock)', () => {
  const doc = mockClient(DynamoDBDocumentClient);
  beforeEach(() => doc.reset());
  afterEach(() => resetClients());

  it('sends the low-level commands through the shared client and reports a batch whose head read stays throttled', async () => {
    // Prepare
    doc.on(GetItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta }));
    doc.on(UpdateItemCommand).resolves({});
    const handler = createRollupHandler(
      { ROLLUPS_TABLE_NAME: TABLE, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', POWERTOOLS_LOG_LEVEL: 'SILENT' },
      { flushMetrics: () => {}, metrics: { add: () => {} }, sleep: async () => {}, config: { timeMarginMs: 0 } },
    );
    const now = Date.now();
    const records = [kinesisRecord('shardId-000000000000', seqNo(1), ndjson([{ tenant: 'acme', name: 'x', ts: now - 1000, value: 1 }]))];
    let remaining = 50;

    // Act
    const res = await handler({ Records: records }, { getRemainingTimeInMillis: () => (remaining -= 5) });

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seqNo(1) }] });
    expect(doc.commandCalls(GetItemCommand).length).toBeGreaterThan(1);
    expect(doc.commandCalls(GetItemCommand)[0]!.args[0].input).toMatchObject({ Key: { pk: { S: '!head#shardId-000000000000' }, sk: { S: '-' } }, ConsistentRead: true });
    expect(doc.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });
});
