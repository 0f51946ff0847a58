/**
 * Printing a cost report: the table of services by pipeline, one detail line per cost line (its
 * usage in words), and where the measured figures came from. Text only; every number is the
 * model's (`model.ts`).
 */
import type { LoadedMeasured } from './figures.ts';
import { checkAgainstRun, type LogUsage } from './log.ts';
import { QUOTAS_TAKEN } from './limits.ts';
import { DEFAULT_SERIES_PER_METRIC, MEASURED_FIELDS, metricsOf, type CostReport, type Measured, type Scenario } from './model.ts';
import type { HotMetricReport, ScaleReport, TargetReport } from './scale.ts';
import { GB, LAMBDA_FUNCTIONS, SERVICES, type CostLine } from './terms.ts';

const usd = (n: number) => `$${n.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 })}`;
/** 4 significant digits, whole numbers from 1,000 up. */
const num = (n: number) => (Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toLocaleString('en-US', { maximumSignificantDigits: 4 }));
const pct = (n: number) => `${(n * 100).toFixed(1)} %`;

/** A table: first column left-aligned, the others right-aligned, a rule under the header. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const fmt = (row: readonly string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [fmt(rows[0]!), widths.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(fmt)];
}

/** The rollup log's terms, per shard (a second detail line under DynamoDB). */
export function logDetail(u: LogUsage): string[] {
  return [
    `log: ${num(u.wcu.segments)} segments + ${num(u.wcu.manifests)} manifests + ${num(u.wcu.head)} head + ${num(u.wcu.fold)} fold + ${num(u.wcu.index)} index WRU/s; ${num(u.rcu.fold)} fold + ${num(u.rcu.head)} head RRU/s; ${num(u.logStoredBytes / GB)} GB of log kept`,
    `per shard: a commit every ${num(u.commitIntervalSeconds)} s of ${num(u.eventsPerBatch)} events: ${num(u.entriesPerBatch)} entries (${num(u.touchedPerBatch)} series × ${num(u.itemsPerTouchedSeries)}, ${num(u.eventsPerTouchedSeries)} events each, ${num(u.bytesPerEntry)} B) in ${num(u.segmentsPerBatch)} segments of ${num(u.segmentBytes / 1024)} KB (${num(u.segmentWcu)} WCU), a ${num(u.manifestWcu)} WCU manifest, a ${num(u.headWcuPerWrite)} WCU head (${num(u.unfoldedCommits)} unfolded); a fold every ${num(u.foldSeconds)} s writes ${num(u.foldItemsPerFold)} items × ${num(u.foldWcuPerItem)} WCU, reads ${num(u.foldReadsPerFold)} (cache hit ${pct(u.cacheHit)})`,
  ];
}

/** A line's usage in words. */
export function lineDetail(l: CostLine): string {
  switch (l.service) {
    case 'Kinesis': {
      const k = l.usage;
      return `${k.mode}: ${k.shards} shards (provisioned ${usd(k.provisionedUsd)}, on-demand ${usd(k.onDemandUsd)})`;
    }
    case 'Lambda': {
      const u = l.usage;
      const some = u.functions.length < LAMBDA_FUNCTIONS.length ? ` (${u.functions.join(' + ')})` : '';
      return `${num(u.gbSeconds / 1e6)} M GB-s, ${num(u.invocations / 1e6)} M invocations${some}`;
    }
    case 'DynamoDB': {
      const u = l.usage;
      return `${u.mode}: ${num(u.wcuPerSecond)} WRU/s, ${num(u.rcuPerSecond)} RRU/s, ${num(u.storageGb)} GB stored (provisioned at ${pct(u.targetUtilization)} utilisation ${usd(u.provisionedUsd)}, on-demand ${usd(u.onDemandUsd)})`;
    }
    case 'S3': {
      const u = l.usage;
      return `${num(u.storedBytes / GB / 1024)} TB/month stored, ${num(u.puts / 1e6)} M PUT, ${num(u.gets / 1e6)} M GET`;
    }
    case 'API Gateway':
      return `${num(l.usage.requests / 1e6)} M requests of ${l.usage.eventsPerRequest} events`;
    case 'Athena': {
      const u = l.usage;
      return `${u.queries} queries × ${num(u.bytesPerQuery / GB)} GB (one tenant-day${u.columnFraction < 1 ? `, ${u.columnFraction} of columns` : ''})`;
    }
    case 'Firehose': {
      const u = l.usage;
      return `${num(u.billedBytes / GB / 1024)} TB billed (${u.eventBytes} B events rounded to ${u.recordRoundingBytes / 1024} KB), ingestion + format conversion`;
    }
  }
}

