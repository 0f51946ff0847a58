/**
 * `npm run bench`: runs every benchmark section, each in its own Node process, prints a table of
 * medians and spreads beside their baselines, writes `bench/results.json` (machine, versions, every
 * figure) and ends with a Markdown summary.
 *
 *   npm run bench                                   full run, writes bench/results.json
 *   npm run bench -- --quick                        fewer events and repetitions (smoke run)
 *   npm run bench -- --only codec,rollup            some sections
 *   npm run bench -- --out /tmp/r.json              write the results elsewhere
 *   npm run bench -- --compare old-results.json     add a "vs previous" column
 *   npm run bench -- --profile [dir]                also write a V8 CPU profile per section (default bench/profiles/)
 *   npm run bench -- --no-pin                       do not pin one-core sections to a CPU
 *   npm run bench -- --reps 30 --warmup 5           override repetition counts
 *
 * Adding a section: create `bench/<name>.ts` (see `bench/harness.ts`) and add it to `SECTIONS`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTIONS } from '../lib/functions.ts';
import {
  REPO_ROOT,
  RESULT_MARKER,
  formatMarkdownTable,
  formatTable,
  packageVersions,
  type Figure,
  type PreviousFigures,
  type SectionResult,
} from './harness.ts';

export interface SectionEntry {
  readonly name: string;
  /** Path relative to bench/. */
  readonly file: string;
  /** Node.js flags of the section's process: those the measured function runs with on Lambda. */
  readonly nodeFlags?: readonly string[];
}

/** Every section, in run order. */
export const SECTIONS: readonly SectionEntry[] = [
  { name: 'codec', file: 'codec.ts' },
  { name: 'intake', file: 'intake.ts' },
  { name: 'otlp', file: 'otlp.ts' },
  { name: 'rollup', file: 'rollup.ts', nodeFlags: FUNCTIONS.rollup.nodeOptions },
  { name: 'archive', file: 'archive.ts' },
  { name: 'query', file: 'query.ts' },
  { name: 'e2e', file: 'e2e.ts' },
  { name: 'emulators', file: 'emulators.ts' },
];

/** Packages recorded for every run; sections add their own. */
const CORE_PACKAGES = ['typescript', 'tsx'];

export interface RunArgs {
  readonly quick: boolean;
  readonly only: readonly string[] | null;
  readonly out: string;
  readonly compare: string | null;
  readonly profileDir: string | null;
  readonly pin: boolean;
  readonly reps: number | null;
  readonly warmup: number | null;
}

export interface Results {
  readonly schema: 1;
  readonly timestamp: string;
  readonly quick: boolean;
  readonly argv: readonly string[];
  readonly durationMs: number;
  readonly machine: {
    readonly cpuModel: string;
    readonly cpuCount: number;
    readonly totalMemMiB: number;
    readonly os: string;
    readonly arch: string;
    readonly node: string;
    readonly v8: string;
    readonly zlib: string | undefined;
    /** 1-minute load average before and after the run: a busy machine skews every figure. */
    readonly loadAvg1m: { readonly before: number; readonly after: number };
  };
  readonly git: { readonly commit: string | null; readonly branch: string | null; readonly dirty: boolean | null };
  readonly packages: Record<string, string | null>;
  readonly sections: readonly SectionResult[];
  readonly figures: readonly Figure[];
}

