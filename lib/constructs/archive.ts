import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTIONS, type FunctionDef } from '../functions.ts';
import { SETTINGS, settingsEnvironment } from '../settings.ts';
import { ArchiveCatalog, type ArchiveCatalogProps } from './archive-catalog.ts';
import { StreamConsumer } from './consumer.ts';
import type { EventStream } from './event-stream.ts';
import { StreamfoldFunction, zstdWasmFile, type PowertoolsLogLevel } from './function.ts';
import type { Monitoring } from './monitoring.ts';
import type { Storage } from './storage.ts';

/**
 * The compaction settings functions/compact/app.ts reads; each is the entry of the same name in
 * SETTINGS.compact (lib/settings.ts), which holds its variable, range and default.
 */
export interface CompactionSettings {
  /**
   * Size an output file aims at (COMPACT_TARGET_MIB), 1..4096 MiB.
   * @default SETTINGS.compact.targetMib.default (128)
   */
  readonly targetMib?: number;
  /**
   * Most rows in one output file (COMPACT_MAX_ROWS), 1000..100000000. Memory grows with it: an
   * output file's rows are held twice (~140 B a row each).
   * @default SETTINGS.compact.maxRows.default (4000000)
   */
  readonly maxRows?: number;
  /**
   * How long after an hour ends its partition counts as closed (COMPACT_GRACE_MINUTES), 0..1440;
   * covers the consumers' batching windows, retries and late records.
   * @default SETTINGS.compact.graceMinutes.default (10)
   */
  readonly graceMinutes?: number;
  /**
   * How many hours back a scheduled run looks for partitions to compact (COMPACT_LOOKBACK_HOURS),
   * 1..9600; must reach past the grace period plus one schedule interval.
   * @default SETTINGS.compact.lookbackHours.default (48)
   */
  readonly lookbackHours?: number;
  /**
   * Time kept back before the function's timeout (COMPACT_RESERVE_MS): no new partition starts
   * with less left. Less than the function's timeout.
   * @default SETTINGS.compact.reserveMs.default (60000)
   */
  readonly reserveMs?: number;
}

/** Set on the compaction function even at their defaults, so its environment shows them. */
const COMPACTION_KEYS = ['targetMib', 'maxRows', 'graceMinutes', 'lookbackHours', 'reserveMs'] as const satisfies ReadonlyArray<
  keyof CompactionSettings & keyof typeof SETTINGS.compact
>;

export interface ArchiveProps {
  /** The stream whose events are archived. */
  readonly stream: EventStream;
  /** Owner of the archive bucket (and of its access-logs bucket, used by the catalog). */
  readonly storage: Storage;
  /**
   * Adds the archive consumer's iterator age, on-failure queue, error and throttle alarms, and the
   * compaction function's error and throttle alarms.
   * @default - not monitored
   */
  readonly monitoring?: Monitoring;
  /**
   * Name prefix (functions `<prefix>-archive`, `<prefix>-compact`; Glue and Athena names).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Powertools log level of both functions.
   * @default POWERTOOLS.logLevel.default ('INFO')
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * The archive consumer's definition (entry, memory, timeout, mapping settings).
   * @default FUNCTIONS.archive
   */
  readonly definition?: FunctionDef;
  /**
   * The compaction function's definition.
   * @default FUNCTIONS.compact
   */
  readonly compactionDefinition?: FunctionDef;
  /**
   * Concurrent batches per shard of the archive consumer (1..10).
   * @default definition.consumer.parallelizationFactor (1)
   */
  readonly parallelizationFactor?: number;
  /**
   * zstd level of Parquet pages written by both functions (ARCHIVE_ZSTD_LEVEL), 1..22.
   * @default - the functions' default, PARQUET.zstdLevel.default in lib/settings.ts (3)
   */
  readonly zstdLevel?: number;
  /**
   * Rows per Parquet row group written by both functions (ARCHIVE_ROW_GROUP_ROWS),
   * 1000..10000000.
   * @default - the functions' default, PARQUET.rowGroupRows.default in lib/settings.ts (100000)
   */
  readonly rowGroupRows?: number;
  /**
   * The rollups' 1 h retention (ROLLUP_TTL_1H_DAYS), whole days in 1..3650: the archive
   * quarantines, with the reason, an event older than that (plus 15 min) when its record reached
   * the stream, as the rollup skips it. Give it the rollup's own `ttl1hDays` (the stack does).
   * @default - the function's default, SETTINGS.archive.rollupTtl1hDays.default (400 days)
   */
  readonly rollupTtl1hDays?: number;
  /**
   * Compaction settings.
   * @default - see CompactionSettings
   */
  readonly compaction?: CompactionSettings;
  /**
   * When compaction runs. Each run compacts the closed partition-hours of the lookback window.
   * @default events.Schedule.rate(Duration.hours(1))
   */
  readonly compactionSchedule?: events.Schedule;
  /**
   * Glue and Athena settings.
   * @default - see ArchiveCatalogProps (`<prefix>_archive`.`events`, workgroup `<prefix>-archive`)
   */
  readonly catalog?: Omit<ArchiveCatalogProps, 'bucket' | 'prefix' | 'serverAccessLogsBucket'>;
}

