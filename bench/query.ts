/**
 * Section `query`: latency of the query function on the embedded stack (dynalite, s3rver), beside
 * naive readers.
 *
 * 1. `GET /v1/query` for 24 h × 1 min of one gauge series (1,440 minutes, packed 60 to a 1 h item,
 *    functions/shared/rollups/minutes.ts), as in production: the day folded (the sweeper ran) and
 *    the last minute's events still in the rollup log (docs/ROLLUPS.md), so the query reads the
 *    folded items and the log. p50 and p99 of the handler (target p99 ≤ 20 ms), DynamoDB read
 *    calls per query, and the read units they cost (from the sizes of the items returned:
 *    0.5 per 4 KB, eventually consistent, per Query page and per item of GetItem/BatchGetItem). Baseline: the same minutes as 1,440 one-item-per-minute rows
 *    (the layout before packing, written straight into the table) read key by key with
 *    BatchGetItem (100 keys per call), no projection. Beside it, the rollup reader's bucket Query sent alone (24 items),
 *    against one Query of the 1,440 one-minute rows: what packing saves on the emulator.
 * 2. `GET /v1/events` for a 1 h range, one page of 1,000 of ~20,000 events: p50 and p99 (target
 *    p99 ≤ 250 ms). Baseline: shared/archive/reader.ts `readPartition` (whole files, every column).
 *
 *   npx tsx bench/query.ts [--quick]        this section alone, printed as a table
 *   npm run bench -- --only query           through the harness (once listed in bench/run.ts)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchGetItemCommand, BatchWriteItemCommand, QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createArchiveHandler } from '../functions/archive/app.ts';
import { partitionOf } from '../functions/shared/archive/keys.ts';
import { readPartition } from '../functions/shared/archive/reader.ts';
import { S3ArchiveBucket } from '../functions/shared/archive/s3-store.ts';
import { loadZstd } from '../functions/shared/archive/zstd.ts';
import { createQueryHandler } from '../functions/query/app.ts';
import { DynamoRollupReader, type QuerySender } from '../functions/query/rollup-reader.ts';
import { createRollupHandler, createSweepHandler } from '../functions/rollup/app.ts';
import { itemSize } from './item-size.ts';
import { bucketPk, bucketSk, bucketStart, seriesId } from '../functions/shared/rollups/keys.ts';
import { bucketToItem } from '../functions/shared/rollups/item.ts';
import { dynamoClient, s3Client } from '../functions/shared/clients.ts';
import { CONSUMER_DEFAULTS } from '../lib/functions.ts';
import { startStack, type LocalConsumer } from '../local/index.ts';
import { defineSection, quantile, runIfMain, type FigureInput, type Spread } from './harness.ts';
import { QUERY, type FigureName } from './ids.ts';

const KEY = 'bench-query-key-01';
const MINUTE = 60_000;
const HOUR = 3_600_000;
const RAW_EVENTS = 20_000;

const consumer = (name: string, create: LocalConsumer['create']): LocalConsumer => ({
  name,
  timeoutSeconds: 120,
  settings: { ...CONSUMER_DEFAULTS, maxBatchingWindowSeconds: 0 },
  create,
});

function event(routeKey: string, query: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey,
    rawPath: routeKey.split(' ')[1]!,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: { 'x-api-key': KEY },
    queryStringParameters: query,
    requestContext: { requestId: 'bench', http: { method: 'GET' } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

async function timings(n: number, warmup: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

/** Counts the read units DynamoDB would bill the reader's calls (eventually consistent). */
class MeteredSender implements QuerySender {
  units = 0;
  constructor(private readonly inner: QuerySender) {}
  async send(command: Parameters<QuerySender['send']>[0]): Promise<unknown> {
    const out = (await this.inner.send(command)) as { Items?: Array<Record<string, AttributeValue>>; Item?: Record<string, AttributeValue>; Responses?: Record<string, Array<Record<string, AttributeValue>>> };
    const half = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096)) * 0.5;
    if (out.Items !== undefined) this.units += half(out.Items.reduce((n, i) => n + itemSize(i), 0));
    else if (out.Responses !== undefined) for (const items of Object.values(out.Responses)) for (const i of items) this.units += half(itemSize(i));
    else this.units += half(out.Item === undefined ? 0 : itemSize(out.Item));
    return out;
  }
}

const spread = (s: number[]): Spread => ({ min: s[0]!, p10: quantile(s, 0.1), p90: quantile(s, 0.9), max: s.at(-1)!, n: s.length });

