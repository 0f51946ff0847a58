/**
 * A small benchmark framework: sections, interleaved rate measurements with warm-up and
 * repetitions, figures beside their baselines, and the child-process protocol `bench/run.ts` uses
 * to run each section in its own process.
 *
 * Adding a section: its figures' ids and display names in `bench/ids.ts`, a file `bench/<name>.ts`
 * that ends with
 *
 *   const section = defineSection({
 *     name: ROLLUP.section,
 *     packages: ['@aws-sdk/client-dynamodb'],
 *     async run(ctx) {
 *       const m = await measureRates(ctx, { units: 10_000, fns: { ours: () => a(), naive: () => b() } });
 *       return [rateFigure({ ...ROLLUP.figures.steadyRate, unit: 'events/s', stats: m.ours,
 *                            baseline: { name: 'one UpdateItem per event', stats: m.naive } })];
 *     },
 *   });
 *   export default section;
 *   await runIfMain(import.meta.url, section);
 *
 * and one line in `SECTIONS` of `bench/run.ts`. `npx tsx bench/<name>.ts` runs it alone and prints
 * its table; `npm run bench -- --only <name>` runs it through the full harness.
 *
 * Progress goes to stderr. In `--json` mode the section's result is the one stdout line that starts
 * with `RESULT_MARKER`, so stray stdout from libraries cannot corrupt it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const RESULT_MARKER = '@@streamfold-bench-result@@ ';
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// Types

/** Distribution of the repetitions of one measurement (same unit as the figure). */
export interface Spread {
  readonly min: number;
  readonly p10: number;
  readonly p90: number;
  readonly max: number;
  /** Number of timed repetitions. */
  readonly n: number;
}

/** What a figure must reach. `met` is filled in by `finalizeFigure`. */
export interface Target {
  /** value ≥ min (for `better: 'higher'`) */
  readonly min?: number;
  /** value ≤ max (for `better: 'lower'`) */
  readonly max?: number;
  /** value / baseline ≥ minRatio */
  readonly minRatio?: number;
  /** value / baseline ≤ maxRatio */
  readonly maxRatio?: number;
  readonly met?: boolean;
  /** Human text, e.g. `≥ 500,000 events/s and ≥ 0.5× baseline`; derived when absent. */
  readonly text?: string;
}

export interface Baseline {
  readonly name: string;
  readonly value: number;
  readonly spread: Spread | null;
}

export interface Figure {
  readonly section: string;
  /** Stable id (`bench/ids.ts`) that readers find the figure by; absent in results written before ids. */
  readonly id?: string;
  /** Display name. */
  readonly name: string;
  readonly unit: string;
  /** Which direction is an improvement (rates: higher; latencies, bytes, writes: lower). */
  readonly better: 'higher' | 'lower';
  /** Median of the repetitions (or the exact value of a deterministic count). */
  readonly value: number;
  /** null for deterministic figures (counts, sizes). */
  readonly spread: Spread | null;
  /**
   * For rates: `wall` (elapsed time) or `cpu` (the process's user + system CPU time, all threads:
   * robust on a shared machine, and the cost Lambda bills for). Absent for other figures.
   */
  readonly clock?: Clock;
  readonly baseline?: Baseline;
  /** value / baseline.value (medians, measured interleaved in the same process). */
  readonly ratio?: number;
  readonly target?: Target;
  readonly note?: string;
}

/** A figure as a section returns it: the harness stamps the section, ratio and `target.met`. */
export type FigureInput = Omit<Figure, 'section' | 'ratio' | 'better'> & { better?: 'higher' | 'lower' };

export interface BenchContext {
  readonly section: string;
  readonly quick: boolean;
  /** Timed repetitions per measurement (fewer with `--quick`). */
  readonly reps: number;
  /** Untimed warm-up repetitions per measurement. */
  readonly warmup: number;
  /** Progress line to stderr. */
  log(message: string): void;
  /** Section-level facts recorded in results.json (fixture sizes, settings, breakdowns). */
  info(key: string, value: unknown): void;
}

export interface Section {
  readonly name: string;
  readonly description?: string;
  /**
   * Pin the section's process (all threads, GC included) to this many CPUs with `taskset`, when
   * available and when the machine has more. Used for "one core" figures.
   */
  readonly cpus?: number;
  /** npm packages whose versions matter to this section's figures (recorded in results.json). */
  readonly packages?: readonly string[];
  run(ctx: BenchContext): Promise<FigureInput[]>;
}

/** What one section's process reports. */
export interface SectionResult {
  readonly section: string;
  readonly description?: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly durationMs: number;
  readonly quick: boolean;
  readonly reps: number;
  readonly warmup: number;
  /** CPUs the process was pinned to, or null when not pinned. */
  readonly pinnedCpus: string | null;
  readonly packages: Record<string, string | null>;
  readonly info: Record<string, unknown>;
  readonly figures: Figure[];
}

