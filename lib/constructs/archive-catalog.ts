import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX } from '../resources.ts';

/** Athena's smallest per-query scan limit (10 MB). */
export const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;
const EVENTS_PREFIX = 'events/';
const RESULTS_PREFIX = 'athena-results/';

export interface ArchiveCatalogProps {
  /** The archive bucket; the table reads its `events/` prefix. */
  readonly bucket: s3.IBucket;
  /**
   * Name prefix shared with the rest of the stack (see lib/resources.ts).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Glue database name (lower-case letters, digits and `_`, so Athena needs no quoting).
   * @default `<prefix>_archive`, with `-` turned into `_`
   */
  readonly databaseName?: string;
  /**
   * Glue table name.
   * @default 'events'
   */
  readonly tableName?: string;
  /**
   * First date (`YYYY-MM-DD`, or a relative `NOW-…` such as `NOW-3YEARS`) that partition
   * projection generates for `dt`; queries see nothing before it.
   * @default '2024-01-01'
   */
  readonly projectionStartDate?: string;
  /**
   * Athena workgroup name.
   * @default `<prefix>-archive`
   */
  readonly workGroupName?: string;
  /**
   * Largest number of bytes one query may scan before Athena cancels it (at least 10 MB).
   * @default 10 GiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /**
   * Bucket for query results (written under `athena-results/`).
   * @default - a new bucket: SSE-S3, TLS only, public access blocked, results expiring after `resultsExpiration`
   */
  readonly resultsBucket?: s3.IBucket;
  /**
   * How long query results are kept, in the bucket created here.
   * @default Duration.days(7)
   */
  readonly resultsExpiration?: Duration;
  /**
   * Where the results bucket created here sends its server access logs (for example
   * `Storage.accessLogsBucket`).
   * @default - no access logs (acknowledged for cdk-nag: results are disposable query output)
   */
  readonly serverAccessLogsBucket?: s3.IBucket;
  /**
   * Removal policy of the results bucket created here.
   * @default RemovalPolicy.RETAIN
   */
  readonly resultsRemovalPolicy?: RemovalPolicy;
}

/** The archive's table columns: the Parquet schema of functions/shared/archive/parquet.ts. */
export const ARCHIVE_TABLE_COLUMNS: readonly glue.Column[] = [
  { name: 'name', type: glue.Schema.STRING, comment: 'Metric name' },
  { name: 'ts', type: glue.Schema.TIMESTAMP, comment: 'Event time (UTC, ms)' },
  { name: 'type', type: glue.Schema.STRING, comment: 'count | gauge | distribution' },
  { name: 'value', type: glue.Schema.DOUBLE },
  { name: 'tags', type: glue.Schema.STRING, comment: "JSON object, keys sorted: json_extract_scalar(tags, '$.env')" },
  { name: 'id', type: glue.Schema.STRING, comment: 'Client event id, or null' },
  { name: 'attrs', type: glue.Schema.STRING, comment: 'JSON object, or null' },
  { name: '_shard', type: glue.Schema.STRING, comment: 'Lineage: Kinesis shard' },
  { name: '_seq', type: glue.Schema.STRING, comment: 'Lineage: sequence number (decimal)' },
  { name: '_sub', type: glue.Schema.INTEGER, comment: 'Lineage: position in the record' },
  { name: '_ingested_at', type: glue.Schema.TIMESTAMP, comment: 'Arrival in Kinesis (UTC, ms)' },
  { name: 'start', type: glue.Schema.TIMESTAMP, comment: "A cumulative point's start (UTC, ms), or null (also in files written before the column)" },
  { name: 'agg', type: glue.Schema.STRING, comment: 'A pre-aggregated point (count, sum, min, max, buckets) as JSON, or null' },
];

/**
 * SQL of the reader rule (functions/shared/archive/keys.ts) over `from` (a table or a table
 * function) filtered by `where`: one row per event, before, during and after compaction. Works in
 * Athena (Trino) and DuckDB alike.
 */
export function readerRuleSql(from: string, where: string): string {
  return [
    'SELECT name, ts, type, value, tags, id, attrs, _shard, _seq, _sub, _ingested_at, start, agg, tenant, dt, hour',
    'FROM (',
    '  SELECT *, row_number() OVER (',
    // A lineage is one event; its copies are identical rows, so any one of them will do.
    '    PARTITION BY _shard, _seq, _sub) AS rn',
    `  FROM ${from}`,
    `  WHERE ${where}`,
    ')',
    'WHERE rn = 1',
  ].join('\n');
}

/** The view holding one row per event: the same name locally (`npm run sql`) and in Athena. */
export const DEDUPLICATED_VIEW = 'events_deduplicated';

/**
 * The reader rule as a view body over `from`: lineages are numbered within their partition-hour
 * (a lineage is one event, so it lives in one partition-hour only: the same rows as
 * `readerRuleSql`), which lets Athena push a query's `tenant`/`dt`/`hour` predicates through the
 * window into partition projection. Athena and DuckDB alike.
 */
