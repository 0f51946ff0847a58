import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX } from '../resources.ts';

/** The newest Node.js runtime this aws-cdk-lib knows; cdk-nag AwsSolutions-L1 checks it. */
export const NODE_RUNTIME = lambda.Runtime.NODEJS_24_X;

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface StreamConsumerProps {
  /** The Kinesis stream to consume. */
  readonly stream: kinesis.IStream;
  /** Absolute path of the handler's TypeScript entry file. */
  readonly entry: string;
  /**
   * Exported handler function name.
   * @default 'handler'
   */
  readonly handler?: string;
  /** Service name for Powertools logs and metrics (POWERTOOLS_SERVICE_NAME), e.g. 'rollup'. */
  readonly serviceName: string;
  /**
   * CloudWatch namespace of Powertools metrics (POWERTOOLS_METRICS_NAMESPACE).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly metricsNamespace?: string;
  /**
   * Powertools log level (POWERTOOLS_LOG_LEVEL).
   * @default 'INFO'
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Function memory in MiB (128..10240). Memory also buys CPU, which decoding gzip and merging
   * sketches needs.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Function timeout (at most 15 min). A timed-out batch is retried, so keep it well above the
   * time one full batch takes.
   * @default Duration.minutes(2)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the function's log group.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Extra environment variables. Resource variables are set by the `bind*` methods of the
   * constructs that own the resources, not here.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Most records per invocation (1..10000). Lambda also caps a batch at 6 MB of payload, which
   * binds first for the ~1 MiB gzip'd NDJSON records the intake writes.
   * @default 500
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers records before invoking (0..300 s). A few seconds make batches, and
   * therefore DynamoDB writes per event, far fewer at the cost of that much latency.
   * @default Duration.seconds(5)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent batches per shard (1..10). Order per partition key is kept either way.
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * Retries of a failing batch before its records go to the on-failure destination (0..10000;
   * never infinite, so one poison batch cannot block its shard until the records expire).
   * @default 10
   */
  readonly retryAttempts?: number;
  /**
   * Records older than this are sent to the on-failure destination instead of being processed
   * (60 s..7 days). Matches the default stream retention.
   * @default Duration.hours(24)
   */
  readonly maxRecordAge?: Duration;
  /**
   * Split a failing batch in two and retry each half, isolating a poison record quickly.
   * @default true
   */
  readonly bisectBatchOnError?: boolean;
  /**
   * Let the handler return `batchItemFailures` so Lambda checkpoints before the first failed
   * record instead of retrying the whole batch. The handlers rely on it.
   * @default true
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
 * A Lambda function fed by a Kinesis event source mapping with partial batch responses, bisect on
 * error, bounded retries, a maximum record age and an encrypted SQS on-failure destination.
 *
 * The function gets only what the mapping needs (read the stream, send to its own on-failure
 * queue, write its own log group); grant everything else with the owners' `bind*` methods.
 */
export class StreamConsumer extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly eventSource: KinesisEventSource;
  /**
   * On-failure destination. Lambda sends metadata of each discarded batch (shard, first and last
   * sequence number), not the records: replay them from the stream while they are retained.
   */
  public readonly onFailureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    validateProps(props);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    // An explicit role instead of AWSLambdaBasicExecutionRole: it may write to its own log group
    // only, not to every log group in the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${props.serviceName} stream consumer`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: props.handler ?? 'handler',
      runtime: NODE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.minutes(2),
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace ?? DEFAULT_PREFIX,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        // Stack traces point into the TypeScript sources (the bundle ships its source map).
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        // Local esbuild from node_modules; never Docker.
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node24',
        // ESM: the repo is "type": "module", handlers can initialise clients and config with
        // top-level await once per container, and the SDK v3's ES builds tree-shake better.
        // Bundled CommonJS dependencies that call require() on Node built-ins need a real
        // `require` in an ES module, hence the banner.
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner:
          "import { createRequire as __streamfoldCreateRequire } from 'node:module';" +
          'const require = __streamfoldCreateRequire(import.meta.url);',
        // Bundle the SDK too, so the code deployed is the version tested, not the runtime's.
        externalModules: [],
      },
    });

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

    this.eventSource = new KinesisEventSource(props.stream, {
      startingPosition: props.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? 500,
      maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(5),
      parallelizationFactor: props.parallelizationFactor ?? 1,
      retryAttempts: props.retryAttempts ?? 10,
      maxRecordAge: props.maxRecordAge ?? Duration.hours(24),
      bisectBatchOnError: props.bisectBatchOnError ?? true,
      reportBatchItemFailures: props.reportBatchItemFailures ?? true,
      onFailure: new SqsDlq(this.onFailureQueue),
    });
    this.function.addEventSource(this.eventSource);
  }

  /** Age of the newest record in the last batch, as Lambda reports it per function (maximum). */
  public metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metric('IteratorAge', { statistic: 'Maximum', ...props });
  }
}

function validateProps(props: StreamConsumerProps): void {
  const fail = (message: string): never => {
    throw new Error(`StreamConsumer (${props.serviceName}): ${message}`);
  };
  const integerIn = (name: string, value: number | undefined, min: number, max: number) => {
    if (value === undefined || Token.isUnresolved(value)) return;
    if (!Number.isInteger(value) || value < min || value > max) {
      fail(`${name} must be a whole number in ${min}..${max}, got ${value}`);
    }
  };
  const secondsIn = (name: string, value: Duration | undefined, min: number, max: number) => {
    if (value === undefined || value.isUnresolved()) return;
    const seconds = value.toSeconds({ integral: false });
    if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
      fail(`${name} must be whole seconds in ${min}..${max} s, got ${seconds} s`);
    }
  };

  integerIn('batchSize', props.batchSize, 1, 10_000);
  integerIn('parallelizationFactor', props.parallelizationFactor, 1, 10);
  integerIn('retryAttempts', props.retryAttempts, 0, 10_000);
  integerIn('memorySize', props.memorySize, 128, 10_240);
  secondsIn('maxBatchingWindow', props.maxBatchingWindow, 0, 300);
  secondsIn('maxRecordAge', props.maxRecordAge, 60, 604_800);
  secondsIn('timeout', props.timeout, 1, 900);
  secondsIn('onFailureRetention', props.onFailureRetention, 60, 1_209_600);
}