export interface SectionOptions {
  readonly quick?: boolean;
  /** Pin to `section.cpus` when set. @default true */
  readonly pin?: boolean;
  readonly reps?: number;
  readonly warmup?: number;
}

export function defineSection(s: Section): Section {
  return s;
}

// ---------------------------------------------------------------------------------------------
// Measurement

export type Clock = 'wall' | 'cpu';

export interface RateStats extends Spread {
  /** Median rate. */
  readonly median: number;
  /** Every timed repetition's rate, in order. */
  readonly samples: readonly number[];
}

/** Rates by the clock the measurement was asked for, and by both clocks. */
export interface MeasuredRates extends RateStats {
  readonly clock: Clock;
  readonly wall: RateStats;
  readonly cpu: RateStats;
}

export interface MeasureOptions {
  /** Units of work one call of each function performs (events, requests, bytes...). */
  readonly units: number;
  /** Functions to measure; run round-robin within each repetition so they share the machine's noise. */
  readonly fns: Readonly<Record<string, () => unknown>>;
  /** @default ctx.reps */
  readonly reps?: number;
  /** @default ctx.warmup */
  readonly warmup?: number;
  /** Which time the rates divide by (both are recorded). @default 'wall' */
  readonly clock?: Clock;
  /**
   * Each timed repetition calls a function enough times to last at least this long (calibrated
   * on the last warm-up), so timer resolution and scheduling jitter stay small. @default 200 (50 quick)
   */
  readonly minRepMs?: number;
  /**
   * Collect garbage fully before each timed repetition (when `--expose-gc` is on), so one
   * function's garbage is not collected on another's time. Turn it off to measure a process that
   * runs the same work back to back, as a warm Lambda container does: V8 collects when it needs
   * to. A forced full collection slows the code that runs after it while the heap grows back (the
   * rollup: 7.8 and 5.6 us of CPU per event for the two batches after one, ~3.3 from the third on;
   * 3.8 -> 6.5 on average with one every 3 batches, the collections' own time not counted).
   * @default true
   */
  readonly gcBeforeReps?: boolean;
}

/** Keeps results alive so the optimizer cannot drop the measured work. */
let sink: unknown;
export function consume(v: unknown): void {
  sink = v;
}

/**
 * Measures the rate (units per second) of each function: warm-up calls, then `reps` timed
 * repetitions interleaved round-robin across functions (the order rotates each repetition), with
 * a full GC before each timed call when `--expose-gc` is on (unless `gcBeforeReps` is false).
 * Returns the median and spread per function.
 */
export async function measureRates<K extends string>(
  ctx: BenchContext,
  opts: MeasureOptions & { readonly fns: Readonly<Record<K, () => unknown>> },
): Promise<Record<K, MeasuredRates>> {
  const names = Object.keys(opts.fns) as K[];
  const reps = Math.max(1, opts.reps ?? ctx.reps);
  const warmup = Math.max(1, opts.warmup ?? ctx.warmup);
  const minRepMs = opts.minRepMs ?? (ctx.quick ? 50 : 200);
  const clock = opts.clock ?? 'wall';
  const gc = opts.gcBeforeReps === false ? undefined : (globalThis as { gc?: () => void }).gc;

  /** Wall and CPU milliseconds of `calls` calls. */
  const timeCalls = async (fn: () => unknown, calls: number): Promise<{ wall: number; cpu: number }> => {
    gc?.();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      const r = fn();
      consume(r instanceof Promise ? await r : r);
    }
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { wall, cpu: (c.user + c.system) / 1000 };
  };

  const calls = {} as Record<K, number>;
  for (const name of names) {
    let ms = 0;
    for (let w = 0; w < warmup; w++) ms = (await timeCalls(opts.fns[name], 1)).wall;
    calls[name] = Math.max(1, Math.ceil(minRepMs / Math.max(ms, 0.001)));
  }

  const wall = {} as Record<K, number[]>;
  const cpu = {} as Record<K, number[]>;
  for (const name of names) {
    wall[name] = [];
    cpu[name] = [];
  }
  for (let rep = 0; rep < reps; rep++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(rep + j) % names.length]!;
      const t = await timeCalls(opts.fns[name], calls[name]);
      const units = opts.units * calls[name];
      wall[name].push(units / (Math.max(t.wall, 0.001) / 1000));
      cpu[name].push(units / (Math.max(t.cpu, 0.001) / 1000));
    }
    const chosen = clock === 'cpu' ? cpu : wall;
    ctx.log(`  rep ${rep + 1}/${reps} (${clock}): ${names.map((n) => `${n} ${fmtNum(chosen[n].at(-1)!)}`).join(', ')}`);
  }

  const out = {} as Record<K, MeasuredRates>;
  for (const name of names) {
    const w = rateStats(wall[name]);
    const c = rateStats(cpu[name]);
    out[name] = { ...(clock === 'cpu' ? c : w), clock, wall: w, cpu: c };
  }
  return out;
}

