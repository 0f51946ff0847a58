/**
 * `npm run cost`: the monthly AWS cost (us-east-1 list prices, `bench/prices.ts`) of running
 * streamfold at a given load, from the benchmark's measured figures, beside two baselines; then
 * issue 15's targets at their reference load (beside the previous rollup layout), the requested
 * load next to 10 M and 1 B events/s with the service limits each runs into, and one hot metric.
 *
 *   npm run cost -- --events-per-second 1000000 --event-bytes 200 --series 100000
 *   npm run cost -- ... --tenants 10 --metrics 1000 --queries-per-month 300 --results bench/results.json --json
 *   npm run cost -- ... --config rollupBatchSize=10000,foldIntervalSeconds=900   (what-if: any numeric Config field)
 *   npm run cost -- --write-fallbacks [--results bench/results.json]
 *
 * This file is the command line only. The model and its assumptions: `bench/cost/model.ts` (what
 * each service bills: `terms.ts`); reading results.json: `figures.ts`; the fallback figures used
 * where the results lack one: `fallbacks.json`, which `--write-fallbacks` rewrites from a full
 * bench run (`fallbacks.ts`); the rollup log's terms: `log.ts`; the limits: `limits.ts`; the
 * targets, large loads and hot metric: `scale.ts`; the printed report: `format.ts`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { FALLBACKS_FILE, FallbacksError, formatFallbacks, readFallbacks, runOf, updateFallbacks, type Fallbacks } from './cost/fallbacks.ts';
import { loadMeasured, measuredFromResults } from './cost/figures.ts';
import { formatHotMetric, formatReport, formatRunCheck, formatScales, formatTargets, withDetails } from './cost/format.ts';
import { costModel, DEFAULT_CONFIG, MEASURED_FIELDS, type Config, type Measured, type Workload } from './cost/model.ts';
import { hotMetric, scaleReports, targetReport } from './cost/scale.ts';

export interface CliArgs {
  readonly workload: Workload;
  /** The model's settings: DEFAULT_CONFIG with `--config` overrides. */
  readonly config: Config;
  readonly json: boolean;
  readonly results: string;
  /** The fallbacks file to read, and to rewrite with `--write-fallbacks`. */
  readonly fallbacks: string;
  readonly writeFallbacks: boolean;
}

export function parseCostArgs(argv: readonly string[], root: string): CliArgs {
  const w: { -readonly [K in keyof Workload]: Workload[K] } = { eventsPerSecond: 1_000_000, eventBytes: 200, series: 100_000, tenants: 10, queriesPerMonth: 300 };
  let json = false;
  let writeFallbacks = false;
  let results = join(root, 'bench', 'results.json');
  let fallbacks = FALLBACKS_FILE;
  const flags: Record<string, keyof Workload> = {
    '--events-per-second': 'eventsPerSecond',
    '--event-bytes': 'eventBytes',
    '--series': 'series',
    '--tenants': 'tenants',
    '--queries-per-month': 'queriesPerMonth',
    '--metrics': 'metrics',
  };
  const config: { -readonly [K in keyof Config]: Config[K] } = { ...DEFAULT_CONFIG };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const take = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--json') json = true;
    else if (flag === '--write-fallbacks') writeFallbacks = true;
    else if (flag === '--results') results = resolve(take());
    else if (flag === '--fallbacks') fallbacks = resolve(take());
    else if (flag === '--config') {
      for (const pair of take().split(',')) {
        const [key, value] = pair.split('=') as [string, string | undefined];
        const v = Number(value);
        if (!(key in DEFAULT_CONFIG)) throw new Error(`--config: unknown setting ${key} (known: ${Object.keys(DEFAULT_CONFIG).join(', ')})`);
        if (value === undefined || !Number.isFinite(v) || v <= 0) throw new Error(`--config ${key}: expected a positive number`);
        config[key as keyof Config] = v;
      }
    } else if (flag in flags) {
      const n = Number(take());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number`);
      w[flags[flag]!] = n;
    } else throw new Error(`unknown argument ${a} (known: ${[...Object.keys(flags), '--config', '--results', '--json', '--write-fallbacks', '--fallbacks'].join(', ')})`);
  }
  return { workload: w, config, json, results, fallbacks, writeFallbacks };
}

/** `--write-fallbacks`: the fallbacks file rewritten with every figure the results file holds; returns what to print. */
function writeFallbacksFrom(args: CliArgs, root: string): string {
  // A file of an older shape is replaced whole, by a run that measured every figure.
  let previous: Fallbacks | null = null;
  let unreadable: string | undefined;
  try {
    previous = readFallbacks(args.fallbacks);
  } catch (e) {
    if (!(e instanceof FallbacksError)) throw e;
    unreadable = `${e.message} (replacing it)`;
  }
  if (!existsSync(args.results)) throw new FallbacksError(`no results file ${args.results}: run \`npm run bench\` first`);
  const results: unknown = JSON.parse(readFileSync(args.results, 'utf8'));
  const loaded = measuredFromResults(results, previous?.measured ?? ({} as Measured));
  const next = updateFallbacks(previous, loaded, runOf(results, relative(root, args.results)), new Date().toISOString(), unreadable);
  writeFileSync(args.fallbacks, formatFallbacks(next));
  const changed = MEASURED_FIELDS.filter((k) => JSON.stringify(previous?.measured[k]) !== JSON.stringify(next.measured[k]));
  const run = next.runs.at(-1)!;
  return [
    `${relative(root, args.fallbacks)}: ${run.fields.length} figures from ${run.results} (run of ${run.timestamp}, commit ${run.commit?.slice(0, 12) ?? 'unknown'}${run.dirty ? ', dirty' : ''})`,
    `changed: ${changed.join(', ') || 'none'}`,
    ...(unreadable ? [`previous file: ${unreadable}`] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const root = resolve(import.meta.dirname, '..');
  let args: CliArgs;
  try {
    args = parseCostArgs(process.argv.slice(2), root);
  } catch (e) {
    process.stderr.write(`cost: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (args.writeFallbacks) {
    try {
      process.stdout.write(`${writeFallbacksFrom(args, root)}\n`);
    } catch (e) {
      if (!(e instanceof FallbacksError)) throw e;
      process.stderr.write(`cost: ${e.message}\n`);
      process.exit(1);
    }
    return;
  }
  const loaded = loadMeasured(args.results, readFallbacks(args.fallbacks).measured);
  const m = loaded.measured;
  const report = costModel(args.workload, m, args.config);
  const targets = targetReport(m, args.config);
  const scales = scaleReports(args.workload, m, args.config);
  const hot = hotMetric(args.workload, m, args.config);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...withDetails(report), targets, scales, hotMetric: hot, measured: m, fromResults: loaded.fromResults, source: loaded.source }, null, 2)}\n`);
    return;
  }
  const out = [formatReport(report, loaded, relative(root, args.fallbacks)), formatRunCheck(m), '', formatTargets(targets), '', formatScales(scales), '', formatHotMetric(hot)];
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
