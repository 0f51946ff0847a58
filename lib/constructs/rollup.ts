import type { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_TTL_DAYS } from '../../functions/shared/rollups/keys.ts';
import { FUNCTIONS, type FunctionDef } from '../functions.ts';
import { StreamConsumer } from './consumer.ts';
import type { EventStream } from './event-stream.ts';
import type { PowertoolsLogLevel } from './function.ts';
import type { Monitoring } from './monitoring.ts';
import type { Storage } from './storage.ts';

/** Longest TTL functions/rollup/app.ts accepts (readRollupConfig). */
const MAX_TTL_DAYS = 3650;

export interface RollupProps {
  /** The stream whose events are rolled up. */
  readonly stream: EventStream;
  /** Owner of the rollups table (read by key and written back, nothing else). */
  readonly storage: Storage;
  /**
   * Adds iterator age, on-failure queue, error and throttle alarms and widgets.
   * @default - not monitored
   */
  readonly monitoring?: Monitoring;
  /**
   * Name prefix (function `<prefix>-rollup`).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Powertools log level.
   * @default 'INFO'
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * The function definition (entry, memory, timeout, mapping settings).
   * @default FUNCTIONS.rollup
   */
  readonly definition?: FunctionDef;
  /**
   * How long 1-minute buckets are kept (ROLLUP_TTL_1M_DAYS), whole days 1..3650: distributions'
   * 1 m items expire then, and older events no longer enter their minute. Count and gauge minutes
   * are packed into the 1 h items and live as long as they do.
   * @default - the function's default, 15 days
   */
  readonly ttl1mDays?: number;
  /**
   * How long 1-hour buckets live (ROLLUP_TTL_1H_DAYS), whole days 1..3650, not shorter than
   * `ttl1mDays` (the 1 h buckets serve the ranges the 1 m buckets no longer cover, and hold the
   * minutes of count and gauge series).
   * @default - the function's default, 400 days
   */
  readonly ttl1hDays?: number;
  /**
   * Concurrent batches per shard (1..10).
   * @default definition.consumer.parallelizationFactor (1)
   */
  readonly parallelizationFactor?: number;
  /**
   * Batching window override for this deployment.
   * @default definition.consumer.maxBatchingWindowSeconds (1 s for FUNCTIONS.rollup)
   */
  readonly maxBatchingWindow?: Duration;
}

/**
 * The rollup flow: stream → rollup function (Kinesis mapping, partial batch responses, SQS
 * on-failure queue) → rollups table.
 *
 * The function may read the stream (the mapping), send to its on-failure queue, and get, batch-get,
 * put and update items of the rollups table; nothing else (no archive, no tenants, no stream write).
 */
export class Rollup extends Construct {
  public readonly consumer: StreamConsumer;
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly onFailureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: RollupProps) {
    super(scope, id);
    const environment: Record<string, string> = {};
    const ttl1m = checkTtl('ttl1mDays', props.ttl1mDays);
    const ttl1h = checkTtl('ttl1hDays', props.ttl1hDays);
    // Count and gauge minutes live in 1 h items (functions/shared/rollups/minutes.ts); the function
    // refuses this too, but only when it starts.
    const m = ttl1m ?? DEFAULT_TTL_DAYS['1m'];
    const h = ttl1h ?? DEFAULT_TTL_DAYS['1h'];
    if (h < m) {
      throw new Error(`Rollup: ttl1hDays (${h}) must not be shorter than ttl1mDays (${m})`);
    }
    if (ttl1m !== undefined) environment['ROLLUP_TTL_1M_DAYS'] = String(ttl1m);
    if (ttl1h !== undefined) environment['ROLLUP_TTL_1H_DAYS'] = String(ttl1h);

    this.consumer = new StreamConsumer(this, 'Consumer', {
      stream: props.stream.stream,
      definition: props.definition ?? FUNCTIONS.rollup,
      prefix: props.prefix,
      logLevel: props.logLevel,
      parallelizationFactor: props.parallelizationFactor,
      maxBatchingWindow: props.maxBatchingWindow,
      environment,
    });
    this.function = this.consumer.function;
    this.role = this.consumer.role;
    this.logGroup = this.consumer.logGroup;
    this.onFailureQueue = this.consumer.onFailureQueue;

    props.storage.bindRollups(this.function, 'merge');
    props.monitoring?.monitorConsumer('Rollup', this.consumer);
  }
}

function checkTtl(name: string, days: number | undefined): number | undefined {
  if (days === undefined) return undefined;
  if (!Number.isInteger(days) || days < 1 || days > MAX_TTL_DAYS) {
    throw new Error(`Rollup: ${name} must be a whole number of days in 1..${MAX_TTL_DAYS}, got ${days}`);
  }
  return days;
}
