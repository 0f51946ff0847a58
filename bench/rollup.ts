/**
 * Section `rollup`: the rollup function's CPU and DynamoDB cost, beside a naive rollup that issues
 * one UpdateItem per event and resolution (ADD count/sum; it can keep neither min/max in the same
 * call nor a quantile sketch, and double counts on every retry).
 *
 * 1. Events/s on one core for decode + validate + aggregate + build the commit's writes (segments
 *    and manifest, docs/ROLLUPS.md) of 10,000-event batches over 1,000 series, and of 1,000-event
 *    batches (one event per series), batch after batch with no forced GC (harness.ts,
 *    gcBeforeReps); and the fold's merge of those commits into the stored items of the previous
 *    half hour, per event. Naive: decode + validate + build its UpdateItem inputs.
 * 2. DynamoDB writes and estimated write units per 1,000 events at 100, 1,000 and 10,000 series,
 *    10,000-event batches of one shard every 5 s of event time (the AWS batching window) for 10
 *    minutes, folding every 300 s (the defaults), through the real core and a metered in-memory
 *    table: log writes (segments, manifests: 1 WCU per KB), head writes, folded item writes (1 WCU
 *    per KB of the larger of the old and new item), consistent reads, item writes per touched item
 *    per batch (target: < 1), the largest item (target: < 4 KB), log bytes per entry, and the
 *    bytes stored per series for an hour (the cost model's storage). Index writes after the first
 *    batch are included; the cold container's first batch of index writes is noted.
 *
 *   npm run bench -- --only rollup           through the harness, with the function's Node.js flags
 *   NODE_OPTIONS=--max-semi-space-size=64 npx tsx bench/rollup.ts [--quick]
 *                                            this section alone, printed as a table; without the
 *                                            flag (FUNCTIONS.rollup.nodeOptions) it measures V8's
 *                                            default young generation, not what Lambda runs
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { type AttributeValue } from '@aws-sdk/client-dynamodb';
import { aggregateBatch, SeriesIdCache } from '../functions/rollup/aggregate.ts';
import { logItems } from '../functions/rollup/commit.ts';
import { DEFAULT_ROLLUP_CONFIG, RollupCache, rollupBatch, type RollupConfig } from '../functions/rollup/core.ts';
import { RESOLUTIONS, RESOLUTION_MS, bucketPk, bucketSk, bucketTtl, daysToMs, itemId, logItemKey, seriesIdOfCanonical, sortedTagPairs, type ItemKey } from '../functions/shared/rollups/keys.ts';
import { MemoryRollupStore } from '../functions/rollup/memory-store.ts';
import { sweepShards } from '../functions/rollup/sweep.ts';
import type { LogItem, LogKey } from '../functions/rollup/port.ts';
import { foldItem, sortParts, type FoldPart } from '../functions/shared/rollups/fold.ts';
import { headToItem, type ShardHead } from '../functions/shared/rollups/head.ts';
import { bucketToItem, type StoredBucket } from '../functions/shared/rollups/item.ts';
import { decodeSegment } from '../functions/shared/rollups/segment.ts';
import { decodeBatch } from '../functions/shared/batch.ts';
import { encodeRecords } from '../functions/shared/codec.ts';
import type { EventType, StreamEvent } from '../functions/shared/event.ts';
import { METRICS, Rng, valueFor, type ValueKind } from '../local/fixtures.ts';
import { defineSection, measureRates, rateFigure, runIfMain, type FigureInput } from './harness.ts';
import { ROLLUP, type WriteCostInfo } from './ids.ts';
import { itemSize } from './item-size.ts';

const SHARD = 'shardId-000000000001';
const TABLE = 'streamfold-rollups';
const HOUR_START = Date.UTC(2026, 0, 15, 11);
const NOW = HOUR_START + 3_600_000 + 30_000;
const CONFIG: RollupConfig = { ...DEFAULT_ROLLUP_CONFIG, ttlMs: { '1m': daysToMs(15), '1h': daysToMs(400) } };

interface SeriesDef {
  readonly tenant: string;
  readonly name: string;
  readonly type: EventType;
  readonly kind: ValueKind;
  readonly tags: Record<string, string>;
}

/** `n` distinct series over 4 tenants and the fixture's 50 metric names, 4-5 tags each. */
function seriesDefs(n: number, rng: Rng): SeriesDef[] {
  const out: SeriesDef[] = [];
  for (let i = 0; i < n; i++) {
    const m = METRICS[i % METRICS.length]!;
    const tags: Record<string, string> = {
      env: i % 10 === 9 ? 'staging' : 'prod',
      host: `host-${String(Math.floor(i / METRICS.length)).padStart(4, '0')}`,
      region: rng.pick(['us-east-1', 'eu-west-1', 'ap-southeast-2']),
      service: rng.pick(['checkout', 'search', 'auth', 'orders', 'gateway']),
    };
    if (m.extra.length > 0) tags[m.extra[0]!] = 'v1';
    out.push({ tenant: ['acme', 'globex', 'initech', 'umbrella'][i % 4]!, name: m.name, type: m.type, kind: m.kind, tags });
  }
  return out;
}

