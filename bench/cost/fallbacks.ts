/**
 * The cost model's fallback figures: `bench/cost/fallbacks.json`, used field by field where the
 * results file lacks a measurement. The file is written from a results file by
 * `npm run cost -- --write-fallbacks [--results <file>]`, never by hand: each field keeps the run
 * it came from (date, commit, machine), and a new run replaces the fields it measured.
 * This module owns the file's format: parsing and checking it (at load: a broken file stops every
 * cost run with the field it lacks), updating it from a run, and writing it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedMeasured } from './figures.ts';
import { MEASURED_FIELDS, type Measured, type WritePoint } from './model.ts';

export const FALLBACKS_FILE = join(import.meta.dirname, 'fallbacks.json');

/** One bench run the fallbacks took figures from. */
export interface FallbackRun {
  /** When the run started (results.json `timestamp`). */
  readonly timestamp: string;
  readonly commit: string | null;
  readonly dirty: boolean | null;
  readonly quick: boolean;
  /** CPUs, model and Node.js version of the machine. */
  readonly machine: string;
  /** The results file it was read from, or null for runs recorded before this file existed. */
  readonly results: string | null;
  readonly note?: string;
  /** The fields of `measured` taken from this run. */
  readonly fields: readonly (keyof Measured)[];
}

export interface Fallbacks {
  readonly about: string;
  /** When the file was last written. */
  readonly written: string;
  /** Every field of `measured` comes from exactly one run. */
  readonly runs: readonly FallbackRun[];
  readonly measured: Measured;
}

export const ABOUT =
  'Fallback figures of the cost model (bench/cost/), used per field where the results file lacks a measurement. ' +
  'Written by `npm run cost -- --write-fallbacks [--results <file>]` from a full bench run; do not edit by hand.';

export class FallbacksError extends Error {
  override name = 'FallbacksError';
}

const WRITE_POINT_FIELDS = [
  'seriesPerBatch',
  'eventsPerBatch',
  'batchSeconds',
  'foldSeconds',
  'itemsPerBatch',
  'segmentsPerBatch',
  'bytesPerEntry',
  'logWcuPerBatch',
  'headWcuPerWrite',
  'headWritesPerBatch',
  'foldItemsPerFold',
  'foldWcuPerItem',
  'rcuPerBatch',
  'p99ItemBytes',
  'maxItemBytes',
  'maxLogItemBytes',
  'naiveWcuPer1k',
] as const satisfies readonly (keyof WritePoint)[];

/** Checks a parsed fallbacks file; throws a `FallbacksError` naming what is wrong. */
export function parseFallbacks(json: unknown, source: string): Fallbacks {
  const fail = (what: string): never => {
    throw new FallbacksError(`${source}: ${what}`);
  };
  const f = json as Partial<Fallbacks> | null;
  if (!f || typeof f !== 'object') return fail('not a JSON object');
  if (typeof f.written !== 'string') fail('"written" is not a string');
  const m = f.measured as Partial<Record<keyof Measured, unknown>> | undefined;
  if (!m || typeof m !== 'object') return fail('no "measured" object');
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  for (const k of MEASURED_FIELDS) {
    if (k === 'writePoints') continue;
    const v = m[k];
    if (!finite(v) || v === 0) fail(`measured.${k} is not a positive number`);
  }
  const points = m.writePoints;
  if (!Array.isArray(points) || points.length === 0) return fail('measured.writePoints is not a non-empty array');
  points.forEach((p: Partial<Record<keyof WritePoint, unknown>>, i) => {
    for (const k of WRITE_POINT_FIELDS) if (!finite(p[k])) fail(`measured.writePoints[${i}].${k} is not a number`);
    for (const k of ['storedPerSeriesHour', 'naiveStoredPerSeriesHour'] as const) {
      const s = p[k] as Record<string, unknown> | undefined;
      if (!finite(s?.['1m']) || !finite(s?.['1h'])) fail(`measured.writePoints[${i}].${k} lacks 1m or 1h bytes`);
    }
  });
  if (!Array.isArray(f.runs)) return fail('"runs" is not an array');
  const owner = new Map<string, number>();
  f.runs.forEach((r, i) => {
    if (typeof r?.timestamp !== 'string' || !Array.isArray(r.fields)) fail(`runs[${i}] lacks a timestamp or its fields`);
    for (const k of r.fields) {
      if (!(MEASURED_FIELDS as readonly string[]).includes(k)) fail(`runs[${i}] names an unknown field ${k}`);
      if (owner.has(k)) fail(`${k} is claimed by runs[${owner.get(k)}] and runs[${i}]`);
      owner.set(k, i);
    }
  });
  const orphans = MEASURED_FIELDS.filter((k) => !owner.has(k));
  if (orphans.length > 0) fail(`no run says where ${orphans.join(', ')} came from`);
  return f as Fallbacks;
}

