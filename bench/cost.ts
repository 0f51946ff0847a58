/**
 * `npm run cost`: the monthly AWS cost (us-east-1 list prices, `bench/prices.ts`) of running
 * streamfold at a given load, from the benchmark's measured figures, beside two baselines.
 *
 *   npm run cost -- --events-per-second 1000000 --event-bytes 200 --series 100000
 *   npm run cost -- ... --tenants 10 --queries-per-month 300 --results bench/results.json --json
 *
 * This file is the command line only. The model and its assumptions: `bench/cost/model.ts` (what
 * each service bills: `terms.ts`); reading results.json: `figures.ts`; the fallback figures used
 * where the results lack one: `fallbacks.ts`; the printed table: `format.ts`.
 */
import { join, resolve } from 'node:path';
import { loadMeasured } from './cost/figures.ts';
import { formatReport, withDetails } from './cost/format.ts';
import { costModel, type Workload } from './cost/model.ts';

export interface CliArgs {
  readonly workload: Workload;
  readonly json: boolean;
  readonly results: string;
}

export function parseCostArgs(argv: readonly string[], root: string): CliArgs {
  const w: { -readonly [K in keyof Workload]: Workload[K] } = { eventsPerSecond: 1_000_000, eventBytes: 200, series: 100_000, tenants: 10, queriesPerMonth: 300 };
  let json = false;
  let results = join(root, 'bench', 'results.json');
  const flags: Record<string, keyof Workload> = {
    '--events-per-second': 'eventsPerSecond',
    '--event-bytes': 'eventBytes',
    '--series': 'series',
    '--tenants': 'tenants',
    '--queries-per-month': 'queriesPerMonth',
  };
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
    else if (flag === '--results') results = resolve(take());
    else if (flag in flags) {
      const n = Number(take());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number`);
      w[flags[flag]!] = n;
    } else throw new Error(`unknown argument ${a} (known: ${[...Object.keys(flags), '--results', '--json'].join(', ')})`);
  }
  return { workload: w, json, results };
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
  const loaded = loadMeasured(args.results);
  const report = costModel(args.workload, loaded.measured);
  if (args.json) process.stdout.write(`${JSON.stringify({ ...withDetails(report), measured: loaded.measured, fromResults: loaded.fromResults, source: loaded.source }, null, 2)}\n`);
  else process.stdout.write(`${formatReport(report, loaded)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