/** One batch: `events` events over `series`, event times within the minute starting at `minute`. */
function batchRecords(series: readonly SeriesDef[], events: number, minute: number, rng: Rng, firstSeq: number): KinesisStreamRecord[] {
  const list: StreamEvent[] = [];
  // Every series appears (when events >= series), the rest at random.
  for (let i = 0; i < events; i++) {
    const s = i < series.length ? series[i]! : series[rng.int(series.length)]!;
    list.push({ tenant: s.tenant, name: s.name, ts: minute + rng.int(60_000), value: valueFor(rng, s.kind), type: s.type, tags: s.tags });
  }
  for (let i = list.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return encodeRecords(list, { targetRawBytes: 64 * 1024 }).map((r, i) => {
    const seq = `4959${String(firstSeq + i).padStart(52, '0')}`;
    return {
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: r.partitionKey, sequenceNumber: seq, data: Buffer.from(r.data).toString('base64'), approximateArrivalTimestamp: NOW / 1000 },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${SHARD}:${seq}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: '',
      awsRegion: 'us-east-1',
      eventSourceARN: '',
    };
  });
}

/** The naive rollup's item: pk, sk, count, sum, name, type, tags, ttl. */
function naiveItemSize(key: ItemKey, e: StreamEvent, count: number, sum: number): number {
  return itemSize({
    pk: { S: key.pk },
    sk: { S: key.sk },
    count: { N: String(count) },
    sum: { N: String(sum) },
    name: { S: e.name },
    type: { S: e.type },
    tags: { M: Object.fromEntries(Object.entries(e.tags).map(([k, v]) => [k, { S: v }])) },
    ttl: { N: '1797163200' },
  });
}

// ---------------------------------------------------------------------------------------------
// Pipelines

/** Ours, per batch: decode, validate, aggregate, build the commit's log items (segments, manifest). */
function oursPipeline(records: readonly KinesisStreamRecord[], ids: SeriesIdCache, n = 1): { items: LogItem[]; n: number } {
  const decoded = decodeBatch(records, NOW);
  const agg = aggregateBatch(decoded.events, NOW, CONFIG, ids);
  return { items: logItems(SHARD, n, 'bench00000000', agg, 0).items, n: agg.events.length };
}

/**
 * Ours, per fold: decode the commits' segments, and merge each item's entries into its stored item
 * (building its PutItem), as folding.ts does with the container's own copies.
 */
function foldPipeline(commits: ReadonlyArray<readonly LogItem[]>, stored: ReadonlyMap<string, StoredBucket>): number {
  const byItem = new Map<string, { key: ItemKey; name: string; parts: FoldPart[] }>();
  commits.forEach((items, k) => {
    const commit = { shardId: SHARD, n: k + 1, lo: { sequenceNumber: seq(k * 2 + 1), subIndex: 0 }, to: { sequenceNumber: seq(k * 2 + 2), subIndex: 0 } };
    for (const item of items) {
      if (item.kind !== 'segment') continue;
      for (const entry of decodeSegment(item.data)) {
        const key = { pk: bucketPk(item.tenant, entry.seriesId, entry.res), sk: bucketSk(entry.start) };
        const id = itemId(key);
        let w = byItem.get(id);
        if (w === undefined) byItem.set(id, (w = { key, name: item.name, parts: [] }));
        w.parts.push({ commit, entry });
      }
    }
  });
  let writes = 0;
  for (const [id, w] of byItem) {
    const r = foldItem(stored.get(id), sortParts(w.parts), { name: w.name, ttl: 1_797_163_200 });
    if (r.kind === 'write' && bucketToItem(w.key, r.item).count !== undefined) writes++;
  }
  return writes;
}

