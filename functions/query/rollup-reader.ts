/**
 * DynamoDB adapter of the query's rollup port: the metric list, the series index and bucket items
 * (item layout: functions/shared/rollups/keys.ts; bucket items decoded by its item.ts). Every key
 * is built here from the authenticated tenant and a validated name (params.ts), never from raw
 * input. Bucket reads are one Query per series and resolution with `sk BETWEEN`, paginated,
 * projected to the attributes the aggregation needs, run in parallel with bounded concurrency.
 * Minutes of count and gauge series are read from the packed `mins` of their 1 h items
 * (shared/rollups/minutes.ts): 24 items a day instead of 1,440; 1 m items only where an hour's
 * packed minutes miss some of its events (readMinutes). Reads are eventually consistent (half the
 * cost; a query may trail the newest write by about a second).
 */
import { GetItemCommand, QueryCommand, type AttributeValue, type QueryCommandOutput, type GetItemCommandOutput } from '@aws-sdk/client-dynamodb';
import { SETTINGS } from '../../lib/settings.ts';
import { StreamfoldError } from '../shared/errors.ts';
import { bucketMeasuresFromItem, numberOf, stringMapOf } from '../shared/rollups/item.ts';
import { bucketPk, bucketSk, bucketStart, indexPk, metricsPk, parseBucketSk, type Resolution } from '../shared/rollups/keys.ts';
import { formatLastLineage } from '../shared/rollups/lineage.ts';
import { decodeMinutes } from '../shared/rollups/minutes.ts';
import type { EventType } from '../shared/event.ts';
import type { BucketData } from './series.ts';
import { mapPool } from '../shared/pool.ts';

export interface MetricInfo {
  readonly name: string;
  readonly type: EventType;
  /**
   * Epoch ms of the latest event seen (may trail it by up to an hour: shared/rollups/keys.ts,
   * INDEX_REFRESH_MS).
   */
  readonly lastSeen: number;
}

export interface SeriesInfo {
  readonly seriesId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly type: EventType;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/**
 * Which bucket attributes to read: the ones one aggregation needs (`sum` serves sum and avg).
 * `count` is always read (empty buckets are skipped); an attribute not read is 0 or absent in
 * the BucketData returned.
 */
export type BucketFields = 'count' | 'sum' | 'min' | 'max' | 'last' | 'sketch';

/** Attribute name placeholder → attribute, per field set (besides `#sk`). */
const FIELD_NAMES: Readonly<Record<BucketFields, Readonly<Record<string, string>>>> = {
  count: { '#c': 'count' },
  sum: { '#c': 'count', '#s': 'sum' },
  min: { '#c': 'count', '#mn': 'min' },
  max: { '#c': 'count', '#mx': 'max' },
  last: { '#c': 'count', '#l': 'last', '#lt': 'lastTs', '#ll': 'lastLin' },
  sketch: { '#c': 'count', '#k': 'sketch' },
};

export interface RollupReader {
  listMetrics(tenant: string): Promise<MetricInfo[]>;
  getMetric(tenant: string, name: string): Promise<MetricInfo | undefined>;
  listSeries(tenant: string, name: string): Promise<SeriesInfo[]>;
  /**
   * Buckets with start in [first, last] of each series, by series id. `type` is the metric's: it
   * says where its minutes are (shared/rollups/keys.ts).
   */
  readBuckets(
    tenant: string,
    seriesIds: readonly string[],
    res: Resolution,
    first: number,
    last: number,
    fields: BucketFields,
    type: EventType,
  ): Promise<Map<string, BucketData[]>>;
}

export class RollupReadError extends StreamfoldError {}

export interface QuerySender {
  send(command: QueryCommand | GetItemCommand): Promise<unknown>;
}

export class DynamoRollupReader implements RollupReader {
  /** DynamoDB calls made (Query pages and GetItems), for benchmarks. */
  calls = 0;

  constructor(
    private readonly client: QuerySender,
    private readonly tableName: string,
    private readonly concurrency: number = SETTINGS.query.readConcurrency.default,
  ) {}

  async listMetrics(tenant: string): Promise<MetricInfo[]> {
    const items = await this.queryAll({ pk: metricsPk(tenant) });
    return items.map((i) => ({ name: s(i.sk), type: s(i.type) as EventType, lastSeen: numberOf(i.lastSeen) }));
  }