export function deduplicatedViewSql(from: string): string {
  return [
    'SELECT name, ts, type, value, tags, id, attrs, _shard, _seq, _sub, _ingested_at, start, agg, tenant, dt, hour',
    'FROM (',
    '  SELECT *, row_number() OVER (PARTITION BY tenant, dt, hour, _shard, _seq, _sub) AS rn',
    `  FROM ${from}`,
    ')',
    'WHERE rn = 1',
  ].join('\n');
}

/** The saved query creating the view in the Glue database (run it once per deployment). */
export function createDeduplicatedViewSql(database: string, table: string): string {
  return [
    `-- One row per event under the reader rule (functions/shared/archive/keys.ts); \`npm run sql\` has the same view locally.`,
    `CREATE OR REPLACE VIEW "${database}"."${DEDUPLICATED_VIEW}" AS`,
    deduplicatedViewSql(`"${database}"."${table}"`),
  ].join('\n');
}

/** The saved query: the reader rule over the Glue table, for one tenant and a date range. */
export function deduplicatedEventsSql(database: string, table: string): string {
  return [
    '-- One row per event under the reader rule (functions/shared/archive/keys.ts). Set the tenant and the range.',
    readerRuleSql(`"${database}"."${table}"`, "tenant = 'acme' AND dt BETWEEN '2026-11-28' AND '2026-11-28' AND hour BETWEEN 0 AND 23"),
  ].join('\n');
}

/**
 * The archive as a SQL table: a Glue database and table over `events/` with partition projection
 * (`tenant` injected, `dt` a date, `hour` an integer — no crawler, no partition management), and
 * an Athena workgroup (engine v3) with an encrypted results location, a per-query scan limit and
 * a saved query applying the reader rule.
 */
