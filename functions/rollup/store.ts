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
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type GetItemCommandOutput,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { classifyAwsError } from '../shared/aws-errors.ts';
import { emptyHead, headFromItem, headToItem, type ShardHead } from '../shared/rollups/head.ts';
import { bucketFromItem, bucketToItem, numberAttribute, stringMapAttribute, type StoredBucket } from '../shared/rollups/item.ts';
import { HEAD_SK, SHARDS_PK, headPk, indexPk, itemId, logItemKey, metricsPk, type ItemKey } from '../shared/rollups/keys.ts';
import {
  ConditionFailedError,
  RollupStoreError,
  type BucketRead,
  type LogItem,
  type LogKey,
  type LogRead,
  type MetricEntry,
  type RollupStore,
  type SeriesEntry,
} from './port.ts';

/** The slice of an SDK client the adapter uses (a DynamoDBClient or the shared document client). */
export interface DynamoSender {
  send(command: BatchGetItemCommand | GetItemCommand | PutItemCommand | QueryCommand | UpdateItemCommand): Promise<unknown>;
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
    const key = { pk: metricsPk(e.tenant), sk: e.name };
    const fresh = await this.touch(
      key,
      `SET #type = if_not_exists(#type, :type), #last = :last, #ttl = :ttl${e.shardId !== undefined ? ' ADD #sh :sh' : ''}`,
      { '#type': 'type', '#last': 'lastSeen', '#ttl': 'ttl', ...(e.shardId !== undefined ? { '#sh': 'shards' } : {}) },
      { ':type': { S: e.type }, ':last': numberAttribute(e.lastSeen), ':ttl': numberAttribute(e.ttl), ...(e.shardId !== undefined ? { ':sh': { SS: [e.shardId] } } : {}) },
    );
    if (fresh || e.shardId === undefined) return;
    // The entry has a newer lastSeen already (so it exists): add the shard alone.
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: key.pk }, sk: { S: key.sk } },
          UpdateExpression: 'ADD #sh :sh',
          ExpressionAttributeNames: { '#sh': 'shards' },
          ExpressionAttributeValues: { ':sh': { SS: [e.shardId] } },
        }),
      );
    } catch (err) {
      throw toStoreError(err, `UpdateItem ${key.pk} ${key.sk}`);
    }
  }

  async readHead(shardId: string): Promise<ShardHead> {
    let res: GetItemCommandOutput;
    try {
      res = (await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: headPk(shardId) }, sk: { S: HEAD_SK } }, ConsistentRead: true }),
      )) as GetItemCommandOutput;
    } catch (err) {
      throw toStoreError(err, `GetItem ${headPk(shardId)}`);
    }
    return res.Item === undefined ? emptyHead(shardId) : headFromItem(shardId, res.Item);
  }

  async writeHead(head: ShardHead, expectedVer: number): Promise<void> {
    const item = headToItem(head);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ...(expectedVer === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: '#ver = :ver', ExpressionAttributeNames: { '#ver': 'ver' }, ExpressionAttributeValues: { ':ver': numberAttribute(expectedVer) } }),
        }),
      );
    } catch (err) {
      throw toStoreError(err, `PutItem ${headPk(head.shardId)}`);
    }
  }

  async putLog(l: LogItem): Promise<void> {
    const key = logItemKey(l);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { pk: { S: key.pk }, sk: { S: key.sk }, d: { B: l.data }, parts: numberAttribute(l.parts), ttl: numberAttribute(l.ttl) },
        }),
      );
    } catch (err) {
      throw toStoreError(err, `PutItem ${key.pk} ${key.sk}`);
    }
  }

  async readLog(keys: readonly LogKey[]): Promise<LogRead> {
    let res: BatchGetItemCommandOutput;
    try {
      res = (await this.client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [this.tableName]: {
              Keys: keys.map((k) => ({ pk: { S: k.pk }, sk: { S: k.sk } })),
              ConsistentRead: true,
              ProjectionExpression: 'pk, sk, d',
            },
          },
        }),
      )) as BatchGetItemCommandOutput;
    } catch (err) {
      throw toStoreError(err, `BatchGetItem of ${keys.length} log keys`);
    }
    const items = new Map<string, Uint8Array>();
    for (const av of res.Responses?.[this.tableName] ?? []) {
      if (av.d?.B !== undefined) items.set(itemId({ pk: av.pk!.S!, sk: av.sk!.S! }), new Uint8Array(av.d.B));
    }
    const unprocessed = (res.UnprocessedKeys?.[this.tableName]?.Keys ?? []).map((k) => ({ pk: k.pk!.S!, sk: k.sk!.S! }));
    return { items, unprocessed };
  }

  async registerShard(shardId: string): Promise<void> {
    try {
      await this.client.send(new PutItemCommand({ TableName: this.tableName, Item: { pk: { S: SHARDS_PK }, sk: { S: shardId } } }));
    } catch (err) {
      throw toStoreError(err, `PutItem ${SHARDS_PK} ${shardId}`);
    }
  }

  async listShards(): Promise<string[]> {
    const out: string[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      let res: QueryCommandOutput;
      try {
        res = (await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: SHARDS_PK } },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        )) as QueryCommandOutput;
      } catch (err) {
        throw toStoreError(err, `Query ${SHARDS_PK}`);
      }
      for (const i of res.Items ?? []) if (i.sk?.S !== undefined) out.push(i.sk.S);
      start = res.LastEvaluatedKey;
    } while (start !== undefined);
    return out;
  }

  /**
   * Idempotent max update: applies only when the stored lastSeen is older (or absent). True when
   * it applied.
   */
  private async touch(
    key: ItemKey,
    update: string,
    names: Record<string, string>,
    values: Record<string, AttributeValue>,
  ): Promise<boolean> {
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
      return true;
    } catch (err) {
      const e = toStoreError(err, `UpdateItem ${key.pk} ${key.sk}`);
      // The entry already has a newer lastSeen: nothing to do.
      if (e instanceof ConditionFailedError) return false;
      throw e;
    }
  }
}


/** SDK error -> domain error (aws-errors.ts); errors that are not from the SDK or the network are returned as is. */
export function toStoreError(err: unknown, what: string): unknown {
  if (err instanceof RollupStoreError) return err;
  const c = classifyAwsError(err);
  if (c.conditionFailed) return new ConditionFailedError(`${what}: the item changed since it was read`, err);
  if (!c.fromService) return err;
  return new RollupStoreError(`${what}: ${c.code}: ${c.message}`, { code: c.code, retryable: c.retryable, cause: err });
}