/** The report with each line's detail beside its usage (what `--json` prints). */
export function withDetails(r: CostReport): CostReport & { readonly scenarios: readonly (Scenario & { readonly lines: readonly (CostLine & { readonly detail: string })[] })[] } {
  return { ...r, scenarios: r.scenarios.map((s) => ({ ...s, lines: s.lines.map((l) => ({ ...l, detail: lineDetail(l) })) })) };
}

/** The table printed by the CLI; `fallbacksFile` is where the fallbacks were read from. */
export function formatReport(r: CostReport, loaded?: LoadedMeasured, fallbacksFile = 'bench/cost/fallbacks.json'): string {
  const names = r.scenarios.map((s) => s.name);
  const rows: string[][] = [['service', ...names]];
  for (const service of SERVICES) {
    rows.push([
      service,
      ...r.scenarios.map((s) => {
        const line = s.lines.find((l) => l.service === service);
        return line ? usd(line.monthlyUsd) : '—';
      }),
    ]);
  }
  rows.push(['TOTAL / month', ...r.scenarios.map((s) => usd(s.totalUsd))]);
  rows.push(['$ per billion events', ...r.scenarios.map((s) => usd(s.usdPerBillionEvents))]);
  rows.push(['vs ours', ...r.scenarios.map((s) => `${(s.totalUsd / r.scenarios[0]!.totalUsd).toFixed(2)}×`)]);
  const w = r.workload;
  const lines = table(rows);
  const metrics = w.metrics === undefined ? `${num(metricsOf(w))} metrics (series ÷ ${DEFAULT_SERIES_PER_METRIC})` : `${num(w.metrics)} metrics`;
  const out = [
    `streamfold monthly cost, ${r.prices.region} list prices of ${r.prices.taken}: ${num(w.eventsPerSecond)} events/s × ${w.eventBytes} B, ${num(w.series)} series, ${metrics}, ${w.tenants} tenants, ${num(r.eventsPerMonth / 1e9)} billion events/month`,
    '',
    ...lines.slice(0, -3),
    lines[1]!,
    ...lines.slice(-3),
    '',
  ];
  for (const s of r.scenarios) {
    out.push(`${s.name}: ${s.description}`);
    for (const l of s.lines) {
      out.push(`  ${l.service.padEnd(11)} ${usd(l.monthlyUsd).padStart(14)}  ${lineDetail(l)}`);
      if (l.service === 'DynamoDB' && l.usage.log) for (const d of logDetail(l.usage.log)) out.push(`  ${''.padEnd(11)} ${''.padStart(14)}  ${d}`);
    }
  }
  if (loaded) {
    out.push('', loaded.source ? `measured figures from ${loaded.source}: ${loaded.fromResults.join(', ') || 'none'}` : `no results file: all figures are FALLBACK (${fallbacksFile})`);
    const fallbacks = MEASURED_FIELDS.filter((k) => !loaded.fromResults.includes(k));
    if (loaded.source && fallbacks.length > 0) out.push(`fallbacks used: ${fallbacks.join(', ')}`);
  }
  return out.join('\n');
}

