import { Duration, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_COLUMNS } from '../../functions/shared/archive/parquet.ts';
import { ArchiveCatalog, type ArchiveCatalogProps } from '../../lib/constructs/archive-catalog.ts';
import { actionsOf, logicalIdOf, nagFindings, roleStatements, testStack } from './fixtures/cdk.ts';

function build(props: Partial<ArchiveCatalogProps> = {}): { stack: Stack; bucket: s3.Bucket; catalog: ArchiveCatalog } {
  const stack = testStack();
  const bucket = new s3.Bucket(stack, 'Archive', { enforceSSL: true, serverAccessLogsPrefix: 'logs/' });
  const catalog = new ArchiveCatalog(stack, 'Catalog', { bucket, ...props });
  return { stack, bucket, catalog };
}

describe('Construct: ArchiveCatalog', () => {
  let stack: Stack;
  let bucket: s3.Bucket;
  let catalog: ArchiveCatalog;
  let role: iam.Role;
  let template: Template;

  beforeAll(() => {
    ({ stack, bucket, catalog } = build());
    role = new iam.Role(stack, 'Query', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    catalog.grantQuery(role);
    template = Template.fromStack(stack);
  });

  it('creates a Glue database named for Athena', () => {
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'streamfold_archive' } });
  });

  it('declares a Parquet table over events/ with the archive columns, in file order', () => {
    // Act
    const table = Object.values(template.findResources('AWS::Glue::Table'))[0]!;
    const sd = table.Properties.TableInput.StorageDescriptor;
    // Assess
    expect(table.Properties.TableInput.Name).toBe('events');
    expect(sd.SerdeInfo.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    expect(sd.InputFormat).toBe('org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat');
    expect(sd.Location).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: logicalIdOf(bucket) }, '/events/']] });
    expect(sd.Columns.map((c: { Name: string; Type: string }) => [c.Name, c.Type])).toEqual([
      ['name', 'string'],
      ['ts', 'timestamp'],
      ['type', 'string'],
      ['value', 'double'],
      ['tags', 'string'],
      ['id', 'string'],
      ['attrs', 'string'],
      ['_shard', 'string'],
      ['_seq', 'string'],
      ['_sub', 'int'],
      ['_ingested_at', 'timestamp'],
      ['start', 'timestamp'],
      ['agg', 'string'],
    ]);
    expect(sd.Columns.map((c: { Name: string }) => c.Name)).toEqual([...ARCHIVE_COLUMNS]);
  });

  it('projects partitions: tenant injected, dt a date, hour a two-digit integer', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: {
        PartitionKeys: [
          { Name: 'tenant', Type: 'string' },
          Match.objectLike({ Name: 'dt', Type: 'string' }),
          Match.objectLike({ Name: 'hour', Type: 'int' }),
        ],
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.tenant.type': 'injected',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': '2024-01-01,NOW',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'projection.hour.type': 'integer',
          'projection.hour.range': '0,23',
          'projection.hour.digits': '2',
          'storage.location.template': {
            'Fn::Join': ['', ['s3://', { Ref: logicalIdOf(bucket) }, '/events/tenant=${tenant}/dt=${dt}/hour=${hour}/']],
          },
        }),
      },
    });
  });

  it('creates an Athena v3 workgroup with encrypted results, a scan limit and enforced settings', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'streamfold-archive',
      RecursiveDeleteOption: true,
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ResultConfiguration: {
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('^CatalogResults') }, '/athena-results/']] },
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
        },
      },
    });
  });

  it('keeps results in a private, TLS-only bucket that expires them', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-results', ExpirationInDays: 7 })] },
    });
  });

  it('saves the reader-rule query in the workgroup', () => {
    template.hasResourceProperties('AWS::Athena::NamedQuery', {
      Name: 'events-deduplicated',
      Database: 'streamfold_archive',
      WorkGroup: 'streamfold-archive',
      QueryString: Match.stringLikeRegexp('row_number\\(\\) OVER \\(\\s*PARTITION BY _shard, _seq, _sub\\) AS rn'),
    });
  });

  it('saves the query creating the view events_deduplicated, the reader rule per partition-hour', () => {
    template.hasResourceProperties('AWS::Athena::NamedQuery', {
      Name: 'create-events_deduplicated',
      Database: 'streamfold_archive',
      WorkGroup: 'streamfold-archive',
      QueryString: Match.stringLikeRegexp(
        'CREATE OR REPLACE VIEW "streamfold_archive"."events_deduplicated" AS\\s+SELECT [^]*row_number\\(\\) OVER \\(PARTITION BY tenant, dt, hour, _shard, _seq, _sub\\) AS rn\\s+FROM "streamfold_archive"."events"\\s+\\)\\s+WHERE rn = 1',
      ),
    });
  });

  it('grants queries: the workgroup, the table definition, events/ and the results prefix', () => {
    // Act
    const statements = roleStatements(template, logicalIdOf(role));
    const on = (needle: string) => actionsOf(statements.filter((s) => JSON.stringify(s.Resource).includes(needle)));
    // Assess
    expect(on('workgroup/streamfold-archive')).toEqual(
      expect.arrayContaining(['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults']),
    );
    expect(on(':table/')).toEqual(expect.arrayContaining(['glue:GetTable', 'glue:GetDatabase']));
    expect(on('/events/*')).toEqual(['s3:GetObject']);
    expect(on('/athena-results/*')).toEqual(['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload']);
    expect(actionsOf(statements)).not.toContain('s3:DeleteObject');
    expect(actionsOf(statements).some((a) => a.endsWith(':*'))).toBe(false);
  });

  it('raises no unacknowledged cdk-nag finding', () => {
    expect(nagFindings(stack).filter((f) => f.includes('/Catalog/') || f.includes('/Query/'))).toEqual([]);
  });

  it('uses a results bucket it is given instead of creating one', () => {
    // Prepare
    const s = testStack('Given');
    const archive = new s3.Bucket(s, 'Archive');
    const results = new s3.Bucket(s, 'Results');
    // Act
    new ArchiveCatalog(s, 'Catalog', { bucket: archive, resultsBucket: results, bytesScannedCutoffPerQuery: 50_000_000, projectionStartDate: 'NOW-2YEARS' });
    const t = Template.fromStack(s);
    // Assess
    t.resourceCountIs('AWS::S3::Bucket', 2);
    t.hasResourceProperties('AWS::Athena::WorkGroup', { WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 50_000_000 }) });
    t.hasResourceProperties('AWS::Glue::Table', { TableInput: { Parameters: Match.objectLike({ 'projection.dt.range': 'NOW-2YEARS,NOW' }) } });
  });

  it.each([
    [{ bytesScannedCutoffPerQuery: 1_000_000 }, /bytesScannedCutoffPerQuery must be a whole number of bytes ≥ 10000000/],
    [{ projectionStartDate: '2024/01/01' }, /projectionStartDate must be YYYY-MM-DD/],
    [{ databaseName: 'My-Db' }, /databaseName must be lower-case/],
    [{ resultsExpiration: Duration.hours(12) }, /resultsExpiration must be whole days/],
  ] as Array<[Partial<ArchiveCatalogProps>, RegExp]>)('refuses contradictory or invalid props: %o', (props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  it('refuses settings for a results bucket it does not create', () => {
    const s = testStack('Contradiction');
    const archive = new s3.Bucket(s, 'Archive');
    expect(() => new ArchiveCatalog(s, 'C', { bucket: archive, resultsBucket: archive, resultsExpiration: Duration.days(1) })).toThrow(/cannot be set with resultsBucket/);
  });
});
