import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCompactRequest, readCompactConfig } from '../../functions/compact/app.ts';
import { Archive, type ArchiveProps } from '../../lib/constructs/archive.ts';
import { EventStream } from '../../lib/constructs/event-stream.ts';
import { Monitoring } from '../../lib/constructs/monitoring.ts';
import { Storage } from '../../lib/constructs/storage.ts';
import { FUNCTIONS } from '../../lib/functions.ts';
import { BUCKETS } from '../../lib/resources.ts';
import { actionsOf, logicalIdOf, nagFindings, roleStatements, testStack, type PolicyStatementJson } from './fixtures/cdk.ts';

/** No test here looks at a bundle: skip esbuild. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function flow(props: Partial<ArchiveProps> = {}) {
  const stack = testStack('Test', NO_BUNDLING);
  const events = new EventStream(stack, 'Events');
  const storage = new Storage(stack, 'Storage');
  const monitoring = new Monitoring(stack, 'Monitoring');
  const archive = new Archive(stack, 'Archive', { stream: events, storage, monitoring, ...props });
  return { stack, events, storage, monitoring, archive };
}

/** `s3:…` actions of `statements`, each with the object prefixes (or the bucket) it applies to. */
function s3Grants(statements: PolicyStatementJson[], bucketLogicalId: string): string[] {
  return statements.flatMap((s) => {
    const resources = (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((r) => {
      const json = JSON.stringify(r);
      const prefix = /\/([a-z]+\/\*)"/.exec(json)?.[1];
      return json.includes(`"${bucketLogicalId}"`) ? (prefix ?? 'bucket') : json;
    });
    return actionsOf([s])
      .filter((a) => a.startsWith('s3:'))
      .flatMap((a) => resources.map((r) => `${a} ${r}`));
  });
}

describe('Construct: Archive', () => {
  let stack: Stack;
  let f: ReturnType<typeof flow>;
  let template: Template;
  let bucketId: string;

  beforeAll(() => {
    f = flow();
    stack = f.stack;
    template = Template.fromStack(stack);
    bucketId = logicalIdOf(f.storage.archiveBucket);
  });

  it('maps the stream with the settings of FUNCTIONS.archive.consumer', () => {
    // Prepare
    const s = FUNCTIONS.archive.consumer;

    // Assess: large batches and a 20 s window make fewer, larger Parquet files
    expect(f.archive.consumer.settings).toEqual(s);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(f.events.stream), 'Arn'] },
      FunctionName: { Ref: logicalIdOf(f.archive.function) },
      BatchSize: 10_000,
      MaximumBatchingWindowInSeconds: 20,
      ParallelizationFactor: s.parallelizationFactor,
      MaximumRetryAttempts: s.retryAttempts,
      MaximumRecordAgeInSeconds: s.maxRecordAgeSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Compaction is no consumer: one mapping only.
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
  });

  it('lets the archive function put objects under events/ and quarantine/ only, and nothing in DynamoDB', () => {
    // Prepare
    const statements = roleStatements(template, logicalIdOf(f.archive.role));

    // Assess
    expect(s3Grants(statements, bucketId).sort()).toEqual([
      's3:AbortMultipartUpload events/*',
      's3:AbortMultipartUpload quarantine/*',
      's3:PutObject events/*',
      's3:PutObject quarantine/*',
    ]);
    expect(actionsOf(statements).filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
    expect(actionsOf(statements).filter((a) => /^kinesis:(Put|Delete|Update)/.test(a))).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'streamfold-archive',
      MemorySize: FUNCTIONS.archive.memoryMb,
      Timeout: FUNCTIONS.archive.timeoutSeconds,
      Environment: { Variables: Match.objectLike({ [BUCKETS.archive.envVar]: { Ref: bucketId } }) },
    });
  });

  it('lets compaction list, read, write and delete archive objects under events/ only, and nothing in DynamoDB or Kinesis', () => {
    // Prepare
    const statements = roleStatements(template, logicalIdOf(f.archive.compaction.role));

    // Assess: quarantine/ holds every tenant's rejected raw records; compaction never touches it.
    expect(s3Grants(statements, bucketId).sort()).toEqual([
      's3:AbortMultipartUpload events/*',
      's3:DeleteObject events/*',
      's3:GetObject events/*',
      's3:ListBucket bucket',
      's3:PutObject events/*',
    ]);
    expect(statements.find((st) => actionsOf([st]).includes('s3:ListBucket'))).toMatchObject({ Condition: { StringLike: { 's3:prefix': ['events/*'] } } });
    expect(actionsOf(statements).filter((a) => /^(dynamodb|kinesis|sqs):/.test(a))).toEqual([]);
  });

  it('runs compaction one at a time, with the settings functions/compact/app.ts defaults to', () => {
    // Prepare
    const [resource] = Object.values(
      template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: 'streamfold-compact' } }),
    );
    const props = resource!['Properties'] as {
      ReservedConcurrentExecutions: number;
      MemorySize: number;
      Timeout: number;
      Environment: { Variables: Record<string, unknown> };
    };
    const literals = Object.fromEntries(
      Object.entries(props.Environment.Variables).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );

    // Assess
    expect(props.ReservedConcurrentExecutions).toBe(1);
    expect(props.MemorySize).toBe(FUNCTIONS.compact.memoryMb);
    expect(props.Timeout).toBe(FUNCTIONS.compact.timeoutSeconds);
    expect(props.Environment.Variables[BUCKETS.archive.envVar]).toEqual({ Ref: bucketId });
    expect(Object.keys(literals).filter((k) => k.startsWith('COMPACT_')).sort()).toEqual([
      'COMPACT_GRACE_MINUTES',
      'COMPACT_LOOKBACK_HOURS',
      'COMPACT_MAX_ROWS',
      'COMPACT_RESERVE_MS',
      'COMPACT_TARGET_MIB',
    ]);
    const bucket = { [BUCKETS.archive.envVar]: 'b' };
    expect(readCompactConfig({ ...literals, ...bucket })).toEqual(readCompactConfig(bucket));
  });

  it('schedules compaction hourly with the EventBridge event itself, which the function accepts', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOf(f.archive.compaction.function), 'Arn'] },
          Input: Match.absent(),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [logicalIdOf(f.archive.compaction.function), 'Arn'] },
      SourceArn: { 'Fn::GetAtt': [logicalIdOf(f.archive.compactionSchedule), 'Arn'] },
    });
    // What EventBridge delivers for a schedule: the whole lookback window, no manual selection.
    const scheduled = {
      version: '0',
      id: 'x',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: '2026-11-28T03:00:00Z',
      region: 'eu-west-1',
      resources: ['arn:aws:events:eu-west-1:123456789012:rule/r'],
      detail: {},
    };
    expect(parseCompactRequest(scheduled)).toEqual({});
  });

  it('catalogs events/ in Glue and gives Athena a workgroup', () => {
    // Assess
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'streamfold_archive' } });
    template.hasResourceProperties('AWS::Glue::Table', { TableInput: Match.objectLike({ Name: 'events' }) });
    template.hasResourceProperties('AWS::Athena::WorkGroup', { Name: 'streamfold-archive' });
  });

  it('alarms on the consumer and on compaction errors', () => {
    // Assess
    const archiveFn = { Name: 'FunctionName', Value: { Ref: logicalIdOf(f.archive.function) } };
    const compactFn = { Name: 'FunctionName', Value: { Ref: logicalIdOf(f.archive.compaction.function) } };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'IteratorAge', Dimensions: [archiveFn] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Dimensions: [archiveFn] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Dimensions: [compactFn] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Dimensions: [compactFn] });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it.each([
    [{ compaction: { reserveMs: 900_000 } }, /reserveMs \(900000\) must be less than the compaction function's timeout/],
    [{ compaction: { lookbackHours: 1 } }, /lookbackHours \(1\) must reach past graceMinutes \(10\) plus an hour/],
    [{ compaction: { targetMib: 0 } }, /compaction\.targetMib must be a whole number in 1\.\.4096/],
    [{ zstdLevel: 23 }, /zstdLevel must be a whole number in 1\.\.22/],
  ] as const)('rejects %o at synth', (props, message) => {
    // Act + Assess
    expect(() => flow(props as Partial<ArchiveProps>)).toThrow(message);
  });
});
