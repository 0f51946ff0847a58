import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX } from '../resources.ts';
import type { StreamfoldApi } from './api.ts';
import type { StreamConsumer } from './consumer.ts';
import type { EventStream } from './event-stream.ts';

export interface MonitoringProps {
  /**
   * Name prefix of the dashboard.
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - no subscription; subscribe to `alarmTopic` yourself
   */
  readonly alarmEmail?: string;
  /**
   * A consumer whose iterator age stays above this for `iteratorAgeEvaluationPeriods` minutes is
   * falling behind. Keep it well below the stream retention.
   * @default Duration.minutes(5)
   */
  readonly iteratorAgeThreshold?: Duration;
  /**
   * Consecutive one-minute periods the iterator age must breach before the alarm fires.
   * @default 5
   */
  readonly iteratorAgeEvaluationPeriods?: number;
  /**
   * The API alarm fires when more than this percentage of requests get a 5xx (from API Gateway
   * or the functions) in 3 of 5 consecutive minutes.
   * @default 1
   */
  readonly api5xxRatePercent?: number;
}

/**
 * The alarm topic (KMS-encrypted, TLS-only), alarms and one dashboard. Each `monitor*` method adds
 * the alarms and widgets of one resource.
 */
export class Monitoring extends Construct {
  public readonly alarmTopic: sns.Topic;
  /** Customer-managed key of the alarm topic (see the constructor for why not alias/aws/sns). */
  public readonly alarmTopicKey: kms.Key;
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: cloudwatch.Alarm[] = [];
  private readonly iteratorAgeThreshold: Duration;
  private readonly iteratorAgeEvaluationPeriods: number;
  private readonly api5xxRatePercent: number;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.iteratorAgeThreshold = props.iteratorAgeThreshold ?? Duration.minutes(5);
    this.iteratorAgeEvaluationPeriods = props.iteratorAgeEvaluationPeriods ?? 5;
    if (
      !Number.isInteger(this.iteratorAgeEvaluationPeriods) ||
      this.iteratorAgeEvaluationPeriods < 1
    ) {
      throw new Error(
        `Monitoring: iteratorAgeEvaluationPeriods must be a whole number >= 1, got ${this.iteratorAgeEvaluationPeriods}`,
      );
    }
    if (!this.iteratorAgeThreshold.isUnresolved() && this.iteratorAgeThreshold.toMilliseconds() <= 0) {
      throw new Error('Monitoring: iteratorAgeThreshold must be positive');
    }
    this.api5xxRatePercent = props.api5xxRatePercent ?? 1;
    if (!(this.api5xxRatePercent > 0 && this.api5xxRatePercent <= 100)) {
      throw new Error(`Monitoring: api5xxRatePercent must be in (0, 100], got ${this.api5xxRatePercent}`);
    }

