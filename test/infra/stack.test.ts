import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../bin/streamfold.ts';
import { StreamConsumer } from '../../lib/constructs/consumer.ts';
import type { StreamfoldStack } from '../../lib/stack.ts';
import { TABLES } from '../../lib/resources.ts';
import { fixtureDef, logicalIdOf, nagFindings } from './fixtures/cdk.ts';

function stackOf(app: App): StreamfoldStack {
  return app.node.findChild('Streamfold') as StreamfoldStack;
}

describe('App: streamfold', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  // The one test with CloudFormation's built-in template validation on (5-25 s on 2 cores).
  it('synthesizes as `cdk synth` does, clean under CloudFormation validation and cdk-nag', { timeout: 180_000 }, () => {
    // Prepare: validation failures are errors, not downgraded to warnings. A fixture consumer is
    // wired the way the rollup flow will be, so its function, mapping and queue are validated too.
    vi.stubEnv('CDK_VALIDATION', 'true');
    const app = createApp({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
    const stack = stackOf(app);
    const consumer = new StreamConsumer(stack, 'Fixture', {
      stream: stack.events.stream,
      definition: fixtureDef('fixture'),
    });
    stack.storage.bindRollups(consumer.function, 'readWrite');
    stack.storage.bindArchive(consumer.function, 'write');
    stack.monitoring.monitorConsumer('Fixture', consumer);

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
      app = createApp({ builtinCloudFormationValidation: false, context: { prefix: 'sf-test' } });
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

    it('watches the stream, every table, the API and the intake function', () => {
      // Assess: stream throttles, a throttle alarm per table, API 5xx rate, intake errors and throttles
      template.resourceCountIs('AWS::CloudWatch::Alarm', 1 + Object.keys(TABLES).length + 1 + 2);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'PutRecords.ThrottledRecords' });
      template.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { Metrics: Match.arrayWith([Match.objectLike({ Expression: 'FILL(r, 0) + FILL(w, 0)' })]) },
        Object.keys(TABLES).length,
      );
    });
  });

  it('fails the synth on an unacknowledged cdk-nag finding', () => {
    // Prepare
    const app = createApp({ builtinCloudFormationValidation: false });
    new sqs.Queue(stackOf(app), 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });

    // Act + Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });
});
