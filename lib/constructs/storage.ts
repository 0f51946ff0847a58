import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  BUCKETS,
  DEFAULT_PREFIX,
  PROVISIONED_TARGET_UTILIZATION_PERCENT,
  TABLES,
  resourceNames,
  type KeyDef,
  type ProvisionedCapacity,
  type TableCapacity,
  type TableDef,
  type TableKey,
} from '../resources.ts';

/** Storage classes the archive's `events/` objects may move to first. */
export type ArchiveTransitionStorageClass = 'INTELLIGENT_TIERING' | 'STANDARD_IA';

/**
 * Exactly the actions each function calls, never CDK's grant*Data bundles (which add Scan,
 * ConditionCheckItem, DeleteItem, BatchWriteItem, ...); test/infra/least-privilege.test.ts pins
 * every role's actions and resources.
 * - `lookup`: GetItem only (the API functions authenticate keys by their hash).
 * - `read`: GetItem, BatchGetItem and Query (the query function).
 * - `claim`: GetItem and PutItem (the intake's idempotency records: read, claim, complete).
 * - `merge`: GetItem, BatchGetItem, PutItem and UpdateItem: read items by key and write them back
 *   (the rollup's commits and folds); no Query, Scan, delete or batch write.
 * - `fold`: merge plus Query (the rollup sweeper lists the shards with a log).
 */
export type TableAccess = 'lookup' | 'read' | 'claim' | 'merge' | 'fold';

const MERGE_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
const TABLE_ACTIONS: Readonly<Record<TableAccess, readonly string[]>> = {
  lookup: ['dynamodb:GetItem'],
  read: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'],
  claim: ['dynamodb:GetItem', 'dynamodb:PutItem'],
  merge: MERGE_ACTIONS,
  fold: [...MERGE_ACTIONS, 'dynamodb:Query'],
};

/**
 * - `read`: get objects under `events/`, list keys under `events/` (query). Nothing reads
 *   `quarantine/` but an operator: it holds every tenant's rejected raw records.
 * - `write`: put objects under `events/` and `quarantine/` (archive).
 * - `compact`: get, put and delete under `events/`, list keys under `events/` (compaction replaces
 *   small files).
 */
export type ArchiveAccess = 'read' | 'write' | 'compact';

export interface StorageProps {
  /**
   * Name prefix shared with the embedded stack (see `resourceNames` in lib/resources.ts).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Capacity mode of the rollups table, the one table whose throughput grows with the load. At a
   * steady load (say 1 M events/s: ~3,400 WCU/s) provisioned capacity with auto scaling at 70 %
   * costs under half of on demand ($2,621 against $6,019 a month); see README "Cost and scale". The tenants and idempotency tables stay
   * on demand.
   * @default 'on-demand'
   */
  readonly rollupsCapacity?: TableCapacity;
  /**
   * DynamoDB deletion protection on every table.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Removal policy of the tables and the archive bucket.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * First, cheaper storage class for `events/` objects. Intelligent-Tiering has no retrieval fee
   * and suits the unknown access pattern of ad-hoc Athena queries over old partitions; Standard-IA
   * is cheaper per GB if old data is rarely read, but charges per GB retrieved.
   * @default 'INTELLIGENT_TIERING'
   */
  readonly archiveTransitionStorageClass?: ArchiveTransitionStorageClass;
  /**
   * Age at which `events/` objects move to `archiveTransitionStorageClass` (whole days;
   * at least 30 for Standard-IA, an S3 rule).
   * @default Duration.days(30)
   */
  readonly archiveTransitionAfter?: Duration;
  /**
   * Age at which `events/` objects move to Glacier Instant Retrieval (whole days, later than
   * `archiveTransitionAfter`).
   * @default Duration.days(180)
   */
  readonly archiveGlacierAfter?: Duration;
  /**
   * Age at which quarantined records (`quarantine/`) expire.
   * @default Duration.days(30)
   */
  readonly quarantineExpiration?: Duration;
  /**
   * How long overwritten or deleted object versions are kept (retried batches overwrite their
   * own key; compaction deletes small files).
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * How long S3 server access logs of the archive bucket are kept.
   * @default Duration.days(90)
   */
  readonly accessLogsExpiration?: Duration;
}

const ARCHIVE_EVENTS_PREFIX = 'events/';
const ARCHIVE_QUARANTINE_PREFIX = 'quarantine/';
const ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7);

