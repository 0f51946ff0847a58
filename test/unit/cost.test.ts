/**
 * The cost model (bench/cost/, its CLI bench/cost.ts): pure functions checked against hand-computed
 * figures for a small load (1,000 events/s, 200 B events, 100 series, 1 tenant), the rollup log's
 * terms term by term, the model against the bench's own write-cost runs, the large loads and the
 * limits that bind there, the targets, reading figures out of a results file, the fallbacks file
 * and its writer, and the CLI smoke (runs, prints a total). No network.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCostArgs } from '../../bench/cost.ts';
import { committedFallbacks, FALLBACKS_FILE, formatFallbacks, parseFallbacks, readFallbacks, runOf, updateFallbacks } from '../../bench/cost/fallbacks.ts';
import { measuredFromResults } from '../../bench/cost/figures.ts';
import { checkAgainstRun, expectedKb, interpolate, MANIFEST_OVERHEAD_BYTES, SEGMENT_OVERHEAD_BYTES, type WritePoint } from '../../bench/cost/log.ts';
import { QUOTAS, type LimitCheck } from '../../bench/cost/limits.ts';
import { costModel, DEFAULT_CONFIG, MEASURED_FIELDS, metricSpread, nearestWritePoint, nextPowerOfTwo, type Measured, type Scenario, type Workload } from '../../bench/cost/model.ts';
import { hotMetric, PREVIOUS_LAYOUT, scaleReports, targetReport } from '../../bench/cost/scale.ts';
import { apiGatewayCost, gbSecondsPerEvent, kinesisCost, SECONDS_PER_MONTH } from '../../bench/cost/terms.ts';
import { INTAKE, ROLLUP } from '../../bench/ids.ts';

const FALLBACKS = committedFallbacks();
const FALLBACK = FALLBACKS.measured;

const ROOT = resolve(import.meta.dirname, '../..');
const GB = 1024 ** 3;

const WORKLOAD: Workload = { eventsPerSecond: 1000, eventBytes: 200, series: 100, tenants: 1, queriesPerMonth: 10 };
/**
 * One write-cost run: 100 series, 10,000-event batches every 5 s, a fold every 300 s; 1.5 items per
 * series (half the series are distributions), 100 B per entry, 2 WCU per head write, 4 folded items
 * per series per fold (its hour and 6 minutes of half the series) at 1.5 WCU each.
 */
const POINT: WritePoint = {
  seriesPerBatch: 100,
  eventsPerBatch: 10_000,
  batchSeconds: 5,
  foldSeconds: 300,
  itemsPerBatch: 150,
  segmentsPerBatch: 1,
  bytesPerEntry: 100,
  logWcuPerBatch: 16,
  headWcuPerWrite: 2,
  headWritesPerBatch: 1.01,
  foldItemsPerFold: 400,
  foldWcuPerItem: 1.5,
  rcuPerBatch: 4,
  p99ItemBytes: 600,
  maxItemBytes: 700,
  maxLogItemBytes: 15_200,
  naiveWcuPer1k: 2000,
  storedPerSeriesHour: { '1m': 600, '1h': 2_000 },
  naiveStoredPerSeriesHour: { '1m': 60 * 300, '1h': 300 },
};
const MEASURED: Measured = {
  intakeAvgEventBytes: 200,
  recordsPerEvent: 0.004, // 250 events (5,000 B) per record
  naiveRecordsPerEvent: 1,
  streamBytesPerEvent: 20,
  naiveStreamBytesPerEvent: 220,
  intakeRate: 100_000,
  naiveIntakeRate: 400_000,
  rollupRate: 50_000,
  naiveRollupRate: 100_000,
  rollupFoldRate: 1_000_000,
  archiveRate: 50_000,
  naiveArchiveRate: 100_000,
  writePoints: [POINT],
  archiveAvgEventBytes: 200,
  parquetBytesPerEvent: 15,
  ndjsonGzipBytesPerEvent: 20,
};
const E = 1000 * 730 * 3600; // 2.628e9 events a month

const line = (s: Scenario, service: string) => s.lines.find((l) => l.service === service)!.monthlyUsd;