export function readFallbacks(path: string): Fallbacks {
  return parseFallbacks(JSON.parse(readFileSync(path, 'utf8')), path);
}

let committed: Fallbacks | undefined;
/**
 * The committed fallbacks (bench/cost/fallbacks.json), read on first use: a broken file stops the
 * cost run that needs it, not the `--write-fallbacks` that replaces it.
 */
export function committedFallbacks(): Fallbacks {
  committed ??= readFallbacks(FALLBACKS_FILE);
  return committed;
}

/** The run a parsed results.json describes (bench/run.ts `Results`), its fields still to be filled in. */
export function runOf(results: unknown, file: string): Omit<FallbackRun, 'fields'> {
  const r = results as {
    timestamp?: unknown;
    quick?: unknown;
    git?: { commit?: unknown; dirty?: unknown };
    machine?: { cpuCount?: unknown; cpuModel?: unknown; node?: unknown };
  } | null;
  if (typeof r?.timestamp !== 'string') throw new FallbacksError(`${file}: not a bench results file (no timestamp)`);
  const m = r.machine;
  return {
    timestamp: r.timestamp,
    commit: typeof r.git?.commit === 'string' ? r.git.commit : null,
    dirty: typeof r.git?.dirty === 'boolean' ? r.git.dirty : null,
    quick: r.quick === true,
    machine: `${String(m?.cpuCount ?? '?')} × ${String(m?.cpuModel ?? 'unknown CPU')}, Node ${String(m?.node ?? '?')}`,
    results: file,
  };
}

/**
 * The fallbacks after taking every field `loaded` read from the run `run` (loaded over
 * `previous.measured`): those fields now name this run; the others keep theirs. Pure. Refuses a
 * quick run (fewer repetitions, and a fifth of the event time the stored bytes need) and a run that
 * measured nothing. With no previous fallbacks (the file is of an older shape, `unreadable` says
 * why), the run must have measured every field.
 */
export function updateFallbacks(previous: Fallbacks | null, loaded: LoadedMeasured, run: Omit<FallbackRun, 'fields'>, written: string, unreadable = 'no previous fallbacks'): Fallbacks {
  if (run.quick) throw new FallbacksError(`${run.results ?? 'the results'} is a quick run: fallbacks come from a full \`npm run bench\``);
  const taken = new Set(loaded.fromResults);
  if (taken.size === 0) throw new FallbacksError(`${run.results ?? 'the results'} holds none of the figures the cost model reads`);
  const missing = MEASURED_FIELDS.filter((k) => !taken.has(k));
  if (previous === null && missing.length > 0) throw new FallbacksError(`${unreadable}, and ${run.results ?? 'the results'} lacks ${missing.join(', ')}: run the sections that measure them`);
  const kept = (previous?.runs ?? []).map((r) => ({ ...r, fields: r.fields.filter((k) => !taken.has(k)) })).filter((r) => r.fields.length > 0);
  const fields = MEASURED_FIELDS.filter((k) => taken.has(k));
  const measured = Object.fromEntries(MEASURED_FIELDS.map((k) => [k, loaded.measured[k]])) as unknown as Measured;
  return { about: ABOUT, written, runs: [...kept, { ...run, fields }], measured };
}

/** The file's text (fields in `MEASURED_FIELDS` order). */
export function formatFallbacks(f: Fallbacks): string {
  const measured = Object.fromEntries(MEASURED_FIELDS.map((k) => [k, f.measured[k]]));
  return `${JSON.stringify({ about: f.about, written: f.written, runs: f.runs, measured }, null, 2)}\n`;
}
