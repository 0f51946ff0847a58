import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../bin/streamfold.ts';
import { StreamfoldStack } from '../../lib/stack.ts';
import { TABLES } from '../../lib/resources.ts';
import { logicalIdOf, nagFindings } from './fixtures/cdk.ts';

/** For synths whose tests look at no bundle: skip esbuild. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function stackOf(app: App): StreamfoldStack {
  return app.node.findChild('Streamfold') as StreamfoldStack;
}

describe('App: streamfold', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  // The one test with CloudFormation's built-in template validation on (5-25 s on 2 cores).
  it('synthesizes as `cdk synth` does, clean under CloudFormation validation and cdk-nag', { timeout: 180_000 }, () => {
    // Prepare: validation failures are errors, not downgraded to warnings. Every flow is in the
    // stack (intake, rollup, archive with compaction and catalog), so each function, mapping,
    // queue, rule and Glue resource is validated.
    vi.stubEnv('CDK_VALIDATION', 'true');
    const app = createApp({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });

    // Act: throws if any validation plugin, cdk-nag included, reports a violation
    const assembly = app.synth();

    // Assess
    const report = JSON.parse(readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: unknown[];
    };
    expect(report.pluginReports).toEqual([]);
    expect(nagFindings(app)).toEqual([]);
  });

  describe('composition', () => {
    let app: App;
    let template: Template;

    beforeAll(() => {
      app = createApp({ builtinCloudFormationValidation: false, context: { prefix: 'sf-test', ...NO_BUNDLING } });
      template = Template.fromStack(stackOf(app));
    });

    it('names every resource from the prefix, as the embedded stack does', () => {
      // Assess
      template.hasResourceProperties('AWS::Kinesis::Stream', { Name: 'sf-test-events' });
      for (const def of Object.values(TABLES)) {
        template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: `sf-test-${def.id}` });
      }
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: {
          'Fn::Join': ['', ['sf-test-archive-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]],
        },
      });
      template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'sf-test-operations' });
    });

    it('outputs the API URL, stream, tables, bucket and alarm topic', () => {
      // Prepare
      const stack = stackOf(app);

      // Assess
      template.hasOutput('StreamName', { Value: { Ref: logicalIdOf(stack.events.stream) } });
      template.hasOutput('StreamArn', { Value: { 'Fn::GetAtt': [logicalIdOf(stack.events.stream), 'Arn'] } });
      template.hasOutput('RollupsTableName', { Value: { Ref: logicalIdOf(stack.storage.tables.rollups) } });
      template.hasOutput('TenantsTableName', { Value: { Ref: logicalIdOf(stack.storage.tables.tenants) } });
      template.hasOutput('IdempotencyTableName', { Value: { Ref: logicalIdOf(stack.storage.tables.idempotency) } });
      template.hasOutput('ArchiveBucketName', { Value: { Ref: logicalIdOf(stack.storage.archiveBucket) } });
      template.hasOutput('AlarmTopicArn', { Value: { Ref: logicalIdOf(stack.monitoring.alarmTopic) } });
      template.hasOutput('ApiUrl', {
        Value: {
          'Fn::Join': [
            '',
            ['https://', { Ref: logicalIdOf(stack.api.httpApi) }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/'],
          ],
        },
      });
    });

    it('outputs the Glue database and table and the Athena workgroup', () => {
      // Prepare
      const catalog = stackOf(app).archive.catalog;

      // Assess
      template.hasOutput('GlueDatabaseName', { Value: { Ref: logicalIdOf(catalog.database) } });
      template.hasOutput('GlueTableName', { Value: { Ref: logicalIdOf(catalog.table) } });
      template.hasOutput('AthenaWorkGroupName', { Value: { Ref: stackOf(app).getLogicalId(catalog.workGroup) } });
    });

    it('composes the rollup and archive flows, one mapping each, and hourly compaction', () => {
      // Prepare
      const stack = stackOf(app);

      // Assess
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
      for (const fn of [stack.rollup.function, stack.archive.function]) {
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.events.stream), 'Arn'] },
          FunctionName: { Ref: logicalIdOf(fn) },
        });
      }
      template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    });

    it('watches the stream, every table, the API and every function', () => {
      // Assess: stream throttles, a throttle alarm per table, API 5xx rate, intake and query errors
      // and throttles, rollup and archive iterator age, on-failure queue, errors and throttles,
      // compaction and rollup sweeper errors and throttles
      template.resourceCountIs('AWS::CloudWatch::Alarm', 1 + Object.keys(TABLES).length + 1 + 2 + 2 + 4 + 4 + 2 + 2);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'PutRecords.ThrottledRecords' });
      template.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { Metrics: Match.arrayWith([Match.objectLike({ Expression: 'FILL(r, 0) + FILL(w, 0)' })]) },
        Object.keys(TABLES).length,
      );
    });
  });

  it("sets the rollups' 1 h retention on the intake and the archive from the rollup's one prop", () => {
    // Prepare
    const app = new App({ context: NO_BUNDLING });
    const stack = new StreamfoldStack(app, 'Retention', { env: { account: '123456789012', region: 'us-east-1' }, rollup: { ttl1hDays: 90 } });
    const template = Template.fromStack(stack);
    const variable = (fn: string) =>
      (Object.values(template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `streamfold-${fn}` } }))[0]!['Properties']['Environment']['Variables'] as Record<string, unknown>)['ROLLUP_TTL_1H_DAYS'];

    // Assess: the rollup keeps 1 h items 90 days, so the intake refuses and the archive quarantines older events.
    expect(Object.fromEntries(['intake', 'rollup', 'sweep', 'archive', 'compact', 'query'].map((fn) => [fn, variable(fn)]))).toEqual({
      intake: '90',
      rollup: '90',
      sweep: '90',
      archive: '90',
      compact: undefined,
      query: undefined,
    });
  });

  it('deploys the capacity the cost model prices from context: a provisioned stream and rollups table, cdk-nag clean', () => {
    // Act
    const app = createApp({
      builtinCloudFormationValidation: false,
      context: { ...NO_BUNDLING, streamShards: '18', rollupsWriteCapacity: '2000-8000', rollupsReadCapacity: '500-2000', rollupsTargetUtilization: '75' },
    });
    const template = Template.fromStack(stackOf(app));

    // Assess
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 18, StreamModeDetails: { StreamMode: 'PROVISIONED' } });
    template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: 'streamfold-rollups', ProvisionedThroughput: { ReadCapacityUnits: 500, WriteCapacityUnits: 2000 } });
    template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: 'streamfold-tenants', BillingMode: 'PAY_PER_REQUEST' });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { ScalableDimension: 'dynamodb:table:WriteCapacityUnits', MinCapacity: 2000, MaxCapacity: 8000 });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 75, PredefinedMetricSpecification: { PredefinedMetricType: 'DynamoDBWriteCapacityUtilization' } }),
    });
    expect(nagFindings(app)).toEqual([]);
  });

  it('refuses a malformed capacity in context, naming the key', () => {
    // Act + Assess
    expect(() => createApp({ context: { ...NO_BUNDLING, rollupsWriteCapacity: '2000-8000' } })).toThrow(
      'context rollupsWriteCapacity and rollupsReadCapacity: give both (min-max capacity units each) to provision the rollups table, or neither to keep it on demand',
    );
    expect(() => createApp({ context: { ...NO_BUNDLING, streamShards: 'many' } })).toThrow('context streamShards: expected a whole number of shards ≥ 1, got "many"');
    expect(() => createApp({ context: { ...NO_BUNDLING, rollupsWriteCapacity: '8000-2000', rollupsReadCapacity: '10' } })).toThrow(
      'Storage: rollupsCapacity.write.max must be a whole number ≥ write.min (8000) (got 2000)',
    );
    expect(() => createApp({ context: { ...NO_BUNDLING, rollupsWriteCapacity: 'lots', rollupsReadCapacity: '10' } })).toThrow(
      'context rollupsWriteCapacity: expected min-max capacity units (e.g. 1000-8000), got "lots"',
    );
  });

  it('fails the synth on an unacknowledged cdk-nag finding', () => {
    // Prepare
    const app = createApp({ builtinCloudFormationValidation: false, context: NO_BUNDLING });
    new sqs.Queue(stackOf(app), 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });

    // Act + Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });
});
