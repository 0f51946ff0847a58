/**
 * The one definition of each function's settings: every environment variable a function reads
 * besides the resource names of lib/resources.ts, with its default, the values it accepts and a
 * line on what it does. The constructs (lib/constructs/) set these variables and check their props
 * against the same ranges and rules at synth (settingsEnvironment); the functions parse them once
 * at load (readSettings, functions/shared/config.ts) and fail fast naming the variable. The core
 * modules' defaults (DEFAULT_TTL_DAYS, DEFAULT_ZSTD_LEVEL, ...) are these. Pure data and pure
 * checks: no CDK, no SDK.
 *
 * One file for all five functions, not one per function: archive and compact share the Parquet
 * settings and every function the Powertools ones, and a shared setting is one object here, not
 * two copies that can drift. It lives in lib/ beside resources.ts for the same reason: lib/ may
 * import no function internals, and functions/ already import lib/resources.ts.
 */
import type { FunctionKey } from './functions.ts';
import { DEFAULT_PREFIX } from './resources.ts';

export interface IntegerSetting {
  readonly kind: 'integer';
  readonly envVar: string;
  /** Used when the variable is unset or blank. */
  readonly default: number;
  /** Smallest accepted value. */
  readonly min: number;
  /** Largest accepted value. */
  readonly max: number;
  /** Unit named in error messages ("a whole number of days in 1..3650"). @default - none */
  readonly unit?: string;
  /**
   * A duration that must not be shorter than another integer setting of the same function;
   * a contradiction is refused at synth and at load.
   * @default - no such rule
   */
  readonly notShorterThan?: { readonly setting: string; readonly why: string };
  readonly doc: string;
}

export interface ChoiceSetting<T extends string = string> {
  readonly kind: 'choice';
  readonly envVar: string;
  readonly default: T;
  /** Accepted values, matched without regard to case (as Powertools matches log levels). */
  readonly values: readonly T[];
  readonly doc: string;
}

export interface TextSetting {
  readonly kind: 'text';
  readonly envVar: string;
  readonly default: string;
  readonly doc: string;
}

export type SettingDef = IntegerSetting | ChoiceSetting | TextSetting;
export type SettingsTable = Readonly<Record<string, SettingDef>>;

/** What a setting parses to. */
export type SettingValue<S extends SettingDef> = S extends IntegerSetting
  ? number
  : S extends { readonly values: readonly (infer V)[] }
    ? V
    : string;

/** A function's parsed settings: one value per entry of its table. */
export type Settings<T extends SettingsTable> = { readonly [K in keyof T]: SettingValue<T[K]> };

/** Powertools Logger levels, least severe first. */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Powertools settings: set for every function by lib/constructs/function.ts. */
export const POWERTOOLS = {
  serviceName: {
    kind: 'text',
    envVar: 'POWERTOOLS_SERVICE_NAME',
    // Each function's table defaults it to the function's id, the value the construct sets.
    default: DEFAULT_PREFIX,
    doc: 'Powertools service name: the `service` of every log line and the service dimension of metrics',
  },
  logLevel: {
    kind: 'choice',
    envVar: 'POWERTOOLS_LOG_LEVEL',
    default: 'INFO',
    values: LOG_LEVELS,
    doc: 'Least severe level logged; at DEBUG a container also logs its settings when it starts',
  },
  metricsNamespace: {
    kind: 'text',
    envVar: 'POWERTOOLS_METRICS_NAMESPACE',
    default: DEFAULT_PREFIX,
    doc: 'CloudWatch namespace of the EMF metrics (the stack sets its prefix)',
  },
} as const satisfies SettingsTable;

const serviceName = <Id extends FunctionKey>(id: Id) => ({ ...POWERTOOLS.serviceName, default: id }) as const;

/** Parquet settings shared by the archive (which writes files) and compaction (which rewrites them). */
export const PARQUET = {
  zstdLevel: {
    kind: 'integer',
    envVar: 'ARCHIVE_ZSTD_LEVEL',
    // zstd's default: ~2x faster than 6 for ~5 % larger pages (bench/archive.ts).
    default: 3,
    min: 1,
    max: 22,
    doc: 'zstd level of Parquet pages',
  },
  rowGroupRows: {
    kind: 'integer',
    envVar: 'ARCHIVE_ROW_GROUP_ROWS',
    default: 100_000,
    min: 1_000,
    max: 10_000_000,
    doc: 'Rows per Parquet row group (rows are sorted by ts, so each group\'s min/max prunes by time)',
  },
} as const satisfies SettingsTable;

/**
 * The rollups' 1 h retention (ROLLUP_TTL_1H_DAYS): how long the rollup keeps 1 h items, and so the
 * oldest event the intake and the archive accept (an older one could not be rolled up). One
 * variable, set from one prop (the stack's `rollup.ttl1hDays`) on all three.
 */