describe('cost model at 1,000 events/s', () => {
  const report = costModel(WORKLOAD, MEASURED);
  const [ours, naive, firehose] = report.scenarios as [Scenario, Scenario, Scenario];

  it('counts a 730-hour month', () => {
    expect(SECONDS_PER_MONTH).toBe(2_628_000);
    expect(report.eventsPerMonth).toBe(E);
  });

  it('prices Kinesis as one provisioned shard plus PUT payload units', () => {
    // ours: 4 records/s of 5,000 B, 20 kB/s → 1 shard; 10.512 M records × 1 unit.
    const k = kinesisCost(1000, 0.004, 20, 2);
    expect(k).toMatchObject({ shards: 1, mode: 'provisioned' });
    expect(k.provisionedUsd).toBeCloseTo(730 * 0.015 + 10.512 * 0.014, 6);
    // on-demand: stream-hours + 5 KB billed per record + two consumers reading 20 B/event
    expect(k.onDemandUsd).toBeCloseTo(730 * 0.04 + ((10.512e6 * 5 * 1024) / GB) * 0.08 + ((2 * 20 * E) / GB) * 0.04, 6);
    expect(line(ours, 'Kinesis')).toBeCloseTo(11.097168, 6);
    // naive: 1,000 records/s is exactly one shard's record limit; 2,628 M PUT units.
    expect(line(naive, 'Kinesis')).toBeCloseTo(10.95 + 2628 * 0.014, 6);
    expect(naive.shards).toBe(1);
  });

  it('adds a shard per 1,000 records/s', () => {
    expect(kinesisCost(1001, 1, 220, 2).shards).toBe(2);
  });

  it('prices API Gateway per request of 500 events (one 512 KB unit each)', () => {
    expect(apiGatewayCost(E, 200, 500)).toEqual({ requests: 5_256_000, usd: 5.256 });
    expect(line(ours, 'API Gateway')).toBeCloseTo(5.256, 9);
    // Over 300 M requests the rest is $0.90 per million.
    expect(apiGatewayCost(500 * 400e6, 200, 500).usd).toBeCloseTo(300 + 90, 6);
  });

  it('turns CPU rates into GB-s with the vCPU share of the memory size', () => {
    // 1,024 MB gets 1024/1769 of a vCPU: 10 µs of CPU take 17.275 µs, × 1.5 I/O wait, × 1 GB.
    expect(gbSecondsPerEvent(100_000, 1024, 1.5)).toBeCloseTo((1e-5 * 1769) / 1024 * 1.5, 12);
    // 2,048 MB has a full vCPU: 20 µs × 1.5 × 2 GB.
    expect(gbSecondsPerEvent(50_000, 2048, 1.5)).toBeCloseTo(2e-5 * 1.5 * 2, 12);
  });

  it('prices the rollup log term by term: segments, manifest and head per commit, the fold per fold interval, index refreshes', () => {
    // One shard; the rollup's 5 s window binds (4 records/s never fill 10,000): a commit every 5 s of
    // 5,000 events, touching all 100 series (1 − e^−50), 150 entries in 1 segment (1 metric).
    const d = ours.lines.find((l) => l.service === 'DynamoDB')!;
    const u = d.service === 'DynamoDB' ? d.usage.log! : undefined;
    expect(u).toMatchObject({ commitIntervalSeconds: 5, eventsPerBatch: 5000, segmentsPerBatch: 1, foldSeconds: 300, unfoldedCommits: 60 });
    expect(u!.entriesPerBatch).toBeCloseTo(150, 6);
    // Segment: 150 × 100 B + its 106 B of keys, half a KB of rounding: 15.252 WCU, 0.2 commits/s.
    expect(SEGMENT_OVERHEAD_BYTES).toBe(106);
    const segment = 15_106 / 1024 + 0.5;
    expect(u!.wcu.segments).toBeCloseTo(0.2 * segment, 9);
    // Manifest: 2 + 35 B of entry + 73 B of keys: 1 WCU. Head: 2 WCU at 60 unfolded commits (the
    // run's 300 s ÷ 5 s), written per commit and once per fold (61 writes per 60 commits).
    expect(MANIFEST_OVERHEAD_BYTES).toBe(73);
    expect(u!.wcu.manifests).toBeCloseTo(0.2, 9);
    expect(u!.wcu.head).toBeCloseTo(0.2 * (61 / 60) * 2, 9);
    // Fold every 300 s: 100 series × 4 items × 1.5 WCU. Index: 100 series + 1 metric, once an hour.
    expect(u!.wcu.fold).toBeCloseTo((400 * 1.5) / 300, 9);
    expect(u!.wcu.index).toBeCloseTo(101 / 3600, 9);
    const wru = 0.2 * segment + 0.2 + 0.2 * (61 / 60) * 2 + 2 + 101 / 3600;
    expect(d.usage.wcuPerSecond).toBeCloseTo(wru, 9);
    // Reads: the 300 minute items are new, the 100 hour items new once an hour (300 s of 3,600),
    // the rest in the 20,000-item cache; the sweeper reads the 2 KB head every 300 s.
    const rru = (300 + 100 / 12) / 300 + 1 / 300;
    expect(d.usage.rcuPerSecond).toBeCloseTo(rru, 9);
    // Storage: 400 days of the 1 h share and 15 days of the 1 m share per series, plus a day of
    // log: (15,000 + 106 + 100) B of segment and (37 + 73 + 100) B of manifest per commit.
    const log = (15_206 + 210) * 0.2 * 1 * 86_400;
    expect(u!.logStoredBytes).toBeCloseTo(log, 3);
    const storageGb = (100 * (600 * 24 * 15 + 2_000 * 24 * 400) + log) / GB;
    const onDemand = ((wru * SECONDS_PER_MONTH) / 1e6) * 0.625 + ((rru * SECONDS_PER_MONTH) / 1e6) * 0.125 + storageGb * 0.25;
    // Provisioned at 70 % utilisation: capacity = consumed ÷ 0.7, billed by the unit-hour; the steady load takes it.
    const provisioned = ((wru * 0.00065 + rru * 0.00013) / 0.7) * 730 + storageGb * 0.25;
    expect(d.service === 'DynamoDB' && d.usage).toMatchObject({ mode: 'provisioned', targetUtilization: 0.7 });
    expect(d.service === 'DynamoDB' && d.usage.onDemandUsd).toBeCloseTo(onDemand, 6);
    expect(line(ours, 'DynamoDB')).toBeCloseTo(provisioned, 6);
    expect(provisioned).toBeLessThan(onDemand / 2);
    // A cache of 100 items holds a quarter of a fold's 400: three quarters of the hour items are read too.
    const small = costModel(WORKLOAD, MEASURED, { ...DEFAULT_CONFIG, rollupItemCache: 100 }).scenarios[0]!;
    const sd = small.lines.find((l) => l.service === 'DynamoDB')!;
    expect(sd.service === 'DynamoDB' && sd.usage.rcuPerSecond).toBeCloseTo((300 + 100 / 12 + 100 * (11 / 12) * 0.75) / 300 + 1 / 300, 9);
    // naive: 2 WCU per event, no reads, its own items.
    const naiveGb = (100 * (60 * 300 * 24 * 15 + 300 * 24 * 400)) / GB;
    expect(line(naive, 'DynamoDB')).toBeCloseTo(((2000 * 0.00065) / 0.7) * 730 + naiveGb * 0.25, 6);
    // Priced on demand when asked to assume a utilisation at which provisioning costs more.
    const idle = costModel(WORKLOAD, MEASURED, { ...DEFAULT_CONFIG, dynamoTargetUtilizationPercent: 20 }).scenarios[1]!;
    expect(line(idle, 'DynamoDB')).toBeCloseTo(2000 * 2.628 * 0.625 + naiveGb * 0.25, 6);
  });

  it('folds sooner when foldCommits commits come before the fold interval, and spans fewer minutes then', () => {
    // 16 commits of 5 s: a fold every 80 s; 2.33 minutes spanned instead of 6: 1 + 3 × 2.33/6 items per series.
    const r = costModel(WORKLOAD, MEASURED, { ...DEFAULT_CONFIG, foldCommits: 16 }).scenarios[0]!;
    const d = r.lines.find((l) => l.service === 'DynamoDB')!;
    const u = d.service === 'DynamoDB' ? d.usage.log! : undefined;
    expect(u!.foldSeconds).toBe(80);
    expect(u!.foldItemsPerFold).toBeCloseTo(100 * (1 + (3 * (80 / 60 + 1)) / 6), 6);
    expect(u!.headWcuPerWrite).toBe(1); // 2 WCU × 16/60, never under 1
  });

  it('spreads segments over metrics: one segment per metric touched on the shard', () => {
    // 10 metrics on the one shard: 10 segments of 15 entries (1,606 B: 2.07 WCU) a commit.
    const r = costModel({ ...WORKLOAD, metrics: 10 }, MEASURED).scenarios[0]!;
    const d = r.lines.find((l) => l.service === 'DynamoDB')!;
    const u = d.service === 'DynamoDB' ? d.usage.log! : undefined;
    expect(u!.segmentsPerBatch).toBeCloseTo(10, 6);
    expect(u!.wcu.segments).toBeCloseTo(0.2 * 10 * expectedKb(1500 + 106), 9);
  });

  it('adds the fold\'s CPU to the rollup\'s Lambda time', () => {
    const noFold = costModel(WORKLOAD, { ...MEASURED, rollupFoldRate: Number.POSITIVE_INFINITY }).scenarios[0]!;
    const gbs = (s: Scenario) => {
      const l = s.lines.find((x) => x.service === 'Lambda')!;
      return l.service === 'Lambda' ? l.usage.gbSeconds : 0;
    };
    expect(gbs(ours) - gbs(noFold)).toBeCloseTo(E * gbSecondsPerEvent(1_000_000, 1024, 1.5), 3);
  });

  it('prices the Parquet archive and its compaction in S3', () => {
    // Archive invocations: max(1 shard / 20 s, 4/10,000, 20 kB/6 MB) = 0.05/s → 131,400 objects.
    const objects = 0.05 * SECONDS_PER_MONTH;
    const expected = ((E * 15) / GB) * 0.023 + ((objects + 730) / 1000) * 0.005 + (objects / 1000) * 0.0004;
    expect(line(ours, 'S3')).toBeCloseTo(expected, 6);
  });

  it('bills Firehose on 5 KB per 200 B event, ingestion plus format conversion', () => {
    expect(line(firehose, 'Firehose')).toBeCloseTo(((E * 5120) / GB) * (0.029 + 0.018), 6);
    expect(firehose.lines.map((l) => l.service)).toContain('Firehose');
    expect(ours.lines.map((l) => l.service)).not.toContain('Firehose');
  });

  it('prices Athena at the 10 MB minimum for small scans', () => {
    // One tenant-day of Parquet is 1,000 × 86,400 × 15 B = 1.3 GB, half the columns read.
    const perQuery = (1000 * 86_400 * 15) / 2;
    expect(line(ours, 'Athena')).toBeCloseTo(((10 * perQuery) / 1024 ** 4) * 5, 9);
    expect(costModel({ ...WORKLOAD, eventsPerSecond: 0.001 }, MEASURED).scenarios[0]!.lines.find((l) => l.service === 'Athena')!.monthlyUsd).toBeCloseTo(
      ((10 * 10 * 1024 * 1024) / 1024 ** 4) * 5,
      12,
    );
  });

  it('totals the lines and ranks ours below both baselines', () => {
    for (const s of report.scenarios) {
      expect(s.totalUsd).toBeCloseTo(s.lines.reduce((a, l) => a + l.monthlyUsd, 0), 9);
      expect(s.usdPerBillionEvents).toBeCloseTo((s.totalUsd / E) * 1e9, 9);
    }
    expect(ours.totalUsd).toBeLessThan(naive.totalUsd);
    expect(ours.totalUsd).toBeLessThan(firehose.totalUsd);
  });

  it('takes function memory and batching settings from lib/functions.ts', () => {
    expect(DEFAULT_CONFIG).toMatchObject({
      intakeMemoryMb: 1024,
      rollupMemoryMb: 1024,
      archiveMemoryMb: 2048,
      rollupWindowSeconds: 5,
      rollupBatchSize: 10_000,
      rollupParallelization: 1,
      foldIntervalSeconds: 300,
      foldCommits: 64,
      logTtlDays: 1,
      sweepSeconds: 300,
      partitionBuckets: 64,
      eventsPerRequest: 500,
    });
  });
});

