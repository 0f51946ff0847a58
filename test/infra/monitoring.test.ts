import { Duration, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { StreamfoldApi } from '../../lib/constructs/api.ts';
import { StreamConsumer } from '../../lib/constructs/consumer.ts';
import { EventStream } from '../../lib/constructs/event-stream.ts';
import { Monitoring } from '../../lib/constructs/monitoring.ts';
import { Storage } from '../../lib/constructs/storage.ts';
import { fixtureDef, logicalIdOf, nagFindings, testStack } from './fixtures/cdk.ts';

describe('Construct: Monitoring', () => {
  let stack: Stack;
  let monitoring: Monitoring;
  let consumer: StreamConsumer;
  let storage: Storage;
  let api: StreamfoldApi;
  let template: Template;

  beforeAll(() => {
    stack = testStack();
    const events = new EventStream(stack, 'Events');
    storage = new Storage(stack, 'Storage');
    consumer = new StreamConsumer(stack, 'Rollup', { stream: events.stream, definition: fixtureDef('rollup') });
    monitoring = new Monitoring(stack, 'Monitoring', { alarmEmail: 'oncall@example.com' });
    monitoring.monitorStream(events);
    monitoring.monitorConsumer('Rollup', consumer);
    monitoring.monitorTable('rollups', storage.tables.rollups);
    api = new StreamfoldApi(stack, 'Api');
    monitoring.monitorApi('Api', api);
    template = Template.fromStack(stack);
  });

  /** Alarm whose single metric is `metricName` on `dimension`, sent to the alarm topic. */
  function expectAlarm(metricName: string, dimension: Record<string, unknown>, extra: Record<string, unknown>) {
    const topic = { Ref: logicalIdOf(monitoring.alarmTopic) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: metricName,
      Dimensions: [dimension],
      AlarmActions: [topic],
      OKActions: [topic],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      ...extra,
    });
  }

  it('publishes to a topic with its own rotated key that CloudWatch may use, over TLS only', () => {
    // Assess
    const keyId = logicalIdOf(monitoring.alarmTopicKey);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Action: 'sns:Publish', Principal: { Service: 'cloudwatch.amazonaws.com' } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  it('alarms on iterator age, errors and throttles of a consumer, and on its failure queue', () => {
    // Prepare
    const fn = { Name: 'FunctionName', Value: { Ref: logicalIdOf(consumer.function) } };

    // Assess
    expectAlarm('IteratorAge', fn, {
      Namespace: 'AWS/Lambda',
      Statistic: 'Maximum',
      Period: 60,
      Threshold: Duration.minutes(5).toMilliseconds(),
      EvaluationPeriods: 5,
    });
    expectAlarm('Errors', fn, { Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1 });
    expectAlarm('Throttles', fn, { Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1 });
    expectAlarm(
      'ApproximateNumberOfMessagesVisible',
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(consumer.onFailureQueue), 'QueueName'] } },
      { Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 1 },
    );
  });

  it('alarms on DynamoDB read and write throttles together', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(r, 0) + FILL(w, 0)' }),
        Match.objectLike({
          Id: 'r',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ReadThrottleEvents', Namespace: 'AWS/DynamoDB' }),
          }),
        }),
        Match.objectLike({
          Id: 'w',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'WriteThrottleEvents' }) }),
        }),
      ]),
    });
  });

  it('alarms when more than 1 % of API requests get a 5xx in 3 of 5 minutes', () => {
    // Prepare
    const dimensions = [
      { Name: 'ApiId', Value: { Ref: logicalIdOf(api.httpApi) } },
      { Name: 'Stage', Value: '$default' },
    ];
    const stat = (id: string, metricName: string) =>
      Match.objectLike({
        Id: id,
        ReturnData: false,
        MetricStat: Match.objectLike({
          Metric: { Namespace: 'AWS/ApiGateway', MetricName: metricName, Dimensions: dimensions },
          Stat: 'Sum',
          Period: 60,
        }),
      });

    // Assess: 5xx from API Gateway itself and from the functions' answers alike
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: logicalIdOf(monitoring.alarmTopic) }],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(FILL(c, 0) > 0, 100 * FILL(e, 0) / FILL(c, 0), 0)' }),
        stat('c', 'Count'),
        stat('e', '5xx'),
      ]),
    });
  });

  it('alarms on stream write throttles and draws one dashboard', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'PutRecords.ThrottledRecords',
      Namespace: 'AWS/Kinesis',
      DatapointsToAlarm: 3,
      EvaluationPeriods: 5,
    });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'streamfold-operations' });
    expect(monitoring.alarms).toHaveLength(7);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Act + Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it.each([0, 101])('rejects an API 5xx rate threshold of %s %%', (percent) => {
    // Prepare
    const other = testStack();

    // Act + Assess
    expect(() => new Monitoring(other, 'Monitoring', { api5xxRatePercent: percent })).toThrow(
      `Monitoring: api5xxRatePercent must be in (0, 100], got ${percent}`,
    );
  });

  it('rejects a non-positive evaluation period count', () => {
    // Prepare
    const other = testStack();

    // Act + Assess
    expect(() => new Monitoring(other, 'Monitoring', { iteratorAgeEvaluationPeriods: 0 })).toThrow(
      'Monitoring: iteratorAgeEvaluationPeriods must be a whole number >= 1, got 0',
    );
  });
});