const TTL_1H_DAYS = {
  kind: 'integer',
  envVar: 'ROLLUP_TTL_1H_DAYS',
  default: 400,
  min: 1,
  max: 3650,
  unit: 'days',
} as const;

/**
 * Per-tenant limits at the intake (functions/intake/limits.ts): the defaults a tenant has until
 * `npm run tenants -- limits <tenant> --<limit> N` stores its own with the tenant. Each is read
 * once per container from its variable (so a stack can change the defaults of all tenants).
 */
export const TENANT_LIMITS = {
  eventsPerSecond: {
    kind: 'integer',
    envVar: 'LIMIT_EVENTS_PER_SECOND',
    default: 20_000,
    min: 1,
    max: 10_000_000,
    unit: 'events/s',
    doc: 'Events a tenant may send per second (a token bucket holding one second of events)',
  },
  bytesPerSecond: {
    kind: 'integer',
    envVar: 'LIMIT_BYTES_PER_SECOND',
    default: 10_000_000,
    min: 1_000,
    max: 10_000_000_000,
    unit: 'bytes/s',
    doc: 'Serialized event bytes a tenant may send per second (a token bucket holding one second of bytes)',
  },
  newSeriesPerMinute: {
    kind: 'integer',
    envVar: 'LIMIT_NEW_SERIES_PER_MINUTE',
    default: 100_000,
    min: 1,
    max: 10_000_000,
    unit: 'series/min',
    doc: 'Series a tenant may start per clock minute',
  },
  seriesPerMetric: {
    kind: 'integer',
    envVar: 'LIMIT_SERIES_PER_METRIC',
    default: 100_000,
    min: 1,
    max: 100_000_000,
    unit: 'series',
    doc: 'Active series one metric of a tenant may have',
  },
  seriesPerTenant: {
    kind: 'integer',
    envVar: 'LIMIT_SERIES_PER_TENANT',
    default: 1_000_000,
    min: 1,
    max: 1_000_000_000,
    unit: 'series',
    doc: 'Active series a tenant may have over all its metrics',
  },
} as const satisfies SettingsTable;

/** The rollup's settings, shared by its consumer and its sweeper (functions/rollup/app.ts). */
const ROLLUP = {
  logLevel: POWERTOOLS.logLevel,
  metricsNamespace: POWERTOOLS.metricsNamespace,
  ttl1mDays: {
    kind: 'integer',
    envVar: 'ROLLUP_TTL_1M_DAYS',
    default: 15,
    min: 1,
    max: 3650,
    unit: 'days',
    doc: 'How long 1-minute buckets are kept: distribution minutes expire then, and older events no longer enter their minute',
  },
  ttl1hDays: {
    ...TTL_1H_DAYS,
    notShorterThan: { setting: 'ttl1mDays', why: 'count and gauge minutes live in 1 h items' },
    doc: 'How long 1-hour buckets, and the count and gauge minutes packed into them, are kept',
  },
  writeConcurrency: {
    kind: 'integer',
    envVar: 'ROLLUP_WRITE_CONCURRENCY',
    default: 16,
    min: 1,
    max: 256,
    doc: 'Conditional writes (and index updates) in flight',
  },
  readConcurrency: {
    kind: 'integer',
    envVar: 'ROLLUP_READ_CONCURRENCY',
    default: 4,
    min: 1,
    max: 64,
    doc: 'BatchGetItem calls in flight',
  },
  timeMarginMs: {
    kind: 'integer',
    envVar: 'ROLLUP_TIME_MARGIN_MS',
    default: 1_000,
    min: 0,
    max: 60_000,
    doc: "Time kept back from the invocation's budget to answer",
  },
  itemCacheEntries: {
    kind: 'integer',
    envVar: 'ROLLUP_ITEM_CACHE_ENTRIES',
    default: 20_000,
    // ~2-4 KB each (an hour item with packed minutes, its tags and watermarks): 200,000 is ~0.5-0.8 GB.
    min: 0,
    max: 200_000,
    doc: 'Folded items a container keeps between folds so it need not read them again (functions/rollup/cache.ts); 0 reads every item every fold',
  },
  foldIntervalSeconds: {
    kind: 'integer',
    envVar: 'ROLLUP_FOLD_INTERVAL_SECONDS',
    default: 300,
    min: 1,
    max: 3_600,
    unit: 's',
    doc: "How old a shard's oldest unfolded commit may get before the container folds its log into the series items (docs/ROLLUPS.md): longer is fewer item writes, more log for queries to merge",
  },
  foldCommits: {
    kind: 'integer',
    envVar: 'ROLLUP_FOLD_COMMITS',
    default: 64,
    min: 1,
    max: 256,
    doc: 'Unfolded commits of a shard that make the container fold whatever their age',
  },
  sweepAfterSeconds: {
    kind: 'integer',
    envVar: 'ROLLUP_SWEEP_AFTER_SECONDS',
    default: 600,
    min: 1,
    max: 86_400,
    unit: 's',
    doc: "How old a shard's oldest unfolded commit may get before the sweeper folds it (a shard that gets no more records is never folded by its own container)",
  },
} as const satisfies Omit<SettingsTable, 'serviceName'>;

