/**
 * The cost model (bench/cost/, its CLI bench/cost.ts): pure functions checked against hand-computed
 * figures for a small load (1,000 events/s, 200 B events, 100 series, 1 tenant), reading figures
 * out of a results file, the fallbacks file and its writer, and the CLI smoke (runs, prints a
 * total). No network.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCostArgs } from '../../bench/cost.ts';
import { FALLBACK, FALLBACKS, FALLBACKS_FILE, formatFallbacks, parseFallbacks, readFallbacks, runOf, updateFallbacks } from '../../bench/cost/fallbacks.ts';
import { measuredFromResults } from '../../bench/cost/figures.ts';
import { costModel, DEFAULT_CONFIG, MEASURED_FIELDS, nearestWritePoint, type Measured, type Scenario, type Workload } from '../../bench/cost/model.ts';
import { apiGatewayCost, gbSecondsPerEvent, kinesisCost, SECONDS_PER_MONTH } from '../../bench/cost/terms.ts';
import { INTAKE } from '../../bench/ids.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const GB = 1024 ** 3;

const WORKLOAD: Workload = { eventsPerSecond: 1000, eventBytes: 200, series: 100, tenants: 1, queriesPerMonth: 10 };
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
  archiveRate: 50_000,
  naiveArchiveRate: 100_000,
  writePoints: [
    {
      seriesPerBatch: 100,
      eventsPerBatch: 10_000,
      writesPer1k: 20,
      wcuPer1k: 20,
      rcuPer1k: 10,
      naiveWcuPer1k: 2000,
      storedPerSeriesHour: { '1m': 600, '1h': 2_000 },
      naiveStoredPerSeriesHour: { '1m': 60 * 300, '1h': 300 },
    },
  ],
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

  it('prices DynamoDB writes per touched series per batch, not per event, and reads per new item', () => {
    // One shard, one rollup batch a second of 1,000 events over 100 series: 100·(1 − e^−10) touched;
    // the measured point costs 20 WCU per 1k events at 10k events/100 series = 2 WCU per series-batch.
    // Reads: its 10 RCU per 1k events, one batch a minute, are 1 new item per series-minute; the
    // 20,000-item cache holds all 200 items, so 100 series × 1 ÷ 60 s.
    const touched = 100 * (1 - Math.exp(-10));
    const reads = (100 * (1 - Math.exp(-600))) / 60;
    // Storage: each series' bytes per hour of data, 15 days of the 1 m share, 400 days of the 1 h share.
    const storageGb = (100 * (600 * 24 * 15 + 2_000 * 24 * 400)) / GB;
    const expected = ((touched * 2 * SECONDS_PER_MONTH) / 1e6) * 0.625 + ((reads * SECONDS_PER_MONTH) / 1e6) * 0.125 + storageGb * 0.25;
    expect(line(ours, 'DynamoDB')).toBeCloseTo(expected, 6);
    // A cache of 50 items holds a quarter of the 200: three quarters of every batch's items are read too.
    const small = costModel(WORKLOAD, MEASURED, { ...DEFAULT_CONFIG, rollupItemCache: 50 }).scenarios[0]!;
    const smallReads = Math.min(touched * 2, reads + touched * 2 * 0.75);
    expect(line(small, 'DynamoDB') - line(ours, 'DynamoDB')).toBeCloseTo((((smallReads - reads) * SECONDS_PER_MONTH) / 1e6) * 0.125, 6);
    // naive: 2 WCU per event, no reads, its own items.
    const naiveGb = (100 * (60 * 300 * 24 * 15 + 300 * 24 * 400)) / GB;
    expect(line(naive, 'DynamoDB')).toBeCloseTo(2000 * 2.628 * 0.625 + naiveGb * 0.25, 6);
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
    expect(DEFAULT_CONFIG).toMatchObject({ intakeMemoryMb: 1024, rollupMemoryMb: 1024, archiveMemoryMb: 2048, rollupWindowSeconds: 1, eventsPerRequest: 500 });
  });
});

describe('measured figures', () => {
  it('picks the nearest series-per-batch on a log scale', () => {
    expect(nearestWritePoint(FALLBACK.writePoints, 5555).seriesPerBatch).toBe(10_000);
    expect(nearestWritePoint(FALLBACK.writePoints, 250).seriesPerBatch).toBe(100);
    expect(nearestWritePoint(FALLBACK.writePoints, 400).seriesPerBatch).toBe(1000);
  });

  it('reads results.json sections over the fallbacks', () => {
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
            // A quick run (10 batches): its stored bytes are not an hour's, so they are not used.
            writeCost100: { events: 100_000, batches: 10, foldItemsWritten: 2000, indexWrites: 0, foldWcu: 2000, rcu: 900, p99ItemBytes: 600, naiveWcu: 200_000, stored1m: 1, stored1h: 1, naiveStored1m: 1, naiveStored1h: 1 },
            writeCost1000: {
              events: 600_000,
              batches: 60,
              foldItemsWritten: 12_000,
              indexWrites: 0,
              foldWcu: 12_000,
              rcu: 5_400,
              naiveWcu: 1_200_000,
              stored1m: 400,
              stored1h: 2_500,
              naiveStored1m: 18_000,
              naiveStored1h: 300,
            },
          },
          figures: [],
        },
        { section: 'archive', ok: false, figures: [{ section: 'archive', name: 'bytes/event (Parquet ZSTD)', value: 1 }] },
      ],
    };
    const { measured, fromResults } = measuredFromResults(results);
    expect(measured).toMatchObject({ intakeAvgEventBytes: 210, recordsPerEvent: 0.004, naiveRecordsPerEvent: 1, streamBytesPerEvent: 18, naiveStreamBytesPerEvent: 230 });
    // Without an hour's stored bytes: one item a minute and one an hour, of the p99 size + 100 B.
    const per = { '1m': 60 * 700, '1h': 700 };
    expect(measured.writePoints).toEqual([
      { seriesPerBatch: 100, eventsPerBatch: 10_000, writesPer1k: 20, wcuPer1k: 20, rcuPer1k: 9, naiveWcuPer1k: 2000, storedPerSeriesHour: per, naiveStoredPerSeriesHour: per },
      {
        seriesPerBatch: 1000,
        eventsPerBatch: 10_000,
        writesPer1k: 20,
        wcuPer1k: 20,
        rcuPer1k: 9,
        naiveWcuPer1k: 2000,
        storedPerSeriesHour: { '1m': 400, '1h': 2_500 },
        naiveStoredPerSeriesHour: { '1m': 18_000, '1h': 300 },
      },
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
    expect(() => parseFallbacks({ ...FALLBACKS, runs: [...FALLBACKS.runs, FALLBACKS.runs[0]] }, 'f.json')).toThrow(/claimed by runs\[0\] and runs\[3\]/);
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
    const json = run(['--json']);
    expect(json.status, json.stderr).toBe(0);
    const r = JSON.parse(json.stdout) as { scenarios: Scenario[] };
    expect(r.scenarios.map((s) => s.name)).toEqual(['ours', 'naive', 'firehose']);
    expect(r.scenarios[0]!.totalUsd).toBeGreaterThan(0);
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