export function parseArgs(argv: readonly string[]): RunArgs {
  let quick = false;
  let only: string[] | null = null;
  let out: string | null = null;
  let compare: string | null = null;
  let profileDir: string | null = null;
  let pin = true;
  let reps: number | null = null;
  let warmup: number | null = null;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const count = (s: string, flag: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const take = (): string => inline ?? value(i++, flag);
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--only':
        only = take().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--out':
        out = take();
        break;
      case '--compare':
        compare = take();
        break;
      case '--profile': {
        const next = argv[i + 1];
        profileDir = inline ?? (next !== undefined && !next.startsWith('--') ? argv[++i]! : join(REPO_ROOT, 'bench', 'profiles'));
        break;
      }
      case '--no-pin':
        pin = false;
        break;
      case '--reps':
        reps = count(take(), flag);
        break;
      case '--warmup':
        warmup = count(take(), flag);
        break;
      default:
        throw new UsageError(`unknown argument ${a}`);
    }
  }
  if (only) {
    const known = new Set(SECTIONS.map((s) => s.name));
    const unknown = only.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      throw new UsageError(`unknown section ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
    }
  }
  return {
    quick,
    only,
    out: resolve(out ?? join(REPO_ROOT, 'bench', 'results.json')),
    compare,
    profileDir: profileDir === null ? null : resolve(profileDir),
    pin,
    reps,
    warmup,
  };
}

class UsageError extends Error {
  override name = 'UsageError';
}

/** Runs one section in a child process and returns its result (a failed result if it crashed). */
export async function runSectionProcess(entry: SectionEntry, args: RunArgs): Promise<SectionResult> {
  const file = join(REPO_ROOT, 'bench', entry.file);
  const nodeFlags = ['--expose-gc', ...(entry.nodeFlags ?? []), '--import', 'tsx'];
  if (args.profileDir !== null) {
    mkdirSync(args.profileDir, { recursive: true });
    nodeFlags.push('--cpu-prof', '--cpu-prof-dir', args.profileDir, '--cpu-prof-name', `${entry.name}-${Date.now()}.cpuprofile`);
  }
  const sectionArgs = ['--json'];
  if (args.quick) sectionArgs.push('--quick');
  if (!args.pin) sectionArgs.push('--no-pin');
  if (args.reps !== null) sectionArgs.push('--reps', String(args.reps));
  if (args.warmup !== null) sectionArgs.push('--warmup', String(args.warmup));

  const started = Date.now();
  const child = spawn(process.execPath, [...nodeFlags, file, ...sectionArgs], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
  });
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', (c, signal) => done(signal !== null ? -1 : c));
  });

  let result: SectionResult | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(RESULT_MARKER)) result = JSON.parse(line.slice(RESULT_MARKER.length)) as SectionResult;
    else if (line.trim() !== '') process.stderr.write(`[${entry.name}] (stdout) ${line}\n`);
  }
  if (result) return result;
  return {
    section: entry.name,
    ok: false,
    error: `section process exited with ${code} without a result`,
    durationMs: Date.now() - started,
    quick: args.quick,
    reps: args.reps ?? 0,
    warmup: args.warmup ?? 0,
    pinnedCpus: null,
    packages: {},
    info: {},
    figures: [],
  };
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function loadPrevious(path: string): PreviousFigures {
  const prev = JSON.parse(readFileSync(path, 'utf8')) as Partial<Results>;
  return new Map((prev.figures ?? []).map((f) => [`${f.section}/${f.name}`, f]));
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: RunArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n`);
    return 2;
  }
  const prev = args.compare !== null ? loadPrevious(args.compare) : undefined;
  const selected = SECTIONS.filter((s) => args.only === null || args.only.includes(s.name));
  const started = Date.now();
  const loadBefore = loadavg()[0]!;

  const sections: SectionResult[] = [];
  for (const entry of selected) {
    process.stderr.write(`\n== ${entry.name}${args.quick ? ' (quick)' : ''}\n`);
    const r = await runSectionProcess(entry, args);
    if (!r.ok) process.stderr.write(`[${entry.name}] FAILED: ${r.error ?? 'unknown error'}\n`);
    sections.push(r);
  }

  const figures = sections.flatMap((s) => s.figures);
  const cpu = cpus();
  const dirty = git(['status', '--porcelain']);
  const results: Results = {
    schema: 1,
    timestamp: new Date(started).toISOString(),
    quick: args.quick,
    argv: [...argv],
    durationMs: Date.now() - started,
    machine: {
      cpuModel: cpu[0]?.model ?? 'unknown',
      cpuCount: cpu.length,
      totalMemMiB: Math.round(totalmem() / 2 ** 20),
      os: `${platform()} ${release()}`,
      arch: arch(),
      node: process.version,
      v8: process.versions.v8,
      zlib: process.versions.zlib,
      loadAvg1m: { before: round2(loadBefore), after: round2(loadavg()[0]!) },
    },
    git: { commit: git(['rev-parse', 'HEAD']), branch: git(['rev-parse', '--abbrev-ref', 'HEAD']), dirty: dirty === null ? null : dirty !== '' },
    packages: { ...packageVersions(CORE_PACKAGES), ...Object.assign({}, ...sections.map((s) => s.packages)) },
    sections,
    figures,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);

  const out: string[] = ['', formatTable(figures, prev), ''];
  for (const s of sections) {
    for (const f of s.figures) if (f.note !== undefined) out.push(`note: ${s.section} / ${f.name}: ${f.note}`);
  }
  out.push('', markdownSummary(results, prev), '');
  out.push(`results: ${relative(process.cwd(), args.out) || args.out}`);
  if (args.profileDir !== null) out.push(`CPU profiles: ${args.profileDir} (open in Chrome DevTools > Performance)`);
  process.stdout.write(`${out.join('\n')}\n`);
  return sections.every((s) => s.ok) ? 0 : 1;
}

export function markdownSummary(r: Results, prev?: PreviousFigures): string {
  const m = r.machine;
  const lines = [
    `### streamfold benchmarks${r.quick ? ' (quick)' : ''}`,
    '',
    `${r.timestamp} · commit ${r.git.commit?.slice(0, 12) ?? 'unknown'}${r.git.dirty ? ' (dirty)' : ''} · ` +
      `${m.cpuCount} × ${m.cpuModel} · ${m.os} ${m.arch} · Node ${m.node} (zlib ${m.zlib ?? '?'}) · ` +
      `load ${m.loadAvg1m.before} → ${m.loadAvg1m.after}`,
    '',
    formatMarkdownTable(r.figures, prev),
  ];
  const missed = r.figures.filter((f) => f.target && !f.target.met);
  const met = r.figures.filter((f) => f.target?.met);
  if (met.length + missed.length > 0) {
    lines.push('', `Targets: ${met.length} met, ${missed.length} missed${missed.length ? ` (${missed.map((f) => `${f.section} / ${f.name}`).join('; ')})` : ''}.`);
  }
  for (const s of r.sections) {
    const pinned = s.pinnedCpus !== null ? `pinned to CPU ${s.pinnedCpus}, ` : '';
    lines.push(`- **${s.section}**: ${pinned}${s.reps} reps after ${s.warmup} warm-up, ${(s.durationMs / 1000).toFixed(1)} s${s.ok ? '' : ` — FAILED: ${firstLine(s.error)}`}; ${infoLine(s.info)}`);
  }
  return lines.join('\n');
}

function infoLine(info: Record<string, unknown>): string {
  return Object.entries(info)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`)
    .join(', ');
}

function firstLine(s: string | undefined): string {
  return (s ?? 'unknown error').split('\n')[0]!;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
