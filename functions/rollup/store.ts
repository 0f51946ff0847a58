/**
 * DynamoDB adapter of the rollup port (port.ts), over the low-level commands with hand-built
 * attribute values: numbers are written as JavaScript prints them (shortest round-trip form, which
 * DynamoDB stores exactly within its 38 digits) and read back with `Number`, so no value goes
 * through the document client's safe-integer checks. SDK errors become domain errors:
 * ConditionalCheckFailed -> ConditionFailedError; throttling, 5xx and network -> retryable
 * RollupStoreError; other service errors -> non-retryable RollupStoreError. Anything else (a bug)
 * is rethrown as is.
 */
import {
  BatchGetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import type { EventType } from '../shared/event.ts';
import { indexPk, itemId, metricsPk, type ItemKey } from './keys.ts';
import {
  ConditionFailedError,
  RollupStoreError,
  type BucketRead,
  type MetricEntry,
  type RollupStore,
  type SeriesEntry,
  type StoredBucket,
} from './port.ts';

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
                ExpressionAttributeValues: { ':ver': num(expectedVer) },
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
      { ':tags': { M: stringMap(e.tags) }, ':type': { S: e.type }, ':first': num(e.firstSeen), ':last': num(e.lastSeen), ':ttl': num(e.ttl) },
    );
  }

  async touchMetric(e: MetricEntry): Promise<void> {
    await this.touch(
      { pk: metricsPk(e.tenant), sk: e.name },
      'SET #type = if_not_exists(#type, :type), #last = :last, #ttl = :ttl',
      { '#type': 'type', '#last': 'lastSeen', '#ttl': 'ttl' },
      { ':type': { S: e.type }, ':last': num(e.lastSeen), ':ttl': num(e.ttl) },
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

export function bucketToItem(key: ItemKey, b: StoredBucket): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    pk: { S: key.pk },
    sk: { S: key.sk },
    name: { S: b.name },
    type: { S: b.type },
    tags: { M: stringMap(b.tags) },
    count: num(b.count),
    sum: num(b.sum),
    min: num(b.min),
    max: num(b.max),
    ttl: num(b.ttl),
    wm: { M: stringMap(b.wm) },
    ver: num(b.ver),
  };
  if (b.last !== undefined && b.lastTs !== undefined && b.lastLin !== undefined) {
    item.last = num(b.last);
    item.lastTs = num(b.lastTs);
    item.lastLin = { S: b.lastLin };
  }
  if (b.sketch !== undefined) item.sketch = { B: b.sketch };
  if (b.mins !== undefined) item.mins = { B: b.mins };
  return item;
}

export function bucketFromItem(av: Record<string, AttributeValue>): StoredBucket {
  return {
    name: av.name?.S ?? '',
    type: (av.type?.S ?? 'count') as EventType,
    tags: fromStringMap(av.tags),
    count: Number(av.count?.N ?? 0),
    sum: Number(av.sum?.N ?? 0),
    min: Number(av.min?.N),
    max: Number(av.max?.N),
    ...(av.last?.N !== undefined && av.lastTs?.N !== undefined && av.lastLin?.S !== undefined
      ? { last: Number(av.last.N), lastTs: Number(av.lastTs.N), lastLin: av.lastLin.S }
      : {}),
    // Copies: the SDK's bytes may be views into a shared pool, which a remembered item (core.ts
    // RollupCache) would keep alive whole.
    ...(av.sketch?.B !== undefined ? { sketch: new Uint8Array(av.sketch.B) } : {}),
    ...(av.mins?.B !== undefined ? { mins: new Uint8Array(av.mins.B) } : {}),
    ttl: Number(av.ttl?.N ?? 0),
    wm: fromStringMap(av.wm),
    ver: Number(av.ver?.N ?? 0),
  };
}

function num(v: number): AttributeValue {
  if (!Number.isFinite(v)) throw new RangeError(`cannot store ${v} as a DynamoDB number`);
  return { N: String(v) };
}

function stringMap(m: Readonly<Record<string, string>>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const k in m) out[k] = { S: m[k]! };
  return out;
}

function fromStringMap(av: AttributeValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const m = av?.M;
  if (m === undefined) return out;
  for (const k in m) {
    const s = m[k]?.S;
    if (s !== undefined) out[k] = s;
  }
  return out;
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
