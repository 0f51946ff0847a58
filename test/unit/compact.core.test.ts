import fc from 'fast-check';
import type { KinesisStreamRecord } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { archiveBatch } from '../../functions/archive/core.ts';
import { parseEventsKey, partitionPrefix, type Partition } from '../../functions/shared/archive/keys.ts';
import { readArchiveFile, tableRows, type ArchiveRow } from '../../functions/shared/archive/parquet.ts';
import { readPartition } from '../../functions/shared/archive/reader.ts';
import { loadZstd, type BlockCodec } from '../../functions/shared/archive/zstd.ts';
import { createCompactHandler, parseCompactRequest } from '../../functions/compact/app.ts';
import { compactPartition, compactPartitions, findPartitions, type CompactDeps } from '../../functions/compact/core.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { ConfigError } from '../../functions/shared/errors.ts';
import { MemoryBucket, recordsFor, throttled } from './archive.support.ts';

let codec: BlockCodec;
beforeAll(async () => {
  codec = await loadZstd();
});

const H10 = Date.parse('2026-11-28T10:00:00Z');
const LATER = Date.parse('2026-11-28T14:00:00Z');
const ARRIVAL = H10 + 7_200_000;
const PARTS: Partition[] = [
  { tenant: 'acme', dt: '2026-11-28', hour: 10 },
  { tenant: 'acme', dt: '2026-11-28', hour: 11 },
  { tenant: 'globex', dt: '2026-11-28', hour: 10 },
  { tenant: 'globex', dt: '2026-11-28', hour: 11 },
];

/** `n` events over two tenants and two hours; every 7th carries an id. */
function events(n: number, idEvery = 7): StreamEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    tenant: i % 3 === 0 ? 'globex' : 'acme',
    name: `svc.metric.${i % 5}`,
    ts: H10 + Math.floor((i * 7_200_000) / n),
    value: i,
    type: 'gauge' as const,
    tags: { host: `h${i % 4}`, env: 'prod' },
    ...(i % idEvery === 0 ? { id: `evt-${i}` } : {}),
  }));
}

/**
 * Writes each delivery as the archive function would: a slice of the shard's records, given as
 * fractions of their number (records per batch depend on the partition keys the codec makes).
 */
async function deliver(bucket: MemoryBucket, records: KinesisStreamRecord[], slices: Array<[number, number]>): Promise<void> {
  for (const [a, b] of slices) {
    const from = Math.floor(a * records.length);
    const to = Math.ceil(b * records.length);
    const out = await archiveBatch({ records: records.slice(from, to), remainingMs: () => 60_000 }, { store: bucket, codec });
    expect(out.batchItemFailures).toEqual([]);
  }
}

/** Every row physically stored in a partition, across all its files. */
async function physicalRows(bucket: MemoryBucket, p: Partition): Promise<ArchiveRow[]> {
  const rows: ArchiveRow[] = [];
  for (const key of bucket.keys(partitionPrefix(p))) rows.push(...tableRows(await readArchiveFile(bucket.objects.get(key)!, { codec })));
  return rows;
}

/** What a reader sees: one entry per event, by value (ts|name|value) — lineage aside. */
async function seen(bucket: MemoryBucket): Promise<string[]> {
  const out: string[] = [];
  for (const p of PARTS) {
    for (const r of tableRows(await readPartition(bucket, p, codec))) out.push(`${p.tenant}|${r.ts}|${r.name}|${r.value}`);
  }
  return out.sort();
}
const expected = (evs: StreamEvent[]): string[] => evs.map((e) => `${e.tenant}|${e.ts}|${e.name}|${e.value}`).sort();

function deps(bucket: MemoryBucket, over: Partial<CompactDeps> = {}): CompactDeps {
  return { bucket, codec, now: () => LATER, ...over };
}

