import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { StreamfoldApi, type StreamfoldApiProps } from './constructs/api.ts';
import { Archive, type ArchiveProps } from './constructs/archive.ts';
import { EventStream, type EventStreamProps } from './constructs/event-stream.ts';
import { Intake } from './constructs/intake.ts';
import { Query } from './constructs/query.ts';
import { Monitoring, type MonitoringProps } from './constructs/monitoring.ts';
import { Rollup, type RollupProps } from './constructs/rollup.ts';
import { Storage, type StorageProps } from './constructs/storage.ts';
import { DEFAULT_PREFIX, TABLES, type TableKey } from './resources.ts';

export interface StreamfoldStackProps extends StackProps {
  /**
   * Prefix of every physical name (stream, tables, bucket, dashboard); see lib/resources.ts.
   * Two deployments in one account and region need different prefixes.
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Stream settings.
   * @default - on-demand, AWS-managed KMS key, 24 h retention
   */
  readonly stream?: Omit<EventStreamProps, 'prefix'>;
  /**
   * Table and bucket settings.
   * @default - see StorageProps (deletion protection on, RETAIN, tiering after 30/180 days)
   */
  readonly storage?: Omit<StorageProps, 'prefix'>;
  /**
   * Alarm settings.
   * @default - see MonitoringProps (no e-mail subscription)
   */
  readonly monitoring?: Omit<MonitoringProps, 'prefix'>;
  /**
   * HTTP API settings (throttling, CORS origins, custom domain).
   * @default - see StreamfoldApiProps (1000 rps, burst 2000, no CORS, execute-api URL only)
   */
  readonly api?: Omit<StreamfoldApiProps, 'prefix'>;
  /**
   * Rollup settings (TTLs, parallelization factor, batching window).
   * @default - see RollupProps (FUNCTIONS.rollup, TTLs 15 d / 400 d)
   */
  readonly rollup?: Omit<RollupProps, 'stream' | 'storage' | 'monitoring' | 'prefix'>;
  /**
   * Archive, compaction and catalog settings.
   * @default - see ArchiveProps (FUNCTIONS.archive and .compact, hourly compaction)
   */
  readonly archive?: Omit<ArchiveProps, 'stream' | 'storage' | 'monitoring' | 'prefix' | 'rollupTtl1hDays'>;
}

/** Composes the flows of streamfold; each construct owns its resources. */
export class StreamfoldStack extends Stack {
  public readonly events: EventStream;
  public readonly storage: Storage;
  public readonly monitoring: Monitoring;
  public readonly api: StreamfoldApi;
  public readonly intake: Intake;
  public readonly query: Query;
  public readonly rollup: Rollup;
  public readonly archive: Archive;

  constructor(scope: Construct, id: string, props: StreamfoldStackProps = {}) {
    super(scope, id, props);
    const prefix = props.prefix ?? DEFAULT_PREFIX;

    this.events = new EventStream(this, 'Events', { ...props.stream, prefix });
    this.storage = new Storage(this, 'Storage', { ...props.storage, prefix });
    this.monitoring = new Monitoring(this, 'Monitoring', { ...props.monitoring, prefix });

    this.monitoring.monitorStream(this.events);
    for (const key of Object.keys(TABLES) as TableKey[]) {
      this.monitoring.monitorTable(key, this.storage.tables[key]);
    }

    this.api = new StreamfoldApi(this, 'Api', { ...props.api, prefix });
    this.monitoring.monitorApi('Api', this.api);
    // The rollups' 1 h retention bounds what the intake accepts and the archive keeps: one prop.
    const rollupTtl1hDays = props.rollup?.ttl1hDays;
    this.intake = new Intake(this, 'Intake', {
      stream: this.events,
      storage: this.storage,
      api: this.api,
      monitoring: this.monitoring,
      prefix,
      rollupTtl1hDays,
    });

    const flow = { stream: this.events, storage: this.storage, monitoring: this.monitoring, prefix };
    this.rollup = new Rollup(this, 'Rollup', { ...props.rollup, ...flow });
    this.archive = new Archive(this, 'Archive', { ...props.archive, ...flow, rollupTtl1hDays });

    this.query = new Query(this, 'Query', {
      storage: this.storage,
      api: this.api,
      monitoring: this.monitoring,
      prefix,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the HTTP API (POST /v1/events)',
    });
    if (this.api.domainName) {
      new CfnOutput(this, 'ApiDomainTarget', {
        value: this.api.domainName.regionalDomainName,
        description: 'Point a CNAME (or alias) record of the custom domain here',
      });
    }

    new CfnOutput(this, 'StreamName', { value: this.events.stream.streamName });
    new CfnOutput(this, 'StreamArn', { value: this.events.stream.streamArn });
    for (const key of Object.keys(TABLES) as TableKey[]) {
      new CfnOutput(this, `${key.charAt(0).toUpperCase()}${key.slice(1)}TableName`, {
        value: this.storage.tables[key].tableName,
      });
    }
    new CfnOutput(this, 'ArchiveBucketName', { value: this.storage.archiveBucket.bucketName });
    new CfnOutput(this, 'GlueDatabaseName', { value: this.archive.catalog.database.databaseName });
    new CfnOutput(this, 'GlueTableName', { value: this.archive.catalog.table.tableName });
    new CfnOutput(this, 'AthenaWorkGroupName', { value: this.archive.catalog.workGroup.ref });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.alarmTopic.topicArn });
  }
}
