import { beforeAll, describe, expect, it } from 'vitest';
import { archiveBatch, type ArchiveDeps } from '../../functions/archive/core.ts';
import { arrivalMsOf, planBatch } from '../../functions/archive/plan.ts';
import { ObjectWriteError } from '../../functions/shared/archive/bucket.ts';
import { readArchiveFile, tableRows } from '../../functions/shared/archive/parquet.ts';
import { loadZstd, type BlockCodec } from '../../functions/shared/archive/zstd.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { denied, kinesisRecord, MemoryBucket, recordsFor, seq, SHARD, throttled } from './archive.support.ts';

let codec: BlockCodec;
beforeAll(async () => {
  codec = await loadZstd();
});

const H10 = Date.parse('2026-11-28T10:00:00Z');
const ARRIVAL = Date.parse('2026-11-28T11:05:00Z');

function ev(tenant: string, ts: number, i: number, over: Partial<StreamEvent> = {}): StreamEvent {
  return { tenant, name: 'api.requests', ts, value: i, type: 'count', tags: { env: 'prod', i: String(i % 3) }, ...over };
}
const line = (e: StreamEvent): string => JSON.stringify(e);

/**
 * Records seq 1..6: acme@10h in 1, 2 and 5; globex@10h in 3 and 4; acme@11h in 2; 6 is not JSON.
 */
function batch() {
  const data = [
    line(ev('acme', H10 + 1000, 1)),
    `${line(ev('acme', H10 + 2000, 2))}\n${line(ev('acme', H10 + 3_600_000 + 5, 3))}`,
    line(ev('globex', H10 + 500, 4)),
    line(ev('globex', H10 + 600, 5)),
    line(ev('acme', H10 + 10, 6)),
    'not json',
  ];
  return data.map((d, i) => kinesisRecord(d, { sequenceNumber: seq(i + 1), arrivalMs: ARRIVAL + i }));
}

const A10 = `events/tenant=acme/dt=2026-11-28/hour=10/${SHARD}-${seq(1)}-${seq(6)}.parquet`;
const A11 = `events/tenant=acme/dt=2026-11-28/hour=11/${SHARD}-${seq(1)}-${seq(6)}.parquet`;
const G10 = `events/tenant=globex/dt=2026-11-28/hour=10/${SHARD}-${seq(1)}-${seq(6)}.parquet`;
const Q6 = `quarantine/dt=2026-11-28/${SHARD}-${seq(6)}.ndjson`;

/** A clock that only moves when the core sleeps. */
function fakeTime(start = ARRIVAL + 1000) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
    sleeps,
  };
}

function deps(bucket: MemoryBucket, over: Partial<ArchiveDeps> = {}): ArchiveDeps {
  const time = fakeTime();
  return { store: bucket, codec, now: time.now, sleep: time.sleep, random: () => 0.5, ...over };
}

describe('Function: planBatch', () => {
  it('plans one Parquet file per (tenant, UTC hour of ts) named by the batch bounds, and one quarantine object per bad record', () => {
    // Act
    const plan = planBatch(batch(), ARRIVAL, { codec });
    // Assess
    expect(plan.objects.map((o) => [o.key, o.minSeq, o.count])).toEqual([
      [A10, seq(1), 3],
      [A11, seq(2), 1],
      [G10, seq(3), 2],
      [Q6, seq(6), 1],
    ]);
    expect(plan).toMatchObject({ records: 6, events: 6, rejected: 1 });
  });

  it('stamps _ingested_at with each record\'s arrival and writes identical bytes for a retried batch', async () => {
    // Prepare
    const records = batch();
    // Act
    const a = planBatch(records, ARRIVAL, { codec }).objects[0]!.body();
    const b = planBatch(records, ARRIVAL + 3_600_000, { codec }).objects[0]!.body();
    const rows = tableRows(await readArchiveFile(a, { codec }));
    // Assess
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(rows.map((r) => [r.ts - H10, r._seq, r._sub, r._ingested_at - ARRIVAL])).toEqual([
      [10, seq(5), 0, 4],
      [1000, seq(1), 0, 0],
      [2000, seq(2), 0, 1],
    ]);
  });

  it('judges "too far in the future" against the record\'s arrival, not the wall clock', () => {
    // Prepare: 9 min ahead of arrival is fine, however late the batch is processed.
    const r = kinesisRecord(line(ev('acme', ARRIVAL + 9 * 60_000, 1)), { sequenceNumber: seq(1), arrivalMs: ARRIVAL });
    // Act
    const early = planBatch([r], ARRIVAL - 3_600_000, { codec });
    const late = planBatch([r], ARRIVAL + 86_400_000, { codec });
    // Assess
    expect(early.events).toBe(1);
    expect(late.events).toBe(1);
  });

  it('falls back to the clock for a record without an arrival time', () => {
    const r = kinesisRecord('{}', { sequenceNumber: seq(1), arrivalMs: ARRIVAL });
    delete (r.kinesis as { approximateArrivalTimestamp?: number }).approximateArrivalTimestamp;
    expect(arrivalMsOf(r, 123)).toBe(123);
  });
});