export class ArchiveCatalog extends Construct {
  public readonly database: glue.Database;
  public readonly table: glue.S3Table;
  public readonly workGroup: athena.CfnWorkGroup;
  public readonly resultsBucket: s3.IBucket;
  /** `s3://<results bucket>/athena-results/` */
  public readonly resultsLocation: string;
  public readonly deduplicatedQuery: athena.CfnNamedQuery;
  /** The saved query creating the view `events_deduplicated`. */
  public readonly viewQuery: athena.CfnNamedQuery;
  private readonly bucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: ArchiveCatalogProps) {
    super(scope, id);
    const prefix = props.prefix ?? DEFAULT_PREFIX;
    const databaseName = props.databaseName ?? `${prefix.replace(/-/g, '_')}_archive`;
    const tableName = props.tableName ?? 'events';
    const startDate = props.projectionStartDate ?? '2024-01-01';
    const cutoff = props.bytesScannedCutoffPerQuery ?? 10 * 1024 ** 3;
    validate({ databaseName, tableName, startDate, cutoff, props });
    this.bucket = props.bucket;

    this.database = new glue.Database(this, 'Database', {
      databaseName,
      description: 'streamfold: archived events (Parquet) for Athena',
    });

    this.table = new glue.S3Table(this, 'Table', {
      database: this.database,
      tableName,
      description: 'Every archived event; partitions are projected, one row per event under the reader rule (see the saved query).',
      storage: glue.S3TableStorage.fromBucket(props.bucket),
      s3Prefix: EVENTS_PREFIX,
      dataFormat: glue.DataFormat.PARQUET,
      columns: [...ARCHIVE_TABLE_COLUMNS],
      partitionKeys: [
        { name: 'tenant', type: glue.Schema.STRING },
        { name: 'dt', type: glue.Schema.STRING, comment: 'UTC date of ts, YYYY-MM-DD' },
        { name: 'hour', type: glue.Schema.INTEGER, comment: 'UTC hour of ts, 0-23' },
      ],
      partitionProjection: {
        tenant: glue.PartitionProjectionConfiguration.injected(),
        dt: glue.PartitionProjectionConfiguration.date({
          min: startDate,
          max: 'NOW',
          format: 'yyyy-MM-dd',
          step: { interval: 1, intervalUnit: glue.DateIntervalUnit.DAYS },
        }),
        hour: glue.PartitionProjectionConfiguration.integer({ min: 0, max: 23, digits: 2 }),
      },
      parameters: {
        'storage.location.template': `s3://${props.bucket.bucketName}/${EVENTS_PREFIX}tenant=\${tenant}/dt=\${dt}/hour=\${hour}/`,
      },
      // The bucket is encrypted server-side (SSE-S3); this flag means client-side encryption.
      hasEncryptedData: false,
    });

    if (props.resultsBucket !== undefined) {
      this.resultsBucket = props.resultsBucket;
    } else {
      const results = new s3.Bucket(this, 'Results', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [
          { id: 'expire-results', expiration: props.resultsExpiration ?? Duration.days(7), abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ],
        removalPolicy: props.resultsRemovalPolicy ?? RemovalPolicy.RETAIN,
        ...(props.serverAccessLogsBucket && {
          serverAccessLogsBucket: props.serverAccessLogsBucket,
          serverAccessLogsPrefix: 'athena-results/',
        }),
      });
      if (!props.serverAccessLogsBucket) {
        Validations.of(results).acknowledge({
          id: 'AwsSolutions-S1',
          reason: 'Athena query results are disposable and expire within days; queries are audited by CloudTrail.',
        });
      }
      this.resultsBucket = results;
    }
    this.resultsLocation = `s3://${this.resultsBucket.bucketName}/${RESULTS_PREFIX}`;

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName ?? `${prefix}-archive`,
      description: 'streamfold archive queries',
      state: 'ENABLED',
      // Lets CloudFormation delete the workgroup along with its saved queries.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: cutoff,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: this.resultsLocation,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: Stack.of(this).account,
        },
      },
    });

    this.deduplicatedQuery = new athena.CfnNamedQuery(this, 'DeduplicatedEvents', {
      name: 'events-deduplicated',
      description: 'Archived events, one row per event (reader rule); set the tenant and the date range',
      database: databaseName,
      workGroup: this.workGroup.name,
      queryString: deduplicatedEventsSql(databaseName, tableName),
    });
    this.deduplicatedQuery.node.addDependency(this.workGroup, this.database);

    this.viewQuery = new athena.CfnNamedQuery(this, 'CreateDeduplicatedView', {
      name: `create-${DEDUPLICATED_VIEW}`,
      description: `Creates the view ${DEDUPLICATED_VIEW}: one row per event (reader rule), queried as locally with npm run sql`,
      database: databaseName,
      workGroup: this.workGroup.name,
      queryString: createDeduplicatedViewSql(databaseName, tableName),
    });
    this.viewQuery.node.addDependency(this.workGroup, this.database);
  }

  /**
   * Lets `grantee` run queries in the workgroup: start, watch and read its queries, read the table
   * definition, read `events/` of the archive bucket and read and write the results location.
   */
  public grantQuery(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    const workGroupArn = stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.workGroup.name });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
      resourceArns: [workGroupArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartition', 'glue:GetPartitions'],
      resourceArns: [stack.formatArn({ service: 'glue', resource: 'catalog' }), this.database.databaseArn, this.table.tableArn],
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects(`${EVENTS_PREFIX}*`)] });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket', 's3:GetBucketLocation'], resourceArns: [this.bucket.bucketArn, this.resultsBucket.bucketArn] });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: [this.resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`)],
    });
    const role = grantee.grantPrincipal instanceof iam.Role ? grantee.grantPrincipal : undefined;
    if (role) {
      for (const [bucket, prefix] of [
        [this.bucket, EVENTS_PREFIX],
        [this.resultsBucket, RESULTS_PREFIX],
      ] as const) {
        const cfn = bucket.node.defaultChild;
        if (!(cfn instanceof s3.CfnBucket)) continue; // an imported bucket: its finding names the ARN; acknowledge it where it is imported
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${stack.resolve(cfn.logicalId) as string}.Arn>/${prefix}*]`,
          reason:
            'Athena reads every object of the queried partitions and writes results under per-query keys: ' +
            `access is scoped to the ${prefix} prefix.`,
        });
      }
    }
  }
}

function validate(v: { databaseName: string; tableName: string; startDate: string; cutoff: number; props: ArchiveCatalogProps }): void {
  const fail = (message: string): never => {
    throw new Error(`ArchiveCatalog: ${message}`);
  };
  if (!/^[a-z0-9_]{1,255}$/.test(v.databaseName)) fail(`databaseName must be lower-case letters, digits and "_", got ${JSON.stringify(v.databaseName)}`);
  if (!/^[a-z0-9_]{1,255}$/.test(v.tableName)) fail(`tableName must be lower-case letters, digits and "_", got ${JSON.stringify(v.tableName)}`);
  const fixed = /^\d{4}-\d{2}-\d{2}$/.test(v.startDate) && !Number.isNaN(Date.parse(`${v.startDate}T00:00:00Z`));
  const relative = /^NOW(-\d+(YEARS|MONTHS|WEEKS|DAYS))?$/.test(v.startDate);
  if (!fixed && !relative) fail(`projectionStartDate must be YYYY-MM-DD or NOW-<n>YEARS|MONTHS|WEEKS|DAYS, got ${JSON.stringify(v.startDate)}`);
  if (!Token.isUnresolved(v.cutoff) && (!Number.isInteger(v.cutoff) || v.cutoff < MIN_BYTES_SCANNED_CUTOFF)) {
    fail(`bytesScannedCutoffPerQuery must be a whole number of bytes ≥ ${MIN_BYTES_SCANNED_CUTOFF} (Athena's minimum), got ${v.cutoff}`);
  }
  if (v.props.resultsBucket !== undefined && (v.props.resultsExpiration !== undefined || v.props.serverAccessLogsBucket !== undefined || v.props.resultsRemovalPolicy !== undefined)) {
    fail('resultsExpiration, serverAccessLogsBucket and resultsRemovalPolicy apply to the results bucket created here; they cannot be set with resultsBucket');
  }
  const exp = v.props.resultsExpiration;
  if (exp !== undefined && !exp.isUnresolved()) {
    const days = exp.toDays({ integral: false });
    if (!Number.isInteger(days) || days < 1) fail(`resultsExpiration must be whole days ≥ 1, got ${days}`);
  }
}
