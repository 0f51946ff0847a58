/**
 * Creates streamfold's stateful resources (lib/resources.ts) on whatever the standard AWS settings
 * point at: the embedded emulators, LocalStack, or an account where the stack is not deployed.
 * Idempotent: what already exists is left as it is. Waits, by polling with a deadline, until the
 * stream and the tables are ACTIVE.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import { dynamoClient, kinesisClient, s3Client, type ClientEnv } from '../functions/shared/clients.ts';
import { ConfigError, StreamfoldError } from '../functions/shared/errors.ts';
import { backoffCap, realClock } from '../functions/shared/retry.ts';
import {
  BUCKETS,
  DEFAULT_PREFIX,
  STREAM,
  TABLES,
  resourceNames,
  type BucketKey,
  type ResourceNames,
  type TableDef,
  type TableKey,
} from '../lib/resources.ts';

/** The account id of the embedded emulators and of LocalStack. */
export const LOCAL_ACCOUNT = '000000000000';

export interface ProvisionOptions {
  /** @default DEFAULT_PREFIX ('streamfold') */
  readonly prefix?: string;
  /** Account id that goes into bucket names. @default '000000000000' */
  readonly account?: string;
  /** How long to wait for each resource to become ACTIVE. @default 30_000 */
  readonly timeoutMs?: number;
  /** Shards of a stream created here (an existing one keeps its own). @default STREAM.localShards */
  readonly shards?: number;
}

/**
 * - `enabled`: TTL is on (or was already);
 * - `unsupported`: the endpoint has no UpdateTimeToLive (dynalite): items never expire there;
 * - `none`: the table has no TTL attribute.
 */
export type TtlOutcome = 'enabled' | 'unsupported' | 'none';

export interface ProvisionResult {
  readonly names: ResourceNames;
  readonly ttl: Readonly<Record<TableKey, TtlOutcome>>;
}

/** A resource could not be created or did not become ready in time. */
export class ProvisionError extends StreamfoldError {}

export async function provisionResources(
  env: ClientEnv,
  options: ProvisionOptions = {},
): Promise<ProvisionResult> {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new ConfigError('AWS_REGION is not set: it is needed to name the buckets');
  const names = resourceNames(options.prefix ?? DEFAULT_PREFIX, options.account ?? LOCAL_ACCOUNT, region);
  const timeoutMs = options.timeoutMs ?? 30_000;

  const tableKeys = Object.keys(TABLES) as TableKey[];
  const [, ttlOutcomes] = await Promise.all([
    provisionStream(env, names.stream, options.shards ?? STREAM.localShards, timeoutMs),
    Promise.all(tableKeys.map((key) => provisionTable(env, TABLES[key], names.tables[key], timeoutMs))),
    Promise.all(
      (Object.keys(BUCKETS) as BucketKey[]).map((key) => provisionBucket(env, names.buckets[key], region)),
    ),
  ]);
  const ttl = Object.fromEntries(tableKeys.map((key, i) => [key, ttlOutcomes[i]])) as Record<
    TableKey,
    TtlOutcome
  >;
  return { names, ttl };
}

async function provisionStream(env: ClientEnv, name: string, shards: number, timeoutMs: number): Promise<void> {
  const kinesis = kinesisClient(env);
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  } catch (error) {
    if (errorName(error) !== 'ResourceInUseException') {
      throw new ProvisionError(`Could not create stream ${name}`, { cause: error });
    }
  }
  await pollUntil(`stream ${name} to become ACTIVE`, timeoutMs, async () => {
    const { StreamDescriptionSummary: summary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    return summary?.StreamStatus === 'ACTIVE';
  });
}

async function provisionTable(
  env: ClientEnv,
  def: TableDef,
  name: string,
  timeoutMs: number,
): Promise<TtlOutcome> {
  const dynamo = dynamoClient(env);
  const keys = [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])];
  const KeySchema: KeySchemaElement[] = keys.map((k, i) => ({
    AttributeName: k.name,
    KeyType: i === 0 ? 'HASH' : 'RANGE',
  }));
  const AttributeDefinitions: AttributeDefinition[] = keys.map((k) => ({
    AttributeName: k.name,
    AttributeType: k.type,
  }));
  try {
    await dynamo.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema,
        AttributeDefinitions,
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (errorName(error) !== 'ResourceInUseException') {
      throw new ProvisionError(`Could not create table ${name}`, { cause: error });
    }
  }
  await pollUntil(`table ${name} to become ACTIVE`, timeoutMs, async () => {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: name }));
    return Table?.TableStatus === 'ACTIVE';
  });

  if (def.ttlAttribute === undefined) return 'none';
  const { TimeToLiveDescription: ttl } = await dynamo.send(
    new DescribeTimeToLiveCommand({ TableName: name }),
  );
  if (ttl?.TimeToLiveStatus === 'ENABLED' || ttl?.TimeToLiveStatus === 'ENABLING') return 'enabled';
  try {
    await dynamo.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true },
      }),
    );
    return 'enabled';
  } catch (error) {
    // dynalite answers DescribeTimeToLive (always DISABLED) but not UpdateTimeToLive.
    if (errorName(error) === 'UnknownOperationException') return 'unsupported';
    throw new ProvisionError(`Could not enable TTL on table ${name}`, { cause: error });
  }
}

async function provisionBucket(env: ClientEnv, name: string, region: string): Promise<void> {
  const s3 = s3Client(env);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: name }));
    return;
  } catch (error) {
    // Anything but "not found" (403: someone else's bucket, network errors) is a real failure.
    if (errorName(error) !== 'NotFound' && errorName(error) !== 'NoSuchBucket') {
      throw new ProvisionError(`Could not look up bucket ${name}`, { cause: error });
    }
  }
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: name,
        // us-east-1 is the one region that rejects an explicit location constraint.
        ...(region === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
      }),
    );
  } catch (error) {
    if (errorName(error) !== 'BucketAlreadyOwnedByYou') {
      throw new ProvisionError(`Could not create bucket ${name}`, { cause: error });
    }
  }
}

/** Waits between polls: 10 ms, doubling, at most 250 ms (un-jittered: one poller per resource). */
const POLL_BACKOFF = { baseMs: 10, maxMs: 250 };

/** Polls `check` until it returns true; throws once `timeoutMs` has passed. */
async function pollUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      // A resource that was just created may not be visible yet.
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new ProvisionError(
        `Timed out after ${timeoutMs} ms waiting for ${what}` +
          ' (an emulator stopped within milliseconds of creating it leaves it CREATING for ever:' +
          ' delete its data directory)',
        { cause: lastError },
      );
    }
    await realClock.sleep(backoffCap(attempt, POLL_BACKOFF));
  }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