describe('the rollup log against the bench', () => {
  it('reproduces each write-cost run\'s measured segment and manifest WCU within 11 %', () => {
    for (const p of FALLBACK.writePoints) {
      const c = checkAgainstRun(p);
      expect(Math.abs(c.modelled - c.measured) / c.measured, `${p.seriesPerBatch} series: ${c.modelled} vs ${c.measured}`).toBeLessThan(0.11);
    }
  });

  it('interpolates a run\'s figure on a log scale of events per series per batch, clamped at the ends', () => {
    const at = (eventsPerSeries: number, bytes: number): WritePoint => ({ ...POINT, seriesPerBatch: 10_000 / eventsPerSeries, bytesPerEntry: bytes });
    const points = [at(100, 160), at(10, 60), at(1, 50)];
    expect(interpolate(points, Math.sqrt(10), (p) => p.bytesPerEntry)).toBeCloseTo(55, 9);
    expect(interpolate(points, 1000, (p) => p.bytesPerEntry)).toBe(160);
    expect(interpolate(points, 0.1, (p) => p.bytesPerEntry)).toBe(50);
  });

  it('bills a segment half a KB of rounding on average, never under 1 WCU', () => {
    expect(expectedKb(100)).toBe(1);
    expect(expectedKb(2048)).toBe(2.5);
  });
});

