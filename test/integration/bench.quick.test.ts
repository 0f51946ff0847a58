/**
 * Smoke test of the whole `npm run bench -- --quick`: every section runs in its own process (the
 * e2e and query sections start and stop an embedded stack) and reports its figures. It asserts
 * that each section ran and what it reported is well formed, never the numbers: they depend on
 * the machine. Results go to a temporary file, so a developer's bench/results.json is left alone.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SECTIONS, type Results } from '../../bench/run.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

describe('Function: npm run bench -- --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamfold-bench-quick-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every section and writes a figure for each, each beside its baseline where it has one', { timeout: 360_000 }, async () => {
    // Prepare
    const out = join(dir, 'results.json');

    // Act: a non-zero exit rejects with the output attached.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 330_000,
      maxBuffer: 16 * 1024 * 1024,
    });

    // Assess
    expect(stdout).toContain('### streamfold benchmarks (quick)');
    const r = JSON.parse(readFileSync(out, 'utf8')) as Results;
    expect(r.quick).toBe(true);
    expect(r.sections.map((s) => s.section)).toEqual(SECTIONS.map((s) => s.name));
    for (const s of r.sections) {
      expect(s, `${s.section}: ${s.error ?? ''}`).toMatchObject({ ok: true, quick: true });
      const figures = r.figures.filter((f) => f.section === s.section);
      expect(figures.length, s.section).toBeGreaterThan(0);
      for (const f of figures) {
        expect(Number.isFinite(f.value) && f.value >= 0, `${s.section} / ${f.name}: ${f.value}`).toBe(true);
        if (f.baseline !== undefined) expect(Number.isFinite(f.baseline.value), `${s.section} / ${f.name} baseline`).toBe(true);
      }
    }
    // The rollup section ran with the rollup function's Node.js flags.
    expect(r.sections.find((s) => s.section === 'rollup')!.info['nodeFlags']).toEqual(['--max-semi-space-size=64']);
  });
});