const ATTRIBUTE_TYPES: Record<KeyDef['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

/**
 * The stateful resources: the DynamoDB tables of `TABLES` and the archive bucket of `BUCKETS`.
 *
 * Tables use `Table` (AWS::DynamoDB::Table), not `TableV2`: TableV2 synthesizes
 * AWS::DynamoDB::GlobalTable, which LocalStack emulates less completely and which cannot take over
 * an existing AWS::DynamoDB::Table without a replacement. streamfold is single-region.
 */
export class Storage extends Construct {
  public readonly tables: Readonly<Record<TableKey, dynamodb.Table>>;
  public readonly archiveBucket: s3.Bucket;
  /** Receives the archive bucket's S3 server access logs. */
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    // Deliver server access logs through a bucket policy, not the legacy LogDeliveryWrite ACL
    // (which needs ACLs enabled on the log bucket). Scoped to this construct, so it holds
    // whatever feature flags the app sets.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const lifecycle = validateLifecycle(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const names = resourceNames(
      props.prefix ?? DEFAULT_PREFIX,
      Stack.of(this).account,
      Stack.of(this).region,
    );

    const rollupsCapacity = validateCapacity('Storage: rollupsCapacity', props.rollupsCapacity ?? 'on-demand');
    const tables = {} as Record<TableKey, dynamodb.Table>;
    for (const [key, def] of Object.entries(TABLES) as [TableKey, TableDef][]) {
      const capacity: TableCapacity = key === 'rollups' ? rollupsCapacity : 'on-demand';
      const table = new dynamodb.Table(this, titleCase(def.id), {
        tableName: names.tables[key],
        partitionKey: attribute(def.partitionKey),
        sortKey: def.sortKey ? attribute(def.sortKey) : undefined,
        timeToLiveAttribute: def.ttlAttribute,
        ...(capacity === 'on-demand'
          ? { billingMode: dynamodb.BillingMode.PAY_PER_REQUEST }
          : { billingMode: dynamodb.BillingMode.PROVISIONED, writeCapacity: capacity.write.min, readCapacity: capacity.read.min }),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: props.deletionProtection ?? true,
        removalPolicy,
      });
      if (capacity !== 'on-demand') {
        // Target tracking through Application Auto Scaling's service-linked role (no role here).
        const targetUtilizationPercent = capacity.targetUtilizationPercent ?? PROVISIONED_TARGET_UTILIZATION_PERCENT;
        table.autoScaleWriteCapacity({ minCapacity: capacity.write.min, maxCapacity: capacity.write.max }).scaleOnUtilization({ targetUtilizationPercent });
        table.autoScaleReadCapacity({ minCapacity: capacity.read.min, maxCapacity: capacity.read.max }).scaleOnUtilization({ targetUtilizationPercent });
      }
      tables[key] = table;
    }
    this.tables = tables;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // S3 server access logging can only deliver to a bucket encrypted with SSE-S3.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-logs', expiration: lifecycle.accessLogsExpiration }],
      removalPolicy,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the server-access-log target of the archive bucket; logging it too would ' +
        'need yet another bucket (or log into itself, which S3 advises against).',
    });

    this.archiveBucket = new s3.Bucket(this, 'Archive', {
      bucketName: names.buckets[BUCKETS.archive.id],
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // SSE-S3: Athena, Glue and every reader work without KMS grants; the data is already
      // access-controlled by bucket and IAM policies.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: `${BUCKETS.archive.id}/`,
      lifecycleRules: [
        {
          id: 'events-tiering',
          prefix: ARCHIVE_EVENTS_PREFIX,
          transitions: [
            {
              storageClass:
                lifecycle.transitionStorageClass === 'STANDARD_IA'
                  ? s3.StorageClass.INFREQUENT_ACCESS
                  : s3.StorageClass.INTELLIGENT_TIERING,
              transitionAfter: lifecycle.transitionAfter,
            },
            {
              storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
              transitionAfter: lifecycle.glacierAfter,
            },
          ],
        },
        {
          id: 'quarantine-expiry',
          prefix: ARCHIVE_QUARANTINE_PREFIX,
          expiration: lifecycle.quarantineExpiration,
        },
        {
          id: 'noncurrent-versions-and-uploads',
          noncurrentVersionExpiration: lifecycle.noncurrentVersionExpiration,
          abortIncompleteMultipartUploadAfter: ABORT_INCOMPLETE_UPLOADS_AFTER,
        },
        { id: 'expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
      removalPolicy,
    });
  }

  /** Grants `fn` access to the rollups table and sets its name variable. */
  public bindRollups(fn: lambda.Function, access: TableAccess): void {
    this.bindTable('rollups', fn, access);
  }

  /** Grants `fn` access to the tenants table and sets its name variable. */
  public bindTenants(fn: lambda.Function, access: TableAccess): void {
    this.bindTable('tenants', fn, access);
  }

  /** Grants `fn` GetItem and PutItem on the idempotency table and sets its name variable. */
  public bindIdempotency(fn: lambda.Function): void {
    this.bindTable('idempotency', fn, 'claim');
  }

  /**
   * Grants `fn` the object-level access of `access` (see {@link ArchiveAccess}) on the archive
   * bucket and sets its name variable. Actions are listed explicitly, never `s3:*`-style.
   */
  public bindArchive(fn: lambda.Function, access: ArchiveAccess): void {
    const bucket = this.archiveBucket;
    const objects = (prefix: string) => bucket.arnForObjects(`${prefix}*`);
    const statements: iam.PolicyStatement[] = [];
    const prefixes = access === 'write' ? [ARCHIVE_EVENTS_PREFIX, ARCHIVE_QUARANTINE_PREFIX] : [ARCHIVE_EVENTS_PREFIX];
    if (access === 'read' || access === 'compact') {
      statements.push(
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [objects(ARCHIVE_EVENTS_PREFIX)] }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${ARCHIVE_EVENTS_PREFIX}*`] } },
        }),
      );
    }
    if (access === 'write' || access === 'compact') {
      statements.push(
        new iam.PolicyStatement({
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: prefixes.map(objects),
        }),
      );
    }
    if (access === 'compact') {
      statements.push(
        new iam.PolicyStatement({
          actions: ['s3:DeleteObject'],
          resources: [objects(ARCHIVE_EVENTS_PREFIX)],
        }),
      );
    }
    for (const statement of statements) fn.addToRolePolicy(statement);
    fn.addEnvironment(BUCKETS.archive.envVar, bucket.bucketName);

    const bucketLogicalId = Stack.of(this).resolve(
      (bucket.node.defaultChild as s3.CfnBucket).logicalId,
    ) as string;
    const role = fn.role;
    if (role) {
      for (const prefix of prefixes) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${prefix}*]`,
          reason:
            `Object keys under ${prefix} are derived from each batch at run time ` +
            '(tenant, date, hour, shard, sequence numbers), so access is scoped to the prefix.',
        });
      }
    }
  }

  private bindTable(key: TableKey, fn: lambda.Function, access: TableAccess): void {
    const table = this.tables[key];
    table.grant(fn, ...TABLE_ACTIONS[access]);
    fn.addEnvironment(TABLES[key].envVar, table.tableName);
  }
}