describe('partition keys', () => {
  it('spread a metric over the next power of two of the shards its key needs', () => {
    expect([1, 1.5, 9, 16, 17].map(nextPowerOfTwo)).toEqual([1, 2, 16, 16, 32]);
    // 10 tenants × 64 buckets; 18.76 MB/s is 29 KB/s a key; 18.76 GB/s is 28 MiB/s a key: K = 32.
    expect(metricSpread(18.76e6, 10, 1000, 64)).toEqual({ keysPerTenant: 64, spread: 1 });
    expect(metricSpread(18.76e9, 10, 1_000_000, 64)).toEqual({ keysPerTenant: 64, spread: 32 });
    // Fewer metrics than buckets: only the buckets holding one carry events.
    expect(metricSpread(4 * 1024 * 1024, 1, 2, 64)).toEqual({ keysPerTenant: 2, spread: 2 });
  });
});

describe('large loads and their limits', () => {
  const requested: Workload = { ...WORKLOAD, tenants: 10 };
  const [small, tenM, oneB] = scaleReports(requested, MEASURED);
  const limit = (s: { limits: readonly LimitCheck[] }, name: string) => s.limits.find((l) => l.name.startsWith(name))!;
  const binding = (s: { limits: readonly LimitCheck[] }) => s.limits.filter((l) => l.status === 'binds').map((l) => l.name);

  it('prints the requested load beside 10 M and 1 B events/s, with metrics at series ÷ 100', () => {
    expect([small!.name, tenM!.name, oneB!.name]).toEqual(['requested', '10M events/s', '1B events/s']);
    expect(tenM!.workload).toMatchObject({ eventsPerSecond: 1e7, series: 1e7, metrics: 1e5, tenants: 10, eventBytes: 200 });
    expect(oneB!.workload).toMatchObject({ eventsPerSecond: 1e9, series: 1e8, metrics: 1e6 });
    // 20 B per event: 200 MB/s is 191 shards, 20 GB/s is 19,074.
    expect([small!.shards, tenM!.shards, oneB!.shards]).toEqual([1, 191, 19_074]);
    expect(binding(small!)).toEqual([]);
  });

  it('finds the quotas that bind at 10 M events/s: the table\'s write throughput and API Gateway', () => {
    expect(binding(tenM!)).toEqual([
      'DynamoDB table write throughput (provisioned)',
      'DynamoDB table read throughput (provisioned)',
      'API Gateway requests (account)',
    ]);
    // Provisioned at 70 %: the quota bounds the capacity asked for, consumed ÷ 0.7; the table keeps
    // 300 s of the unused 30 % for bursts such as every shard's fold at once.
    const d = tenM!.wcuPerSecond;
    expect(limit(tenM!, 'DynamoDB table write').value).toBeCloseTo(d / 0.7, 6);
    expect(limit(tenM!, 'DynamoDB burst capacity').limit).toBeCloseTo(300 * (d / 0.7 - d), 3);
    expect(limit(tenM!, 'API Gateway')).toMatchObject({ value: 20_000, limit: QUOTAS.apiGatewayRps });
    expect(limit(tenM!, 'API Gateway').message).toMatch(/write to the stream directly/);
    expect(limit(tenM!, 'DynamoDB table write').message).toMatch(/request the table-level quota/);
  });

  it('finds what binds at 1 B events/s: shards per stream, the keys per tenant, DynamoDB, Lambda, API Gateway', () => {
    expect(binding(oneB!)).toEqual([
      'Kinesis shards per stream',
      'partition key (tenant × bucket) throughput',
      'DynamoDB table write throughput (provisioned)',
      'DynamoDB table read throughput (provisioned)',
      'Lambda concurrency (account)',
      'API Gateway requests (account)',
    ]);
    expect(limit(oneB!, 'Kinesis shards per stream').message).toMatch(/split tenants over 2 streams.*stream in those keys/);
    // 20 GB/s over 640 keys is 29.8 MiB/s a key: every metric spreads over 32 shards.
    expect(oneB!.spread).toBe(32);
    expect(limit(oneB!, 'partition key').message).toMatch(/K = 32 keys.*partitionBuckets/);
    // One rollup and one archive execution per shard, plus the intake.
    expect(limit(oneB!, 'Lambda concurrency').value).toBeGreaterThan(2 * 19_074);
    // The hot items stay far from 1,000 WCU/s per partition: one head write per commit and fold.
    expect(limit(oneB!, 'DynamoDB head item').status).toBe('ok');
    expect(limit(oneB!, 'DynamoDB item size').status).toBe('ok');
  });

  it('spreads a hot metric of 500,000 events/s over K = 16 keys, on at least 10 shards', () => {
    // 500,000 × 20 B = 9.5 MiB/s: 10 shards; K = 16; 16 keys hashed onto 16 shards hit 10.3 of them.
    const h = hotMetric(requested, MEASURED);
    expect(h).toMatchObject({ shardsNeeded: 10, keys: 16 });
    expect(h.landsOn).toBeCloseTo(16 * (1 - (15 / 16) ** 16), 9);
    expect(h.landsOn).toBeGreaterThanOrEqual(10);
    // 16 segments per round (one per shard) instead of one: at least 16 WCU, a little more than one big segment.
    expect(h.wcuPerRound).toBeGreaterThanOrEqual(h.wcuPerRoundOneShard);
  });
});

