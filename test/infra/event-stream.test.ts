import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { EventStream, type EventStreamProps } from '../../lib/constructs/event-stream.ts';
import { STREAM } from '../../lib/resources.ts';
import { actionsOf, logicalIdOf, nagFindings, roleStatements, testStack } from './fixtures/cdk.ts';

function synth(props?: EventStreamProps) {
  const stack = testStack();
  const events = new EventStream(stack, 'Events', props);
  return { stack, events, template: Template.fromStack(stack) };
}

describe('Construct: EventStream', () => {
  it('defaults to an on-demand stream, encrypted with alias/aws/kinesis, retained 24 h', () => {
    // Prepare + Act
    const { template } = synth();

    // Assess
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'streamfold-events',
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      RetentionPeriodHours: 24,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      ShardCount: Match.absent(),
    });
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Retain' });
  });

  it('takes a provisioned shard count, a prefix and a longer retention', () => {
    // Prepare + Act
    const { template } = synth({
      prefix: 'sf-test',
      streamMode: kinesis.StreamMode.PROVISIONED,
      shardCount: 4,
      retention: Duration.days(7),
    });

    // Assess
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'sf-test-events',
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      ShardCount: 4,
      RetentionPeriodHours: 168,
    });
  });

  it('creates a rotated customer-managed key when asked to', () => {
    // Prepare + Act
    const { template, stack, events } = synth({ encryption: 'customer-managed' });

    // Assess
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: {
        EncryptionType: 'KMS',
        KeyId: { 'Fn::GetAtt': [logicalIdOf(events.encryptionKey!), 'Arn'] },
      },
    });
    expect(nagFindings(stack)).toEqual([]);
  });

  it('bindProducer grants put and sets the stream-name variable, nothing more', () => {
    // Prepare
    const stack = testStack();
    const events = new EventStream(stack, 'Events');
    const fn = new lambda.Function(stack, 'Producer', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => {};'),
    });

    // Act
    events.bindProducer(fn);

    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: { [STREAM.envVar]: { Ref: logicalIdOf(events.stream) } },
      },
    });
    const actions = actionsOf(roleStatements(template, logicalIdOf(fn.role!)));
    expect(actions).toEqual(expect.arrayContaining(['kinesis:PutRecord', 'kinesis:PutRecords']));
    expect(actions.filter((a) => /GetRecords|GetShardIterator/.test(a))).toEqual([]);
  });

  describe('rejects contradictory props at synth', () => {
    it.each([
      [
        'shardCount without PROVISIONED',
        { shardCount: 2 },
        'EventStream: shardCount (2) can only be set with streamMode PROVISIONED; an ON_DEMAND stream manages its own shards',
      ],
      [
        'a shard count below 1',
        { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: 0 },
        'EventStream: shardCount must be a whole number >= 1, got 0',
      ],
      [
        'retention under 24 h',
        { retention: Duration.hours(12) },
        'EventStream: retention must be whole hours between 24 and 8760, got 12 h',
      ],
      [
        'retention over 8760 h',
        { retention: Duration.hours(8761) },
        'EventStream: retention must be whole hours between 24 and 8760, got 8761 h',
      ],
      [
        'retention in fractional hours',
        { retention: Duration.minutes(24 * 60 + 30) },
        'EventStream: retention must be whole hours between 24 and 8760, got 24.5 h',
      ],
    ] satisfies Array<[string, EventStreamProps, string]>)('%s', (_label, props, message) => {
      // Prepare
      const stack = testStack();

      // Act + Assess
      expect(() => new EventStream(stack, 'Events', props)).toThrow(message);
    });

    it('a key with the AWS-managed encryption', () => {
      // Prepare
      const stack = testStack();
      const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });

      // Act + Assess
      expect(() => new EventStream(stack, 'Events', { encryptionKey: key })).toThrow(
        "EventStream: encryptionKey requires encryption 'customer-managed'; the AWS-managed key alias/aws/kinesis cannot be replaced",
      );
    });
  });
});