interface Lifecycle {
  readonly transitionStorageClass: ArchiveTransitionStorageClass;
  readonly transitionAfter: Duration;
  readonly glacierAfter: Duration;
  readonly quarantineExpiration: Duration;
  readonly noncurrentVersionExpiration: Duration;
  readonly accessLogsExpiration: Duration;
}

/** Whole capacity units, min ≤ max, and a target DynamoDB's target tracking accepts; throws at synth. */
export function validateCapacity(name: string, c: TableCapacity): TableCapacity {
  if (c === 'on-demand') return c;
  const p: ProvisionedCapacity = c;
  for (const dim of ['write', 'read'] as const) {
    const { min, max } = p[dim];
    if (!Number.isInteger(min) || min < 1) throw new Error(`${name}.${dim}.min must be a whole number of capacity units ≥ 1 (got ${min})`);
    if (!Number.isInteger(max) || max < min) throw new Error(`${name}.${dim}.max must be a whole number ≥ ${dim}.min (${min}) (got ${max})`);
  }
  const t = p.targetUtilizationPercent;
  if (t !== undefined && !(Number.isFinite(t) && t >= 20 && t <= 90)) {
    throw new Error(`${name}.targetUtilizationPercent must be between 20 and 90 (got ${t})`);
  }
  return p;
}

function validateLifecycle(props: StorageProps): Lifecycle {
  const transitionStorageClass = props.archiveTransitionStorageClass ?? 'INTELLIGENT_TIERING';
  if (transitionStorageClass !== 'INTELLIGENT_TIERING' && transitionStorageClass !== 'STANDARD_IA') {
    throw new Error(
      'Storage: archiveTransitionStorageClass must be INTELLIGENT_TIERING or STANDARD_IA, ' +
        `got ${String(transitionStorageClass)}`,
    );
  }
  const lifecycle: Lifecycle = {
    transitionStorageClass,
    transitionAfter: wholeDays('archiveTransitionAfter', props.archiveTransitionAfter, 30),
    glacierAfter: wholeDays('archiveGlacierAfter', props.archiveGlacierAfter, 180),
    quarantineExpiration: wholeDays('quarantineExpiration', props.quarantineExpiration, 30),
    noncurrentVersionExpiration: wholeDays(
      'noncurrentVersionExpiration',
      props.noncurrentVersionExpiration,
      30,
    ),
    accessLogsExpiration: wholeDays('accessLogsExpiration', props.accessLogsExpiration, 90),
  };
  const transitionDays = lifecycle.transitionAfter.toDays();
  const glacierDays = lifecycle.glacierAfter.toDays();
  if (transitionStorageClass === 'STANDARD_IA' && transitionDays < 30) {
    throw new Error(
      `Storage: archiveTransitionAfter must be at least 30 days for STANDARD_IA, got ${transitionDays}`,
    );
  }
  if (glacierDays <= transitionDays) {
    throw new Error(
      `Storage: archiveGlacierAfter (${glacierDays} d) must be later than ` +
        `archiveTransitionAfter (${transitionDays} d)`,
    );
  }
  return lifecycle;
}

function wholeDays(name: string, value: Duration | undefined, defaultDays: number): Duration {
  const duration = value ?? Duration.days(defaultDays);
  const days = duration.toDays({ integral: false });
  if (!Number.isInteger(days) || days < 1) {
    throw new Error(`Storage: ${name} must be a whole number of days >= 1, got ${days}`);
  }
  return duration;
}

function attribute(key: KeyDef): dynamodb.Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPES[key.type] };
}

function titleCase(id: string): string {
  return id.charAt(0).toUpperCase() + id.slice(1);
}