    // CloudWatch cannot publish to a topic encrypted with the AWS-managed alias/aws/sns key (its
    // key policy cannot be changed to let CloudWatch use it), so the topic has its own key.
    this.alarmTopicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the streamfold alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.alarmTopicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToUseTheKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        // Only this account's alarms (the confused-deputy guard the topic policy has too).
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'streamfold alarms',
      masterKey: this.alarmTopicKey,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, so CloudWatch must be allowed explicitly.
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${props.prefix ?? DEFAULT_PREFIX}-operations`,
      defaultInterval: Duration.hours(3),
    });
  }

  /** Incoming traffic and write throttling of the stream. */
  public monitorStream(eventStream: EventStream): void {
    const stream = eventStream.stream;
    const throttled = stream.metricPutRecordsThrottledRecords({
      statistic: 'Sum',
      period: Duration.minutes(1),
    });
    this.addAlarm('StreamWriteThrottles', {
      metric: throttled,
      threshold: 1,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      alarmDescription:
        'Producers are being throttled by the events stream in 3 of the last 5 minutes ' +
        '(on-demand streams throttle above twice their previous peak).',
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stream: incoming records and bytes',
        left: [stream.metricIncomingRecords({ statistic: 'Sum', period: Duration.minutes(1) })],
        right: [stream.metricIncomingBytes({ statistic: 'Sum', period: Duration.minutes(1) })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stream: throttled records',
        left: [throttled],
        width: 12,
      }),
    );
  }

  /**
   * Errors and throttles of a function (see {@link monitorFunction}), plus the iterator age of a
   * consumer and the depth of its on-failure queue.
   */
  public monitorConsumer(name: string, consumer: StreamConsumer): void {
    const iteratorAge = consumer.metricIteratorAge({ period: Duration.minutes(1) });
    const dlqDepth = consumer.onFailureQueue.metricApproximateNumberOfMessagesVisible({
      statistic: 'Maximum',
      period: Duration.minutes(5),
    });

    this.addAlarm(`${name}IteratorAge`, {
      metric: iteratorAge,
      threshold: this.iteratorAgeThreshold.toMilliseconds(),
      evaluationPeriods: this.iteratorAgeEvaluationPeriods,
      alarmDescription:
        `${name} is falling behind the stream: iterator age above ` +
        `${this.iteratorAgeThreshold.toHumanString()}. Records are lost when they pass the ` +
        'maximum record age or the stream retention.',
    });
    this.addAlarm(`${name}OnFailureQueueDepth`, {
      metric: dlqDepth,
      threshold: 1,
      evaluationPeriods: 1,
      alarmDescription:
        `${name} discarded a batch after its retries or maximum record age: the on-failure ` +
        'queue holds its shard and sequence numbers. Replay it while the stream retains it.',
    });
    this.monitorFunction(name, consumer.function, {
      errors: `${name} invocations failed (the whole batch is retried).`,
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: `${name}: iterator age (ms)`, left: [iteratorAge], width: 12 }),
      new cloudwatch.GraphWidget({ title: `${name}: on-failure queue`, left: [dlqDepth], width: 12 }),
    );
  }

  /**
   * Errors (crashes, timeouts, out of memory) and throttles of a function, with invocation and
   * duration widgets.
   */
  public monitorFunction(
    name: string,
    fn: lambda.IFunction,
    descriptions: { readonly errors?: string } = {},
  ): void {
    const errors = fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) });
    const throttles = fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) });
    this.addAlarm(`${name}Errors`, {
      metric: errors,
      threshold: 1,
      evaluationPeriods: 1,
      alarmDescription:
        descriptions.errors ?? `${name} invocations failed (crash, timeout or out of memory).`,
    });
    this.addAlarm(`${name}Throttles`, {
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 1,
      alarmDescription: `${name} invocations were throttled (account or reserved concurrency).`,
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${name}: invocations, errors, throttles`,
        left: [
          fn.metricInvocations({ statistic: 'Sum', period: Duration.minutes(5) }),
          errors,
          throttles,
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: `${name}: duration (p99)`,
        left: [fn.metricDuration({ statistic: 'p99', period: Duration.minutes(5) })],
        width: 12,
      }),
    );
  }

  /**
   * The share of API requests answered with a 5xx, whether API Gateway or a function produced
   * it (the intake answers 500/503 itself when storage fails, which Lambda's Errors metric does
   * not count), with request, 4xx/5xx and latency widgets.
   */
  public monitorApi(name: string, api: StreamfoldApi): void {
    const period = Duration.minutes(1);
    const requests = api.stage.metricCount({ statistic: 'Sum', period });
    const serverErrors = api.stage.metricServerError({ statistic: 'Sum', period });
    const clientErrors = api.stage.metricClientError({ statistic: 'Sum', period });
    const rate = new cloudwatch.MathExpression({
      label: `${name} 5xx (% of requests)`,
      expression: 'IF(FILL(c, 0) > 0, 100 * FILL(e, 0) / FILL(c, 0), 0)',
      usingMetrics: { c: requests, e: serverErrors },
      period,
    });
    this.addAlarm(`${name}ServerErrors`, {
      metric: rate,
      threshold: this.api5xxRatePercent,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      alarmDescription:
        `More than ${this.api5xxRatePercent}% of ${name} requests got a 5xx in 3 of the last 5 ` +
        'minutes. The access log (integrationErrorMessage, errorMessage) and the function logs say why.',
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: `${name}: requests`, left: [requests], width: 8 }),
      new cloudwatch.GraphWidget({
        title: `${name}: 4xx and 5xx`,
        left: [clientErrors, serverErrors],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${name}: latency (p99)`,
        left: [
          api.stage.metricLatency({ statistic: 'p99', period: Duration.minutes(5) }),
          api.stage.metricIntegrationLatency({ statistic: 'p99', period: Duration.minutes(5) }),
        ],
        width: 8,
      }),
    );
  }

  /** Read and write throttle events of a table (on-demand tables throttle on hot partitions). */
  public monitorTable(name: string, table: dynamodb.ITable): void {
    const period = Duration.minutes(5);
    const throttles = new cloudwatch.MathExpression({
      label: `${name} throttle events`,
      expression: 'FILL(r, 0) + FILL(w, 0)',
      usingMetrics: {
        r: table.metric('ReadThrottleEvents', { statistic: 'Sum', period }),
        w: table.metric('WriteThrottleEvents', { statistic: 'Sum', period }),
      },
      period,
    });
    this.addAlarm(`${name}TableThrottles`, {
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 1,
      alarmDescription: `Requests to the ${name} table were throttled.`,
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${name} table: consumed capacity`,
        left: [
          table.metricConsumedReadCapacityUnits({ statistic: 'Sum', period }),
          table.metricConsumedWriteCapacityUnits({ statistic: 'Sum', period }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({ title: `${name} table: throttle events`, left: [throttles], width: 12 }),
    );
  }

  private addAlarm(
    id: string,
    props: Omit<cloudwatch.CreateAlarmOptions, 'treatMissingData' | 'comparisonOperator'> & {
      readonly metric: cloudwatch.IMetric;
    },
  ): cloudwatch.Alarm {
    const { metric, ...options } = props;
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      // No data means no traffic or no failures, never a breach.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      ...options,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
    alarm.addOkAction(new actions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
    return alarm;
  }
}