/**
 * The archive flow: stream → archive function (Kinesis mapping, partial batch responses, SQS
 * on-failure queue) → Parquet under `events/` (rejected pieces under `quarantine/`); a scheduled
 * compaction function merging the small files of closed partition-hours; and the Glue table and
 * Athena workgroup that make `events/` queryable.
 *
 * The archive function may only put objects under `events/` and `quarantine/` (no read, no
 * delete, no DynamoDB). The compaction function may list the bucket, get, put and delete its
 * objects, and nothing else (no DynamoDB, no stream); it runs one at a time (reserved concurrency 1).
 */
export class Archive extends Construct {
  public readonly consumer: StreamConsumer;
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly onFailureQueue: sqs.Queue;
  public readonly compaction: StreamfoldFunction;
  public readonly compactionSchedule: events.Rule;
  public readonly catalog: ArchiveCatalog;

  constructor(scope: Construct, id: string, props: ArchiveProps) {
    super(scope, id);
    const compactionDefinition = props.compactionDefinition ?? FUNCTIONS.compact;
    // Both functions read the Parquet settings (one definition, PARQUET in lib/settings.ts); a
    // value not given is left to their default.
    const parquetEnv = settingsEnvironment('Archive', SETTINGS.archive, {
      zstdLevel: props.zstdLevel,
      rowGroupRows: props.rowGroupRows,
    });
    const retentionEnv = settingsEnvironment('Archive', SETTINGS.archive, { rollupTtl1hDays: props.rollupTtl1hDays });
    const compactEnv = compactionEnvironment(props.compaction ?? {}, compactionDefinition.timeoutSeconds);
    // The Lambda runtime has zstd in node:zlib; the .wasm fallback keeps the bundle runnable on
    // Node 20 (see zstdWasmFile).
    const bundledFiles = [zstdWasmFile()];

    this.consumer = new StreamConsumer(this, 'Consumer', {
      stream: props.stream.stream,
      definition: props.definition ?? FUNCTIONS.archive,
      prefix: props.prefix,
      logLevel: props.logLevel,
      parallelizationFactor: props.parallelizationFactor,
      environment: { ...parquetEnv, ...retentionEnv },
      bundledFiles,
    });
    this.function = this.consumer.function;
    this.role = this.consumer.role;
    this.logGroup = this.consumer.logGroup;
    this.onFailureQueue = this.consumer.onFailureQueue;
    props.storage.bindArchive(this.function, 'write');

    this.compaction = new StreamfoldFunction(this, 'Compaction', {
      definition: compactionDefinition,
      prefix: props.prefix,
      logLevel: props.logLevel,
      environment: { ...parquetEnv, ...compactEnv },
      bundledFiles,
      // Runs never overlap: two runs on one partition would each replace the other's files.
      reservedConcurrentExecutions: 1,
    });
    props.storage.bindArchive(this.compaction.function, 'compact');

    // The target sends the EventBridge event itself; parseCompactRequest treats an event with a
    // `detail-type` as "compact the lookback window".
    this.compactionSchedule = new events.Rule(this, 'CompactionSchedule', {
      description: 'Runs archive compaction over the closed partition-hours of the lookback window',
      schedule: props.compactionSchedule ?? events.Schedule.rate(Duration.hours(1)),
      targets: [
        new targets.LambdaFunction(this.compaction.function, {
          // A run skipped (throttled by the previous one, or failed) is covered by the next one.
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });

    this.catalog = new ArchiveCatalog(this, 'Catalog', {
      ...props.catalog,
      bucket: props.storage.archiveBucket,
      prefix: props.prefix,
      serverAccessLogsBucket: props.storage.accessLogsBucket,
    });

    props.monitoring?.monitorConsumer('Archive', this.consumer);
    props.monitoring?.monitorFunction('Compaction', this.compaction.function, {
      errors: 'Archive compaction failed (crash, timeout or out of memory); small files stay until a later run succeeds.',
    });
  }
}

/**
 * Every compaction setting, given or at its default, checked against SETTINGS.compact, and the two
 * rules that involve the schedule and the function's timeout, which the function cannot see.
 */
function compactionEnvironment(given: CompactionSettings, timeoutSeconds: number): Record<string, string> {
  const s = Object.fromEntries(
    COMPACTION_KEYS.map((key) => [key, given[key] ?? SETTINGS.compact[key].default]),
  ) as Required<CompactionSettings>;
  const env = settingsEnvironment('Archive', SETTINGS.compact, s, 'compaction.');
  if (s.reserveMs >= timeoutSeconds * 1000) {
    throw new Error(
      `Archive: compaction.reserveMs (${s.reserveMs}) must be less than the compaction function's ` +
        `timeout (${timeoutSeconds * 1000} ms), or no run would start a partition`,
    );
  }
  if (s.lookbackHours * 60 <= s.graceMinutes + 60) {
    throw new Error(
      `Archive: compaction.lookbackHours (${s.lookbackHours}) must reach past graceMinutes ` +
        `(${s.graceMinutes}) plus an hour, or closed partitions would fall out of the window unseen`,
    );
  }
  return env;
}
