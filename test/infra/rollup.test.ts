import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EventStream } from '../../lib/constructs/event-stream.ts';
import { Monitoring } from '../../lib/constructs/monitoring.ts';
import { Rollup, type RollupProps } from '../../lib/constructs/rollup.ts';
import { Storage } from '../../lib/constructs/storage.ts';
import { FUNCTIONS } from '../../lib/functions.ts';
import { TABLES } from '../../lib/resources.ts';
import { actionsOf, logicalIdOf, nagFindings, roleStatements, testStack, type PolicyStatementJson } from './fixtures/cdk.ts';

/** No test here looks at a bundle: skip esbuild. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function flow(props: Partial<RollupProps> = {}) {
  const stack = testStack('Test', NO_BUNDLING);
  const events = new EventStream(stack, 'Events');
  const storage = new Storage(stack, 'Storage');
  const monitoring = new Monitoring(stack, 'Monitoring');
  const rollup = new Rollup(stack, 'Rollup', { stream: events, storage, monitoring, ...props });
  return { stack, events, storage, monitoring, rollup };
}

/** Actions of `statements` whose resources mention `logicalId`. */
function actionsOn(statements: PolicyStatementJson[], logicalId: string): string[] {
  return actionsOf(statements.filter((s) => JSON.stringify(s.Resource).includes(`"${logicalId}"`)));
}

describe('Construct: Rollup', () => {
  let stack: Stack;
  let f: ReturnType<typeof flow>;
  let template: Template;
  let statements: PolicyStatementJson[];

  beforeAll(() => {
    f = flow({ ttl1mDays: 7, ttl1hDays: 90 });
    stack = f.stack;
    template = Template.fromStack(stack);
    statements = roleStatements(template, logicalIdOf(f.rollup.role));
  });

  it('maps the stream with the settings of FUNCTIONS.rollup.consumer', () => {
    // Prepare
    const s = FUNCTIONS.rollup.consumer;

    // Assess: the values the embedded poller runs the rollup with (local/index.ts)
    expect(f.rollup.consumer.settings).toEqual(s);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(f.events.stream), 'Arn'] },
      FunctionName: { Ref: logicalIdOf(f.rollup.function) },
      BatchSize: s.batchSize,
      MaximumBatchingWindowInSeconds: s.maxBatchingWindowSeconds,
      ParallelizationFactor: s.parallelizationFactor,
      MaximumRetryAttempts: s.retryAttempts,
      MaximumRecordAgeInSeconds: s.maxRecordAgeSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(f.rollup.onFailureQueue), 'Arn'] } },
      },
    });
    expect(s.maxBatchingWindowSeconds).toBe(5);
    expect(s.parallelizationFactor).toBe(1);
  });

  it('refuses a parallelization factor other than 1 (the log is per shard, in sequence order)', () => {
    expect(() => flow({ parallelizationFactor: 4 })).toThrow(
      'Rollup: parallelizationFactor must be 1, got 4: the rollup log is kept per shard in sequence order (docs/ROLLUPS.md); add shards for throughput',
    );
  });

  it('runs a sweeper on a schedule that may fold the rollups table and list its shards, and nothing else', () => {
    // Prepare
    const sweeper = roleStatements(template, logicalIdOf(f.rollup.sweeper.role));

    // Assess
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: `rate(${FUNCTIONS.sweep.scheduleSeconds! / 60} minutes)` });
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'streamfold-sweep',
      Timeout: FUNCTIONS.sweep.timeoutSeconds,
      Environment: { Variables: Match.objectLike({ ROLLUPS_TABLE_NAME: Match.anyValue() }) },
    });
    expect([...actionsOn(sweeper, logicalIdOf(f.storage.tables.rollups))].sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOf(sweeper).filter((a) => !a.startsWith('dynamodb:') && !a.startsWith('logs:'))).toEqual([]);
  });

  it('deploys FUNCTIONS.rollup told where the rollups table is, with the TTLs and Node.js flags given', () => {
    // Assess: the names functions/rollup/app.ts reads (readRollupConfig)
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'streamfold-rollup',
      MemorySize: FUNCTIONS.rollup.memoryMb,
      Timeout: FUNCTIONS.rollup.timeoutSeconds,
      Environment: {
        Variables: {
          [TABLES.rollups.envVar]: { Ref: logicalIdOf(f.storage.tables.rollups) },
          ROLLUP_TTL_1M_DAYS: '7',
          ROLLUP_TTL_1H_DAYS: '90',
          // The young generation its benchmark measured (lib/functions.ts).
          NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=64',
        },
      },
    });
  });

  it('may get, batch-get, put and update rollup items: no query, scan, delete or batch write', () => {
    // Act
    const onRollups = actionsOn(statements, logicalIdOf(f.storage.tables.rollups));

    // Assess
    expect([...onRollups].sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
  });

  it('cannot touch the archive, the tenants, the idempotency records, nor write to the stream', () => {
    // Prepare
    const actions = actionsOf(statements);

    // Assess
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(actions.filter((a) => /^kinesis:(Put|Delete|Update|Split|Merge|Create)/.test(a))).toEqual([]);
    expect(actionsOn(statements, logicalIdOf(f.storage.tables.tenants))).toEqual([]);
    expect(actionsOn(statements, logicalIdOf(f.storage.tables.idempotency))).toEqual([]);
    expect(actions.filter((a) => a.endsWith(':*') || a === '*')).toEqual([]);
  });

  it('alarms on iterator age, on-failure queue depth, errors and throttles', () => {
    // Assess
    const fn = { Name: 'FunctionName', Value: { Ref: logicalIdOf(f.rollup.function) } };
    for (const metric of ['IteratorAge', 'Errors', 'Throttles']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: metric, Dimensions: [fn] });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(f.rollup.onFailureQueue), 'QueueName'] } }],
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it('leaves the TTLs to the function when not given', () => {
    // Act
    const { stack: plain } = flow();

    // Assess
    const variables = Template.fromStack(plain).findResources('AWS::Lambda::Function', {
      Properties: { FunctionName: 'streamfold-rollup' },
    });
    const env = Object.values(variables)[0]!['Properties']['Environment']['Variables'] as Record<string, unknown>;
    expect(Object.keys(env).filter((k) => k.startsWith('ROLLUP_'))).toEqual([]);
  });

  it.each([
    [{ ttl1mDays: 0 }, /ttl1mDays must be a whole number of days in 1\.\.3650, got 0/],
    [{ ttl1hDays: 1.5 }, /ttl1hDays must be a whole number of days/],
    [{ ttl1mDays: 30, ttl1hDays: 7 }, /ttl1hDays \(7\) must not be shorter than ttl1mDays \(30\)/],
    [{ ttl1mDays: 500 }, /ttl1hDays \(400\) must not be shorter than ttl1mDays \(500\)/],
  ] as const)('rejects %o at synth', (props, message) => {
    // Act + Assess
    expect(() => flow(props)).toThrow(message);
  });
});
