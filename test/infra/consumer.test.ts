import { Duration, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { StreamConsumer, type StreamConsumerProps } from '../../lib/constructs/consumer.ts';
import { EventStream } from '../../lib/constructs/event-stream.ts';
import { CONSUMER_DEFAULTS } from '../../lib/functions.ts';
import { actionsOf, fixtureDef, logicalIdOf, nagFindings, roleStatements, testStack } from './fixtures/cdk.ts';

describe('Construct: StreamConsumer', () => {
  // One synth (with a real esbuild bundle) for the whole file.
  let stack: Stack;
  let events: EventStream;
  let consumer: StreamConsumer;
  let template: Template;

  beforeAll(() => {
    stack = testStack();
    events = new EventStream(stack, 'Events');
    consumer = new StreamConsumer(stack, 'Fixture', { stream: events.stream, definition: fixtureDef('fixture') });
    template = Template.fromStack(stack);
  });

  it('maps the stream with partial batch responses, bisect, bounded retries and age', () => {
    // Assess: CONSUMER_DEFAULTS, the settings the embedded poller runs with too
    expect(consumer.settings).toEqual(CONSUMER_DEFAULTS);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(events.stream), 'Arn'] },
      FunctionName: { Ref: logicalIdOf(consumer.function) },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86_400,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(consumer.onFailureQueue), 'Arn'] } },
      },
    });
  });

  it('sends failed batches to an encrypted, TLS-only queue that keeps them 14 days', () => {
    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('may read the stream, but not write it, nor touch tables or buckets', () => {
    // Prepare
    const statements = roleStatements(template, logicalIdOf(consumer.role));
    const actions = actionsOf(statements);

    // Assess
    expect(actions).toEqual(
      expect.arrayContaining(['kinesis:GetRecords', 'kinesis:GetShardIterator', 'sqs:SendMessage']),
    );
    expect(actions.filter((a) => /^kinesis:(Put|Create|Delete|Update|Merge|Split)/.test(a))).toEqual([]);
    expect(actions.filter((a) => /^(dynamodb|s3):/.test(a))).toEqual([]);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    const kinesisResources = statements
      .filter((s) => actionsOf([s]).some((a) => a.startsWith('kinesis:')))
      .map((s) => s.Resource);
    expect(kinesisResources).toEqual([{ 'Fn::GetAtt': [logicalIdOf(events.stream), 'Arn'] }]);
    // Logs go to its own log group only: no AWSLambdaBasicExecutionRole.
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Act + Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it("takes the definition's consumer settings, and the props override them", () => {
    // Prepare: skip bundling, which this test does not look at
    const other = testStack('Tuned', { 'aws:cdk:bundling-stacks': [] });
    const stream = new EventStream(other, 'Events').stream;
    const definition = fixtureDef('tuned', {
      consumer: { ...CONSUMER_DEFAULTS, batchSize: 100, retryAttempts: 3, maxRecordAgeSeconds: 3600 },
    });

    // Act
    const tuned = new StreamConsumer(other, 'Tuned', {
      stream,
      definition,
      parallelizationFactor: 4,
      maxBatchingWindow: Duration.seconds(0),
    });

    // Assess
    expect(tuned.settings).toEqual({
      ...CONSUMER_DEFAULTS,
      batchSize: 100,
      retryAttempts: 3,
      maxRecordAgeSeconds: 3600,
      parallelizationFactor: 4,
      maxBatchingWindowSeconds: 0,
    });
    Template.fromStack(other).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 0,
      ParallelizationFactor: 4,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
    });
  });

  describe('rejects contradictory props at synth', () => {
    it.each([
      ['parallelizationFactor 0', { parallelizationFactor: 0 }, 'parallelizationFactor must be a whole number in 1..10, got 0'],
      ['parallelizationFactor 11', { parallelizationFactor: 11 }, 'parallelizationFactor must be a whole number in 1..10, got 11'],
      ['batchSize above 10000', { batchSize: 10_001 }, 'batchSize must be a whole number in 1..10000, got 10001'],
      ['unbounded retries', { retryAttempts: -1 }, 'retryAttempts must be a whole number in 0..10000, got -1'],
      [
        'maxBatchingWindow above 300 s',
        { maxBatchingWindow: Duration.seconds(301) },
        'maxBatchingWindow must be whole seconds in 0..300 s, got 301 s',
      ],
      [
        'maxRecordAge under a minute',
        { maxRecordAge: Duration.seconds(30) },
        'maxRecordAge must be whole seconds in 60..604800 s, got 30 s',
      ],
      [
        'maxRecordAge over 7 days',
        { maxRecordAge: Duration.days(8) },
        'maxRecordAge must be whole seconds in 60..604800 s, got 691200 s',
      ],
      [
        'onFailureRetention over 14 days',
        { onFailureRetention: Duration.days(15) },
        'onFailureRetention must be whole seconds in 60..1209600 s, got 1296000 s',
      ],
    ] satisfies Array<[string, Partial<StreamConsumerProps>, string]>)('%s', (_label, props, message) => {
      // Prepare
      const other = testStack();
      const stream = new EventStream(other, 'Events').stream;

      // Act + Assess
      expect(() => new StreamConsumer(other, 'Bad', { stream, definition: fixtureDef('bad'), ...props })).toThrow(
        `StreamConsumer (bad): ${message}`,
      );
    });

    it('rejects a definition without consumer settings, which the embedded poller needs too', () => {
      // Prepare
      const other = testStack();
      const stream = new EventStream(other, 'Events').stream;
      const definition = fixtureDef('plain', { consumer: undefined });

      // Act + Assess
      expect(() => new StreamConsumer(other, 'Plain', { stream, definition })).toThrow(
        'StreamConsumer (plain): definition has no consumer settings; add `consumer` to its entry in lib/functions.ts',
      );
    });

    it('rejects invalid settings in the definition, not only in the props', () => {
      // Prepare
      const other = testStack();
      const stream = new EventStream(other, 'Events').stream;
      const definition = fixtureDef('wide', { consumer: { ...CONSUMER_DEFAULTS, parallelizationFactor: 12 } });

      // Act + Assess
      expect(() => new StreamConsumer(other, 'Wide', { stream, definition })).toThrow(
        'StreamConsumer (wide): parallelizationFactor must be a whole number in 1..10, got 12',
      );
    });
  });
});