  async getMetric(tenant: string, name: string): Promise<MetricInfo | undefined> {
    this.calls++;
    let res: GetItemCommandOutput;
    try {
      res = (await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: metricsPk(tenant) }, sk: { S: name } } }),
      )) as GetItemCommandOutput;
    } catch (err) {
      throw new RollupReadError(`GetItem ${metricsPk(tenant)} ${name} failed`, { cause: err });
    }
    const i = res.Item;
    return i === undefined ? undefined : { name, type: s(i.type) as EventType, lastSeen: numberOf(i.lastSeen) };
  }

  async listSeries(tenant: string, name: string): Promise<SeriesInfo[]> {
    const items = await this.queryAll({ pk: indexPk(tenant, name) });
    return items.map((i) => ({
      seriesId: s(i.sk),
      tags: stringMapOf(i.tags),
      type: s(i.type) as EventType,
      firstSeen: numberOf(i.firstSeen),
      lastSeen: numberOf(i.lastSeen),
    }));
  }

  async readBuckets(
    tenant: string,
    seriesIds: readonly string[],
    res: Resolution,
    first: number,
    last: number,
    fields: BucketFields,
    type: EventType,
  ): Promise<Map<string, BucketData[]>> {
    const out = new Map<string, BucketData[]>();
    const names: Record<string, string> = { '#sk': 'sk', ...FIELD_NAMES[fields] };
    if (res === '1m') {
      await mapPool(seriesIds, this.concurrency, async (id) => {
        out.set(id, await this.readMinutes(tenant, id, first, last, names, type));
      });
      return out;
    }
    await mapPool(seriesIds, this.concurrency, async (id) => {
      const items = await this.queryAll({ pk: bucketPk(tenant, id, res), from: bucketSk(first), to: bucketSk(last), names });
      out.set(id, items.map(toBucket));
    });
    return out;
  }

  /**
   * One series' minutes: those packed in its 1 h items (count and gauge events) and those in 1 m
   * items (distribution events; and every event of minutes written before packing). A count or
   * gauge metric reads 1 m items only for hours whose packed minutes hold fewer events than the
   * hour: normally none. A distribution metric reads both. The two never hold the same event.
   */
  private async readMinutes(
    tenant: string,
    id: string,
    first: number,
    last: number,
    names: Record<string, string>,
    type: EventType,
  ): Promise<BucketData[]> {
    const hours = { pk: bucketPk(tenant, id, '1h'), from: bucketSk(bucketStart(first, '1h')), to: bucketSk(bucketStart(last, '1h')), names: PACKED_NAMES };
    const rows = { pk: bucketPk(tenant, id, '1m'), from: bucketSk(first), to: bucketSk(last), names };
    if (type === 'distribution') {
      const [r, h] = await Promise.all([this.queryAll(rows), this.queryAll(hours)]);
      return [...r.map(toBucket), ...h.flatMap((i) => unpackMinutes(i, first, last).buckets)];
    }
    const out: BucketData[] = [];
    const short: number[] = [];
    for (const i of await this.queryAll(hours)) {
      const { buckets, packed } = unpackMinutes(i, first, last);
      out.push(...buckets);
      if (packed < numberOf(i.count)) short.push(parseBucketSk(s(i.sk)));
    }
    if (short.length === 0) return out;
    const from = Math.max(first, short[0]!);
    const to = Math.min(last, short.at(-1)! + 3_600_000 - 60_000);
    const missing = new Set(short);
    for (const b of (await this.queryAll({ ...rows, from: bucketSk(from), to: bucketSk(to) })).map(toBucket)) {
      if (missing.has(bucketStart(b.start, '1h'))) out.push(b);
    }
    return out;
  }

  private async queryAll(q: { pk: string; from?: string; to?: string; names?: Record<string, string> }): Promise<Array<Record<string, AttributeValue>>> {
    const out: Array<Record<string, AttributeValue>> = [];
    let start: Record<string, AttributeValue> | undefined;
    const values: Record<string, AttributeValue> = { ':pk': { S: q.pk } };
    let cond = 'pk = :pk';
    if (q.from !== undefined && q.to !== undefined) {
      cond += ' AND sk BETWEEN :a AND :b';
      values[':a'] = { S: q.from };
      values[':b'] = { S: q.to };
    }
    do {
      this.calls++;
      let res: QueryCommandOutput;
      try {
        res = (await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: cond,
            ExpressionAttributeValues: values,
            ...(q.names ? { ExpressionAttributeNames: q.names, ProjectionExpression: Object.keys(q.names).join(', ') } : {}),
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        )) as QueryCommandOutput;
      } catch (err) {
        throw new RollupReadError(`Query ${q.pk} failed`, { cause: err });
      }
      out.push(...(res.Items ?? []));
      start = res.LastEvaluatedKey;
    } while (start !== undefined);
    return out;
  }
}

/** What the 1 m path reads of a 1 h item. */
const PACKED_NAMES: Readonly<Record<string, string>> = { '#sk': 'sk', '#c': 'count', '#m': 'mins' };

/**
 * The 1-minute buckets packed in a 1 h item, within [first, last], and how many events all its
 * packed minutes hold. A minute's `last` carries its shard but no sequence number
 * (shared/rollups/minutes.ts), so series tied at the same ms and shard keep the first in index
 * order (series.ts).
 */
function unpackMinutes(i: Record<string, AttributeValue>, first: number, last: number): { buckets: BucketData[]; packed: number } {
  const bytes = i.mins?.B;
  if (bytes === undefined) return { buckets: [], packed: 0 };
  const hour = parseBucketSk(s(i.sk));
  const out: BucketData[] = [];
  let packed = 0;
  decodeMinutes(bytes, hour).forEach((m, k) => {
    const start = hour + k * 60_000;
    if (m !== undefined) packed += m.count;
    if (m === undefined || start < first || start > last) return;
    out.push({
      start,
      count: m.count,
      sum: m.sum,
      min: m.min,
      max: m.max,
      ...(m.last !== undefined
        ? { last: m.last.value, lastTs: m.last.ts, lastLin: formatLastLineage({ shardId: m.last.shardId, sequenceNumber: '', subIndex: 0 }) }
        : {}),
    });
  });
  return { buckets: out, packed };
}

function toBucket(i: Record<string, AttributeValue>): BucketData {
  return { start: parseBucketSk(s(i.sk)), ...bucketMeasuresFromItem(i) };
}

const s = (av: AttributeValue | undefined): string => av?.S ?? '';