describe('Function: archiveBatch', () => {
  it('writes everything and reports no failures', async () => {
    // Prepare
    const bucket = new MemoryBucket();
    // Act
    const out = await archiveBatch({ records: batch(), remainingMs: () => 60_000 }, deps(bucket));
    // Assess
    expect(out.batchItemFailures).toEqual([]);
    expect(bucket.keys()).toEqual([A10, A11, G10, Q6].sort());
    expect(out.stats).toMatchObject({ events: 6, rejected: 1, eventFiles: 3, quarantineObjects: 1, failedObjects: 0, attempts: 4 });
  });

  it('does nothing for an empty batch', async () => {
    const bucket = new MemoryBucket();
    const out = await archiveBatch({ records: [], remainingMs: () => 60_000 }, deps(bucket));
    expect(out.batchItemFailures).toEqual([]);
    expect(bucket.ops).toEqual([]);
  });

  it('retries throttling and 5xx with exponential backoff and full jitter, then succeeds', async () => {
    // Prepare: G10 is throttled twice, then fails with a 500, then works.
    const bucket = new MemoryBucket();
    const faults = [throttled(), throttled(), new ObjectWriteError('InternalError', { code: 'InternalError', retryable: true })];
    bucket.onPut = (key, attempt) => (key === G10 ? faults[attempt - 1] : undefined);
    const time = fakeTime();
    // Act
    const out = await archiveBatch(
      { records: batch(), remainingMs: () => 60_000 },
      deps(bucket, { now: time.now, sleep: time.sleep, random: () => 0.5, baseDelayMs: 100 }),
    );
    // Assess: delays are random × 100, 200, 400 ms.
    expect(out.batchItemFailures).toEqual([]);
    expect(time.sleeps).toEqual([50, 100, 200]);
    expect(bucket.putAttempts.get(G10)).toBe(4);
    expect(bucket.objects.has(G10)).toBe(true);
  });

  it.each([
    ['the globex file', [G10], [seq(3)]],
    ['the quarantine object of record 6', [Q6], [seq(6)]],
    ['the acme 11h file (record 2 only)', [A11], [seq(2)]],
    ['the acme 10h file and the quarantine object', [A10, Q6], [seq(1)]],
    ['every object', [A10, A11, G10, Q6], [seq(1)]],
  ])('reports the lowest contributing sequence number when %s cannot be written', async (_label, failing, expected) => {
    // Prepare: a non-retryable failure, so nothing is retried.
    const bucket = new MemoryBucket();
    bucket.onPut = (key) => (failing.includes(key) ? denied() : undefined);
    // Act
    const out = await archiveBatch({ records: batch(), remainingMs: () => 60_000 }, deps(bucket));
    // Assess
    expect(out.batchItemFailures).toEqual(expected.map((itemIdentifier) => ({ itemIdentifier })));
    expect(out.unwritten.map((u) => u.key).sort()).toEqual([...failing].sort());
    for (const key of failing) expect(bucket.putAttempts.get(key)).toBe(1);
    expect(bucket.keys()).toEqual([A10, A11, G10, Q6].filter((k) => !failing.includes(k)).sort());
  });

  it('gives up when the time budget runs out and reports the records of what is still unwritten', async () => {
    // Prepare: G10 is always throttled; 10 s left with a 2 s margin.
    const bucket = new MemoryBucket();
    bucket.onPut = (key) => (key === G10 ? throttled() : undefined);
    const time = fakeTime();
    // Act
    const out = await archiveBatch(
      { records: batch(), remainingMs: () => 10_000 },
      deps(bucket, { now: time.now, sleep: time.sleep, random: () => 1, baseDelayMs: 100, maxDelayMs: 2_000 }),
    );
    // Assess: never sleeps past the deadline.
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(3) }]);
    expect(out.unwritten).toEqual([{ key: G10, code: 'SlowDown' }]);
    expect(time.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(8_000);
    expect(bucket.putAttempts.get(G10)).toBeGreaterThan(3);
  });

  it('starts no write once the budget is spent', async () => {
    const bucket = new MemoryBucket();
    const out = await archiveBatch({ records: batch(), remainingMs: () => 1_000 }, deps(bucket, { marginMs: 2_000 }));
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
    expect(bucket.ops).toEqual([]);
  });

  it('treats an unclassified error as retryable', async () => {
    const bucket = new MemoryBucket();
    bucket.onPut = (key, attempt) => (key === A11 && attempt === 1 ? new Error('socket hang up') : undefined);
    const out = await archiveBatch({ records: batch(), remainingMs: () => 60_000 }, deps(bucket));
    expect(out.batchItemFailures).toEqual([]);
    expect(bucket.putAttempts.get(A11)).toBe(2);
  });

  it('writes at most `concurrency` objects at once', async () => {
    // Prepare: 12 tenants → 12 files.
    const events = Array.from({ length: 12 }, (_, i) => ev(`t${i}`, H10 + i, i));
    const records = recordsFor(events, { arrivalMs: ARRIVAL, perRecord: 1 });
    let inFlight = 0;
    let peak = 0;
    const store = {
      put: async () => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
      },
    };
    // Act
    const out = await archiveBatch({ records, remainingMs: () => 60_000 }, { store, codec, concurrency: 3 });
    // Assess
    expect(out.stats.eventFiles).toBe(12);
    expect(peak).toBe(3);
  });
});