const seq = (n: number) => `4959${String(10_000_000 + n).padStart(52, '0')}`;

/** Naive: decode, validate, then one UpdateItem input per event and resolution. */
function naivePipeline(records: readonly KinesisStreamRecord[], ids: SeriesIdCache): number {
  const decoded = decodeBatch(records, NOW);
  let writes = 0;
  for (const { event: e } of decoded.events) {
    const id = ids.lookup(e.tenant, e.name, e.tags).id;
    for (const res of RESOLUTIONS) {
      const start = e.ts - (e.ts % RESOLUTION_MS[res]);
      const input = {
        TableName: TABLE,
        Key: { pk: { S: bucketPk(e.tenant, id, res) }, sk: { S: bucketSk(start) } },
        UpdateExpression: 'ADD #count :one, #sum :v SET #name = if_not_exists(#name, :name), #type = if_not_exists(#type, :type), #tags = if_not_exists(#tags, :tags), #ttl = :ttl',
        ExpressionAttributeNames: { '#count': 'count', '#sum': 'sum', '#name': 'name', '#type': 'type', '#tags': 'tags', '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':one': { N: '1' },
          ':v': { N: String(e.value) },
          ':name': { S: e.name },
          ':type': { S: e.type },
          ':tags': { M: Object.fromEntries(Object.entries(e.tags).map(([k, v]) => [k, { S: v }])) },
          ':ttl': { N: String(bucketTtl(start, res, CONFIG.ttlMs[res])) },
        },
      };
      writes += input.Key.pk.S.length > 0 ? 1 : 0;
    }
  }
  return writes;
}

// ---------------------------------------------------------------------------------------------
// Write cost over an hour of event time (recorded as `WriteCostInfo`, bench/ids.ts)

/** A memory store that measures what DynamoDB would bill. */
class MeteredStore extends MemoryRollupStore {
  foldWcu = 0;
  foldWrites = 0;
  logWcu = 0;
  logBytes = 0;
  segments = 0;
  manifests = 0;
  maxLogItem = 0;
  headWcu = 0;
  headWrites = 0;
  rcu = 0;
  sizes: number[] = [];
  override async writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void> {
    const prior = this.buckets.get(itemId(key));
    const size = itemSize(bucketToItem(key, item));
    // A write costs 1 WCU per KB of the larger of the old and new item.
    const priorSize = prior === undefined ? 0 : itemSize(bucketToItem(key, prior.item));
    this.foldWcu += Math.ceil(Math.max(size, priorSize) / 1024);
    this.foldWrites++;
    this.sizes.push(size);
    return super.writeBucket(key, item, expectedVer);
  }
  override async putLog(item: LogItem): Promise<void> {
    const key = logItemKey(item);
    const size = itemSize({ pk: { S: key.pk }, sk: { S: key.sk }, d: { B: item.data }, parts: { N: String(item.parts) }, ttl: { N: String(item.ttl) } });
    this.logWcu += Math.ceil(size / 1024);
    this.logBytes += item.data.length;
    this.maxLogItem = Math.max(this.maxLogItem, size);
    if (item.kind === 'segment') this.segments++;
    else this.manifests++;
    return super.putLog(item);
  }
  override async writeHead(head: ShardHead, expectedVer: number): Promise<void> {
    const prior = this.heads.get(`!head#${head.shardId}`);
    const size = itemSize(headToItem(head));
    this.headWcu += Math.ceil(Math.max(size, prior === undefined ? 0 : itemSize(headToItem(prior))) / 1024);
    this.headWrites++;
    return super.writeHead(head, expectedVer);
  }
  override async readBuckets(keys: readonly ItemKey[]) {
    const res = await super.readBuckets(keys);
    // Strongly consistent: 1 RCU per 4 KB per item (BatchGetItem rounds each item up); a key with
    // no item still costs 1 RCU.
    for (const item of res.items.values()) this.rcu += Math.ceil(itemSize(bucketToItem({ pk: '', sk: '' }, item)) / 4096);
    this.rcu += keys.length - res.items.size;
    return res;
  }
  override async readLog(keys: readonly LogKey[]) {
    const res = await super.readLog(keys);
    for (const d of res.items.values()) this.rcu += Math.ceil((d.length + 100) / 4096);
    this.rcu += keys.length - res.items.size;
    return res;
  }
  override async readHead(shardId: string) {
    this.rcu++;
    return super.readHead(shardId);
  }
}