export const SETTINGS = {
  intake: {
    serviceName: serviceName('intake'),
    logLevel: POWERTOOLS.logLevel,
    spread: {
      kind: 'integer',
      envVar: 'INTAKE_SPREAD',
      default: 1,
      min: 1,
      max: 64,
      doc: "Partition keys per metric, by series (functions/shared/codec.ts partitionKeyFor): a metric's series spread over up to this many shards; 1 keeps each metric on one shard (fewest rollup writes)",
    },
    partitionBuckets: {
      kind: 'integer',
      envVar: 'INTAKE_PARTITION_BUCKETS',
      default: 64,
      min: 1,
      max: 65_536,
      doc: "Partition-key buckets per tenant (metrics hash into them): a tenant spreads over at most this many shards before its metrics must spread by series; raise it for a tenant that needs more shards (bench/cost: at 1B events/s, shards ÷ tenants)",
    },
    rollupTtl1hDays: {
      ...TTL_1H_DAYS,
      doc: "The rollups' 1 h retention: an event older than that is refused with a reason (the rollups could not hold it)",
    },
    limitEventsPerSecond: TENANT_LIMITS.eventsPerSecond,
    limitBytesPerSecond: TENANT_LIMITS.bytesPerSecond,
    limitNewSeriesPerMinute: TENANT_LIMITS.newSeriesPerMinute,
    limitSeriesPerMetric: TENANT_LIMITS.seriesPerMetric,
    limitSeriesPerTenant: TENANT_LIMITS.seriesPerTenant,
  },
  query: {
    serviceName: serviceName('query'),
    logLevel: POWERTOOLS.logLevel,
    readConcurrency: {
      kind: 'integer',
      envVar: 'QUERY_READ_CONCURRENCY',
      default: 16,
      min: 1,
      max: 256,
      doc: 'Rollup reads (one Query per series) in flight',
    },
    maxSeries: {
      kind: 'integer',
      envVar: 'QUERY_MAX_SERIES',
      default: 1_000,
      min: 1,
      max: 100_000,
      doc: 'Most series one query may read; more is a 400 asking for a filter',
    },
    indexCacheMs: {
      kind: 'integer',
      envVar: 'QUERY_INDEX_CACHE_MS',
      default: 10_000,
      min: 0,
      max: 3_600_000,
      doc: "How long a metric's type and series index are reused (index-cache.ts); 0 reads them on every query",
    },
  },
  rollup: { serviceName: serviceName('rollup'), ...ROLLUP },
  sweep: { serviceName: serviceName('sweep'), ...ROLLUP },
  archive: {
    serviceName: serviceName('archive'),
    logLevel: POWERTOOLS.logLevel,
    metricsNamespace: POWERTOOLS.metricsNamespace,
    ...PARQUET,
    writeConcurrency: {
      kind: 'integer',
      envVar: 'ARCHIVE_WRITE_CONCURRENCY',
      default: 8,
      min: 1,
      max: 64,
      doc: 'Objects written at once',
    },
    rollupTtl1hDays: {
      ...TTL_1H_DAYS,
      doc: "The rollups' 1 h retention: an event older than that (plus 15 min, LIMITS.arrivalSlackMs) when its record reached the stream is quarantined with the reason, as the rollup skips it",
    },
    timeMarginMs: {
      kind: 'integer',
      envVar: 'ARCHIVE_TIME_MARGIN_MS',
      default: 2_000,
      min: 0,
      max: 60_000,
      doc: "Time kept back from the invocation's budget to answer",
    },
  },
  compact: {
    serviceName: serviceName('compact'),
    logLevel: POWERTOOLS.logLevel,
    ...PARQUET,
    targetMib: {
      kind: 'integer',
      envVar: 'COMPACT_TARGET_MIB',
      default: 128,
      min: 1,
      max: 4096,
      doc: 'Size an output file aims at, MiB',
    },
    maxRows: {
      kind: 'integer',
      envVar: 'COMPACT_MAX_ROWS',
      // Compaction holds an output's rows twice (merged, then sorted) at ~140 B a row of heap;
      // measured peak RSS was 0.7 GB for 1M rows and 1.16 GB for 2M (Node 20), so 4M rows fit a
      // 3 GB function. At 30-36 B a row on disk the byte target binds first; very compressible
      // data (~13 B a row) stops at ~50 MB files instead of 128 MiB.
      default: 4_000_000,
      min: 1_000,
      max: 100_000_000,
      doc: 'Most rows in one output file; memory grows with it',
    },
    graceMinutes: {
      kind: 'integer',
      envVar: 'COMPACT_GRACE_MINUTES',
      default: 10,
      min: 0,
      max: 24 * 60,
      doc: "How long after an hour ends its partition counts as closed (covers batching windows, retries and late records)",
    },
    lookbackHours: {
      kind: 'integer',
      envVar: 'COMPACT_LOOKBACK_HOURS',
      default: 48,
      min: 1,
      max: 24 * 400,
      doc: 'How many hours back a scheduled run looks for partitions to compact',
    },
    reserveMs: {
      kind: 'integer',
      envVar: 'COMPACT_RESERVE_MS',
      default: 60_000,
      min: 0,
      max: 900_000,
      doc: "Time kept back before the function's timeout: no new partition starts with less left",
    },
  },
} as const satisfies Record<FunctionKey, SettingsTable>;