export function rateStats(samples: readonly number[]): RateStats {
  const s = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5),
    min: s[0] ?? NaN,
    p10: quantile(s, 0.1),
    p90: quantile(s, 0.9),
    max: s.at(-1) ?? NaN,
    n: s.length,
    samples: [...samples],
  };
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function spreadOf(s: RateStats): Spread {
  return { min: s.min, p10: s.p10, p90: s.p90, max: s.max, n: s.n };
}

/** A rate figure from `measureRates` stats, optionally beside a baseline measured in the same run. */
export function rateFigure(f: {
  id?: string;
  name: string;
  unit: string;
  stats: RateStats | MeasuredRates;
  baseline?: { name: string; stats: RateStats | MeasuredRates };
  target?: Target;
  note?: string;
}): FigureInput {
  return {
    ...(f.id !== undefined && { id: f.id }),
    name: f.name,
    unit: f.unit,
    better: 'higher',
    value: f.stats.median,
    spread: spreadOf(f.stats),
    ...('clock' in f.stats && { clock: f.stats.clock }),
    ...(f.baseline && { baseline: { name: f.baseline.name, value: f.baseline.stats.median, spread: spreadOf(f.baseline.stats) } }),
    ...(f.target && { target: f.target }),
    ...(f.note !== undefined && { note: f.note }),
  };
}

/** Stamps section and ratio, and evaluates the target. */
export function finalizeFigure(section: string, f: FigureInput): Figure {
  const better = f.better ?? 'higher';
  const ratio = f.baseline && f.baseline.value !== 0 ? f.value / f.baseline.value : undefined;
  let target = f.target;
  if (target) {
    const parts: string[] = [];
    let met = true;
    if (target.min !== undefined) {
      parts.push(`≥ ${fmtNum(target.min)} ${f.unit}`);
      met &&= f.value >= target.min;
    }
    if (target.max !== undefined) {
      parts.push(`≤ ${fmtNum(target.max)} ${f.unit}`);
      met &&= f.value <= target.max;
    }
    if (target.minRatio !== undefined) {
      parts.push(`≥ ${target.minRatio}× baseline`);
      met &&= ratio !== undefined && ratio >= target.minRatio;
    }
    if (target.maxRatio !== undefined) {
      parts.push(`≤ ${target.maxRatio}× baseline`);
      met &&= ratio !== undefined && ratio <= target.maxRatio;
    }
    target = { ...target, text: target.text ?? parts.join(' and '), met };
  }
  return {
    section,
    ...(f.id !== undefined && { id: f.id }),
    name: f.name,
    unit: f.unit,
    better,
    value: f.value,
    spread: f.spread,
    ...(f.clock !== undefined && { clock: f.clock }),
    ...(f.baseline && { baseline: f.baseline }),
    ...(ratio !== undefined && { ratio }),
    ...(target && { target }),
    ...(f.note !== undefined && { note: f.note }),
  };
}

// ---------------------------------------------------------------------------------------------
// Running a section (in its own process)

export function parseSectionArgs(argv: readonly string[]): SectionOptions & { json: boolean } {
  const num = (flag: string): number | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : undefined;
  };
  const reps = num('--reps');
  const warmup = num('--warmup');
  return {
    json: argv.includes('--json'),
    quick: argv.includes('--quick'),
    pin: !argv.includes('--no-pin'),
    ...(reps !== undefined && { reps }),
    ...(warmup !== undefined && { warmup }),
  };
}