/** The AWS defaults the write-cost runs take: the rollup's batching window and fold interval. */
const BATCH_SECONDS = 5;
const FOLD_SECONDS = 300;

export async function writeCost(seriesCount: number, eventsPerBatch: number, batches: number): Promise<WriteCostInfo> {
  const rng = new Rng(seriesCount);
  const series = seriesDefs(seriesCount, rng);
  const store = new MeteredStore();
  const cache = new RollupCache();
  const clock = { t: HOUR_START + 60_000 };
  const config: RollupConfig = { ...CONFIG, foldIntervalMs: FOLD_SECONDS * 1000, foldCommits: 1_000 };
  const deps = { store, cache, now: () => clock.t, sleep: async () => {}, random: Math.random };
  let entries = 0;
  let indexWrites = 0;
  let coldIndexWrites = 0;
  let events = 0;
  let folds = 0;
  let naiveWrites = 0;
  let naiveWcu = 0;
  const naiveCounts = new Map<string, { count: number; sum: number; bytes: number; res: string }>();
  for (let b = 0; b < batches; b++) {
    // Event times trail the clock by up to a minute, as a live stream's do.
    const minute = clock.t - 60_000 - ((clock.t - 60_000) % 60_000);
    const records = batchRecords(series, eventsPerBatch, minute, rng, b * 100_000);
    const out = await rollupBatch(records, () => 60_000, deps, config);
    if (out.batchItemFailures.length > 0) throw new Error('unexpected failure in the write-cost run');
    if (out.stats.commitsFolded > 0) folds++;
    for (const [id, l] of store.log) {
      if (l.kind !== 'segment' || l.n !== b + 1) continue;
      void id;
      entries += decodeSegment(l.data).length;
    }
    if (b === 0) coldIndexWrites = out.stats.indexWrites;
    else indexWrites += out.stats.indexWrites;
    events += out.stats.eventsIn;
    clock.t += BATCH_SECONDS * 1000;
    // The naive rollup: one UpdateItem per event and resolution, billed on its (small) item.
    for (const { event: e } of decodeBatch(records, NOW).events) {
      for (const res of RESOLUTIONS) {
        const key = { pk: bucketPk(e.tenant, seriesIdOfCanonical(JSON.stringify([e.tenant, e.name, sortedTagPairs(e.tags)])), res), sk: bucketSk(e.ts - (e.ts % RESOLUTION_MS[res])) };
        const c = naiveCounts.get(itemId(key)) ?? { count: 0, sum: 0, bytes: 0, res };
        c.count++;
        c.sum += e.value;
        c.bytes = naiveItemSize(key, e, c.count, c.sum);
        naiveCounts.set(itemId(key), c);
        naiveWrites++;
        naiveWcu += Math.ceil(c.bytes / 1024);
      }
    }
  }
  const sizes = [...store.sizes].sort((a, b) => a - b);
  // Storage per series-hour: the folded items of the run's event time, scaled to an hour.
  const eventHours = (batches * BATCH_SECONDS) / 3600;
  const stored = { '1m': 0, '1h': 0, naive1m: 0, naive1h: 0 };
  for (const { key, item } of store.buckets.values()) stored[key.pk.endsWith('#1m') ? '1m' : '1h'] += itemSize(bucketToItem(key, item)) + 100;
  for (const c of naiveCounts.values()) stored[c.res === '1m' ? 'naive1m' : 'naive1h'] += c.bytes + 100;
  // An hour item grows over its hour: an hour of minutes is what the run's share of it holds, scaled.
  const perHour = (bytes: number, res: '1m' | '1h') => (res === '1m' ? bytes / eventHours : bytes) / seriesCount;
  return {
    events,
    batches,
    batchSeconds: BATCH_SECONDS,
    foldSeconds: FOLD_SECONDS,
    series: seriesCount,
    itemsPerBatch: entries / batches,
    segments: store.segments,
    manifests: store.manifests,
    logBytes: store.logBytes,
    logWcu: store.logWcu,
    bytesPerEntry: store.logBytes / Math.max(1, entries),
    headWrites: store.headWrites,
    headWcu: store.headWcu,
    folds,
    foldItemsWritten: store.foldWrites,
    foldWcu: store.foldWcu,
    rcu: store.rcu,
    indexWrites,
    coldIndexWrites,
    maxItemBytes: sizes.at(-1) ?? 0,
    p99ItemBytes: sizes[Math.floor(0.99 * (sizes.length - 1))] ?? 0,
    maxLogItemBytes: store.maxLogItem,
    naiveWrites,
    naiveWcu,
    stored1m: perHour(stored['1m'], '1m'),
    stored1h: perHour(stored['1h'], '1h'),
    naiveStored1m: perHour(stored.naive1m, '1m'),
    naiveStored1h: perHour(stored.naive1h, '1h'),
  };
}

