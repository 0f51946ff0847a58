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
import { StreamConsumer } from './consumer.ts';
import type { EventStream } from './event-stream.ts';
import { StreamfoldFunction, type PowertoolsLogLevel } from './function.ts';
import type { Monitoring } from './monitoring.ts';
import type { Storage } from './storage.ts';

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
   * @default POWERTOOLS.logLevel.default ('INFO')
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * The function definition (entry, memory, timeout, mapping settings).
   * @default FUNCTIONS.rollup
   */
  readonly definition?: FunctionDef;
  /**
   * How long 1-minute buckets are kept (ROLLUP_TTL_1M_DAYS), whole days in the range of
   * SETTINGS.rollup.ttl1mDays (1..3650): distributions' 1 m items expire then, and older events no
   * longer enter their minute. Count and gauge minutes are packed into the 1 h items and live as
   * long as they do.
   * @default - the function's default, SETTINGS.rollup.ttl1mDays.default (15 days)
   */
  readonly ttl1mDays?: number;
  /**
   * How long 1-hour buckets live (ROLLUP_TTL_1H_DAYS), whole days in the range of
   * SETTINGS.rollup.ttl1hDays (1..3650), not shorter than `ttl1mDays` (the 1 h buckets serve the
   * ranges the 1 m buckets no longer cover, and hold the minutes of count and gauge series).
   * @default - the function's default, SETTINGS.rollup.ttl1hDays.default (400 days)
   */
  readonly ttl1hDays?: number;
  /**
   * Concurrent batches per shard. Only 1: the rollup log is kept per shard in sequence order
   * (docs/ROLLUPS.md); add shards for throughput. Any other value is refused at synth.
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * Batching window override for this deployment: longer is fewer log bytes written per event
   * (one entry per touched item per batch), later data in queries.
   * @default definition.consumer.maxBatchingWindowSeconds (5 s for FUNCTIONS.rollup)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * How often the sweeper folds the logs no rollup container folds.
   * @default events.Schedule.rate(sweepDefinition.scheduleSeconds) (5 minutes)
   */
  readonly sweepSchedule?: events.Schedule;
  /**
   * The sweeper's function definition.
   * @default FUNCTIONS.sweep
   */
  readonly sweepDefinition?: FunctionDef;
}

/**
 * The rollup flow: stream → rollup function (Kinesis mapping, partial batch responses, SQS
 * on-failure queue) → rollups table.
 *
 * A scheduled sweeper folds the logs of shards no rollup container folds (docs/ROLLUPS.md).
 *
 * The function may read the stream (the mapping), send to its on-failure queue, and get, batch-get,
 * put and update items of the rollups table; the sweeper the same plus Query (its list of shards);
 * nothing else (no archive, no tenants, no stream write).
 */
export class Rollup extends Construct {
  public readonly consumer: StreamConsumer;
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly onFailureQueue: sqs.Queue;
  public readonly sweeper: StreamfoldFunction;
  public readonly sweepSchedule: events.Rule;

  constructor(scope: Construct, id: string, props: RollupProps) {
    super(scope, id);
    if (props.parallelizationFactor !== undefined && props.parallelizationFactor !== 1) {
      throw new Error(
        `Rollup: parallelizationFactor must be 1, got ${props.parallelizationFactor}: the rollup log is kept per shard in sequence order (docs/ROLLUPS.md); add shards for throughput`,
      );
    }
    const definition = props.definition ?? FUNCTIONS.rollup;
    if (definition.consumer !== undefined && definition.consumer.parallelizationFactor !== 1) {
      throw new Error(`Rollup (${definition.id}): the definition's parallelizationFactor must be 1, got ${definition.consumer.parallelizationFactor} (docs/ROLLUPS.md)`);
    }
    // The ranges and the TTL rule the function applies when it starts, checked here at synth; a
    // TTL not given is left to the function's default.
    const environment = settingsEnvironment('Rollup', SETTINGS.rollup, {
      ttl1mDays: props.ttl1mDays,
      ttl1hDays: props.ttl1hDays,
    });

    this.consumer = new StreamConsumer(this, 'Consumer', {
      stream: props.stream.stream,
      definition,
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

    const sweepDefinition = props.sweepDefinition ?? FUNCTIONS.sweep;
    this.sweeper = new StreamfoldFunction(this, 'Sweeper', {
      definition: sweepDefinition,
      prefix: props.prefix,
      logLevel: props.logLevel,
      environment,
      // Runs never overlap (they would fold the same shards; harmless, but wasted).
      reservedConcurrentExecutions: 1,
    });
    props.storage.bindRollups(this.sweeper.function, 'fold');
    this.sweepSchedule = new events.Rule(this, 'SweepSchedule', {
      description: 'Folds the rollup logs of shards no rollup container folded',
      schedule: props.sweepSchedule ?? events.Schedule.rate(Duration.seconds(sweepDefinition.scheduleSeconds ?? 300)),
      targets: [new targets.LambdaFunction(this.sweeper.function, { retryAttempts: 0, maxEventAge: Duration.minutes(5) })],
    });
    props.monitoring?.monitorFunction('Sweeper', this.sweeper.function, {
      errors: 'The rollup sweeper failed or left shards with unfolded commits older than ROLLUP_SWEEP_AFTER_SECONDS: queries merge a longer log, and a log older than its 1-day TTL would lose data.',
    });
  }
}
