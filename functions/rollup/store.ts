/**
 * DynamoDB adapter of the rollup port (port.ts), over the low-level commands with attribute values
 * built by the item codec (functions/shared/rollups/item.ts: numbers as JavaScript prints them,
 * read back with `Number`, never through the document client's safe-integer checks). SDK errors
 * become domain errors: ConditionalCheckFailed -> ConditionFailedError; throttling, 5xx and
 * network -> retryable RollupStoreError; other service errors -> non-retryable RollupStoreError.
 * Anything else (a bug) is rethrown as is.
 */
import {
  BatchGetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { bucketFromItem, bucketToItem, numberAttribute, stringMapAttribute, type StoredBucket } from '../shared/rollups/item.ts';
import { indexPk, itemId, metricsPk, type ItemKey } from '../shared/rollups/keys.ts';
import { ConditionFailedError, RollupStoreError, type BucketRead, type MetricEntry, type RollupStore, type SeriesEntry } from './port.ts';

/** Error names DynamoDB (or the SDK) uses for what may succeed later. */
export const RETRYABLE_ERRORS: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/** The slice of an SDK client the adapter uses (a DynamoDBClient or the shared document client). */
export interface DynamoSender {
  send(command: BatchGetItemCommand | PutItemCommand | UpdateItemCommand): Promise<unknown>;
}

export class DynamoRollupStore implements RollupStore {
  constructor(
    private readonly client: DynamoSender,
    private readonly tableName: string,
  ) {}

  async readBuckets(keys: readonly ItemKey[]): Promise<BucketRead> {
    let res: BatchGetItemCommandOutput;
    try {
      res = (await this.client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [this.tableName]: { Keys: keys.map((k) => ({ pk: { S: k.pk }, sk: { S: k.sk } })), ConsistentRead: true },
          },
        }),
      )) as BatchGetItemCommandOutput;
    } catch (err) {
      throw toStoreError(err, `BatchGetItem of ${keys.length} keys`);
    }
    const items = new Map<string, StoredBucket>();
    for (const av of res.Responses?.[this.tableName] ?? []) {
      items.set(itemId({ pk: av.pk!.S!, sk: av.sk!.S! }), bucketFromItem(av));
    }
    const unprocessed = (res.UnprocessedKeys?.[this.tableName]?.Keys ?? []).map((k) => ({ pk: k.pk!.S!, sk: k.sk!.S! }));
    return { items, unprocessed };
  }

  async writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: bucketToItem(key, item),
          ...(expectedVer === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#ver = :ver',
                ExpressionAttributeNames: { '#ver': 'ver' },
                ExpressionAttributeValues: { ':ver': numberAttribute(expectedVer) },
              }),
        }),
      );
    } catch (err) {
      throw toStoreError(err, `PutItem ${key.pk} ${key.sk}`);
    }
  }

  async touchSeries(e: SeriesEntry): Promise<void> {
    await this.touch(
      { pk: indexPk(e.tenant, e.name), sk: e.seriesId },
      'SET #tags = if_not_exists(#tags, :tags), #type = if_not_exists(#type, :type), #first = if_not_exists(#first, :first), #last = :last, #ttl = :ttl',
      { '#tags': 'tags', '#type': 'type', '#first': 'firstSeen', '#last': 'lastSeen', '#ttl': 'ttl' },
      { ':tags': { M: stringMapAttribute(e.tags) }, ':type': { S: e.type }, ':first': numberAttribute(e.firstSeen), ':last': numberAttribute(e.lastSeen), ':ttl': numberAttribute(e.ttl) },
    );
  }

  async touchMetric(e: MetricEntry): Promise<void> {
    await this.touch(
      { pk: metricsPk(e.tenant), sk: e.name },
      'SET #type = if_not_exists(#type, :type), #last = :last, #ttl = :ttl',
      { '#type': 'type', '#last': 'lastSeen', '#ttl': 'ttl' },
      { ':type': { S: e.type }, ':last': numberAttribute(e.lastSeen), ':ttl': numberAttribute(e.ttl) },
    );
  }

  /** Idempotent max update: applies only when the stored lastSeen is older (or absent). */
  private async touch(
    key: ItemKey,
    update: string,
    names: Record<string, string>,
    values: Record<string, AttributeValue>,
  ): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: key.pk }, sk: { S: key.sk } },
          UpdateExpression: update,
          ConditionExpression: 'attribute_not_exists(#last) OR #last < :last',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      const e = toStoreError(err, `UpdateItem ${key.pk} ${key.sk}`);
      // The entry already has a newer lastSeen: nothing to do.
      if (e instanceof ConditionFailedError) return;
      throw e;
    }
  }
}

/** SDK error -> domain error; errors that are not from the SDK or the network are returned as is. */
export function toStoreError(err: unknown, what: string): unknown {
  if (err instanceof RollupStoreError) return err;
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (e === null || typeof e !== 'object') return err;
  const name = e.name ?? 'Error';
  if (name === 'ConditionalCheckFailedException') return new ConditionFailedError(`${what}: the item changed since it was read`, err);
  const status = e.$metadata?.httpStatusCode;
  const fromService = e.$metadata !== undefined;
  const network = e.code !== undefined && NETWORK_CODES.has(e.code);
  if (!fromService && !network && !RETRYABLE_ERRORS.has(name)) return err;
  const retryable = RETRYABLE_ERRORS.has(name) || network || (status !== undefined && status >= 500) || e.$retryable !== undefined;
  return new RollupStoreError(`${what}: ${name}: ${e.message ?? ''}`, { code: name, retryable, cause: err });
}
