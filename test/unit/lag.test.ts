import { gzipSync } from 'node:zlib';
import { PutRecordsCommand, KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { catchUpTimes, EventLedger, fmtAge, formatLag, stackStatus, type ShardProgress, type StackStatus } from '../../local/lag.ts';
import { countingKinesis, eventsInRecord, generateOperatorKey, statusRoute } from '../../local/status.ts';

const A = 'shardId-000000000000';
const B = 'shardId-000000000001';

const progress = (shardId: string, p: Partial<ShardProgress> = {}): ShardProgress => ({
  shardId,
  ended: false,
  buffered: 0,
  inFlight: 0,
  recordsProcessed: 0,
  recordsDiscarded: 0,
  invocations: 0,
  invokeMs: 0,
  ageOfOldestMs: 0,
  ...p,
});

describe('Class: EventLedger', () => {
  it('counts the events of each record once per consumer, per shard', () => {
    // Prepare
    const ledger = new EventLedger(['rollup', 'archive']);

    // Act
    ledger.written(A, '1', 500);
    ledger.written(A, '2', 20);
    ledger.written(B, '3', 7);
    ledger.done('rollup', A, '1', 'processed');
    ledger.done('rollup', A, '2', 'processed');
    ledger.done('archive', A, '1', 'processed');
    ledger.done('archive', B, '3', 'discarded');

    // Assess
    expect([...ledger.acceptedByShard()]).toEqual([
      [A, { events: 520, records: 2 }],
      [B, { events: 7, records: 1 }],
    ]);
    expect(ledger.handledOn('rollup', A)).toEqual({ processed: 520, discarded: 0 });
    expect(ledger.handledOn('rollup', B)).toEqual({ processed: 0, discarded: 0 });
    expect(ledger.handledOn('archive', A)).toEqual({ processed: 500, discarded: 0 });
    expect(ledger.handledOn('archive', B)).toEqual({ processed: 0, discarded: 7 });
    // Held until every consumer reported it: A/2 (archive) and B/3 (rollup).
    expect(ledger.pending).toBe(2);
  });

  it('counts a record reported done before its write was registered', () => {
    // Prepare
    const ledger = new EventLedger(['rollup', 'archive']);

    // Act
    ledger.done('rollup', A, '1', 'processed');
    ledger.written(A, '1', 42);
    ledger.done('archive', A, '1', 'processed');

    // Assess
    expect(ledger.handledOn('rollup', A).processed).toBe(42);
    expect(ledger.handledOn('archive', A).processed).toBe(42);
    expect(ledger.pending).toBe(0);
  });

  it('ignores records that are not the intake\'s, and keeps a bounded list of early reports', () => {
    // Prepare
    const ledger = new EventLedger(['rollup'], { maxEarly: 2 });

    // Act: three records from another producer, then the first is (late) registered.
    for (const seq of ['1', '2', '3']) ledger.done('rollup', A, seq, 'processed');
    ledger.written(A, '1', 5);
    ledger.done('nobody', A, '1', 'processed');

    // Assess: the oldest early report was dropped, so record 1 counts as not yet processed.
    expect(ledger.handledOn('rollup', A).processed).toBe(0);
    expect(ledger.pending).toBe(1);
  });
});

describe('Function: stackStatus', () => {
  it('puts events behind beside each shard\'s progress, and sums per consumer', () => {
    // Prepare
    const ledger = new EventLedger(['rollup', 'archive']);
    ledger.written(A, '1', 100);
    ledger.written(B, '2', 50);
    ledger.done('rollup', A, '1', 'processed');
    ledger.done('rollup', B, '2', 'processed');
    ledger.done('archive', A, '1', 'processed');

    // Act
    const s = stackStatus(1_000, ledger, [
      { name: 'rollup', shards: [progress(A, { recordsProcessed: 1, invocations: 1, invokeMs: 12 }), progress(B, { recordsProcessed: 1, invocations: 1, invokeMs: 9 })] },
      // The archive's poller has not found shard B yet.
      { name: 'archive', shards: [progress(A, { recordsProcessed: 1, buffered: 3, ageOfOldestMs: 800 })] },
    ]);

    // Assess
    expect(s.at).toBe(1_000);
    expect(s.intake).toEqual({ eventsAccepted: 150, recordsWritten: 2 });
    const [rollup, archive] = s.consumers;
    expect(rollup).toMatchObject({ name: 'rollup', eventsProcessed: 150, eventsBehind: 0, recordsProcessed: 2, recordsPending: 0, ageOfOldestMs: 0, caughtUp: true });
    expect(archive).toMatchObject({ name: 'archive', eventsProcessed: 100, eventsBehind: 50, recordsProcessed: 1, recordsPending: 3, ageOfOldestMs: 800, caughtUp: false });
    expect(archive!.shards).toEqual([
      { shardId: A, eventsAccepted: 100, eventsProcessed: 100, eventsDiscarded: 0, eventsBehind: 0, recordsProcessed: 1, recordsDiscarded: 0, recordsPending: 3, ageOfOldestMs: 800, invocations: 0, invokeMs: 0, ended: false },
      { shardId: B, eventsAccepted: 50, eventsProcessed: 0, eventsDiscarded: 0, eventsBehind: 50, recordsProcessed: 0, recordsDiscarded: 0, recordsPending: 0, ageOfOldestMs: 0, invocations: 0, invokeMs: 0, ended: false },
    ]);
  });

  it('is not caught up while records from other producers are buffered', () => {
    // Prepare
    const ledger = new EventLedger(['rollup']);

    // Act
    const s = stackStatus(0, ledger, [{ name: 'rollup', shards: [progress(A, { inFlight: 2, ageOfOldestMs: 40 })] }]);

    // Assess
    expect(s.consumers[0]).toMatchObject({ eventsBehind: 0, recordsPending: 2, caughtUp: false });
  });
});

describe('Function: catchUpTimes', () => {
  const sample = (at: number, rollup: boolean, archive: boolean): StackStatus => ({
    at,
    intake: { eventsAccepted: 0, recordsWritten: 0 },
    consumers: [
      { name: 'rollup', caughtUp: rollup, eventsProcessed: 0, eventsDiscarded: 0, eventsBehind: rollup ? 0 : 1, recordsProcessed: 0, recordsDiscarded: 0, recordsPending: 0, ageOfOldestMs: 0, shards: [] },
      { name: 'archive', caughtUp: archive, eventsProcessed: 0, eventsDiscarded: 0, eventsBehind: archive ? 0 : 1, recordsProcessed: 0, recordsDiscarded: 0, recordsPending: 0, ageOfOldestMs: 0, shards: [] },
    ],
  });

  it('gives each consumer the time to its first caught-up sample after the stop', () => {
    // Act
    const t = catchUpTimes(10_000, [sample(9_000, true, false), sample(10_500, true, false), sample(14_000, true, true), sample(15_000, false, true)]);

    // Assess: a caught-up sample before the stop does not count.
    expect([...t]).toEqual([
      ['rollup', 500],
      ['archive', 4_000],
    ]);
  });

  it('leaves undefined a consumer that never caught up', () => {
    expect(catchUpTimes(0, [sample(1, false, true)]).get('rollup')).toBeUndefined();
  });
});

describe('Function: formatLag', () => {
  it('prints events behind and the age of the oldest record', () => {
    expect(formatLag({ name: 'archive', eventsBehind: 38_250, ageOfOldestMs: 4_230 })).toBe('archive 38,250 behind, oldest 4.2 s');
    expect([fmtAge(0), fmtAge(850), fmtAge(59_940), fmtAge(125_000)]).toEqual(['0 ms', '850 ms', '59.9 s', '2 min 5 s']);
  });
});

describe('Function: eventsInRecord', () => {
  it('counts the lines of gzip\'d or plain NDJSON, a last line without newline included', () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ name: 'm', ts: i })).join('\n');
    expect(eventsInRecord(gzipSync(`${lines(500)}\n`))).toBe(500);
    expect(eventsInRecord(new TextEncoder().encode(lines(3)))).toBe(3);
    expect(eventsInRecord(new Uint8Array())).toBe(0);
  });
});

