import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/app.ts';
import { resetClients } from '../../functions/shared/clients.ts';
import { hashApiKey } from '../../functions/shared/tenants.ts';

const kinesis = mockClient(KinesisClient);
const dynamo = mockClient(DynamoDBDocumentClient);

const ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
  EVENTS_STREAM_NAME: 'streamfold-events',
  TENANTS_TABLE_NAME: 'streamfold-tenants',
  IDEMPOTENCY_TABLE_NAME: 'streamfold-idempotency',
  ROLLUPS_TABLE_NAME: 'streamfold-rollups',
  ARCHIVE_BUCKET_NAME: 'bucket',
  POWERTOOLS_LOG_LEVEL: 'CRITICAL',
};
const KEY = 'the-acme-key';

function event(body: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /v1/events',
    rawPath: '/v1/events',
    rawQueryString: '',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json', ...headers },
    requestContext: { requestId: 'r1' } as APIGatewayProxyEventV2['requestContext'],
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs }) as Context;
const events = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `metric.${i}`, ts: Date.now(), value: i }));

describe('Handler: intake', () => {
  beforeEach(() => {
    // Prepare: one key for tenant acme with the write scope.
    kinesis.reset();
    dynamo.reset();
    dynamo.on(GetCommand, { Key: { pk: `key#${hashApiKey(KEY)}`, sk: 'key' } }).resolves({
      Item: { pk: `key#${hashApiKey(KEY)}`, sk: 'key', tenant: 'acme', keyId: 'k1', scopes: ['write'], createdAt: '' },
    });
  });
  afterEach(() => resetClients());

  it('retries the records PutRecords failed until every one is written', async () => {
    // Prepare: the first call fails two records, the second succeeds.
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({
        FailedRecordCount: 2,
        Records: [{ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' }, { SequenceNumber: '1', ShardId: 's' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'x' }],
      })
      .callsFake((input: { Records: unknown[] }) => ({ FailedRecordCount: 0, Records: input.Records.map(() => ({ SequenceNumber: '2', ShardId: 's' })) }));
    const handler = createIntakeHandler(ENV);
    // Act: three metric names whose partition keys differ make three records.
    const res = await handler(event(events(3).map((e, i) => ({ ...e, name: ['a.x', 'b.y', 'c.z'][i] }))), context(10_000));
    // Assess
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body!)).toEqual({ accepted: 3, rejected: 0, errors: [] });
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args[0].input.Records).toHaveLength(3);
    // Only the two failed records are sent again, in their original order: the throttled one under
    // a salted key (another shard), the other as it was.
    const first = calls[0]!.args[0].input.Records!;
    const again = calls[1]!.args[0].input.Records!;
    expect(again.map((r) => r.Data)).toEqual([first[0]!.Data, first[2]!.Data]);
    expect(again[0]!.PartitionKey).toMatch(new RegExp(`^${first[0]!.PartitionKey}~[01]$`));
    expect(again[1]!.PartitionKey).toBe(first[2]!.PartitionKey);
  });

  it('answers 429 and accepts nothing when throttling outlasts the time budget', async () => {
    kinesis.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => ({
      FailedRecordCount: input.Records.length,
      Records: input.Records.map(() => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' })),
    }));
    const res = await createIntakeHandler(ENV)(event(events(2)), context(1_300));
    expect(res.statusCode).toBe(429);
    expect(JSON.parse(res.body!).error).toMatch(/^the event stream is throttling writes; retry with backoff/);
    expect(JSON.parse(res.body!).accepted).toBeUndefined();
    expect(kinesis.commandCalls(PutRecordsCommand).length).toBeGreaterThan(1);
  });

  it('answers 503 when the stream is unavailable', async () => {
    kinesis.on(PutRecordsCommand).rejects(Object.assign(new Error('no such stream'), { name: 'ResourceNotFoundException' }));
    const res = await createIntakeHandler(ENV)(event(events(1)), context(1_300));
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body!).error).toMatch(/^the event stream is unavailable; retry later/);
  });

  it('answers 500 without internals when the tenants table fails', async () => {
    dynamo.reset();
    dynamo.on(GetCommand).rejects(Object.assign(new Error('table secret-name not found'), { name: 'ResourceNotFoundException' }));
    const res = await createIntakeHandler(ENV)(event(events(1)), context(5_000));
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!)).toEqual({ error: 'internal error; retry later' });
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  it('after the answer write fails, a retry under the key is answered 202 at once and writes nothing again (DynamoDB store)', async () => {
    // Prepare: the idempotency table as a map; the first write of a 'done' answer fails.
    const table = new Map<string, Record<string, unknown>>();
    let answerFailures = 1;
    dynamo.on(GetCommand, { TableName: ENV.IDEMPOTENCY_TABLE_NAME }).callsFake((input: { Key: { pk: string } }) => ({ Item: table.get(input.Key.pk) }));
    dynamo.on(PutCommand, { TableName: ENV.IDEMPOTENCY_TABLE_NAME }).callsFake((input: { Item: Record<string, unknown> }) => {
      if (input.Item.status === 'done' && answerFailures-- > 0) throw Object.assign(new Error('Internal server error'), { name: 'InternalServerError', $fault: 'server' });
      table.set(input.Item.pk as string, input.Item);
      return {};
    });
    kinesis.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => ({ FailedRecordCount: 0, Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 's' })) }));
    const handler = createIntakeHandler(ENV);
    const body = events(3).map((e, i) => ({ ...e, name: ['a.x', 'b.y', 'c.z'][i] }));

    // Act: the retry comes at once, within the first attempt's lock.
    const first = await handler(event(body, { 'idempotency-key': 'req-1' }), context(10_000));
    const stored = [...table.values()].map((i) => [i.status, i.written]);
    const second = await handler(event(body, { 'idempotency-key': 'req-1' }), context(10_000));

    // Assess: the progress (every record written) was stored in place of the answer, so the retry
    // claims the key, puts no record and stores the answer.
    expect([first.statusCode, JSON.parse(first.body!)]).toEqual([202, { accepted: 3, rejected: 0, errors: [] }]);
    expect(stored).toEqual([['failed', [0, 1, 2]]]);
    expect([second.statusCode, second.body]).toEqual([202, first.body]);
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(1);
    expect([...table.values()].map((i) => i.status)).toEqual(['done']);
  });
});