/** Issue 15's targets at the reference load, ours beside the previous layout and the baselines. */
export function formatTargets(t: TargetReport): string {
  const w = t.workload;
  const rows = [
    ['at the target load', '$ per billion events', 'total / month', 'DynamoDB / month', 'DynamoDB share', 'share on demand', 'WRU/s'],
    ...t.rows.map((r) => [r.name, usd(r.usdPerBillionEvents), usd(r.totalUsd), usd(r.dynamoUsd), pct(r.dynamoShare), pct(r.dynamoShareOnDemand), num(r.wcuPerSecond)]),
  ];
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    `targets (issue 15) at ${num(w.eventsPerSecond)} events/s × ${w.eventBytes} B, ${num(w.series)} series, ${w.tenants} tenants:`,
    `  total ≤ ${usd(t.total.target)} per billion events: ${usd(t.total.value)} — ${met(t.total.met)}`,
    `  DynamoDB ≤ one third of the bill: ${pct(t.dynamoShare.value)} (${t.dynamoMode === 'provisioned' ? `provisioned capacity auto scaled at ${pct(t.dynamoTargetUtilization)}` : 'on demand'}) — ${met(t.dynamoShare.met)}`,
    ...(t.dynamoMode === 'provisioned'
      ? [`    on demand (the stack's default: deploy with -c rollupsWriteCapacity=min-max -c rollupsReadCapacity=min-max to provision): ${pct(t.rows[0]!.dynamoShareOnDemand)} — ${met(t.rows[0]!.dynamoShareOnDemand <= t.dynamoShare.target)}`]
      : []),
    '',
    ...table(rows),
    '  (previous layout: the issue\'s figures, measured on main before the log layout; not recomputed)',
  ].join('\n');
}

/** The requested and the large loads side by side, then the limits each runs into. */
export function formatScales(scales: readonly ScaleReport[]): string {
  const col = (f: (s: ScaleReport) => string) => scales.map(f);
  const rows = [
    ['load', ...col((s) => s.name)],
    ['events/s', ...col((s) => num(s.workload.eventsPerSecond))],
    ['series / metrics', ...col((s) => `${num(s.workload.series)} / ${num(s.workload.metrics)}`)],
    ['shards', ...col((s) => num(s.shards))],
    ['K (shards a metric spreads over)', ...col((s) => String(s.spread))],
    ['$ per billion events', ...col((s) => usd(s.usdPerBillionEvents))],
    ['total / month', ...col((s) => usd(s.totalUsd))],
    ['DynamoDB share', ...col((s) => pct(s.dynamoShare))],
    ['WRU/s, RRU/s', ...col((s) => `${num(s.wcuPerSecond)}, ${num(s.rcuPerSecond)}`)],
  ];
  const out = ['scale (ours; same event size, tenants and queries as requested):', '', ...table(rows)];
  const tag = { ok: 'ok   ', near: 'NEAR ', binds: 'BINDS' } as const;
  for (const s of scales) {
    out.push('', `limits at ${s.name} (quotas: us-east-1 defaults read ${QUOTAS_TAKEN}, bench/cost/limits.ts):`);
    for (const l of s.limits) out.push(`  ${tag[l.status]} ${l.name}: ${num(l.value)} of ${num(l.limit)} ${l.unit}. ${l.message}`);
  }
  return out.join('\n');
}

export function formatHotMetric(h: HotMetricReport): string {
  return [
    `hot metric: one metric of one tenant at ${num(h.eventsPerSecond)} events/s (${num(h.series)} series, assumed) is ${num(h.bytesPerSecond / 1024 / 1024)} MiB/s: it needs ${h.shardsNeeded} shards.`,
    `  The intake spreads it over K = ${h.keys} partition keys by series hash (K = the next power of two; a per-tenant setting or PutRecords throttling raises it, docs/ROLLUPS.md "Partition keys"):`,
    `  on ${h.streamShards >= h.keys ? `this load's ${num(h.streamShards)} shards` : `${h.keys} shards (this load's stream has ${num(h.streamShards)}; the metric alone needs ${h.shardsNeeded})`} its keys land on ≈ ${num(h.landsOn)} of them (expected, hashing ${h.keys} keys). Cost: ${h.keys} segments per batch round instead of 1, ${num(h.wcuPerRound)} WCU instead of ${num(h.wcuPerRoundOneShard)} (${num(h.wcuPerSecond)} WCU/s); a query of it reads ${h.keys} heads and ${h.keys} segment partitions.`,
  ].join('\n');
}

/** The model run on each bench run's own load beside what the run measured (segment and manifest WCU per batch). */
export function formatRunCheck(m: Measured): string {
  const parts = m.writePoints.map((p) => {
    const c = checkAgainstRun(p);
    return `${num(p.seriesPerBatch)} series ${num(c.modelled)} vs ${num(c.measured)} (${c.modelled >= c.measured ? '+' : ''}${(((c.modelled - c.measured) / c.measured) * 100).toFixed(1)} %)`;
  });
  return `log WCU per batch, model on the bench's own runs vs measured: ${parts.join('; ')}`;
}
