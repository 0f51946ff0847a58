/**
 * Smoke test of `npm run bench`: the harness runs the codec section in a child process and writes
 * a results file of the right shape. It asserts shape, never numbers: figures depend on the machine.
 * Results go to a temporary file, so a developer's bench/results.json is left alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finalizeFigure, formatTable, quantile, rateStats } from '../../bench/harness.ts';
import { fixtureStats, generateEvents } from '../../local/fixtures.ts';
import { validateEvent } from '../../functions/shared/event.ts';
import type { Results } from '../../bench/run.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('Function: npm run bench -- --quick --only codec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamfold-bench-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the codec section in its own process and writes results of the documented shape', () => {
    // Prepare
    const out = join(dir, 'results.json');

    // Act
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--quick', '--only', 'codec', '--out', out, '--reps', '2'],
      { cwd: ROOT, encoding: 'utf8', timeout: 90_000 },
    );

    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('decode + validate (decodeEvents)');
    expect(run.stdout).toContain('### streamfold benchmarks (quick)');
    const r = JSON.parse(readFileSync(out, 'utf8')) as Results;
    expect(r).toMatchObject({ schema: 1, quick: true });
    expect(r.machine.cpuCount).toBeGreaterThan(0);
    expect(r.machine.node).toBe(process.version);
    expect(typeof r.timestamp).toBe('string');
    expect(r.packages).toHaveProperty('tsx');
    expect(r.sections).toHaveLength(1);
    expect(r.sections[0]).toMatchObject({ section: 'codec', ok: true, quick: true, reps: 2 });
    expect(r.sections[0]!.info).toMatchObject({ events: expect.any(Number), avgEventBytes: expect.any(Number) });

    const byName = new Map(r.figures.map((f) => [f.name, f]));
    expect([...byName.keys()]).toEqual(['decode + validate (decodeEvents)', 'decode only (decodeRecord)', 'gunzip only']);
    const main = byName.get('decode + validate (decodeEvents)')!;
    expect(main).toMatchObject({ section: 'codec', unit: 'events/s', better: 'higher' });
    expect(main.value).toBeGreaterThan(0);
    expect(main.spread).toMatchObject({ n: 2 });
    expect(main.spread!.min).toBeLessThanOrEqual(main.value);
    expect(main.spread!.max).toBeGreaterThanOrEqual(main.value);
    expect(main.baseline).toMatchObject({ name: 'gunzip + JSON.parse per line', value: expect.any(Number) });
    expect(main.ratio).toBeCloseTo(main.value / main.baseline!.value, 6);
    expect(main.target).toMatchObject({ min: 500_000, minRatio: 0.5, met: expect.any(Boolean) });
  });
});

describe('Function: harness helpers', () => {
  it('computes quantiles and stats of the repetitions', () => {
    // Act
    const s = rateStats([30, 10, 20, 40, 50]);

    // Assess
    expect(s).toMatchObject({ median: 30, min: 10, max: 50, n: 5, samples: [30, 10, 20, 40, 50] });
    expect(quantile([10, 20], 0.5)).toBe(15);
    expect(s.p10).toBeCloseTo(14, 10);
  });

  it('stamps ratio and evaluates every part of a target', () => {
    // Prepare
    const spread = { min: 1, p10: 1, p90: 1, max: 1, n: 1 };
    const input = { name: 'x', unit: 'ev/s', value: 600, spread, baseline: { name: 'b', value: 1000, spread } };

    // Act
    const met = finalizeFigure('s', { ...input, target: { min: 500, minRatio: 0.5 } });
    const missed = finalizeFigure('s', { ...input, target: { min: 500, minRatio: 0.7 } });

    // Assess
    expect(met).toMatchObject({ section: 's', better: 'higher', ratio: 0.6, target: { met: true } });
    expect(met.target!.text).toBe('≥ 500 ev/s and ≥ 0.5× baseline');
    expect(missed.target!.met).toBe(false);
    expect(formatTable([met, missed])).toMatch(/met: .*\n.*MISSED/);
  });
});

describe('Function: bench fixtures', () => {
  it('generates the same valid events for the same seed', () => {
    // Act
    const now = Date.UTC(2026, 0, 1);
    const a = generateEvents(2_000, { seed: 7, now });
    const b = generateEvents(2_000, { seed: 7, now });

    // Assess
    expect(a).toEqual(b);
    for (const e of a) {
      expect(validateEvent(JSON.parse(JSON.stringify(e)), { now })).toMatchObject({ ok: true });
      expect(e.ts).toBeGreaterThan(now - 3_600_000);
      expect(e.ts).toBeLessThanOrEqual(now);
      expect(Object.keys(e.tags).length).toBeGreaterThanOrEqual(3);
      expect(Object.keys(e.tags).length).toBeLessThanOrEqual(6);
    }
    const s = fixtureStats(a);
    expect(s.names).toBeGreaterThan(30);
    expect(s.avgEventBytes).toBeGreaterThan(150);
    expect(s.avgEventBytes).toBeLessThan(260);
  });

  it('draws from a fixed pool of series with `series`, over every metric name and the three types', () => {
    // Act
    const now = Date.UTC(2026, 0, 1);
    const events = generateEvents(50_000, { seed: 7, now, tenants: 1, series: 2_000 });

    // Assess
    const s = fixtureStats(events);
    expect(s.series).toBe(2_000);
    expect(s.names).toBe(50);
    expect(Object.values(s.types).every((n) => n > 5_000)).toBe(true);
    expect(generateEvents(2_000, { seed: 7, now, tenants: 1, series: 2_000 })).toEqual(events.slice(0, 2_000));
    for (const e of events.slice(0, 500)) expect(validateEvent(JSON.parse(JSON.stringify(e)), { now })).toMatchObject({ ok: true });
    // Skewed: the most popular 1 % of the series carry about a tenth of the events.
    const perSeries = new Map<string, number>();
    for (const e of events) perSeries.set(`${e.name}${JSON.stringify(e.tags)}`, (perSeries.get(`${e.name}${JSON.stringify(e.tags)}`) ?? 0) + 1);
    const top = [...perSeries.values()].sort((a, b) => b - a).slice(0, 20).reduce((a, b) => a + b, 0);
    expect(top / events.length).toBeGreaterThan(0.07);
    expect(top / events.length).toBeLessThan(0.14);
    // The default is unchanged: tags drawn per event.
    expect(fixtureStats(generateEvents(20_000, { seed: 7, now, tenants: 1 })).series).toBeGreaterThan(8_000);
  });
});