/** Folds every shard of a memory store (the sweeper with no age limit). */
async function sweepAll(store: MemoryRollupStore, cache: RollupCache): Promise<void> {
  await sweepShards({ store, cache, now: () => NOW, sleep: async () => {}, random: Math.random }, { ...CONFIG, sweepAfterMs: 0 }, () => 600_000);
}

// ---------------------------------------------------------------------------------------------

const section = defineSection({
  name: ROLLUP.section,
  description: 'rollup: decode + validate + aggregate + build writes on one core; DynamoDB writes and WCUs per 1,000 events vs one UpdateItem per event',
  cpus: 1,
  packages: ['@datadog/sketches-js', '@aws-sdk/client-dynamodb'],
  async run(ctx) {
    const figures: FigureInput[] = [];
    ctx.info('nodeFlags', [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(' ')].filter((f) => f.startsWith('--max-semi-space-size')));

    // 1. Throughput. Realistic: 10,000-event batches over 1,000 series (a Lambda batch of gzip'd
    // NDJSON records holds thousands of events). Worst case: 1,000 events over 1,000 series (one
    // event per series per batch: nothing to aggregate, one item to build per event, two for a distribution).
    const rng = new Rng(42);
    const series = seriesDefs(1000, rng);
    const nBatches = ctx.quick ? 3 : 6;
    // Sequence numbers above the warm-up's, so the watermarks let every measured event through.
    const big = Array.from({ length: nBatches }, (_, b) => batchRecords(series, 10_000, HOUR_START + 30 * 60_000 + (b % 2) * 60_000, rng, 10_000_000 + b * 10_000));
    const small = Array.from({ length: nBatches }, (_, b) => batchRecords(series, 1000, HOUR_START + 30 * 60_000 + (b % 2) * 60_000, rng, 20_000_000 + b * 10_000));
    // Steady state: the stored items of the previous half hour of minutes.
    const warm = new MemoryRollupStore();
    const warmCache = new RollupCache();
    for (let m = 0; m < 30; m++) {
      await rollupBatch(batchRecords(series, 2000, HOUR_START + m * 60_000, rng, m * 10_000), () => 60_000, { store: warm, cache: warmCache, now: () => NOW, sleep: async () => {}, random: Math.random }, CONFIG);
    }
    // Folded by now: the half hour's items, into which the measured commits are folded.
    await sweepAll(warm, warmCache);
    const stored = new Map([...warm.buckets].map(([id, v]) => [id, v.item]));
    const ids = new SeriesIdCache();
    // Commits to fold: six of the big batches (a fold interval's worth for one shard, scaled down).
    const commits = big.map((records, k) => oursPipeline(records, ids, k + 1).items);
    const foldEvents = big.reduce((n, records) => n + decodeBatch(records, NOW).events.length, 0);
    const cycle = <T>(xs: readonly T[]) => {
      let i = 0;
      return () => xs[i++ % xs.length]!;
    };
    const nextBig = cycle(big);
    const nextSmall = cycle(small);
    // CPU clock: the section is pinned to one core, and on a shared machine wall time counts the
    // time other processes hold that core. No forced full GC between repetitions: a warm container
    // runs batch after batch, and one every few batches made every stage ~1.7x slower
    // (harness.ts, gcBeforeReps).
    const m10k = await measureRates(ctx, {
      units: 10_000,
      clock: 'cpu',
      gcBeforeReps: false,
      fns: {
        ours: () => oursPipeline(nextBig(), ids).n,
        naive: () => naivePipeline(nextBig(), ids),
        decodeOnly: () => decodeBatch(nextBig(), NOW).events.length,
      },
    });
    const mFold = await measureRates(ctx, {
      units: foldEvents,
      clock: 'cpu',
      gcBeforeReps: false,
      fns: { ours: () => foldPipeline(commits, stored) },
    });
    const m1k = await measureRates(ctx, {
      units: 1000,
      clock: 'cpu',
      gcBeforeReps: false,
      fns: {
        ours: () => oursPipeline(nextSmall(), ids).n,
        naive: () => naivePipeline(nextSmall(), ids),
      },
    });
    const naiveName = 'naive: decode + validate + 1 UpdateItem input per event and resolution';
    figures.push(
      rateFigure({
        ...ROLLUP.figures.steadyRate,
        unit: 'events/s',
        stats: m10k.ours,
        baseline: { name: naiveName, stats: m10k.naive },
        target: { min: 300_000 },
        note: 'the commit: segments and manifest built (docs/ROLLUPS.md); batches back to back, no forced GC',
      }),
      rateFigure({
        ...ROLLUP.figures.foldRate,
        unit: 'events/s',
        stats: mFold.ours,
        note: "six 10k-event commits folded into the stored items of the last 30 minutes (stored sketches merged in compact form), from the container's own copies",
      }),
      rateFigure({ ...ROLLUP.figures.decodeOnly, unit: 'events/s', stats: m10k.decodeOnly, note: 'the floor under both pipelines' }),
      rateFigure({
        ...ROLLUP.figures.newItemsRate,
        unit: 'events/s',
        stats: m1k.ours,
        baseline: { name: naiveName, stats: m1k.naive },
        note: 'worst case: one event per series per batch, every item new (two for distributions)',
      }),
    );

    // 2. Write cost: 10,000-event batches of one shard every 5 s (the AWS batching window) for 10
    // minutes of event time (2 minutes when quick), folding every 300 s.
    for (const seriesCount of [100, 1000, 10_000] as const) {
      const batches = ctx.quick ? 24 : 120;
      ctx.log(`write cost: ${seriesCount} series, 10000 events per batch, ${batches} batches every ${BATCH_SECONDS} s`);
      const c = await writeCost(seriesCount, 10_000, batches);
      const per1k = (n: number) => (n * 1000) / c.events;
      ctx.info(ROLLUP.info.writeCost(seriesCount), c);
      const writes = c.segments + c.manifests + c.headWrites + c.foldItemsWritten;
      const wcu = c.logWcu + c.headWcu + c.foldWcu;
      const naive = 'naive: 1 UpdateItem per event and resolution';
      figures.push(
        {
          ...ROLLUP.figures.writesPer1k(seriesCount),
          unit: 'writes',
          better: 'lower',
          value: per1k(writes + c.indexWrites),
          spread: null,
          baseline: { name: naive, value: per1k(c.naiveWrites), spread: null },
          note: `${per1k(c.segments + c.manifests).toFixed(2)} log, ${per1k(c.headWrites).toFixed(2)} head, ${per1k(c.foldItemsWritten).toFixed(2)} folded items (${c.folds} folds); ${c.coldIndexWrites} index writes on a cold container not included`,
        },
        {
          ...ROLLUP.figures.writesPerItem(seriesCount),
          unit: 'writes',
          better: 'lower',
          value: (c.foldItemsWritten + c.segments) / (c.itemsPerBatch * c.batches),
          spread: null,
          target: { max: 1 },
          note: `${c.itemsPerBatch.toFixed(0)} items touched per batch; segments and folded items per touched item per batch`,
        },
        {
          ...ROLLUP.figures.wcuPer1k(seriesCount),
          unit: 'WCU',
          better: 'lower',
          value: per1k(wcu + c.indexWrites),
          spread: null,
          baseline: { name: naive, value: per1k(c.naiveWcu), spread: null },
          note: `${per1k(c.logWcu).toFixed(2)} log + ${per1k(c.headWcu).toFixed(2)} head + ${per1k(c.foldWcu).toFixed(2)} fold; plus ${per1k(c.rcu).toFixed(2)} RCU (consistent reads) per 1k events`,
        },
        {
          ...ROLLUP.figures.bytesPerEntry(seriesCount),
          unit: 'bytes',
          better: 'lower',
          value: c.bytesPerEntry,
          spread: null,
          note: `largest log item ${c.maxLogItemBytes} bytes`,
        },
        {
          ...ROLLUP.figures.largestItem(seriesCount),
          unit: 'bytes',
          better: 'lower',
          value: c.maxItemBytes,
          spread: null,
          target: { max: 4096 },
          note: `p99 ${c.p99ItemBytes} bytes`,
        },
      );
    }
    return figures;
  },
});

export default section;
await runIfMain(import.meta.url, section);