describe('Function: compactPartitions — overlapping deliveries', () => {
  it('leaves exactly one row per event after compaction, and readers see one row per event before it', async () => {
    // Prepare: 600 events in 24 records; the same records delivered in overlapping batches with
    // different boundaries (a retry from the middle, a bisected batch, a full replay).
    const evs = events(600);
    const records = recordsFor(evs, { arrivalMs: ARRIVAL, perRecord: 25 });
    const bucket = new MemoryBucket();
    await deliver(bucket, records, [[0, 0.4], [0.2, 0.6], [0.4, 1], [0, 1], [0.5, 0.75]]);
    const before = (await Promise.all(PARTS.map((p) => physicalRows(bucket, p)))).flat();
    expect(before.length).toBeGreaterThan(evs.length * 2);
    expect(await seen(bucket)).toEqual(expected(evs));

    // Act
    const run = await compactPartitions(deps(bucket), { lookbackHours: 48 });

    // Assess
    expect(run.failed).toEqual([]);
    expect(run.partitions.map((p) => p.action)).toEqual(['compacted', 'compacted', 'compacted', 'compacted']);
    for (const p of PARTS) {
      const keys = bucket.keys(partitionPrefix(p));
      expect(keys).toHaveLength(1);
      expect(parseEventsKey(keys[0]!)?.compacted).toBe(true);
      const rows = await physicalRows(bucket, p);
      const lineages = rows.map((r) => `${r._shard}/${r._seq}/${r._sub}`);
      expect(new Set(lineages).size).toBe(rows.length);
      expect(rows.map((r) => r.ts)).toEqual([...rows.map((r) => r.ts)].sort((a, b) => a - b));
    }
    expect(await seen(bucket)).toEqual(expected(evs));
    const after = (await Promise.all(PARTS.map((p) => physicalRows(bucket, p)))).flat();
    expect(after).toHaveLength(evs.length);
  });

  it('keeps every event that shares an id: an id is not a dedupe key', async () => {
    // Prepare: one request id on three metrics, and a payload sent twice without an
    // Idempotency-Key (every event with an id): each is an event of its own lineage.
    const shared: StreamEvent[] = ['req.latency', 'req.bytes', 'req.count'].map((name, i) => ({
      tenant: 'acme', name, ts: H10 + 1_000, value: [120, 5, 1][i]!, type: 'count', tags: {}, id: 'req-42',
    }));
    const evs = [...shared, ...events(70, 1)];
    const bucket = new MemoryBucket();
    await deliver(bucket, recordsFor(evs, { arrivalMs: ARRIVAL, firstSeq: 1 }), [[0, 1]]);
    await deliver(bucket, recordsFor(evs.slice(3), { arrivalMs: ARRIVAL + 5, firstSeq: 500 }), [[0, 1]]);
    const everything = [...evs, ...evs.slice(3)];
    expect(await seen(bucket)).toEqual(expected(everything));
    // Act
    const run = await compactPartitions(deps(bucket));
    // Assess
    expect(run.partitions.map((p) => [p.action, p.lineageDuplicates])).toEqual(PARTS.map(() => ['compacted', 0]));
    expect(await seen(bucket)).toEqual(expected(everything));
    const rows = (await Promise.all(PARTS.map((p) => physicalRows(bucket, p)))).flat();
    expect(rows).toHaveLength(3 + 2 * 70);
    expect(rows.filter((r) => r.id === 'req-42').map((r) => r.name).sort()).toEqual(['req.bytes', 'req.count', 'req.latency']);
  });

  it('is idempotent: a second run changes nothing', async () => {
    // Prepare
    const bucket = new MemoryBucket();
    await deliver(bucket, recordsFor(events(200), { arrivalMs: ARRIVAL }), [[0, 0.5], [0.3, 1]]);
    await compactPartitions(deps(bucket));
    const snapshot = new Map(bucket.objects);
    bucket.ops.length = 0;
    // Act
    const second = await compactPartitions(deps(bucket));
    // Assess
    expect(second.partitions.map((p) => p.action)).toEqual(['noop', 'noop', 'noop', 'noop']);
    expect(bucket.ops).toEqual([]);
    expect(bucket.objects).toEqual(snapshot);
  });

  it('merges late files into a compacted partition on the next run', async () => {
    // Prepare: compacted, then a late batch (a Lambda retry hours later) lands in the same hour.
    const evs = events(300);
    const records = recordsFor(evs, { arrivalMs: ARRIVAL, perRecord: 20 });
    const bucket = new MemoryBucket();
    await deliver(bucket, records, [[0, 0.6]]);
    await compactPartitions(deps(bucket));
    await deliver(bucket, records, [[0.4, 1]]);
    // Act
    await compactPartitions(deps(bucket));
    // Assess
    for (const p of PARTS) expect(bucket.keys(partitionPrefix(p))).toHaveLength(1);
    expect((await Promise.all(PARTS.map((p) => physicalRows(bucket, p)))).flat()).toHaveLength(evs.length);
  });

  it('splits a partition into files of at most the target size', async () => {
    // Prepare
    const evs = events(3000);
    const bucket = new MemoryBucket();
    await deliver(bucket, recordsFor(evs, { arrivalMs: ARRIVAL, perRecord: 30 }), [[0, 0.4], [0.4, 0.7], [0.7, 1]]);
    const p = PARTS[0]!;
    const inputBytes = bucket.keys(partitionPrefix(p)).reduce((n, k) => n + bucket.objects.get(k)!.length, 0);
    // Act
    const out = await compactPartition(p, deps(bucket, { targetBytes: Math.ceil(inputBytes / 3) }));
    // Assess
    expect(out.written.length).toBeGreaterThanOrEqual(3);
    for (const k of out.written) expect(bucket.objects.get(k)!.length).toBeLessThanOrEqual(Math.ceil(inputBytes / 3));
    expect(await physicalRows(bucket, p)).toHaveLength(evs.filter((e) => e.tenant === 'acme' && e.ts < H10 + 3_600_000).length);
  });

  it('splits an output at the row cap into consecutive time ranges', async () => {
    // Prepare
    const evs = events(1200);
    const bucket = new MemoryBucket();
    await deliver(bucket, recordsFor(evs, { arrivalMs: ARRIVAL, perRecord: 30 }), [[0, 1]]);
    const p = PARTS[0]!;
    const want = evs.filter((e) => e.tenant === 'acme' && e.ts < H10 + 3_600_000).length;
    // Act
    const out = await compactPartition(p, deps(bucket, { maxRows: 150 }));
    // Assess
    const files = await Promise.all(out.written.map(async (k) => tableRows(await readArchiveFile(bucket.objects.get(k)!, { codec }))));
    expect(files.every((rows) => rows.length <= 150)).toBe(true);
    expect(files.flat()).toHaveLength(want);
    const ranges = files.map((rows) => [rows[0]!.ts, rows.at(-1)!.ts]).sort((a, b) => a[0]! - b[0]!);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]!);
  });

  it('leaves an open partition-hour and a dry run untouched', async () => {
    const bucket = new MemoryBucket();
    await deliver(bucket, recordsFor(events(50), { arrivalMs: ARRIVAL }), [[0, 1]]);
    const snapshot = bucket.keys();
    const open = await compactPartition(PARTS[1]!, deps(bucket, { now: () => H10 + 2 * 3_600_000 + 9 * 60_000 }));
    const dry = await compactPartition(PARTS[0]!, deps(bucket, { dryRun: true }));
    expect(open.action).toBe('open');
    expect(dry.action).toBe('planned');
    expect(dry.plan?.merge).toHaveLength(1);
    expect(bucket.keys()).toEqual(snapshot);
  });
});

