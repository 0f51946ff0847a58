/** The DynamoDB adapter of the query's rollup port against aws-sdk-client-mock. */
import { BatchGetItemCommand, DynamoDBClient, GetItemCommand, QueryCommand, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoRollupReader, RollupReadError } from '../../functions/query/rollup-reader.ts';
import { mapPool } from '../../functions/shared/pool.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import { emptyMinutes, encodeMinutes } from '../../functions/shared/rollups/minutes.ts';
import { headToItem } from '../../functions/shared/rollups/head.ts';
import { encodeSegment, type SegmentEntry } from '../../functions/shared/rollups/segment.ts';

const ddb = mockClient(DynamoDBClient);
const TABLE = 'streamfold-rollups';
const T0 = 1_795_737_600_000;

describe('Class: DynamoRollupReader', () => {
  afterEach(() => ddb.reset());
  // The metric entry has no shards: no unfolded log (query.log tests cover it).
  const noLog = () => ddb.on(GetItemCommand, { ProjectionExpression: '#sh' }).resolves({});
  const reader = () => new DynamoRollupReader(new DynamoDBClient({ region: 'us-east-1' }), TABLE, 2);

  it('queries each series\' bucket partition with sk BETWEEN, projected, following pages', async () => {
    // Prepare
    const sk = new Sketch();
    sk.add(5);
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#AAA#1h' }, ':a': { S: String(T0) }, ':b': { S: String(T0 + 7_200_000) } } })
      .resolvesOnce({ Items: [{ sk: { S: String(T0) }, count: { N: '2' }, sum: { N: '3.5' }, min: { N: '1' }, max: { N: '2.5' }, sketch: { B: sk.encode() } }], LastEvaluatedKey: { pk: { S: 'x' }, sk: { S: 'y' } } })
      .resolvesOnce({ Items: [{ sk: { S: String(T0 + 3_600_000) }, count: { N: '1' }, sum: { N: '1e100' }, min: { N: '1e100' }, max: { N: '1e100' } }] });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#BBB#1h' }, ':a': { S: String(T0) }, ':b': { S: String(T0 + 7_200_000) } } }).resolves({ Items: [] });
    noLog();
    const r = reader();

    // Act
    const out = await r.readBuckets('acme', 'm', ['AAA', 'BBB'], '1h', T0, T0 + 7_200_000, 'sketch', 'distribution');

    // Assess
    expect(out.get('BBB')).toEqual([]);
    const a = out.get('AAA')!;
    expect(a.map((b) => [b.start, b.count, b.sum, b.min, b.max])).toEqual([
      [T0, 2, 3.5, 1, 2.5],
      [T0 + 3_600_000, 1, 1e100, 1e100, 1e100],
    ]);
    expect(Sketch.decode(a[0]!.sketch!).count).toBe(1);
    expect(r.calls).toBe(4);
    const inputs = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(inputs).toHaveLength(3);
    for (const input of inputs) {
      expect(input).toMatchObject({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
        ProjectionExpression: '#sk, #c, #k, #w',
        ExpressionAttributeNames: { '#sk': 'sk', '#c': 'count', '#k': 'sketch', '#w': 'wm' },
      });
    }
    expect(inputs.filter((i) => i.ExclusiveStartKey !== undefined).map((i) => i.ExclusiveStartKey)).toEqual([{ pk: { S: 'x' }, sk: { S: 'y' } }]);
  });

  it('reads the minutes of a gauge from its 1 h items (one Query of the hours the range touches), within the range', async () => {
    // Prepare: the range is 00:59 .. 01:01 of the hours T0 and T0 + 1 h.
    const first = T0 + 59 * 60_000;
    const last = T0 + 3_600_000 + 60_000;
    const hour0 = emptyMinutes();
    hour0[58] = { count: 1, sum: 1, min: 1, max: 1 }; // before the range
    hour0[59] = { count: 2, sum: 3, min: 1, max: 2, last: { value: 2, ts: T0 + 59 * 60_000 + 5, shardId: 'shardId-000000000003' } };
    const hour1 = emptyMinutes();
    hour1[1] = { count: 1, sum: 0.25, min: 0.25, max: 0.25 };
    hour1[2] = { count: 1, sum: 9, min: 9, max: 9 }; // after the range
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#AAA#1h' }, ':a': { S: String(T0) }, ':b': { S: String(T0 + 3_600_000) } } })
      .resolves({
        Items: [
          { sk: { S: String(T0) }, count: { N: '3' }, mins: { B: encodeMinutes(hour0, T0) } },
          { sk: { S: String(T0 + 3_600_000) }, count: { N: '2' }, mins: { B: encodeMinutes(hour1, T0 + 3_600_000) } },
        ],
      });
    noLog();
    const r = reader();

    // Act
    const out = await r.readBuckets('acme', 'm', ['AAA'], '1m', first, last, 'last', 'gauge');

    // Assess
    expect(out.get('AAA')).toEqual([
      { start: T0 + 59 * 60_000, count: 2, sum: 3, min: 1, max: 2, last: 2, lastTs: T0 + 59 * 60_000 + 5, lastLin: 'shardId-000000000003/:0' },
      { start: T0 + 3_660_000, count: 1, sum: 0.25, min: 0.25, max: 0.25 },
    ]);
    expect(ddb.commandCalls(QueryCommand).map((c) => c.args[0].input)).toEqual([
      expect.objectContaining({ ProjectionExpression: '#sk, #c, #m, #w', ExpressionAttributeNames: { '#sk': 'sk', '#c': 'count', '#m': 'mins', '#w': 'wm' } }),
    ]);
    expect(r.calls).toBe(2);
  });

  it("applies the metric's unfolded log: committed attempts only, above each item's watermark", async () => {
    // Prepare: shard S has commits 4 (attempt a) and 5 (attempt b); the folded hour item holds commit 4.
    const S = 'shardId-000000000001';
    const w = (n: number) => ({ sequenceNumber: `4959${String(n).padStart(52, '0')}`, subIndex: 0 });
    const commits = [
      { n: 4, attempt: 'aaaaaaaaaaaa', lo: w(1), to: w(2), at: T0, manifestParts: 1 },
      { n: 5, attempt: 'bbbbbbbbbbbb', lo: w(3), to: w(4), at: T0, manifestParts: 1 },
    ];
    const entry = (count: number, sum: number, minute: number): SegmentEntry => {
      const m = emptyMinutes();
      m[minute] = { count, sum, min: 1, max: 1 };
      return { seriesId: 'A'.repeat(22), res: '1h', start: T0, type: 'count', count, sum, min: 1, max: 1, minutes: encodeMinutes(m, T0) };
    };
    const seg = (n: number, attempt: string, e: SegmentEntry) => ({ sk: { S: `${String(n).padStart(10, '0')}#${attempt}#000` }, d: { B: encodeSegment([e]) } });
    const folded = emptyMinutes();
    folded[0] = { count: 2, sum: 2, min: 1, max: 1 };
    ddb.on(GetItemCommand, { ProjectionExpression: '#sh' }).resolves({ Item: { shards: { SS: [S] } } });
    ddb.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: [headToItem({ shardId: S, n: 5, wm: w(4), commits, ver: 7 })] } });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: `acme#seg#m#${S}` }, ':a': { S: '0000000004' }, ':b': { S: '0000000005~' } } }).resolves({
      Items: [seg(4, 'aaaaaaaaaaaa', entry(2, 2, 0)), seg(5, 'bbbbbbbbbbbb', entry(3, 30, 1)), seg(5, 'cccccccccccc', entry(100, 100, 1))],
    });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: `acme#s#${'A'.repeat(22)}#1h` }, ':a': { S: String(T0) }, ':b': { S: String(T0) } } }).resolves({
      Items: [{ sk: { S: String(T0) }, count: { N: '2' }, mins: { B: encodeMinutes(folded, T0) }, wm: { M: { [S]: { S: `${w(2).sequenceNumber}:0` } } } }],
    });

    // Act
    const out = await reader().readBuckets('acme', 'm', ['A'.repeat(22)], '1m', T0, T0 + 59 * 60_000, 'sum', 'count');

    // Assess: minute 0 from the folded item (commit 4 not applied again), minute 1 from commit 5's attempt b only.
    expect(out.get('A'.repeat(22))!.map((b) => [b.start, b.count, b.sum])).toEqual([
      [T0, 2, 2],
      [T0 + 60_000, 3, 30],
    ]);
  });

  it('also reads the 1 m items of an hour whose packed minutes miss some of its events, and only that hour', async () => {
    // Prepare: hour T0 holds 5 events, its minutes 3 (2 came before packing, or were distributions).
    const hour0 = emptyMinutes();
    hour0[10] = { count: 3, sum: 3, min: 1, max: 1 };
    const hour1 = emptyMinutes();
    hour1[0] = { count: 1, sum: 7, min: 7, max: 7 };
    const range = { ':a': { S: String(T0) }, ':b': { S: String(T0 + 3_600_000) } };
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#AAA#1h' }, ...range } }).resolves({
      Items: [
        { sk: { S: String(T0) }, count: { N: '5' }, mins: { B: encodeMinutes(hour0, T0) } },
        { sk: { S: String(T0 + 3_600_000) }, count: { N: '1' }, mins: { B: encodeMinutes(hour1, T0 + 3_600_000) } },
      ],
    });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#AAA#1m' }, ':a': { S: String(T0) }, ':b': { S: String(T0 + 59 * 60_000) } } }).resolves({
      Items: [{ sk: { S: String(T0 + 600_000) }, count: { N: '2' }, sum: { N: '4' }, min: { N: '2' }, max: { N: '2' } }],
    });
    noLog();
    const r = reader();

    // Act
    const out = await r.readBuckets('acme', 'm', ['AAA'], '1m', T0, T0 + 3_600_000 + 59 * 60_000, 'sum', 'count');

    // Assess: minute 10 of hour T0 comes from both places (different events); they add up in series.ts.
    expect(out.get('AAA')!.map((b) => [b.start, b.count, b.sum])).toEqual([
      [T0 + 600_000, 3, 3],
      [T0 + 3_600_000, 1, 7],
      [T0 + 600_000, 2, 4],
    ]);
    expect(r.calls).toBe(3);
  });

  it('reads the minutes of a distribution from its 1 m items, and any count or gauge events of its series from the 1 h items', async () => {
    // Prepare
    const hour = emptyMinutes();
    hour[0] = { count: 1, sum: 2, min: 2, max: 2 };
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#AAA#1m' }, ':a': { S: String(T0) }, ':b': { S: String(T0 + 60_000) } } }).resolves({
      Items: [{ sk: { S: String(T0 + 60_000) }, count: { N: '1' }, sketch: { B: new Sketch().encode() } }],
    });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#s#AAA#1h' }, ':a': { S: String(T0) }, ':b': { S: String(T0) } } }).resolves({
      Items: [{ sk: { S: String(T0) }, count: { N: '2' }, mins: { B: encodeMinutes(hour, T0) } }],
    });

    // Act
    noLog();
    const out = await reader().readBuckets('acme', 'm', ['AAA'], '1m', T0, T0 + 60_000, 'sketch', 'distribution');

    // Assess
    expect(out.get('AAA')!.map((b) => [b.start, b.count, b.sketch !== undefined])).toEqual([
      [T0 + 60_000, 1, true],
      [T0, 1, false],
    ]);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(2);
  });

  it('reads the metric list, one metric and the series index of the tenant', async () => {
    // Prepare
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#metrics' } } }).resolves({ Items: [{ pk: { S: 'acme#metrics' }, sk: { S: 'cpu' }, type: { S: 'gauge' }, lastSeen: { N: String(T0) } }] });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': { S: 'acme#idx#cpu' } } }).resolves({
      Items: [{ sk: { S: 'AAA' }, tags: { M: { host: { S: 'a' } } }, type: { S: 'gauge' }, firstSeen: { N: '1' }, lastSeen: { N: '2' } }],
    });
    ddb.on(GetItemCommand, { Key: { pk: { S: 'acme#metrics' }, sk: { S: 'cpu' } } }).resolves({ Item: { type: { S: 'gauge' }, lastSeen: { N: '9' } } });
    ddb.on(GetItemCommand, { Key: { pk: { S: 'acme#metrics' }, sk: { S: 'mem' } } }).resolves({});
    noLog();
    const r = reader();

    // Act & Assess
    expect(await r.listMetrics('acme')).toEqual([{ name: 'cpu', type: 'gauge', lastSeen: T0 }]);
    expect(await r.listSeries('acme', 'cpu')).toEqual([{ seriesId: 'AAA', tags: { host: 'a' }, type: 'gauge', firstSeen: 1, lastSeen: 2 }]);
    expect(await r.getMetric('acme', 'cpu')).toEqual({ name: 'cpu', type: 'gauge', lastSeen: 9 });
    expect(await r.getMetric('acme', 'mem')).toBeUndefined();
  });

  it('turns an SDK error into a RollupReadError carrying it', async () => {
    // Prepare
    const cause = new ThrottlingException({ message: 'slow down', $metadata: {} });
    ddb.on(QueryCommand).rejects(cause);

    // Act
    const err = await reader().listMetrics('acme').catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(RollupReadError);
    expect((err as Error).message).toBe('Query acme#metrics failed');
    expect((err as Error).cause).toBe(cause);
  });
});

describe('Function: mapPool', () => {
  it('runs every item with at most `limit` in flight', async () => {
    // Prepare
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];

    // Act
    const results = await mapPool([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      done.push(i);
      inFlight--;
      return i * 10;
    });

    // Assess
    expect(peak).toBe(3);
    expect(results).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
