import { Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { StreamfoldFunction } from '../../lib/constructs/function.ts';
import { Storage, type StorageProps } from '../../lib/constructs/storage.ts';
import { BUCKETS, TABLES, type TableKey } from '../../lib/resources.ts';
import { actionsOf, fixtureDef, logicalIdOf, nagFindings, roleStatements, testStack } from './fixtures/cdk.ts';

/** Actions of `statements` whose resources mention `logicalId`. */
function actionsOn(statements: ReturnType<typeof roleStatements>, logicalId: string): string[] {
  return actionsOf(statements.filter((s) => JSON.stringify(s.Resource).includes(`"${logicalId}"`)));
}

describe('Construct: Storage', () => {
  // One synth for the defaults, with functions bound the way rollup/archive and query will be.
  let stack: Stack;
  let storage: Storage;
  let writer: StreamfoldFunction;
  let reader: StreamfoldFunction;
  let intake: StreamfoldFunction;
  let template: Template;

  beforeAll(() => {
    stack = testStack();
    storage = new Storage(stack, 'Storage');
    writer = new StreamfoldFunction(stack, 'Writer', { definition: fixtureDef('writer') });
    reader = new StreamfoldFunction(stack, 'Reader', { definition: fixtureDef('reader') });
    storage.bindRollups(writer.function, 'merge');
    storage.bindArchive(writer.function, 'write');
    storage.bindTenants(reader.function, 'read');
    storage.bindRollups(reader.function, 'read');
    storage.bindArchive(reader.function, 'read');
    intake = new StreamfoldFunction(stack, 'Intake', { definition: fixtureDef('intake') });
    storage.bindIdempotency(intake.function);
    storage.bindTenants(intake.function, 'read');
    template = Template.fromStack(stack);
  });

  it.each(Object.keys(TABLES) as TableKey[])(
    'creates the %s table on demand, with PITR, deletion protection and its TTL',
    (key) => {
      // Prepare
      const def = TABLES[key];
      const keySchema: Array<{ AttributeName: string; KeyType: string }> = [
        { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
      ];
      if ('sortKey' in def) keySchema.push({ AttributeName: def.sortKey.name, KeyType: 'RANGE' });

      // Assess
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        Properties: {
          TableName: `streamfold-${def.id}`,
          KeySchema: keySchema,
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
          TimeToLiveSpecification:
            'ttlAttribute' in def ? { AttributeName: def.ttlAttribute, Enabled: true } : Match.absent(),
        },
      });
    },
  );

  it('blocks public access to the archive, requires TLS, encrypts and versions it', () => {
    // Assess
    const archiveId = logicalIdOf(storage.archiveBucket);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'streamfold-archive-123456789012-eu-west-1',
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalIdOf(storage.accessLogsBucket) },
        LogFilePrefix: 'archive/',
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: archiveId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('tiers events/, expires quarantine/, old versions and incomplete uploads', () => {
    // Assess
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.stringLikeRegexp('^streamfold-archive-'),
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'events-tiering',
            Prefix: 'events/',
            Status: 'Enabled',
            Transitions: [
              { StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 30 },
              { StorageClass: 'GLACIER_IR', TransitionInDays: 180 },
            ],
          },
          { Id: 'quarantine-expiry', Prefix: 'quarantine/', Status: 'Enabled', ExpirationInDays: 30 },
          {
            Id: 'noncurrent-versions-and-uploads',
            Status: 'Enabled',
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          },
          { Id: 'expired-delete-markers', Status: 'Enabled', ExpiredObjectDeleteMarker: true },
        ],
      },
    });
  });

  it('keeps access logs in a private, TLS-only bucket that only S3 logging may write', () => {
    // Assess
    const logsId = logicalIdOf(storage.accessLogsBucket);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.absent(),
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, RestrictPublicBuckets: true }),
      LifecycleConfiguration: { Rules: [{ Id: 'expire-logs', Status: 'Enabled', ExpirationInDays: 90 }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 's3:PutObject',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Condition: Match.objectLike({
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalIdOf(storage.archiveBucket), 'Arn'] } },
            }),
          }),
        ]),
      },
    });
  });

  it('binds each function to exactly the access asked for, with its variables', () => {
    // Prepare
    const writerStatements = roleStatements(template, logicalIdOf(writer.role));
    const readerStatements = roleStatements(template, logicalIdOf(reader.role));
    const archiveId = logicalIdOf(storage.archiveBucket);

    // Assess: variables
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'writer',
          [TABLES.rollups.envVar]: { Ref: logicalIdOf(storage.tables.rollups) },
          [BUCKETS.archive.envVar]: { Ref: archiveId },
          [TABLES.tenants.envVar]: Match.absent(),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'reader',
          [TABLES.tenants.envVar]: { Ref: logicalIdOf(storage.tables.tenants) },
          [TABLES.rollups.envVar]: { Ref: logicalIdOf(storage.tables.rollups) },
          [BUCKETS.archive.envVar]: { Ref: archiveId },
        }),
      },
    });

    // Assess: the writer updates rollups and puts objects, and reads no object back
    expect(actionsOn(writerStatements, logicalIdOf(storage.tables.rollups))).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem']),
    );
    expect(actionsOn(writerStatements, logicalIdOf(storage.tables.tenants))).toEqual([]);
    expect(actionsOn(writerStatements, archiveId).sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);

    // Assess: the reader cannot write anything
    const readerActions = actionsOf(readerStatements);
    expect(readerActions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject', 's3:ListBucket']));
    expect(readerActions.filter((a) => /^dynamodb:(Put|Update|Delete|BatchWrite)|^s3:(Put|Delete)/.test(a))).toEqual([]);
  });

  it('binds the idempotency table for GetItem and PutItem only, and nothing else it was not asked for', () => {
    // Prepare
    const statements = roleStatements(template, logicalIdOf(intake.role));

    // Assess
    expect(actionsOn(statements, logicalIdOf(storage.tables.idempotency)).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(actionsOn(statements, logicalIdOf(storage.tables.tenants))).not.toContain('dynamodb:PutItem');
    expect(actionsOn(statements, logicalIdOf(storage.tables.rollups))).toEqual([]);
    expect(actionsOn(statements, logicalIdOf(storage.archiveBucket))).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'intake',
          [TABLES.idempotency.envVar]: { Ref: logicalIdOf(storage.tables.idempotency) },
          [BUCKETS.archive.envVar]: Match.absent(),
        }),
      },
    });
  });

  it('has no unacknowledged cdk-nag findings, bindings included', () => {
    // Act + Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it('turns deletion protection off and destroys on removal when asked to', () => {
    // Prepare
    const other = testStack();

    // Act
    new Storage(other, 'Storage', {
      deletionProtection: false,
      removalPolicy: RemovalPolicy.DESTROY,
      archiveTransitionStorageClass: 'STANDARD_IA',
      archiveTransitionAfter: Duration.days(60),
      archiveGlacierAfter: Duration.days(365),
      quarantineExpiration: Duration.days(7),
    });

    // Assess
    const t = Template.fromStack(other);
    t.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'events-tiering',
            Transitions: [
              { StorageClass: 'STANDARD_IA', TransitionInDays: 60 },
              { StorageClass: 'GLACIER_IR', TransitionInDays: 365 },
            ],
          }),
          Match.objectLike({ Id: 'quarantine-expiry', ExpirationInDays: 7 }),
        ]),
      },
    });
  });

  it('provisions the rollups table with auto scaling when asked, the other tables staying on demand, cdk-nag clean', () => {
    // Prepare
    const other = testStack();

    // Act
    const s = new Storage(other, 'Storage', { rollupsCapacity: { write: { min: 100, max: 8_000 }, read: { min: 50, max: 2_000 } } });

    // Assess
    const t = Template.fromStack(other);
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'streamfold-rollups',
      BillingMode: Match.absent(),
      ProvisionedThroughput: { ReadCapacityUnits: 50, WriteCapacityUnits: 100 },
    });
    for (const key of ['tenants', 'idempotency'] as const) {
      t.hasResourceProperties('AWS::DynamoDB::Table', { TableName: `streamfold-${TABLES[key].id}`, BillingMode: 'PAY_PER_REQUEST' });
    }
    const rollups = logicalIdOf(s.tables.rollups);
    for (const [dimension, min, max] of [['WriteCapacityUnits', 100, 8_000], ['ReadCapacityUnits', 50, 2_000]] as const) {
      t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        ScalableDimension: `dynamodb:table:${dimension}`,
        MinCapacity: min,
        MaxCapacity: max,
        ResourceId: { 'Fn::Join': ['', ['table/', { Ref: rollups }]] },
      });
    }
    const policies = t.findResources('AWS::ApplicationAutoScaling::ScalingPolicy');
    expect(Object.values(policies).map((p) => (p as { Properties: { TargetTrackingScalingPolicyConfiguration: { TargetValue: number; PredefinedMetricSpecification: { PredefinedMetricType: string } } } }).Properties.TargetTrackingScalingPolicyConfiguration).map((c) => [c.PredefinedMetricSpecification.PredefinedMetricType, c.TargetValue]).sort()).toEqual([
      ['DynamoDBReadCapacityUtilization', 70],
      ['DynamoDBWriteCapacityUtilization', 70],
    ]);
    // No new role: Application Auto Scaling acts through its service-linked role.
    t.resourceCountIs('AWS::IAM::Role', 0);
    expect(nagFindings(other)).toEqual([]);
  });

  describe('rejects contradictory props at synth', () => {
    it.each([
      [
        'Glacier before the first transition',
        { archiveTransitionAfter: Duration.days(90), archiveGlacierAfter: Duration.days(60) },
        'Storage: archiveGlacierAfter (60 d) must be later than archiveTransitionAfter (90 d)',
      ],
      [
        'Standard-IA before 30 days',
        { archiveTransitionStorageClass: 'STANDARD_IA', archiveTransitionAfter: Duration.days(10) },
        'Storage: archiveTransitionAfter must be at least 30 days for STANDARD_IA, got 10',
      ],
      [
        'a fraction of a day',
        { quarantineExpiration: Duration.hours(36) },
        'Storage: quarantineExpiration must be a whole number of days >= 1, got 1.5',
      ],
      [
        'an unknown storage class',
        { archiveTransitionStorageClass: 'GLACIER' as never },
        'Storage: archiveTransitionStorageClass must be INTELLIGENT_TIERING or STANDARD_IA, got GLACIER',
      ],
      [
        'provisioned capacity below 1',
        { rollupsCapacity: { write: { min: 0, max: 10 }, read: { min: 1, max: 10 } } },
        'Storage: rollupsCapacity.write.min must be a whole number of capacity units ≥ 1 (got 0)',
      ],
      [
        'a provisioned maximum under its minimum',
        { rollupsCapacity: { write: { min: 10, max: 100 }, read: { min: 10, max: 5 } } },
        'Storage: rollupsCapacity.read.max must be a whole number ≥ read.min (10) (got 5)',
      ],
      [
        'a target utilisation auto scaling refuses',
        { rollupsCapacity: { write: { min: 1, max: 10 }, read: { min: 1, max: 10 }, targetUtilizationPercent: 95 } },
        'Storage: rollupsCapacity.targetUtilizationPercent must be between 20 and 90 (got 95)',
      ],
    ] satisfies Array<[string, StorageProps, string]>)('%s', (_label, props, message) => {
      // Prepare
      const other = testStack();

      // Act + Assess
      expect(() => new Storage(other, 'Storage', props)).toThrow(message);
    });
  });
});