describe('targets', () => {
  it('compare ours at the reference load with the previous layout and the baselines', () => {
    const t = targetReport(MEASURED);
    expect(t.workload).toMatchObject({ eventsPerSecond: 1_000_000, eventBytes: 200, series: 100_000, tenants: 10 });
    expect(t.rows.map((r) => r.name)).toEqual(['ours', 'previous layout', 'naive', 'firehose']);
    expect(t.rows[1]).toMatchObject({ usdPerBillionEvents: 95.42, dynamoUsd: 242_003, wcuPerSecond: 147_000 });
    expect(t.rows[1]!.dynamoShare).toBeCloseTo(PREVIOUS_LAYOUT.dynamoUsd / PREVIOUS_LAYOUT.totalUsd, 9);
    expect(t.total.met).toBe(t.rows[0]!.usdPerBillionEvents <= 8);
    expect(t.dynamoShare.met).toBe(t.rows[0]!.dynamoShare <= 1 / 3);
  });
});

describe('measured figures', () => {
  it('picks the nearest series-per-batch on a log scale', () => {
    expect(nearestWritePoint(FALLBACK.writePoints, 5555).seriesPerBatch).toBe(10_000);
    expect(nearestWritePoint(FALLBACK.writePoints, 250).seriesPerBatch).toBe(100);
    expect(nearestWritePoint(FALLBACK.writePoints, 400).seriesPerBatch).toBe(1000);
  });

  it('reads results.json sections over the fallbacks', () => {
    // A write-cost run (bench/ids.ts WriteCostInfo): 120 batches of 10,000 events every 5 s.
    const run = {
      events: 1_200_000,
      batches: 120,
      batchSeconds: 5,
      foldSeconds: 300,
      series: 1000,
      itemsPerBatch: 1360,
      segments: 12_000,
      manifests: 120,
      logBytes: 10_607_653,
      logWcu: 17_160,
      bytesPerEntry: 65,
      headWrites: 121,
      headWcu: 583,
      folds: 1,
      foldItemsWritten: 3160,
      foldWcu: 3160,
      rcu: 3161,
      indexWrites: 0,
      coldIndexWrites: 1100,
      maxItemBytes: 742,
      p99ItemBytes: 653,
      maxLogItemBytes: 3000,
      naiveWrites: 2_400_000,
      naiveWcu: 2_400_000,
      stored1m: 6288,
      stored1h: 533,
      naiveStored1m: 16_636,
      naiveStored1h: 278,
    };
    const results = {
      sections: [
        {
          section: 'intake',
          ok: true,
          info: { avgEventBytes: 210 },
          figures: [
            { section: 'intake', name: 'Kinesis records per 1k events', value: 4, baseline: { value: 1000 } },
            { section: 'intake', name: 'bytes per event (data + key)', value: 18, baseline: { value: 230 } },
          ],
        },
        {
          section: 'rollup',
          ok: true,
          info: {
            // A quick run (24 batches, 2 minutes): its stored bytes are not used.
            [ROLLUP.info.writeCost(100)]: { ...run, events: 240_000, batches: 24, series: 100, naiveWcu: 480_000 },
            [ROLLUP.info.writeCost(1000)]: run,
            // A run of the first layout's bench (no log fields): left out.
            [ROLLUP.info.writeCost(10_000)]: { events: 600_000, batches: 60, foldWcu: 12_000, naiveWcu: 1_200_000 },
          },
          figures: [{ section: 'rollup', id: ROLLUP.figures.foldRate.id, name: ROLLUP.figures.foldRate.name, value: 1_000_000 }],
        },
        { section: 'archive', ok: false, figures: [{ section: 'archive', name: 'bytes/event (Parquet ZSTD)', value: 1 }] },
      ],
    };
    const { measured, fromResults } = measuredFromResults(results);
    expect(measured).toMatchObject({ intakeAvgEventBytes: 210, recordsPerEvent: 0.004, naiveRecordsPerEvent: 1, streamBytesPerEvent: 18, naiveStreamBytesPerEvent: 230, rollupFoldRate: 1_000_000 });
    const point = {
      eventsPerBatch: 10_000,
      batchSeconds: 5,
      foldSeconds: 300,
      itemsPerBatch: 1360,
      segmentsPerBatch: 100,
      bytesPerEntry: 65,
      logWcuPerBatch: 143,
      headWcuPerWrite: 583 / 121,
      headWritesPerBatch: 121 / 120,
      foldItemsPerFold: 3160,
      foldWcuPerItem: 1,
      rcuPerBatch: 3161 / 120,
      p99ItemBytes: 653,
      maxItemBytes: 742,
      maxLogItemBytes: 3000,
      naiveWcuPer1k: 2000,
    };
    // Without a full run's stored bytes: one item a minute and one an hour, of the p99 size + 100 B.
    const per = { '1m': 60 * 753, '1h': 753 };
    expect(measured.writePoints).toEqual([
      { ...point, seriesPerBatch: 100, rcuPerBatch: 3161 / 24, headWritesPerBatch: 121 / 24, logWcuPerBatch: 17_160 / 24, segmentsPerBatch: 500, storedPerSeriesHour: per, naiveStoredPerSeriesHour: per },
      { ...point, seriesPerBatch: 1000, storedPerSeriesHour: { '1m': 6288, '1h': 533 }, naiveStoredPerSeriesHour: { '1m': 16_636, '1h': 278 } },
    ]);
    // A failed section is ignored.
    expect(measured.parquetBytesPerEvent).toBe(FALLBACK.parquetBytesPerEvent);
    expect(fromResults).toContain('writePoints');
    expect(fromResults).not.toContain('parquetBytesPerEvent');
    expect(measuredFromResults(null).fromResults).toEqual([]);
  });

  it('finds figures by id, whatever their display name, and by name only in results without ids', () => {
    // Prepare
    const recorded = (id: string | undefined, name: string, value: number) => ({ section: 'intake', ...(id !== undefined && { id }), name, value, baseline: { value: 10 * value } });
    const results = (figures: object[]) => ({ sections: [{ section: 'intake', ok: true, info: {}, figures }] });

    // Act
    const renamed = measuredFromResults(results([recorded(INTAKE.figures.bytesPerEvent.id, 'bytes per event, renamed', 18)]));
    const otherId = measuredFromResults(results([recorded('intake/somethingElse', INTAKE.figures.bytesPerEvent.name, 18)]));
    const legacy = measuredFromResults(results([recorded(undefined, INTAKE.figures.bytesPerEvent.name, 18)]));

    // Assess
    expect(renamed.measured).toMatchObject({ streamBytesPerEvent: 18, naiveStreamBytesPerEvent: 180 });
    expect(otherId.fromResults).toEqual([]);
    expect(legacy.measured.streamBytesPerEvent).toBe(18);
  });

  it('parses the CLI flags', () => {
    const a = parseCostArgs(['--events-per-second', '5000', '--event-bytes=300', '--series', '10', '--json'], ROOT);
    expect(a.workload).toMatchObject({ eventsPerSecond: 5000, eventBytes: 300, series: 10 });
    expect(a.json).toBe(true);
    expect(() => parseCostArgs(['--events-per-second', '-1'], ROOT)).toThrow(/positive/);
    expect(() => parseCostArgs(['--nope'], ROOT)).toThrow(/unknown argument/);
    const w = parseCostArgs(['--write-fallbacks', '--results', 'r.json', '--fallbacks=f.json'], ROOT);
    expect(w).toMatchObject({ writeFallbacks: true, results: resolve('r.json'), fallbacks: resolve('f.json') });
    // Metric names, and what-if settings of the model.
    const c = parseCostArgs(['--metrics', '500', '--config', 'rollupBatchSize=10000,foldIntervalSeconds=900'], ROOT);
    expect(c.workload.metrics).toBe(500);
    expect(c.config).toEqual({ ...DEFAULT_CONFIG, rollupBatchSize: 10_000, foldIntervalSeconds: 900 });
    expect(parseCostArgs([], ROOT).workload.metrics).toBeUndefined();
    expect(() => parseCostArgs(['--config', 'nope=1'], ROOT)).toThrow(/unknown setting nope/);
    expect(() => parseCostArgs(['--config', 'foldCommits=0'], ROOT)).toThrow(/positive/);
  });
});