/** Runs a section in this process and returns its result; never throws. */
export async function runSection(section: Section, opts: SectionOptions = {}): Promise<SectionResult> {
  const quick = opts.quick ?? false;
  const reps = opts.reps ?? (quick ? 3 : 15);
  const warmup = opts.warmup ?? (quick ? 1 : 3);
  const pinnedCpus = section.cpus !== undefined && opts.pin !== false ? pinSelf(section.cpus) : null;
  const info: Record<string, unknown> = {};
  const ctx: BenchContext = {
    section: section.name,
    quick,
    reps,
    warmup,
    log: (m) => process.stderr.write(`[${section.name}] ${m}\n`),
    info: (k, v) => {
      info[k] = v;
    },
  };
  if (pinnedCpus !== null) ctx.log(`pinned to CPU ${pinnedCpus}`);
  const t0 = performance.now();
  let figures: Figure[] = [];
  let error: string | undefined;
  try {
    figures = (await section.run(ctx)).map((f) => finalizeFigure(section.name, f));
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  return {
    section: section.name,
    ...(section.description !== undefined && { description: section.description }),
    ok: error === undefined,
    ...(error !== undefined && { error }),
    durationMs: Math.round(performance.now() - t0),
    quick,
    reps,
    warmup,
    pinnedCpus,
    packages: packageVersions(section.packages ?? []),
    info,
    figures,
  };
}

/**
 * When `moduleUrl` is the process's entry point, runs the section: with `--json`, prints the result
 * line for `bench/run.ts`; otherwise prints its table.
 */
export async function runIfMain(moduleUrl: string, section: Section): Promise<void> {
  const entry = process.argv[1];
  if (entry === undefined || resolve(entry) !== fileURLToPath(moduleUrl)) return;
  const args = parseSectionArgs(process.argv.slice(2));
  const result = await runSection(section, args);
  if (args.json) {
    process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(result)}\n`);
  } else {
    if (result.error !== undefined) process.stderr.write(`${result.error}\n`);
    process.stdout.write(`${formatTable(result.figures)}\n`);
  }
  process.exitCode = result.ok ? 0 : 1;
}

/** Pins every thread of this process to the last `n` CPUs; returns the CPU list, or null. */
function pinSelf(n: number): string | null {
  const total = cpus().length;
  if (process.platform !== 'linux' || total <= n) return null;
  const list = Array.from({ length: n }, (_, i) => total - n + i).join(',');
  try {
    execFileSync('taskset', ['-a', '-p', '-c', list, String(process.pid)], { stdio: 'ignore' });
    return list;
  } catch {
    return null;
  }
}

/** Installed versions (from node_modules), null when not installed. */
export function packageVersions(names: readonly string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const name of names) {
    try {
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version?: string;
      };
      out[name] = pkg.version ?? null;
    } catch {
      out[name] = null;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** 1234567 -> "1,234,567"; small numbers keep 3 significant digits. */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString('en-US');
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(3);
}

function fmtSpread(s: Spread | null): string {
  if (s === null) return '';
  return `${fmtNum(s.p10)}–${fmtNum(s.p90)}`;
}

function fmtTarget(t: Target | undefined): string {
  if (!t) return '';
  return `${t.met ? 'met' : 'MISSED'}: ${t.text ?? ''}`;
}

/** Previous figures keyed by `section/name`, for `--compare`. */
export type PreviousFigures = ReadonlyMap<string, Figure>;

function deltaText(f: Figure, prev: PreviousFigures | undefined): string {
  const p = prev?.get(`${f.section}/${f.name}`);
  if (!p || p.value === 0) return prev ? 'new' : '';
  const d = (f.value / p.value - 1) * 100;
  const better = f.better === 'higher' ? d > 0 : d < 0;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%${Math.abs(d) >= 5 ? (better ? ' (better)' : ' (worse)') : ''}`;
}

interface Column {
  readonly head: string;
  readonly right?: boolean;
  cell(f: Figure): string;
}

function columns(prev?: PreviousFigures): Column[] {
  const cols: Column[] = [
    { head: 'section', cell: (f) => f.section },
    { head: 'figure', cell: (f) => f.name },
    { head: 'median', right: true, cell: (f) => `${fmtNum(f.value)} ${f.unit}` },
    { head: 'p10–p90', right: true, cell: (f) => fmtSpread(f.spread) },
    { head: 'clock', cell: (f) => f.clock ?? '' },
    { head: 'baseline', cell: (f) => f.baseline?.name ?? '' },
    { head: 'baseline median', right: true, cell: (f) => (f.baseline ? `${fmtNum(f.baseline.value)} ${f.unit}` : '') },
    { head: 'ratio', right: true, cell: (f) => (f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : '') },
    { head: 'target', cell: (f) => fmtTarget(f.target) },
  ];
  if (prev) cols.push({ head: 'vs previous', right: true, cell: (f) => deltaText(f, prev) });
  return cols;
}

/** Plain-text table, one figure per row, its baseline beside it. */
export function formatTable(figures: readonly Figure[], prev?: PreviousFigures): string {
  const cols = columns(prev);
  const rows = [cols.map((c) => c.head), ...figures.map((f) => cols.map((c) => c.cell(f)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (cols[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Markdown table of the same figures. */
export function formatMarkdownTable(figures: readonly Figure[], prev?: PreviousFigures): string {
  const cols = columns(prev);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${cols.map((c) => c.head).join(' | ')} |`,
    `|${cols.map((c) => (c.right ? '---:' : '---')).join('|')}|`,
    ...figures.map((f) => `| ${cols.map((c) => esc(c.cell(f))).join(' | ')} |`),
  ].join('\n');
}