describe('Function: compactPartition — crashes', () => {
  /** Every way one run can stop part-way: the n-th put or the n-th delete fails. */
  it('never shows a reader a duplicate or a gap, whatever step fails, and converges on the next run', async () => {
    // Prepare
    const evs = events(400);
    const records = recordsFor(evs, { arrivalMs: ARRIVAL, perRecord: 10 });
    const base = new MemoryBucket();
    await deliver(base, records, [[0, 0.4], [0.3, 0.7], [0.6, 1], [0, 1]]);
    const p = PARTS[0]!;
    const want = expected(evs.filter((e) => e.tenant === 'acme' && e.ts < H10 + 3_600_000));
    const seenIn = async (b: MemoryBucket) => tableRows(await readPartition(b, p, codec)).map((r) => `acme|${r.ts}|${r.name}|${r.value}`).sort();
    const target = 1_700; // several outputs (20 files)
    const clean = base.clone();
    const full = await compactPartition(p, deps(clean, { targetBytes: target }));
    const puts = full.written.length;
    const deletes = full.deleted.length;
    expect(puts).toBeGreaterThan(1);

    const crashes: Array<{ label: string; arm: (b: MemoryBucket) => void }> = [];
    for (let n = 1; n <= puts; n++) {
      crashes.push({ label: `put ${n}`, arm: (b) => { let i = 0; b.onPut = () => (++i === n ? throttled() : undefined); } });
    }
    for (let n = 1; n <= deletes; n++) {
      crashes.push({ label: `delete ${n}`, arm: (b) => { let i = 0; b.onDelete = () => (++i === n ? new Error('crash') : undefined); } });
    }
    for (const crash of crashes) {
      const b = base.clone();
      crash.arm(b);
      // Act: the run dies at that step…
      await expect(compactPartition(p, deps(b, { targetBytes: target })), crash.label).rejects.toThrow();
      // Assess: …readers still see each event once.
      expect(await seenIn(b), crash.label).toEqual(want);
      // The next run finishes the job; a third does nothing.
      b.onPut = () => undefined;
      b.onDelete = () => undefined;
      await compactPartition(p, deps(b, { targetBytes: target }));
      const rows = await physicalRows(b, p);
      expect(rows.length, crash.label).toBe(want.length);
      expect(await seenIn(b), crash.label).toEqual(want);
      const third = await compactPartition(p, deps(b, { targetBytes: target }));
      expect(third.action, crash.label).toBe('noop');
    }
  });

  it('keeps the invariants over random deliveries, crash points and targets (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 20, max: 160 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 0.5, noNaN: true })), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1_500, max: 40_000 }),
        fc.nat(12),
        async (n, deliveries, target, crashAt) => {
          // Prepare: every record delivered at least once, plus random overlapping re-deliveries.
          const evs = events(n, 3);
          const records = recordsFor(evs, { arrivalMs: ARRIVAL, perRecord: 4 });
          const bucket = new MemoryBucket();
          const slices: Array<[number, number]> = [[0, 1], ...deliveries.map(([a, len]): [number, number] => [a, Math.min(1, a + len)])];
          await deliver(bucket, records, slices);
          let ops = 0;
          bucket.onPut = () => (++ops === crashAt ? throttled() : undefined);
          bucket.onDelete = () => (++ops === crashAt ? new Error('crash') : undefined);
          // Act: one run that may crash, then one that may not.
          await compactPartitions(deps(bucket, { targetBytes: target }));
          expect(await seen(bucket)).toEqual(expected(evs));
          bucket.onPut = () => undefined;
          bucket.onDelete = () => undefined;
          const second = await compactPartitions(deps(bucket, { targetBytes: target }));
          // Assess
          expect(second.failed).toEqual([]);
          expect(await seen(bucket)).toEqual(expected(evs));
          expect((await Promise.all(PARTS.map((p) => physicalRows(bucket, p)))).flat()).toHaveLength(evs.length);
          const third = await compactPartitions(deps(bucket, { targetBytes: target }));
          expect(third.partitions.every((p) => p.action === 'noop' || p.action === 'empty')).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('Function: findPartitions', () => {
  it('lists tenants and hours present, within the lookback window or on the given date', async () => {
    // Prepare
    const bucket = new MemoryBucket();
    for (const key of [
      'events/tenant=acme/dt=2026-11-26/hour=23/x.parquet',
      'events/tenant=acme/dt=2026-11-27/hour=15/x.parquet',
      'events/tenant=acme/dt=2026-11-28/hour=03/x.parquet',
      'events/tenant=zed/dt=2026-11-28/hour=02/x.parquet',
    ]) {
      bucket.objects.set(key, new Uint8Array(1));
    }
    const now = Date.parse('2026-11-28T04:30:00Z');
    // Act / Assess
    expect(await findPartitions(bucket, { lookbackHours: 24 }, now)).toEqual([
      { tenant: 'acme', dt: '2026-11-27', hour: 15 },
      { tenant: 'zed', dt: '2026-11-28', hour: 2 },
      { tenant: 'acme', dt: '2026-11-28', hour: 3 },
    ]);
    expect(await findPartitions(bucket, { tenant: 'acme', dt: '2026-11-26' }, now)).toEqual([{ tenant: 'acme', dt: '2026-11-26', hour: 23 }]);
    expect(await findPartitions(bucket, { dt: '2026-11-28', hour: 2 }, now)).toEqual([{ tenant: 'zed', dt: '2026-11-28', hour: 2 }]);
  });
});

describe('Function: compact handler', () => {
  it('compacts the lookback window on a scheduled event and summarizes the run', async () => {
    // Prepare
    const bucket = new MemoryBucket();
    await deliver(bucket, recordsFor(events(90), { arrivalMs: ARRIVAL }), [[0, 0.5], [0.25, 1]]);
    const handler = createCompactHandler({ ARCHIVE_BUCKET_NAME: 'b', POWERTOOLS_LOG_LEVEL: 'SILENT', COMPACT_LOOKBACK_HOURS: '24' }, { bucket, codec, now: () => LATER });
    // Act
    const summary = await handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }, { getRemainingTimeInMillis: () => 600_000 });
    // Assess
    expect(summary).toMatchObject({ partitions: 4, compacted: 4, written: 4, failed: [], skipped: 0 });
    expect(summary.duplicatesDropped).toBeGreaterThan(0);
  });

  it('validates a manual request', () => {
    expect(parseCompactRequest({ tenant: 'acme', dt: '2026-11-28', hour: 3, dryRun: true })).toEqual({ tenant: 'acme', dt: '2026-11-28', hour: 3, dryRun: true });
    expect(() => parseCompactRequest({ tenant: 'ACME' })).toThrow(ConfigError);
    expect(() => parseCompactRequest({ dt: '28/11/2026' })).toThrow(/dt/);
    expect(() => parseCompactRequest({ hour: 3 })).toThrow(/needs dt/);
    expect(() => parseCompactRequest({ dt: '2026-11-28', hour: 24 })).toThrow(/hour/);
    expect(parseCompactRequest(undefined)).toEqual({});
  });
});
