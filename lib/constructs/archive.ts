import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTIONS, type FunctionDef } from '../functions.ts';
import { ArchiveCatalog, type ArchiveCatalogProps } from './archive-catalog.ts';
import { StreamConsumer } from './consumer.ts';
import type { EventStream } from './event-stream.ts';
import { StreamfoldFunction, zstdWasmFile, type PowertoolsLogLevel } from './function.ts';
import type { Monitoring } from './monitoring.ts';
import type { Storage } from './storage.ts';

/** The compaction settings functions/compact/app.ts reads (readCompactConfig), with its defaults. */
export interface CompactionSettings {
  /**
   * Size an output file aims at (COMPACT_TARGET_MIB), 1..4096 MiB.
   * @default 128
   */
  readonly targetMib?: number;
  /**
   * Most rows in one output file (COMPACT_MAX_ROWS), 1000..100000000. Memory grows with it: an
   * output file's rows are held twice (~140 B a row each).
   * @default 4000000
   */
  readonly maxRows?: number;
  /**
   * How long after an hour ends its partition counts as closed (COMPACT_GRACE_MINUTES), 0..1440;
   * covers the consumers' batching windows, retries and late records.
   * @default 10
   */
  readonly graceMinutes?: number;
  /**
   * How many hours back a scheduled run looks for partitions to compact (COMPACT_LOOKBACK_HOURS),
   * 1..9600; must reach past the grace period plus one schedule interval.
   * @default 48
   */
  readonly lookbackHours?: number;
  /**
   * Time kept back before the function's timeout (COMPACT_RESERVE_MS): no new partition starts
   * with less left. Less than the function's timeout.
   * @default 60000
   */
  readonly reserveMs?: number;
}

const COMPACTION_DEFAULTS: Required<CompactionSettings> = {
  targetMib: 128,
  maxRows: 4_000_000,
  graceMinutes: 10,
  lookbackHours: 48,
  reserveMs: 60_000,
};

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
   * @default 'INFO'
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
   * @default - the functions' default, 3
   */
  readonly zstdLevel?: number;
  /**
   * Rows per Parquet row group written by both functions (ARCHIVE_ROW_GROUP_ROWS),
   * 1000..10000000.
   * @default - the functions' default, 100000
   */
  readonly rowGroupRows?: number;
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
    const parquetEnv: Record<string, string> = {};
    if (props.zstdLevel !== undefined) {
      parquetEnv['ARCHIVE_ZSTD_LEVEL'] = String(integerIn('zstdLevel', props.zstdLevel, 1, 22));
    }
    if (props.rowGroupRows !== undefined) {
      parquetEnv['ARCHIVE_ROW_GROUP_ROWS'] = String(integerIn('rowGroupRows', props.rowGroupRows, 1_000, 10_000_000));
    }
    const compactEnv = compactionEnvironment(
      { ...COMPACTION_DEFAULTS, ...props.compaction },
      compactionDefinition.timeoutSeconds,
    );
    // The Lambda runtime has zstd in node:zlib; the .wasm fallback keeps the bundle runnable on
    // Node 20 (see zstdWasmFile).
    const bundledFiles = [zstdWasmFile()];

    this.consumer = new StreamConsumer(this, 'Consumer', {
      stream: props.stream.stream,
      definition: props.definition ?? FUNCTIONS.archive,
      prefix: props.prefix,
      logLevel: props.logLevel,
      parallelizationFactor: props.parallelizationFactor,
      environment: parquetEnv,
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
    props.storage.bindArchive(this.compaction.function, 'readWrite');

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

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Archive: ${name} must be a whole number in ${min}..${max}, got ${value}`);
  }
  return value;
}

function compactionEnvironment(s: Required<CompactionSettings>, timeoutSeconds: number): Record<string, string> {
  integerIn('compaction.targetMib', s.targetMib, 1, 4096);
  integerIn('compaction.maxRows', s.maxRows, 1_000, 100_000_000);
  integerIn('compaction.graceMinutes', s.graceMinutes, 0, 24 * 60);
  integerIn('compaction.lookbackHours', s.lookbackHours, 1, 24 * 400);
  integerIn('compaction.reserveMs', s.reserveMs, 0, 900_000);
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
  return {
    COMPACT_TARGET_MIB: String(s.targetMib),
    COMPACT_MAX_ROWS: String(s.maxRows),
    COMPACT_GRACE_MINUTES: String(s.graceMinutes),
    COMPACT_LOOKBACK_HOURS: String(s.lookbackHours),
    COMPACT_RESERVE_MS: String(s.reserveMs),
  };
}
