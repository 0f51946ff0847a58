import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { StreamConsumer, type StreamConsumerProps } from '../../lib/constructs/consumer.ts';
import { EventStream } from '../../lib/constructs/event-stream.ts';
import { actionsOf, logicalIdOf, nagFindings, roleStatements, testStack } from './fixtures/cdk.ts';

const FIXTURE_ENTRY = fileURLToPath(new URL('./fixtures/handler.ts', import.meta.url));

describe('Construct: StreamConsumer', () => {
  // One synth (with a real esbuild bundle) for the whole file.
  let stack: Stack;
  let events: EventStream;
  let consumer: StreamConsumer;
  let template: Template;

  beforeAll(() => {
    stack = testStack();
    events = new EventStream(stack, 'Events');
    consumer = new StreamConsumer(stack, 'Fixture', {
      stream: events.stream,
      entry: FIXTURE_ENTRY,
      serviceName: 'fixture',
    });
    template = Template.fromStack(stack);
  });

  it('runs the bundle on the newest Node.js runtime, arm64, with Powertools settings', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 1024,
      Timeout: 120,
      LoggingConfig: { LogGroup: { Ref: logicalIdOf(consumer.logGroup) } },
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'fixture',
          POWERTOOLS_METRICS_NAMESPACE: 'streamfold',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('maps the stream with partial batch responses, bisect, bounded retries and age', () => {
    // Assess
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

  it('produces an ES module bundle that runs outside the repo', async () => {
    // Prepare: the bundle is the stack's only file asset, staged in the cloud assembly.
    const assembly = (stack.node.root as App).synth();
    const bundles = readdirSync(assembly.directory)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => path.join(assembly.directory, name, 'index.mjs'))
      .filter((file) => existsSync(file));
    expect(bundles).toHaveLength(1);
    const bundle = bundles[0]!;
    const script =
      `const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});` +
      "process.stdout.write(JSON.stringify(await handler({ Records: [{ kinesis: { data: 'e30=' } }] })));";

    // Act
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assembly.directory,
      env: { PATH: process.env['PATH'], POWERTOOLS_LOG_LEVEL: 'ERROR' },
    });

    // Assess
    expect(JSON.parse(stdout)).toEqual({ batchItemFailures: [] });
  });

  it('passes its event source settings through', () => {
    // Prepare
    const other = testStack();
    const stream = new EventStream(other, 'Events').stream;

    // Act
    new StreamConsumer(other, 'Tuned', {
      stream,
      entry: FIXTURE_ENTRY,
      serviceName: 'tuned',
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(0),
      parallelizationFactor: 4,
      retryAttempts: 3,
      maxRecordAge: Duration.hours(1),
      memorySize: 512,
      timeout: Duration.seconds(30),
    });

    // Assess
    const t = Template.fromStack(other);
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      ParallelizationFactor: 4,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
    });
    t.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 512, Timeout: 30 });
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
      ['memorySize under 128', { memorySize: 100 }, 'memorySize must be a whole number in 128..10240, got 100'],
      ['timeout over 15 min', { timeout: Duration.minutes(16) }, 'timeout must be whole seconds in 1..900 s, got 960 s'],
    ] satisfies Array<[string, Partial<StreamConsumerProps>, string]>)('%s', (_label, props, message) => {
      // Prepare
      const other = testStack();
      const stream = new EventStream(other, 'Events').stream;

      // Act + Assess
      expect(
        () => new StreamConsumer(other, 'Bad', { stream, entry: FIXTURE_ENTRY, serviceName: 'bad', ...props }),
      ).toThrow(`StreamConsumer (bad): ${message}`);
    });
  });
});