/** The range a setting accepts, in words: "a whole number of days in 1..3650", "one of A, B". */
export function describeSetting(def: SettingDef): string {
  switch (def.kind) {
    case 'integer':
      return `a whole number${def.unit === undefined ? '' : ` of ${def.unit}`} in ${def.min}..${def.max}`;
    case 'choice':
      return `one of ${def.values.join(', ')}`;
    case 'text':
      return 'a non-empty string';
  }
}

/**
 * The one check of a value against its setting, for the functions (a parsed variable) and the
 * constructs (a prop): what is wrong with it ("must be a whole number in 1..22"), or undefined.
 */
export function settingProblem(def: SettingDef, value: unknown): string | undefined {
  let ok: boolean;
  switch (def.kind) {
    case 'integer':
      ok = typeof value === 'number' && Number.isInteger(value) && value >= def.min && value <= def.max;
      break;
    case 'choice':
      ok = typeof value === 'string' && choiceOf(def, value) !== undefined;
      break;
    case 'text':
      ok = typeof value === 'string' && value.trim() !== '';
      break;
  }
  return ok ? undefined : `must be ${describeSetting(def)}`;
}

/** The listed value `value` names, whatever its case. */
export function choiceOf<T extends string>(def: ChoiceSetting<T>, value: string): T | undefined {
  const wanted = value.toUpperCase();
  return def.values.find((v) => v.toUpperCase() === wanted);
}

/** A `notShorterThan` rule that `values` break: `setting` (`value`) is shorter than `other` (`otherValue`). */
export interface SettingConflict {
  readonly setting: string;
  readonly value: number;
  readonly other: string;
  readonly otherValue: number;
  readonly why: string;
}

/** The rules between settings of `table` that `values` (every key of the table) break. */
export function settingConflicts(table: SettingsTable, values: Readonly<Record<string, unknown>>): SettingConflict[] {
  const out: SettingConflict[] = [];
  for (const [setting, def] of Object.entries(table)) {
    if (def.kind !== 'integer' || def.notShorterThan === undefined) continue;
    const { setting: other, why } = def.notShorterThan;
    const value = values[setting];
    const otherValue = values[other];
    if (typeof value === 'number' && typeof otherValue === 'number' && value < otherValue) {
      out.push({ setting, value, other, otherValue, why });
    }
  }
  return out;
}

/**
 * For the constructs: the variables that give a function the `values` set (an unset one is left
 * to the function's default), checked at synth against the ranges and rules the function applies
 * when it starts. A bad or contradictory value throws naming the prop:
 * `<owner>: <labelPrefix><key> must be a whole number in 1..22, got 23`.
 */
export function settingsEnvironment<T extends SettingsTable>(
  owner: string,
  table: T,
  values: { readonly [K in keyof T]?: SettingValue<T[K]> | undefined },
  labelPrefix = '',
): Record<string, string> {
  const env: Record<string, string> = {};
  const effective: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(table)) {
    const value: unknown = values[key];
    if (value === undefined) {
      effective[key] = def.default;
      continue;
    }
    const problem = settingProblem(def, value);
    if (problem !== undefined) throw new Error(`${owner}: ${labelPrefix}${key} ${problem}, got ${String(value)}`);
    effective[key] = value;
    env[def.envVar] = String(value);
  }
  for (const c of settingConflicts(table, effective)) {
    throw new Error(
      `${owner}: ${labelPrefix}${c.setting} (${c.value}) must not be shorter than ${labelPrefix}${c.other} (${c.otherValue}): ${c.why}`,
    );
  }
  return env;
}