/** A full run's results.json (bench/run.ts `Results`) holding only the intake section. */
const INTAKE_RUN = {
  schema: 1,
  timestamp: '2026-12-01T10:00:00.000Z',
  quick: false,
  git: { commit: '0123456789abcdef0123456789abcdef01234567', branch: 'main', dirty: false },
  machine: { cpuCount: 2, cpuModel: 'AMD EPYC 7B13', node: 'v20.20.0' },
  sections: [
    {
      section: 'intake',
      ok: true,
      info: { avgEventBytes: 210 },
      figures: [
        { section: 'intake', id: INTAKE.figures.recordsPer1k.id, name: INTAKE.figures.recordsPer1k.name, value: 4, baseline: { value: 1000 } },
        { section: 'intake', id: INTAKE.figures.bytesPerEvent.id, name: INTAKE.figures.bytesPerEvent.name, value: 18, baseline: { value: 230 } },
      ],
    },
  ],
};

describe('Function: fallbacks', () => {
  it('are the committed file as the writer writes it, every figure from one named run', () => {
    // Act
    const text = readFileSync(FALLBACKS_FILE, 'utf8');

    // Assess
    expect(formatFallbacks(readFallbacks(FALLBACKS_FILE))).toBe(text);
    expect(FALLBACKS.runs.flatMap((r) => r.fields).sort()).toEqual([...MEASURED_FIELDS].sort());
    for (const r of FALLBACKS.runs) expect(r.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}/);
  });

  it('take the figures a full run measured and name that run; the other figures keep theirs', () => {
    // Prepare
    const loaded = measuredFromResults(INTAKE_RUN, FALLBACK);

    // Act
    const next = updateFallbacks(FALLBACKS, loaded, runOf(INTAKE_RUN, 'bench/results.json'), '2026-12-01T11:00:00.000Z');

    // Assess
    expect(next.measured).toMatchObject({ intakeAvgEventBytes: 210, recordsPerEvent: 0.004, streamBytesPerEvent: 18, naiveStreamBytesPerEvent: 230 });
    expect(next.measured.writePoints).toEqual(FALLBACK.writePoints);
    expect(next.runs.at(-1)).toEqual({
      timestamp: '2026-12-01T10:00:00.000Z',
      commit: '0123456789abcdef0123456789abcdef01234567',
      dirty: false,
      quick: false,
      machine: '2 × AMD EPYC 7B13, Node v20.20.0',
      results: 'bench/results.json',
      fields: ['intakeAvgEventBytes', 'recordsPerEvent', 'naiveRecordsPerEvent', 'streamBytesPerEvent', 'naiveStreamBytesPerEvent'],
    });
    // The earlier intake run keeps only the encode rates it measured.
    expect(next.runs.flatMap((r) => r.fields).sort()).toEqual([...MEASURED_FIELDS].sort());
    expect(next.runs.find((r) => r.fields.includes('intakeRate'))!.timestamp).toBe(FALLBACKS.runs.find((r) => r.fields.includes('intakeRate'))!.timestamp);
    expect(parseFallbacks(JSON.parse(formatFallbacks(next)), 'next')).toEqual(next);
  });

  it('refuse a quick run and a run without the figures the model reads', () => {
    // Prepare
    const quick = { ...INTAKE_RUN, quick: true };
    const empty = { ...INTAKE_RUN, sections: [] };

    // Act + Assess
    expect(() => updateFallbacks(FALLBACKS, measuredFromResults(quick), runOf(quick, 'q.json'), 'now')).toThrow(/q.json is a quick run/);
    expect(() => updateFallbacks(FALLBACKS, measuredFromResults(empty), runOf(empty, 'e.json'), 'now')).toThrow(/none of the figures/);
    expect(() => runOf({ sections: [] }, 'x.json')).toThrow(/not a bench results file/);
  });

  it('name what a broken file lacks', () => {
    // Prepare
    const { intakeRate: _, ...noRate } = FALLBACK;
    const intakeRun = FALLBACKS.runs.findIndex((r) => r.fields.includes('intakeRate'));

    // Act + Assess
    expect(() => parseFallbacks({ ...FALLBACKS, measured: noRate }, 'f.json')).toThrow(/f.json: measured.intakeRate is not a positive number/);
    expect(() => parseFallbacks({ ...FALLBACKS, runs: FALLBACKS.runs.filter((_, i) => i !== intakeRun) }, 'f.json')).toThrow(/no run says where .*intakeRate/);
    expect(() => parseFallbacks({ ...FALLBACKS, runs: [...FALLBACKS.runs, FALLBACKS.runs[0]] }, 'f.json')).toThrow(new RegExp(`claimed by runs\\[0\\] and runs\\[${FALLBACKS.runs.length}\\]`));
  });

  it('replace a file of an older shape only with a run that measured every figure', () => {
    // Prepare
    const full = { ...INTAKE_RUN, sections: [] };
    const everything = { measured: FALLBACK, fromResults: [...MEASURED_FIELDS], source: null };

    // Act
    const next = updateFallbacks(null, everything, runOf(full, 'bench/results.json'), 'now');

    // Assess
    expect(next.runs).toHaveLength(1);
    expect(next.runs[0]!.fields).toEqual([...MEASURED_FIELDS]);
    expect(() => updateFallbacks(null, measuredFromResults(INTAKE_RUN, FALLBACK), runOf(INTAKE_RUN, 'i.json'), 'now', 'f.json: old shape')).toThrow(
      /f.json: old shape, and i.json lacks intakeRate, .*writePoints/,
    );
  });
});

