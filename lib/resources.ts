/**
 * The one definition of streamfold's stateful resources: names, key schemas and the environment
 * variables through which functions find them. The CDK stack (lib/) and the embedded stack
 * (local/) both build from this, so the two can never disagree. Pure data: no CDK, no SDK.
 */

export type KeyType = 'S' | 'N' | 'B';

export interface KeyDef {
  readonly name: string;
  readonly type: KeyType;
}

export interface TableDef {
  /** Logical id suffix used by CDK and the name suffix used everywhere. */
  readonly id: string;
  /** Environment variable that carries the table name to functions. */
  readonly envVar: string;
  readonly partitionKey: KeyDef;
  readonly sortKey?: KeyDef;
  /** Attribute holding the epoch-seconds expiry, when the table uses TTL. */
  readonly ttlAttribute?: string;
  readonly description: string;
}

/**
 * A table's capacity mode. On demand (the default) bills every request and suits a new, small or
 * spiky load. Provisioned capacity with target-tracking auto scaling bills capacity by the hour:
 * at a steady load and 70 % utilisation a write costs ~2.4× less (`npm run cost` prices both and
 * takes the cheaper at its steady load, as it does for Kinesis shards). Auto scaling reacts in
 * minutes: bursts above the provisioned rate spend the table's burst capacity (up to 300 s of
 * unused capacity), then throttle, and every writer retries throttles (functions/shared/retry.ts).
 */
export type TableCapacity = 'on-demand' | ProvisionedCapacity;

export interface ProvisionedCapacity {
  /** Write capacity units auto scaling keeps between. */
  readonly write: { readonly min: number; readonly max: number };
  /** Read capacity units auto scaling keeps between. */
  readonly read: { readonly min: number; readonly max: number };
  /**
   * Consumed ÷ provisioned capacity auto scaling aims at (20-90, DynamoDB's target-tracking range).
   * @default PROVISIONED_TARGET_UTILIZATION_PERCENT
   */
  readonly targetUtilizationPercent?: number;
}

/** Auto scaling's default target: 30 % headroom for a burst before capacity follows. */
export const PROVISIONED_TARGET_UTILIZATION_PERCENT = 70;

export interface StreamDef {
  readonly id: string;
  readonly envVar: string;
  /** Shards the embedded stack creates (the deployed stream is on-demand by default). */
  readonly localShards: number;
  readonly description: string;
}

export interface BucketDef {
  readonly id: string;
  readonly envVar: string;
  readonly description: string;
}

export const STREAM: StreamDef = {
  id: 'events',
  envVar: 'EVENTS_STREAM_NAME',
  localShards: 2,
  description: 'Every event, as gzip\'d NDJSON records under the partition-key rule',
};

export const TABLES = {
  rollups: {
    id: 'rollups',
    envVar: 'ROLLUPS_TABLE_NAME',
    partitionKey: { name: 'pk', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    ttlAttribute: 'ttl',
    description: 'Rollup buckets (1 m, 1 h), the series index and the metric list, per tenant',
  },
  tenants: {
    id: 'tenants',
    envVar: 'TENANTS_TABLE_NAME',
    partitionKey: { name: 'pk', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    description: 'Tenants and their API keys, stored only as SHA-256 hashes',
  },
  idempotency: {
    id: 'idempotency',
    envVar: 'IDEMPOTENCY_TABLE_NAME',
    partitionKey: { name: 'pk', type: 'S' },
    ttlAttribute: 'expiresAt',
    description: 'Intake Idempotency-Key records (24 h)',
  },
} as const satisfies Record<string, TableDef>;

export const BUCKETS = {
  archive: {
    id: 'archive',
    envVar: 'ARCHIVE_BUCKET_NAME',
    description: 'Parquet archive (events/) and quarantine (quarantine/)',
  },
} as const satisfies Record<string, BucketDef>;

export type TableKey = keyof typeof TABLES;
export type BucketKey = keyof typeof BUCKETS;

/** Default name prefix; the CDK stack takes it as a prop, the embedded stack uses it as is. */
export const DEFAULT_PREFIX = 'streamfold';

export interface ResourceNames {
  readonly stream: string;
  readonly tables: Readonly<Record<TableKey, string>>;
  readonly buckets: Readonly<Record<BucketKey, string>>;
}

/**
 * Physical names. Bucket names are global in AWS, so they carry the account and region; the
 * embedded stack passes the emulators' fixed account and region.
 */
export function resourceNames(prefix: string, account: string, region: string): ResourceNames {
  const tables = Object.fromEntries(
    Object.values(TABLES).map((t) => [t.id, `${prefix}-${t.id}`]),
  ) as Record<TableKey, string>;
  const buckets = Object.fromEntries(
    Object.values(BUCKETS).map((b) => [b.id, `${prefix}-${b.id}-${account}-${region}`]),
  ) as Record<BucketKey, string>;
  return { stream: `${prefix}-${STREAM.id}`, tables, buckets };
}

/** The environment variables that tell a function where each resource is. */
export function resourceEnv(names: ResourceNames): Record<string, string> {
  const env: Record<string, string> = { [STREAM.envVar]: names.stream };
  for (const [key, def] of Object.entries(TABLES)) env[def.envVar] = names.tables[key as TableKey];
  for (const [key, def] of Object.entries(BUCKETS)) env[def.envVar] = names.buckets[key as BucketKey];
  return env;
}
