import { Duration, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ConsumerSettings, FunctionDef } from '../functions.ts';
import { StreamfoldFunction, type StreamfoldFunctionProps } from './function.ts';

export { NODE_RUNTIME, type PowertoolsLogLevel } from './function.ts';

/**
 * The function settings come from `definition` (lib/functions.ts), its event source mapping
 * settings from `definition.consumer`, which the embedded stack's poller uses too. The mapping
 * props below override them for this deployment only.
 */
export interface StreamConsumerProps extends StreamfoldFunctionProps {
  /** The Kinesis stream to consume. */
  readonly stream: kinesis.IStream;
  /**
   * Most records per invocation (1..10000). Lambda also caps a batch at 6 MB of payload, which
   * binds first for the ~1 MiB gzip'd NDJSON records the intake writes.
   * @default definition.consumer.batchSize (CONSUMER_DEFAULTS: 500)
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers records before invoking (0..300 s). A few seconds make batches, and
   * therefore DynamoDB writes per event, far fewer at the cost of that much latency.
   * @default definition.consumer.maxBatchingWindowSeconds (CONSUMER_DEFAULTS: 5 s)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent batches per shard (1..10). Order per partition key is kept either way.
   * @default definition.consumer.parallelizationFactor (CONSUMER_DEFAULTS: 1)
   */
  readonly parallelizationFactor?: number;
  /**
   * Retries of a failing batch before its records go to the on-failure destination (0..10000;
   * never infinite, so one poison batch cannot block its shard until the records expire).
   * @default definition.consumer.retryAttempts (CONSUMER_DEFAULTS: 10)
   */
  readonly retryAttempts?: number;
  /**
   * Records older than this are sent to the on-failure destination instead of being processed
   * (60 s..7 days). Matches the default stream retention.
   * @default definition.consumer.maxRecordAgeSeconds (CONSUMER_DEFAULTS: 24 h)
   */
  readonly maxRecordAge?: Duration;
  /**
   * Split a failing batch in two and retry each half, isolating a poison record quickly.
   * @default definition.consumer.bisectBatchOnError (CONSUMER_DEFAULTS: true)
   */
  readonly bisectBatchOnError?: boolean;
  /**
   * Let the handler return `batchItemFailures` so Lambda checkpoints before the first failed
   * record instead of retrying the whole batch. The handlers rely on it.
   * @default definition.consumer.reportBatchItemFailures (CONSUMER_DEFAULTS: true)
   */
  readonly reportBatchItemFailures?: boolean;
  /**
   * Where a new mapping starts reading.
   * @default lambda.StartingPosition.TRIM_HORIZON
   */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * How long the on-failure queue keeps messages (60 s..14 days).
   * @default Duration.days(14)
   */
  readonly onFailureRetention?: Duration;
}

/**
 * A StreamfoldFunction fed by a Kinesis event source mapping with partial batch responses, bisect
 * on error, bounded retries, a maximum record age and an encrypted SQS on-failure destination.
 *
 * The function gets only what the mapping needs (read the stream, send to its own on-failure
 * queue, write its own log group); grant everything else with the owners' `bind*` methods.
 */
export class StreamConsumer extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly eventSource: KinesisEventSource;
  /** The mapping settings in effect: `definition.consumer` with this deployment's overrides. */
  public readonly settings: ConsumerSettings;
  /**
   * On-failure destination. Lambda sends metadata of each discarded batch (shard, first and last
   * sequence number), not the records: replay them from the stream while they are retained.
   */
  public readonly onFailureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    this.settings = effectiveSettings(props);

    const fn = new StreamfoldFunction(this, 'Handler', props);
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    this.onFailureQueue = new sqs.Queue(this, 'OnFailure', {
      // SSE-SQS: encrypted at rest without a KMS key policy to keep in step with the function role;
      // the messages hold batch metadata, not event data.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.onFailureRetention ?? Duration.days(14),
    });
    Validations.of(this.onFailureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of the Kinesis event source mapping; ' +
        'operators read it to replay failed batches, there is no consumer that could fail.',
    });

    const s = this.settings;
    this.eventSource = new KinesisEventSource(props.stream, {
      startingPosition: props.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
      batchSize: s.batchSize,
      maxBatchingWindow: Duration.seconds(s.maxBatchingWindowSeconds),
      parallelizationFactor: s.parallelizationFactor,
      retryAttempts: s.retryAttempts,
      maxRecordAge: Duration.seconds(s.maxRecordAgeSeconds),
      bisectBatchOnError: s.bisectBatchOnError,
      reportBatchItemFailures: s.reportBatchItemFailures,
      onFailure: new SqsDlq(this.onFailureQueue),
    });
    this.function.addEventSource(this.eventSource);
  }

  /** Age of the newest record in the last batch, as Lambda reports it per function (maximum). */
  public metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metric('IteratorAge', { statistic: 'Maximum', ...props });
  }
}

/** `definition.consumer` with the props' overrides, validated. */
function effectiveSettings(props: StreamConsumerProps): ConsumerSettings {
  const def: FunctionDef = props.definition;
  const fail = (message: string): never => {
    throw new Error(`StreamConsumer (${def.id}): ${message}`);
  };
  const base = def.consumer;
  if (base === undefined) {
    return fail(
      'definition has no consumer settings; add `consumer` to its entry in lib/functions.ts ' +
        '(e.g. { ...CONSUMER_DEFAULTS }) so the embedded poller runs it with the same settings',
    );
  }
  const seconds = (name: string, value: Duration | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (value.isUnresolved()) return fail(`${name} must be a literal duration, not a token`);
    return value.toSeconds({ integral: false });
  };
  const onFailureRetention = props.onFailureRetention;
  const settings: ConsumerSettings = {
    batchSize: props.batchSize ?? base.batchSize,
    maxBatchingWindowSeconds: seconds('maxBatchingWindow', props.maxBatchingWindow, base.maxBatchingWindowSeconds),
    parallelizationFactor: props.parallelizationFactor ?? base.parallelizationFactor,
    retryAttempts: props.retryAttempts ?? base.retryAttempts,
    maxRecordAgeSeconds: seconds('maxRecordAge', props.maxRecordAge, base.maxRecordAgeSeconds),
    bisectBatchOnError: props.bisectBatchOnError ?? base.bisectBatchOnError,
    reportBatchItemFailures: props.reportBatchItemFailures ?? base.reportBatchItemFailures,
  };

  const integerIn = (name: string, value: number, min: number, max: number) => {
    if (Token.isUnresolved(value)) return;
    if (!Number.isInteger(value) || value < min || value > max) {
      fail(`${name} must be a whole number in ${min}..${max}, got ${value}`);
    }
  };
  const secondsIn = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      fail(`${name} must be whole seconds in ${min}..${max} s, got ${value} s`);
    }
  };
  integerIn('batchSize', settings.batchSize, 1, 10_000);
  integerIn('parallelizationFactor', settings.parallelizationFactor, 1, 10);
  integerIn('retryAttempts', settings.retryAttempts, 0, 10_000);
  secondsIn('maxBatchingWindow', settings.maxBatchingWindowSeconds, 0, 300);
  secondsIn('maxRecordAge', settings.maxRecordAgeSeconds, 60, 604_800);
  if (onFailureRetention !== undefined) {
    secondsIn('onFailureRetention', seconds('onFailureRetention', onFailureRetention, 0), 60, 1_209_600);
  }
  return settings;
}