describe('Function: countingKinesis', () => {
  const kinesis = mockClient(KinesisClient);
  afterEach(() => kinesis.reset());

  it('registers the records a PutRecords call wrote, not those it refused', async () => {
    // Prepare
    kinesis.on(PutRecordsCommand).resolves({
      FailedRecordCount: 1,
      Records: [
        { ShardId: A, SequenceNumber: '11' },
        { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' },
        { ShardId: B, SequenceNumber: '12' },
      ],
    });
    kinesis.on(ListShardsCommand).resolves({ Shards: [] });
    const written: Array<[string, string, number]> = [];
    const client = countingKinesis(new KinesisClient({ region: 'us-east-1' }), { written: (...a) => written.push(a) });
    const data = (n: number) => gzipSync('{"name":"m"}\n'.repeat(n));

    // Act
    await client.send(new PutRecordsCommand({ StreamName: 's', Records: [1, 2, 3].map((n) => ({ PartitionKey: 'k', Data: data(n) })) }));
    await client.send(new ListShardsCommand({ StreamName: 's' }));

    // Assess
    expect(written).toEqual([
      [A, '11', 1],
      [B, '12', 3],
    ]);
  });
});

describe('Function: statusRoute', () => {
  const KEY = generateOperatorKey();
  const status: StackStatus = { at: 1, intake: { eventsAccepted: 3, recordsWritten: 1 }, consumers: [] };
  const route = statusRoute({ operatorKey: KEY, status: () => status, classify: async (key) => (key === 'tenant-key' ? 'tenant' : 'unknown') });
  const get = (key?: string) => route({ headers: key === undefined ? {} : { 'x-api-key': key } } as unknown as APIGatewayProxyEventV2);

  it('answers the operator key with the status', async () => {
    // Act
    const res = await get(KEY);

    // Assess
    expect(KEY).toMatch(/^sfop_[A-Za-z0-9_-]{43}$/);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body!)).toEqual(status);
  });

  it.each([
    ['no key', undefined, 401, /^missing API key: GET \/v1\/status takes the operator key/],
    ['an unknown key', 'nope', 401, /^invalid API key$/],
    ['a tenant key', 'tenant-key', 403, /not a tenant's key/],
  ] as const)('refuses %s', async (_label, key, statusCode, error) => {
    // Act
    const res = await get(key);

    // Assess
    expect(res.statusCode).toBe(statusCode);
    expect((JSON.parse(res.body!) as { error: string }).error).toMatch(error);
  });
});