const section = defineSection({
  name: QUERY.section,
  description: 'query function latency on the embedded stack: 24 h × 1 min series, 1 h raw-event page',
  packages: ['dynalite', 's3rver', 'hyparquet', '@aws-sdk/client-dynamodb', '@aws-sdk/client-s3'],
  run: async (ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'streamfold-bench-query-'));
    const stack = await startStack({
      port: 0,
      dataDir: dir,
      tenants: { bench: KEY },
      onlyGivenConsumers: true,
      consumers: [
        consumer('rollup', (env) => createRollupHandler(env, { metrics: { add: () => {} }, flushMetrics: () => {} })),
        consumer('archive', (env) => createArchiveHandler(env, { onStats: () => {} })),
      ],
      log: () => {},
    });
    try {
      const now = Date.now();
      const dayStart = bucketStart(now - 25 * HOUR, '1m');
      const series = Array.from({ length: 1440 }, (_, i) => ({ name: 'bench.latency', ts: dayStart + i * MINUTE + 1, value: (i % 50) + 1, type: 'gauge', tags: { host: 'a' } }));
      const raw = Array.from({ length: RAW_EVENTS }, (_, i) => ({
        name: `bench.raw.${i % 20}`,
        ts: now - HOUR + Math.floor((i * HOUR) / RAW_EVENTS),
        value: i,
        tags: { host: `h${i % 50}`, env: 'prod' },
        attrs: { path: `/api/v1/items/${i}`, status: 200 },
      }));
      for (const chunk of [series, ...Array.from({ length: RAW_EVENTS / 5000 }, (_, i) => raw.slice(i * 5000, (i + 1) * 5000))]) {
        const res = await fetch(`${stack.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(chunk) });
        if (res.status !== 202) throw new Error(`intake answered ${res.status}: ${await res.text()}`);
      }
      ctx.log('posted; waiting for the rollup and archive consumers');
      await stack.drain(300_000);
      // Production's steady state: the day folded, the newest minute's events in the log.
      await createSweepHandler({ ...stack.env, ROLLUP_SWEEP_AFTER_SECONDS: '1' }, { metrics: { add: () => {} }, flushMetrics: () => {}, config: { sweepAfterMs: 0 } })({}, { getRemainingTimeInMillis: () => 300_000 });
      const live = series.slice(-5).map((e) => ({ ...e, value: 1 }));
      const again = await fetch(`${stack.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(live) });
      if (again.status !== 202) throw new Error(`intake answered ${again.status}`);
      await stack.drain(60_000);

      const db = dynamoClient(stack.env);
      const metered = new MeteredSender(db as unknown as QuerySender);
      const rollups = new DynamoRollupReader(metered, stack.env.ROLLUPS_TABLE_NAME!);
      const query = createQueryHandler(stack.env, { rollups });
      const context = {} as Context;
      const q = event('GET /v1/query', { metric: 'bench.latency', agg: 'avg', interval: '60', from: String(dayStart), to: String(dayStart + 24 * HOUR) });
      const check = await query(q, context);
      const points = (JSON.parse(check.body!) as { series: Array<{ points: unknown[] }> }).series[0]?.points.length ?? 0;
      if (check.statusCode !== 200 || points !== 1440) throw new Error(`query answered ${check.statusCode} with ${points} points`);
      const before = rollups.calls;
      const unitsBefore = metered.units;
      await query(q, context);
      const callsPerQuery = rollups.calls - before;
      const unitsPerQuery = metered.units - unitsBefore;

      const n = ctx.quick ? 40 : 300;
      const seriesTimes = await timings(n, 10, async () => {
        await query(q, context);
      });
      // The baselines' rows: each minute as its own item, as the rollup wrote them before packing.
      const sid = seriesId('bench', 'bench.latency', { host: 'a' });
      const pk = bucketPk('bench', sid, '1m');
      const table = stack.env.ROLLUPS_TABLE_NAME!;
      const rows = series.map((e, i) =>
        bucketToItem(
          { pk, sk: bucketSk(dayStart + i * MINUTE) },
          {
            name: e.name,
            type: 'gauge',
            tags: e.tags,
            count: 1,
            sum: e.value,
            min: e.value,
            max: e.value,
            last: e.value,
            lastTs: e.ts,
            lastLin: `shardId-000000000000/${String(49_000_000 + i).padStart(56, '4')}:0`,
            ttl: Math.ceil((dayStart + (i + 1) * MINUTE) / 1000) + 15 * 86_400,
            wm: { 'shardId-000000000000': `${String(49_000_000 + i).padStart(56, '4')}:0` },
            ver: 1,
          },
        ),
      );
      for (let i = 0; i < rows.length; i += 25) {
        let pending = rows.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
        while (pending.length > 0) {
          const res = await db.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
          pending = (res.UnprocessedItems?.[table] ?? []) as typeof pending;
        }
      }
      const keys = rows.map((r) => ({ pk: r.pk!, sk: r.sk! }));
      const naiveSeries = await timings(Math.min(n, 60), 3, async () => {
        for (let i = 0; i < keys.length; i += 100) {
          let pending: typeof keys = keys.slice(i, i + 100);
          while (pending.length > 0) {
            const res = await db.send(new BatchGetItemCommand({ RequestItems: { [stack.env.ROLLUPS_TABLE_NAME!]: { Keys: pending } } }));
            pending = (res.UnprocessedKeys?.[stack.env.ROLLUPS_TABLE_NAME!]?.Keys ?? []) as typeof keys;
          }
        }
      });

      // The floor under the handler: the rollup reader's bucket Query (24 packed hours) sent alone,
      // beside one Query of the 1,440 one-minute rows with the projection avg used before packing.
      const readAlone = () => rollups.readBuckets('bench', 'bench.latency', [sid], '1m', dayStart, dayStart + 24 * HOUR - MINUTE, 'sum', 'gauge');
      const alone = (await readAlone()).get(sid)?.length;
      if (alone !== 1440) throw new Error(`the bucket Query alone returned ${alone} buckets`);
      const bareTimes = await timings(n, 10, async () => {
        await readAlone();
      });
      const queryRows = async () => {
        let start: Record<string, AttributeValue> | undefined;
        let items = 0;
        do {
          const res = await db.send(
            new QueryCommand({
              TableName: table,
              KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
              ExpressionAttributeValues: { ':pk': { S: pk }, ':a': { S: bucketSk(dayStart) }, ':b': { S: bucketSk(dayStart + 24 * HOUR - MINUTE) } },
              ExpressionAttributeNames: { '#sk': 'sk', '#c': 'count', '#s': 'sum' },
              ProjectionExpression: '#sk, #c, #s',
              ...(start ? { ExclusiveStartKey: start } : {}),
            }),
          );
          items += res.Items?.length ?? 0;
          start = res.LastEvaluatedKey;
        } while (start !== undefined);
        return items;
      };
      if ((await queryRows()) !== 1440) throw new Error('the one-minute rows are not all there');
      const rowTimes = await timings(n, 10, async () => {
        await queryRows();
      });

      const ev = event('GET /v1/events', { from: String(now - HOUR), to: String(now), limit: '1000' });
      const evCheck = await query(ev, context);
      const evCount = (JSON.parse(evCheck.body!) as { events: unknown[] }).events.length;
      if (evCheck.statusCode !== 200 || evCount !== 1000) throw new Error(`events answered ${evCheck.statusCode} with ${evCount} events`);
      const m = ctx.quick ? 15 : 100;
      const eventTimes = await timings(m, 3, async () => {
        await query(ev, context);
      });
      const bucket = new S3ArchiveBucket(s3Client(stack.env), stack.env.ARCHIVE_BUCKET_NAME!);
      const codec = await loadZstd();
      const hours = [partitionOf('bench', now - HOUR), partitionOf('bench', now)];
      const naiveEvents = await timings(Math.min(m, 30), 2, async () => {
        for (const p of hours) await readPartition(bucket, p, codec);
      });
      ctx.info('fixture', { seriesBuckets: 1440, rawEvents: RAW_EVENTS, page: 1000, dynamoCallsPerQuery: callsPerQuery, readUnitsPerQuery: unitsPerQuery });

      const lat = (figure: FigureName, s: number[], q: number, target: number | undefined, base?: { name: string; s: number[] }): FigureInput => ({
        ...figure,
        unit: 'ms',
        better: 'lower',
        value: quantile(s, q),
        spread: spread(s),
        ...(target !== undefined ? { target: { max: target } } : {}),
        ...(base ? { baseline: { name: base.name, value: quantile(base.s, q), spread: spread(base.s) } } : {}),
      });
      return [
        lat(QUERY.figures.seriesP50, seriesTimes, 0.5, undefined, { name: 'BatchGetItem by key', s: naiveSeries }),
        lat(QUERY.figures.seriesP99, seriesTimes, 0.99, 20, { name: 'BatchGetItem by key', s: naiveSeries }),
        {
          ...lat(QUERY.figures.bucketQueryP50, bareTimes, 0.5, undefined, { name: 'Query of 1,440 one-minute rows', s: rowTimes }),
          note: "the emulator's share of the query above; dynalite costs ~15 µs per item returned",
        },
        lat(QUERY.figures.bucketQueryP99, bareTimes, 0.99, undefined, { name: 'Query of 1,440 one-minute rows', s: rowTimes }),
        { ...QUERY.figures.readCalls, unit: 'calls', better: 'lower', value: callsPerQuery, spread: null, baseline: { name: 'BatchGetItem by key', value: Math.ceil(1440 / 100), spread: null }, note: 'metric, series index, shards, heads, log segments, folded hours (the first two cached 10 s)' },
        { ...QUERY.figures.readUnits, unit: 'RRU', better: 'lower', value: unitsPerQuery, spread: null },
        lat(QUERY.figures.eventsP50, eventTimes, 0.5, undefined, { name: 'readPartition (whole files)', s: naiveEvents }),
        lat(QUERY.figures.eventsP99, eventTimes, 0.99, 250, { name: 'readPartition (whole files)', s: naiveEvents }),
      ];
    } finally {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
});

export default section;
await runIfMain(import.meta.url, section);
