/**
 * DynamoDB adapter of the query's rollup port: the metric list, the series index and bucket items
 * (item layout: functions/shared/rollups/keys.ts; bucket items decoded by its item.ts). Every key
 * is built here from the authenticated tenant and a validated name (params.ts), never from raw
 * input. Bucket reads are one Query per series and resolution with `sk BETWEEN`, paginated,
 * projected to the attributes the aggregation needs, run in parallel with bounded concurrency.
 * Minutes of count and gauge series are read from the packed `mins` of their 1 h items
 * (shared/rollups/minutes.ts): 24 items a day instead of 1,440; 1 m items only where an hour's
 * packed minutes miss some of its events (readMinutes). On top of the folded items, the metric's
 * unfolded log (docs/ROLLUPS.md, "A query"): its shards (the metric entry's `shards`), their heads
 * (one BatchGetItem), and per shard with unfolded commits one Query of the metric's segments from
 * the oldest; each selected series' entries are applied with the fold's own merge
 * (shared/rollups/view.ts). Reads are eventually consistent (half the cost; a query may trail the
 * newest commit by about a second, never count one twice).
 */
import {
  BatchGetItemCommand,
  GetItemCommand,
  QueryCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type GetItemCommandOutput,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { SETTINGS } from '../../lib/settings.ts';
import { StreamfoldError } from '../shared/errors.ts';
import { headFromItem, type ShardHead } from '../shared/rollups/head.ts';
import { bucketFromItem, hasCum, numberOf, stringMapOf, type StoredBucket } from '../shared/rollups/item.ts';
import {
  HEAD_SK,
  bucketPk,
  bucketSk,
  bucketStart,
  headPk,
  indexPk,
  itemId,
  logSkFrom,
  metricsPk,
  parseBucketSk,
  parseLogSk,
  segmentPk,
  type Resolution,
} from '../shared/rollups/keys.ts';
import { decodeSegment } from '../shared/rollups/segment.ts';
import { partsByItem, viewItem, type ItemParts, type ReadSegment } from '../shared/rollups/view.ts';
import { formatLastLineage } from '../shared/rollups/lineage.ts';
import { decodeMinutes } from '../shared/rollups/minutes.ts';
import type { EventType } from '../shared/event.ts';
import type { BucketData } from './series.ts';
import { mapPool } from '../shared/pool.ts';
import { jitteredDelay, realClock } from '../shared/retry.ts';

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
export type BucketFields = 'count' | 'sum' | 'min' | 'max' | 'last' | 'sketch' | 'cumulative';

/**
 * Attribute name placeholder → attribute, per field set (besides `#sk`). `wm` is always read: the
 * log's entries apply above it.
 */
const FIELD_NAMES: Readonly<Record<BucketFields, Readonly<Record<string, string>>>> = {
  count: { '#c': 'count', '#w': 'wm' },
  sum: { '#c': 'count', '#s': 'sum', '#w': 'wm' },
  min: { '#c': 'count', '#mn': 'min', '#w': 'wm' },
  max: { '#c': 'count', '#mx': 'max', '#w': 'wm' },
  last: { '#c': 'count', '#l': 'last', '#lt': 'lastTs', '#ll': 'lastLin', '#w': 'wm' },
  sketch: { '#c': 'count', '#k': 'sketch', '#w': 'wm' },
  /** Cumulative series: their latest totals (a count's `last`, a histogram's cum*). */
  cumulative: { '#c': 'count', '#l': 'last', '#lt': 'lastTs', '#ll': 'lastLin', '#cc': 'cumCount', '#cs': 'cumSum', '#ct': 'cumTs', '#cl': 'cumLin', '#ck': 'cumSketch', '#w': 'wm' },
};

export interface RollupReader {
  listMetrics(tenant: string): Promise<MetricInfo[]>;
  getMetric(tenant: string, name: string): Promise<MetricInfo | undefined>;
  listSeries(tenant: string, name: string): Promise<SeriesInfo[]>;
  /**
   * Buckets with start in [first, last] of each series of metric `name`, by series id, the
   * metric's unfolded log included. `type` is the metric's: it says where its minutes are
   * (shared/rollups/keys.ts).
   */
  readBuckets(
    tenant: string,
    name: string,
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
  send(command: QueryCommand | GetItemCommand | BatchGetItemCommand): Promise<unknown>;
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
    name: string,
    seriesIds: readonly string[],
    res: Resolution,
    first: number,
    last: number,
    fields: BucketFields,
    type: EventType,
  ): Promise<Map<string, BucketData[]>> {
    const out = new Map<string, BucketData[]>();
    const names: Record<string, string> = { '#sk': 'sk', ...FIELD_NAMES[fields] };
    // The log's reads (shards, heads, segments) and the folded items' reads are independent: run
    // them side by side, so the log adds to a query's cost but not to its latency.
    const log = this.readLog(tenant, name, new Set(seriesIds), res, first, last);
    log.catch(() => {}); // awaited below; a failure must not surface as unhandled meanwhile
    if (res === '1m') {
      await mapPool(seriesIds, this.concurrency, async (id) => {
        out.set(id, await this.readMinutes(tenant, id, first, last, names, type, log));
      });
      return out;
    }
    await mapPool(seriesIds, this.concurrency, async (id) => {
      const items = await this.queryAll({ pk: bucketPk(tenant, id, res), from: bucketSk(first), to: bucketSk(last), names });
      out.set(id, overlay(items, bucketPk(tenant, id, res), (await log).get(id)).map(({ start, item }) => toBucket(start, item)));
    });
    return out;
  }

  /**
   * The metric's committed, unfolded log entries of the given series and range, by series id and
   * item id. `res` '1h' takes 1 h entries in [first, last]; '1m' takes 1 m entries there and the
   * 1 h entries of the hours around them (their packed minutes).
   */
  private async readLog(tenant: string, name: string, ids: ReadonlySet<string>, res: Resolution, first: number, last: number): Promise<Map<string, Map<string, ItemParts>>> {
    const byId = new Map<string, Map<string, ItemParts>>();
    const shards = await this.metricShards(tenant, name);
    if (shards.length === 0) return byId;
    const heads = await this.readHeads(shards);
    const segments: ReadSegment[] = [];
    await mapPool([...heads.values()].filter((h) => h.commits.length > 0), this.concurrency, async (h) => {
      const items = await this.queryAll({ pk: segmentPk(tenant, name, h.shardId), from: logSkFrom(h.commits[0]!.n), to: `${logSkFrom(h.n)}~` });
      for (const i of items) {
        const { n, attempt } = parseLogSk(s(i.sk));
        if (i.d?.B !== undefined) segments.push({ tenant, name, shardId: h.shardId, n, attempt, entries: decodeSegment(i.d.B) });
      }
    });
    const hourFrom = bucketStart(first, '1h');
    const hourTo = bucketStart(last, '1h');
    const keep = (_t: string, e: { seriesId: string; res: Resolution; start: number }) =>
      ids.has(e.seriesId) &&
      (e.res === '1h' ? (res === '1h' ? e.start >= first && e.start <= last : e.start >= hourFrom && e.start <= hourTo) : res === '1m' && e.start >= first && e.start <= last);
    for (const [id, p] of partsByItem(heads, segments, keep)) {
      let m = byId.get(p.entry.seriesId);
      if (m === undefined) byId.set(p.entry.seriesId, (m = new Map()));
      m.set(id, p);
    }
    return byId;
  }

  /** The shards whose logs hold the metric (read each time: a new shard must not wait for a cache). */
  private async metricShards(tenant: string, name: string): Promise<string[]> {
    this.calls++;
    let res: GetItemCommandOutput;
    try {
      res = (await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: metricsPk(tenant) }, sk: { S: name } },
          ProjectionExpression: '#sh',
          ExpressionAttributeNames: { '#sh': 'shards' },
        }),
      )) as GetItemCommandOutput;
    } catch (err) {
      throw new RollupReadError(`GetItem ${metricsPk(tenant)} ${name} failed`, { cause: err });
    }
    return res.Item?.shards?.SS ?? [];
  }

  private async readHeads(shards: readonly string[]): Promise<Map<string, ShardHead>> {
    const out = new Map<string, ShardHead>();
    const chunks: string[][] = [];
    for (let i = 0; i < shards.length; i += 100) chunks.push(shards.slice(i, i + 100));
    await mapPool(chunks, this.concurrency, async (chunk) => {
      let keys = chunk.map((sh) => ({ pk: { S: headPk(sh) }, sk: { S: HEAD_SK } }));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 20) throw new RollupReadError(`BatchGetItem of ${chunk.length} shard heads left keys unprocessed 20 times`);
        this.calls++;
        let res: BatchGetItemCommandOutput;
        try {
          res = (await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }))) as BatchGetItemCommandOutput;
        } catch (err) {
          throw new RollupReadError(`BatchGetItem of ${chunk.length} shard heads failed`, { cause: err });
        }
        for (const i of res.Responses?.[this.tableName] ?? []) {
          const shardId = s(i.pk).slice(headPk('').length);
          out.set(shardId, headFromItem(shardId, i));
        }
        keys = (res.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as typeof keys;
        if (keys.length > 0) await realClock.sleep(jitteredDelay(attempt + 1, { baseMs: 10, maxMs: 1000 }, Math.random));
      }
    });
    return out;
  }

  /**
   * One series' minutes: those packed in its 1 h items (count and gauge events) and those in 1 m
   * items (distribution events; and every event of minutes written before packing), each with the
   * series' unfolded log applied. A count or gauge metric reads 1 m items only for hours whose
   * packed minutes hold fewer events than the hour: normally none. A distribution metric reads
   * both. The two never hold the same event.
   */
  private async readMinutes(
    tenant: string,
    id: string,
    first: number,
    last: number,
    names: Record<string, string>,
    type: EventType,
    logs: Promise<Map<string, Map<string, ItemParts>>>,
  ): Promise<BucketData[]> {
    const hours = { pk: bucketPk(tenant, id, '1h'), from: bucketSk(bucketStart(first, '1h')), to: bucketSk(bucketStart(last, '1h')), names: PACKED_NAMES };
    const rows = { pk: bucketPk(tenant, id, '1m'), from: bucketSk(first), to: bucketSk(last), names };
    if (type === 'distribution') {
      const [r, h, log] = await Promise.all([this.queryAll(rows), this.queryAll(hours), logs]);
      const hourLog = only(log.get(id), '1h');
      const minuteLog = only(log.get(id), '1m');
      return [...overlay(r, rows.pk, minuteLog).map(({ start, item }) => toBucket(start, item)), ...overlay(h, hours.pk, hourLog).flatMap(({ start, item }) => unpackMinutes(item, start, first, last).buckets)];
    }
    const [h, log] = await Promise.all([this.queryAll(hours), logs]);
    const hourLog = only(log.get(id), '1h');
    const minuteLog = only(log.get(id), '1m');
    const out: BucketData[] = [];
    const short: number[] = [];
    for (const { start, item } of overlay(h, hours.pk, hourLog)) {
      const { buckets, packed } = unpackMinutes(item, start, first, last);
      out.push(...buckets);
      if (packed < item.count) short.push(start);
    }
    // A 1 m entry (folded or in the log) is a distribution event of this hour, which the hour
    // counts but does not pack: its hour is short, so this reads it.
    if (short.length === 0) return out;
    const from = Math.max(first, short[0]!);
    const to = Math.min(last, short.at(-1)! + 3_600_000 - 60_000);
    const missing = new Set(short);
    for (const { start, item } of overlay(await this.queryAll({ ...rows, from: bucketSk(from), to: bucketSk(to) }), rows.pk, minuteLog)) {
      if (missing.has(bucketStart(start, '1h'))) out.push(toBucket(start, item));
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
const PACKED_NAMES: Readonly<Record<string, string>> = { '#sk': 'sk', '#c': 'count', '#m': 'mins', '#w': 'wm' };

/**
 * Folded items read (projected) with the log's entries of the same series applied, and the items
 * that are only in the log yet, each with its bucket start.
 */
function overlay(items: ReadonlyArray<Record<string, AttributeValue>>, pk: string, log: ReadonlyMap<string, ItemParts> | undefined): Array<{ start: number; item: StoredBucket }> {
  const out: Array<{ start: number; item: StoredBucket }> = [];
  const applied = new Set<string>();
  for (const av of items) {
    const id = itemId({ pk, sk: s(av.sk) });
    const parts = log?.get(id);
    if (parts !== undefined) applied.add(id);
    const item = viewItem(bucketFromItem(av), parts);
    if (item !== undefined) out.push({ start: parseBucketSk(s(av.sk)), item });
  }
  if (log !== undefined) {
    for (const [id, parts] of log) {
      if (applied.has(id)) continue;
      const item = viewItem(undefined, parts);
      if (item !== undefined) out.push({ start: parts.entry.start, item });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The log entries of one resolution (their ids name it). */
function only(log: ReadonlyMap<string, ItemParts> | undefined, res: Resolution): Map<string, ItemParts> | undefined {
  if (log === undefined) return undefined;
  const out = new Map<string, ItemParts>();
  for (const [id, p] of log) if (p.entry.res === res) out.set(id, p);
  return out;
}

/**
 * The 1-minute buckets packed in a 1 h item, within [first, last], and how many events all its
 * packed minutes hold. A minute's `last` carries its shard but no sequence number
 * (shared/rollups/minutes.ts), so series tied at the same ms and shard keep the first in index
 * order (series.ts).
 */
function unpackMinutes(item: StoredBucket, hour: number, first: number, last: number): { buckets: BucketData[]; packed: number } {
  const bytes = item.mins;
  if (bytes === undefined) return { buckets: [], packed: 0 };
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

function toBucket(start: number, b: StoredBucket): BucketData {
  const out: { -readonly [K in keyof BucketData]: BucketData[K] } = { start, count: b.count, sum: b.sum, min: b.min, max: b.max };
  if (b.last !== undefined && b.lastTs !== undefined && b.lastLin !== undefined) {
    out.last = b.last;
    out.lastTs = b.lastTs;
    out.lastLin = b.lastLin;
  }
  if (b.sketch !== undefined) out.sketch = b.sketch;
  if (hasCum(b)) {
    out.cumCount = b.cumCount;
    out.cumSum = b.cumSum;
    out.cumTs = b.cumTs;
    out.cumLin = b.cumLin;
    out.cumSketch = b.cumSketch;
  }
  return out;
}

const s = (av: AttributeValue | undefined): string => av?.S ?? '';