describe('Function: npm run cost', () => {
  it('prints a table with a total, and JSON with --json', () => {
    const run = (extra: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'bench/cost.ts', '--events-per-second', '1000', '--event-bytes', '200', '--series', '100', '--results', '/nonexistent/results.json', ...extra], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const table = run([]);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/TOTAL \/ month +\$[\d,.]+ +\$[\d,.]+ +\$[\d,.]+/);
    expect(table.stdout).toContain('all figures are FALLBACK');
    expect(table.stdout).toMatch(/total ≤ \$8\.00 per billion events: \$[\d.]+ — (met|NOT met)/);
    expect(table.stdout).toMatch(/previous layout +\$95\.42/);
    expect(table.stdout).toMatch(/limits at 1B events\/s[^]*BINDS Kinesis shards per stream/);
    expect(table.stdout).toMatch(/hot metric: [^]* K = 16 partition keys/);
    const json = run(['--json']);
    expect(json.status, json.stderr).toBe(0);
    const r = JSON.parse(json.stdout) as { scenarios: Scenario[]; targets: { rows: { name: string }[] }; scales: { name: string }[]; hotMetric: { keys: number } };
    expect(r.scenarios.map((s) => s.name)).toEqual(['ours', 'naive', 'firehose']);
    expect(r.scenarios[0]!.totalUsd).toBeGreaterThan(0);
    expect(r.targets.rows.map((x) => x.name)).toEqual(['ours', 'previous layout', 'naive', 'firehose']);
    expect(r.scales.map((x) => x.name)).toEqual(['requested', '10M events/s', '1B events/s']);
    expect(r.hotMetric.keys).toBe(16);
  });

  it('rewrites a fallbacks file from a results file with --write-fallbacks, and reports from it', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'streamfold-cost-'));
    try {
      const fallbacks = join(dir, 'fallbacks.json');
      const results = join(dir, 'results.json');
      copyFileSync(FALLBACKS_FILE, fallbacks);
      writeFileSync(results, JSON.stringify(INTAKE_RUN));
      const cost = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/cost.ts', '--fallbacks', fallbacks, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

      // Act
      const write = cost(['--write-fallbacks', '--results', results]);
      const report = cost(['--results', join(dir, 'none.json'), '--json']);
      writeFileSync(results, JSON.stringify({ ...INTAKE_RUN, quick: true }));
      const quick = cost(['--write-fallbacks', '--results', results]);

      // Assess
      expect(write.status, write.stderr).toBe(0);
      expect(write.stdout).toContain('5 figures from');
      expect(readFallbacks(fallbacks).measured.streamBytesPerEvent).toBe(18);
      expect(report.status, report.stderr).toBe(0);
      expect((JSON.parse(report.stdout) as { measured: Measured }).measured.streamBytesPerEvent).toBe(18);
      expect(quick.status).toBe(1);
      expect(quick.stderr).toMatch(/is a quick run/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
