/**
 * Fault-injection suite, the acceptance test of the rollup's exactly-once effect.
 *
 * Each schedule (seeded PRNG) generates a random event stream over 2-3 shards and a handful of
 * series (counts, gauges, distributions; late, ancient, out-of-range and invalid events; some
 * series also written by direct producers to a second shard), packs it into gzip'd or plain NDJSON
 * records, and delivers it with the local poller's pure core (`ShardConsumer`, Lambda's event
 * source mapping semantics: batch sizes, ReportBatchItemFailures resume points, whole-batch
 * retries, bisection on function errors, timeouts) on a virtual clock, all shards stepping
 * concurrently. Each invocation runs the real handler (`createRollupHandler`) in a container that
 * is reused or cold, against the in-memory store with DynamoDB's conditional semantics, under a
 * random fault plan:
 *   - throttling of reads, writes and index updates (retried within the budget, else reported),
 *     with storms that outlast the budget;
 *   - writes refused for good (not retried; the item is reported, the rest of the batch written);
 *   - unprocessed keys in batch reads;
 *   - ambiguous writes: the write lands but the caller gets a timeout;
 *   - a crash after k writes (every later call of the invocation fails; the function errors);
 *   - a function error after every write succeeded (Lambda retries or bisects the whole batch);
 *   - a duplicate invocation of the same batch running concurrently (a zombie: its answer ignored),
 *     or of an earlier batch arriving late;
 *   - mapping restarts: a shard resumes from its checkpoint with another batch size, so new
 *     batches cross the boundaries of earlier (partly written) ones;
 *   - store latency that moves the virtual clock (budgets run out; timed-out invocations go on).
 *   - folds at every interval, the log's backpressure (a batch that must fold before it commits),
 *     and the sweeper running beside the containers, under the same faults.
 * Besides plain counts, gauges and distributions, series send pre-aggregated distribution points
 * (`agg`: explicit, exponential or no buckets, some empty) and cumulative points (`start`: counts
 * and histograms, some with a new start), whose latest point per bucket must win exactly.
 * The table must equal the ground truth computed directly from the events twice: as a reader sees
 * it at the end (folded items plus the committed, unfolded log, functions/shared/rollups/view.ts),
 * and after a final sweep folds everything (the folded items alone). The same items,
 * count/min/max/last exact, sum within float-reordering tolerance, quantiles within 1 % of the
 * exact quantile, and the series index and metric list complete.
 *
 *   ROLLUP_FAULT_RUNS=5000 npx vitest run test/unit/rollup.fault.test.ts    more schedules
 *   ROLLUP_FAULT_SEED=1234 …                                                 another seed
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../local/fixtures.ts';
import { createRollupHandler, createSweepHandler, type RollupHandler } from '../../functions/rollup/app.ts';
import { DEFAULT_TTL_DAYS, INDEX_REFRESH_MS, daysToMs, seriesId, type ItemKey } from '../../functions/shared/rollups/keys.ts';
import { MemoryRollupStore } from '../../functions/rollup/memory-store.ts';
import { parseLastLineage } from '../../functions/shared/rollups/lineage.ts';
import {
  RollupStoreError,
  type BucketRead,
  type LogItem,
  type LogKey,
  type LogRead,
  type MetricEntry,
  type RollupStore,
  type SeriesEntry,
} from '../../functions/rollup/port.ts';
import type { ShardHead } from '../../functions/shared/rollups/head.ts';
import type { StoredBucket } from '../../functions/shared/rollups/item.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import { partitionKeyFor, serializeEvent } from '../../functions/shared/codec.ts';
import { validateEvent, type DistributionAgg, type EventType, type StreamEvent } from '../../functions/shared/event.ts';
import { isEmptyPoint } from '../../functions/rollup/aggregate.ts';
import { ManualClock } from '../../local/poller/clock.ts';
import { InMemoryCheckpointStore } from '../../local/poller/checkpoints.ts';
import { resolveConfig } from '../../local/poller/config.ts';
import { ShardConsumer } from '../../local/poller/core.ts';
import type { ReadResult, ShardInfo, ShardPosition, ShardSource, SourceRecord, StreamHandler } from '../../local/poller/types.ts';
import { exactQuantile, logicalBuckets, seqNo, truthBuckets, viewOfStore, type LogicalBucket, type TruthEvent } from './support/rollup.ts';

const RUNS = Number(process.env.ROLLUP_FAULT_RUNS ?? 200);
const BASE_SEED = Number(process.env.ROLLUP_FAULT_SEED ?? 20261128);
const START = Date.UTC(2026, 10, 28, 12);
const TTL = { '1m': daysToMs(DEFAULT_TTL_DAYS['1m']), '1h': daysToMs(DEFAULT_TTL_DAYS['1h']) };
const QUANTILES = [0, 0.1, 0.5, 0.9, 0.99, 1];
const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/streamfold-events';

// ---------------------------------------------------------------------------------------------
// The stream

/**
 * What a series sends: plain events of its type, pre-aggregated distribution points (`agg`),
 * cumulative counts or cumulative histograms (`start`; now and then a new start, a reset).
 */
type Kind = EventType | 'agg' | 'cumcount' | 'cumdist';

interface Series {
  readonly tenant: string;
  readonly name: string;
  readonly kind: Kind;
  readonly type: EventType;
  readonly tags: Record<string, string>;
  /** Shards its producers write to: the partition-key rule's shard, sometimes a second (direct producers). */
  readonly shards: number[];
}

interface World {
  readonly shards: ShardInfo[];
  /** Per shard, in sequence order. */
  readonly records: SourceRecord[][];
  /** Every valid event with its lineage. */
  readonly truth: TruthEvent[];
}

function valueFor(rng: Rng, type: EventType): number {
  if (rng.chance(0.01)) return rng.chance(0.5) ? 1e200 : -1e-200; // out of range: refused by the validator, left out
  switch (type) {
    case 'count':
      return rng.chance(0.7) ? 1 + rng.int(20) : Math.round(rng.next() * 1e4) / 100;
    case 'gauge':
      return Math.round((rng.next() * 150 - 50) * 100) / 100;
    case 'distribution': {
      if (rng.chance(0.05)) return 0;
      const v = Math.exp(2 + 2.5 * rng.normal()); // ~1e-3 .. 1e5
      const clamped = Math.min(1e5, Math.max(1e-3, v));
      return rng.chance(0.2) ? -clamped : clamped;
    }
  }
}

/** A random pre-aggregated point: explicit, exponential or no buckets; min/max sometimes; now and then empty. */
function randomAgg(rng: Rng, allowEmpty: boolean): DistributionAgg {
  if (allowEmpty && rng.chance(0.05)) return { count: 0, sum: 0 };
  const shape = rng.int(3);
  if (shape === 0) {
    const bounds = [0.5, 2, 10, 75, 1000];
    const counts: number[] = bounds.map((): number => (rng.chance(0.4) ? 0 : rng.int(4)));
    counts.push(rng.chance(0.8) ? 0 : 1 + rng.int(2));
    if (!counts.some((c) => c > 0)) counts[2] = 1;
    const count = counts.reduce((a, b) => a + b, 0);
    const sum = Math.round(count * 20 * rng.next() * 100) / 100;
    const withMinMax = rng.chance(0.5);
    return { count, sum, ...(withMinMax ? { min: 0.25, max: 1500 } : {}), buckets: { bounds, counts } };
  }
  if (shape === 1) {
    const positive = { offset: rng.int(20) - 4, counts: Array.from({ length: 1 + rng.int(6) }, () => rng.int(3)) };
    const negative = rng.chance(0.3) ? { offset: rng.int(10), counts: [rng.int(2), 1] } : undefined;
    const zeroCount = rng.chance(0.2) ? 1 : 0;
    const count = zeroCount + positive.counts.reduce((a, b) => a + b, 0) + (negative?.counts.reduce((a, b) => a + b, 0) ?? 0);
    if (count === 0) return { count: 1, sum: 3.5, buckets: { scale: 3, zeroCount: 0, positive: { offset: 2, counts: [1] } } };
    return { count, sum: Math.round(rng.next() * 1e4) / 100, buckets: { scale: rng.pick([0, 3, 6]), zeroCount, positive, ...(negative ? { negative } : {}) } };
  }
  const count = 1 + rng.int(50);
  return { count, sum: count * (1 + rng.int(9)), ...(rng.chance(0.5) ? { min: 1, max: 9 } : {}) };
}

function buildWorld(rng: Rng): World {
  const nShards = 2 + rng.int(2);
  const shards: ShardInfo[] = Array.from({ length: nShards }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(12, '0')}`,
    startingSequenceNumber: seqNo(0),
  }));
  const kinds: Record<string, Kind> = {};
  const names = ['http.duration', 'cpu', 'requests', 'queue.depth', 'db.latency'];
  for (const n of names) kinds[n] = rng.pick(['count', 'gauge', 'distribution', 'agg', 'cumcount', 'cumdist'] as const);
  const typeOf = (k: Kind): EventType => (k === 'agg' || k === 'cumdist' ? 'distribution' : k === 'cumcount' ? 'count' : k);
  const series: Series[] = [];
  const nSeries = 2 + rng.int(6);
  for (let i = 0; i < nSeries; i++) {
    const tenant = rng.pick(['acme', 'globex']);
    const name = rng.pick(names);
    const tags: Record<string, string> = { host: `h${rng.int(3)}` };
    if (rng.chance(0.5)) tags.env = rng.pick(['prod', 'dev']);
    const home = Number.parseInt(partitionKeyFor(tenant, name).split('#')[1]!, 10) % nShards;
    const shardsOf = [home];
    if (rng.chance(0.3)) shardsOf.push((home + 1 + rng.int(nShards - 1)) % nShards);
    series.push({ tenant, name, kind: kinds[name]!, type: typeOf(kinds[name]!), tags, shards: shardsOf });
  }

  // Events per shard, in production order.
  const perShard: Array<Array<{ line: string; event?: StreamEvent }>> = shards.map(() => []);
  const nEvents = 40 + rng.int(160);
  for (let i = 0; i < nEvents; i++) {
    if (rng.chance(0.03)) {
      perShard[rng.int(nShards)]!.push({ line: rng.chance(0.5) ? '{"name":"no.tenant","ts":1,"value":1}' : '{not json' });
      continue;
    }
    const s = series[rng.skewed(series.length, 1.5)]!;
    const age = rng.chance(0.05) ? daysToMs(20) + rng.int(3_600_000) : rng.chance(0.02) ? daysToMs(500) : rng.int(3 * 3_600_000);
    const ts = START - age;
    // Cumulative points start long ago, or (a reset) 4 h ago when the point is younger than that.
    const start = ts >= START - 4 * 3_600_000 && rng.chance(0.3) ? START - 4 * 3_600_000 : START - daysToMs(600);
    let body: Record<string, unknown>;
    switch (s.kind) {
      case 'agg':
        body = { tenant: s.tenant, name: s.name, ts, type: 'distribution', tags: s.tags, agg: randomAgg(rng, true) };
        break;
      case 'cumcount':
        body = { tenant: s.tenant, name: s.name, ts, type: 'count', tags: s.tags, start, value: rng.int(1000) };
        break;
      case 'cumdist':
        body = { tenant: s.tenant, name: s.name, ts, type: 'distribution', tags: s.tags, start, agg: randomAgg(rng, false) };
        break;
      default:
        body = { tenant: s.tenant, name: s.name, ts, value: valueFor(rng, s.type), type: s.type, tags: s.tags };
    }
    // Points with agg or start as the consumers' validator makes them (a cumulative point's
    // `_sf_start` tag added); plain events as they are (some are out of range, refused).
    let event = body as unknown as StreamEvent;
    if (s.kind === 'agg' || s.kind === 'cumcount' || s.kind === 'cumdist') {
      const line = JSON.stringify(body);
      const v = validateEvent(JSON.parse(line), { now: START });
      if (!v.ok) throw new Error(`the generator made an invalid event: ${v.reason}: ${line}`);
      event = v.event;
    }
    perShard[rng.pick(s.shards)]!.push({ line: serializeEvent(event), event });
  }

  // Records of 1-5 lines, gzip'd or plain NDJSON; sequence numbers with gaps.
  const records: SourceRecord[][] = [];
  const truth: TruthEvent[] = [];
  perShard.forEach((lines, s) => {
    const out: SourceRecord[] = [];
    let seq = 100;
    for (let i = 0; i < lines.length; ) {
      const n = 1 + rng.int(5);
      const chunk = lines.slice(i, i + n);
      i += n;
      seq += 1 + rng.int(3);
      const sequenceNumber = seqNo(seq);
      chunk.forEach((l, sub) => {
        if (l.event) truth.push({ event: l.event, lineage: { shardId: shards[s]!.shardId, sequenceNumber, subIndex: sub } });
      });
      const text = `${chunk.map((l) => l.line).join('\n')}\n`;
      out.push({
        sequenceNumber,
        partitionKey: 'pk',
        data: rng.chance(0.5) ? gzipSync(text) : Buffer.from(text, 'utf8'),
        approximateArrivalTimestamp: START,
      });
    }
    records.push(out);
  });
  return { shards, records, truth };
}

/** The stream as the poller reads it: short reads at random, `shardEnded` at the tail. */
class MemorySource implements ShardSource {
  constructor(
    private readonly world: World,
    private readonly rng: Rng,
  ) {}
  async listShards(): Promise<ShardInfo[]> {
    return this.world.shards;
  }
  async read(shardId: string, position: ShardPosition, limit: number): Promise<ReadResult> {
    const all = this.world.records[this.world.shards.findIndex((s) => s.shardId === shardId)]!;
    let from = 0;
    if (position.type === 'AFTER_SEQUENCE_NUMBER') from = all.findIndex((r) => r.sequenceNumber === position.sequenceNumber) + 1;
    const n = Math.min(limit, 1 + this.rng.int(limit));
    const records = all.slice(from, from + n);
    return { records, millisBehindLatest: 0, shardEnded: from + records.length >= all.length };
  }
}

// ---------------------------------------------------------------------------------------------
// Faults

class CrashError extends Error {
  override name = 'CrashError';
}

interface Plan {
  throttle: number;
  /** Share of writes refused for good (e.g. AccessDenied): the item is reported, the rest written. */
  refuse: number;
  unprocessed: number;
  ambiguous: number;
  crashAfterWrites: number | undefined;
  crashed: boolean;
  writes: number;
}

interface Counters {
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  crashes: number;
  duplicates: number;
  lateDuplicates: number;
  restarts: number;
  failAfterSuccess: number;
  throttled: number;
  refused: number;
  unprocessed: number;
  ambiguous: number;
  conflicts: number;
  coldStarts: number;
  itemCacheHits: number;
  commitsFolded: number;
  commitsRead: number;
  sweeps: number;
  /** Events of the stream that are pre-aggregated points, cumulative counts, cumulative histograms. */
  aggPoints: number;
  cumulativeCounts: number;
  cumulativeHistograms: number;
}

const newCounters = (): Counters => ({
  invocations: 0,
  functionErrors: 0,
  partialFailures: 0,
  crashes: 0,
  duplicates: 0,
  lateDuplicates: 0,
  restarts: 0,
  failAfterSuccess: 0,
  throttled: 0,
  refused: 0,
  unprocessed: 0,
  ambiguous: 0,
  conflicts: 0,
  coldStarts: 0,
  itemCacheHits: 0,
  commitsFolded: 0,
  commitsRead: 0,
  sweeps: 0,
  aggPoints: 0,
  cumulativeCounts: 0,
  cumulativeHistograms: 0,
});

/** The memory store behind the current invocation's fault plan (found through AsyncLocalStorage). */
class FaultStore implements RollupStore {
  constructor(
    readonly inner: MemoryRollupStore,
    private readonly plans: AsyncLocalStorage<Plan>,
    private readonly rng: Rng,
    private readonly clock: ManualClock,
    private readonly counters: Counters,
  ) {}

  /** Latency (virtual time passes, other invocations interleave), crash, throttling. */
  private async enter(): Promise<Plan | undefined> {
    const plan = this.plans.getStore();
    for (let i = this.rng.int(4); i > 0; i--) await Promise.resolve();
    await this.clock.sleep(this.rng.int(30));
    if (plan?.crashed) throw new CrashError('the container died');
    if (plan && this.rng.chance(plan.throttle)) {
      this.counters.throttled++;
      throw new RollupStoreError('ThrottlingException: Rate of requests exceeds the allowed throughput', { code: 'ThrottlingException', retryable: true });
    }
    return plan;
  }

  async readBuckets(keys: readonly ItemKey[]): Promise<BucketRead> {
    const plan = await this.enter();
    if (plan && keys.length > 0 && this.rng.chance(plan.unprocessed)) {
      this.counters.unprocessed++;
      const skip = keys.filter(() => this.rng.chance(0.5));
      const res = await this.inner.readBuckets(keys.filter((k) => !skip.includes(k)));
      return { items: res.items, unprocessed: skip };
    }
    return this.inner.readBuckets(keys);
  }

  async writeBucket(key: ItemKey, item: StoredBucket, expectedVer: number | undefined): Promise<void> {
    await this.write(() => this.inner.writeBucket(key, item, expectedVer));
  }

  async writeHead(head: ShardHead, expectedVer: number): Promise<void> {
    await this.write(() => this.inner.writeHead(head, expectedVer));
  }

  async putLog(item: LogItem): Promise<void> {
    await this.write(() => this.inner.putLog(item));
  }

  /** A write under the plan: refused for good, applied then the container dies, or applied and unanswered. */
  private async write(apply: () => Promise<void>): Promise<void> {
    const plan = await this.enter();
    if (plan && this.rng.chance(plan.refuse)) {
      this.counters.refused++;
      throw new RollupStoreError('AccessDeniedException: not authorized to perform dynamodb:PutItem', { code: 'AccessDeniedException', retryable: false });
    }
    await apply();
    if (plan === undefined) return;
    plan.writes++;
    if (plan.crashAfterWrites !== undefined && plan.writes >= plan.crashAfterWrites) {
      // Dies with the write applied and unacknowledged.
      plan.crashed = true;
      throw new CrashError('the container died after the write');
    }
    if (this.rng.chance(plan.ambiguous)) {
      this.counters.ambiguous++;
      throw new RollupStoreError('TimeoutError: socket timed out (the write may have been applied)', { code: 'TimeoutError', retryable: true });
    }
  }

  async readHead(shardId: string): Promise<ShardHead> {
    await this.enter();
    return this.inner.readHead(shardId);
  }

  async readLog(keys: readonly LogKey[]): Promise<LogRead> {
    const plan = await this.enter();
    if (plan && keys.length > 0 && this.rng.chance(plan.unprocessed)) {
      this.counters.unprocessed++;
      const skip = keys.filter(() => this.rng.chance(0.5));
      const res = await this.inner.readLog(keys.filter((k) => !skip.includes(k)));
      return { items: res.items, unprocessed: skip };
    }
    return this.inner.readLog(keys);
  }

  async registerShard(shardId: string): Promise<void> {
    await this.enter();
    return this.inner.registerShard(shardId);
  }

  async listShards(): Promise<string[]> {
    await this.enter();
    return this.inner.listShards();
  }

  async touchSeries(entry: SeriesEntry): Promise<void> {
    await this.enter();
    return this.inner.touchSeries(entry);
  }

  async touchMetric(entry: MetricEntry): Promise<void> {
    await this.enter();
    return this.inner.touchMetric(entry);
  }
}

// ---------------------------------------------------------------------------------------------
// One schedule

/**
 * The fault plan of the invocation a store call belongs to. One instance for every schedule: Node
 * keeps each enabled AsyncLocalStorage in a list walked on every async operation.
 */
const plans = new AsyncLocalStorage<Plan>();

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

interface ScheduleResult {
  readonly seed: number;
  readonly problems: string[];
  readonly counters: Counters;
  readonly overCounted: boolean;
}

async function runSchedule(seed: number, opts: { guard: boolean }): Promise<ScheduleResult> {
  const rng = new Rng(seed);
  const world = buildWorld(rng);
  const clock = new ManualClock(START);
  const counters = newCounters();
  for (const { event: e } of world.truth) {
    if (e.start !== undefined) counters[e.agg === undefined ? 'cumulativeCounts' : 'cumulativeHistograms']++;
    else if (e.agg !== undefined) counters.aggPoints++;
  }
  const memory = new MemoryRollupStore();
  const store = new FaultStore(memory, plans, rng, clock, counters);

  const heavy = rng.chance(0.3); // some schedules are hostile throughout
  const newPlan = (): Plan => ({
    // Sometimes a throttling storm: the budget runs out and unwritten items are reported.
    throttle: rng.chance(0.1) ? 0.9 : rng.chance(heavy ? 0.8 : 0.4) ? rng.next() * (heavy ? 0.6 : 0.3) : 0,
    refuse: rng.chance(0.1) ? 0.2 : 0,
    unprocessed: rng.chance(0.3) ? 0.5 : 0,
    ambiguous: rng.chance(0.2) ? 0.2 : 0,
    crashAfterWrites: rng.chance(heavy ? 0.3 : 0.1) ? rng.int(6) : undefined,
    crashed: false,
    writes: 0,
  });

  const count = (name: string, value: number) => {
    if (name === 'conflicts') counters.conflicts += value;
    if (name === 'itemCacheHits') counters.itemCacheHits += value;
    if (name === 'commitsFolded') counters.commitsFolded += value;
    if (name === 'commitsRead') counters.commitsRead += value;
  };
  // Folds at every pace: after each commit, now and then, or only when the log must (backpressure).
  const foldConfig = () => ({
    foldIntervalMs: rng.pick([0, 40, 400, 1e9]),
    foldCommits: rng.pick([1, 2, 5, 64]),
    maxUnfoldedCommits: rng.pick([3, 8, 256]),
    maxCommitsPerFold: rng.pick([1, 4, 256]),
  });
  const sweeper = () =>
    createSweepHandler(
      { ROLLUPS_TABLE_NAME: 'streamfold-rollups', ROLLUP_ITEM_CACHE_ENTRIES: rng.pick(['0', '20000']) },
      {
        store,
        now: () => clock.now(),
        sleep: (ms) => clock.sleep(ms),
        random: () => rng.next(),
        metrics: { add: count },
        logger: quiet,
        flushMetrics: () => {},
        config: { ...foldConfig(), sweepAfterMs: rng.pick([0, 100]), idempotencyGuard: opts.guard, timeMarginMs: 300, backoffBaseMs: 10, backoffMaxMs: 200 },
      },
    );

  // Containers: one invocation at a time each; a new one (cold, empty caches) when all are busy or at random.
  const containers: Array<{ handler: RollupHandler; busy: boolean }> = [];
  const acquire = () => {
    let c = rng.chance(0.15) ? undefined : containers.find((x) => !x.busy);
    if (c === undefined) {
      counters.coldStarts++;
      c = {
        busy: false,
        handler: createRollupHandler(
          // Containers remember the items they read or wrote (some none, some only a few), so
          // stale copies meet the items other containers and zombies wrote since.
          { ROLLUPS_TABLE_NAME: 'streamfold-rollups', ROLLUP_ITEM_CACHE_ENTRIES: rng.pick(['0', '3', '20000']) },
          {
            store,
            now: () => clock.now(),
            sleep: (ms) => clock.sleep(ms),
            random: () => rng.next(),
            metrics: {
              add: count,
            },
            logger: quiet,
            flushMetrics: () => {},
            config: {
              ...foldConfig(),
              idempotencyGuard: opts.guard,
              timeMarginMs: 300,
              backoffBaseMs: 10,
              backoffMaxMs: 200,
            },
          },
        ),
      };
      containers.push(c);
    }
    c.busy = true;
    return c;
  };

  const zombies: Promise<unknown>[] = [];
  const runIn = async (event: KinesisStreamEvent, context: { getRemainingTimeInMillis(): number }, plan: Plan) => {
    const c = acquire();
    try {
      return await plans.run(plan, () => c.handler(event, context));
    } finally {
      c.busy = false;
    }
  };

  /** Batches seen, replayed later by a late duplicate invocation. */
  const seen: KinesisStreamEvent[] = [];
  const handler: StreamHandler = async (event, context) => {
    counters.invocations++;
    if (rng.chance(0.08)) {
      // At-least-once: the same batch also runs elsewhere; its answer goes nowhere.
      counters.duplicates++;
      zombies.push(runIn(event, context, newPlan()).catch(() => undefined));
    }
    seen.push(event);
    if (rng.chance(0.05)) {
      // The scheduled sweeper folds beside the containers.
      counters.sweeps++;
      const plan = newPlan();
      const sweep = sweeper();
      zombies.push(plans.run(plan, () => sweep({}, { getRemainingTimeInMillis: () => 3_000 })).catch(() => undefined));
    }
    if (seen.length > 1 && rng.chance(0.04)) {
      // A delayed duplicate of an earlier batch lands now, after later batches moved its items on.
      counters.lateDuplicates++;
      const old = seen[rng.int(seen.length - 1)]!;
      zombies.push(runIn(old, { getRemainingTimeInMillis: () => 5_000 }, newPlan()).catch(() => undefined));
    }
    const plan = newPlan();
    let res;
    try {
      res = await runIn(event, context, plan);
    } catch (err) {
      counters.functionErrors++;
      if (err instanceof CrashError) counters.crashes++;
      throw err;
    }
    if (res.batchItemFailures.length > 0) counters.partialFailures++;
    else if (rng.chance(0.08)) {
      // Everything is written, yet the invocation fails (e.g. times out while returning).
      counters.failAfterSuccess++;
      counters.functionErrors++;
      throw new Error('function error after the writes');
    }
    return res;
  };

  const checkpoints = new InMemoryCheckpointStore();
  const source = new MemorySource(world, rng);
  const newConsumer = (shard: ShardInfo) =>
      new ShardConsumer({
        config: resolveConfig({
          source,
          handler,
          streamArn: STREAM_ARN,
          functionName: 'rollup',
          startingPosition: 'TRIM_HORIZON',
          batchSize: 1 + rng.int(25),
          reportBatchItemFailures: true,
          bisectBatchOnFunctionError: rng.chance(0.6),
          maximumRetryAttempts: -1,
          functionTimeoutMs: 2_000 + rng.int(4_000),
          retryBaseDelayMs: 10,
          retryMaxDelayMs: 200,
        }),
        shard,
        startAt: 'mapping',
        source,
        handler,
        checkpoints,
        onFailure: undefined,
        clock,
        logger: { debug: () => {}, warn: () => {}, error: () => {} },
      });
  const consumers = world.shards.map(newConsumer);

  const notBefore = new Map<ShardConsumer, number>(consumers.map((c) => [c, START]));
  const ended = new Set<ShardConsumer>();
  for (let round = 0; ended.size < consumers.length; round++) {
    if (round > 50_000) throw new Error(`seed ${seed}: the schedule did not finish`);
    const now = clock.now();
    const ready = consumers.filter((c) => !ended.has(c) && notBefore.get(c)! <= now);
    if (ready.length === 0) {
      const next = Math.min(...consumers.filter((c) => !ended.has(c)).map((c) => notBefore.get(c)!));
      clock.advance(next - now);
      continue;
    }
    if (rng.chance(0.02)) {
      // The mapping restarts (config change, scaling): a consumer resumes from its checkpoint with
      // a new batch size, so new batches cross the boundaries of the ones that failed.
      const i = consumers.findIndex((c) => c === ready[0]);
      counters.restarts++;
      const fresh = newConsumer(world.shards[i]!);
      notBefore.set(fresh, clock.now());
      consumers[i] = fresh;
      ready[0] = fresh;
    }
    // All ready shards step concurrently: their invocations interleave on the same items.
    const results = await Promise.all(ready.map((c) => c.step()));
    results.forEach((r, i) => {
      const c = ready[i]!;
      if (r.kind === 'ended') ended.add(c);
      else if (r.kind === 'wait') notBefore.set(c, r.until);
      else if (r.kind === 'idle') notBefore.set(c, clock.now() + 50);
      else notBefore.set(c, clock.now());
    });
  }
  await Promise.all(zombies);

  // As a reader sees it now, then after a final sweep (no faults) folds every shard's log.
  const seen1 = compare(world, logicalBuckets(viewOfStore(memory)), memory);
  const sweep = sweeper();
  for (let i = 0; [...memory.heads.values()].some((h) => h.commits.length > 0); i++) {
    if (i > 50) throw new Error(`seed ${seed}: the final sweep did not fold every log`);
    await sweep({}, { getRemainingTimeInMillis: () => 60_000 }).catch(() => undefined);
  }
  const folded = compare(world, logicalBuckets(memory.buckets.values()), memory);
  const problems = [...seen1.problems.map((p) => `before the final fold: ${p}`), ...folded.problems.map((p) => `folded: ${p}`)];
  return { seed, problems, counters, overCounted: seen1.overCounted || folded.overCounted };
}

// ---------------------------------------------------------------------------------------------
// Ground truth

function compare(world: World, stored: Map<string, LogicalBucket>, store: MemoryRollupStore): { problems: string[]; overCounted: boolean } {
  const problems: string[] = [];
  let overCounted = false;
  const truth = truthBuckets(world.truth, START, TTL);

  for (const [id, t] of truth) {
    const s = stored.get(id);
    if (s === undefined) {
      problems.push(`${id}: missing`);
      continue;
    }
    const where = `${id} (${t.name})`;
    if (s.count !== t.count) {
      problems.push(`${where}: count ${s.count}, expected ${t.count}`);
      if (s.count > t.count) overCounted = true;
    }
    if (Math.abs(s.sum - t.sum) > 1e-9 * t.sumAbs + 1e-12) problems.push(`${where}: sum ${s.sum}, expected ${t.sum}`);
    if (s.min !== t.min) problems.push(`${where}: min ${s.min}, expected ${t.min}`);
    if (s.max !== t.max) problems.push(`${where}: max ${s.max}, expected ${t.max}`);
    // Tags are the series index's (checked below); folded items keep only name and type.
    if (s.name !== t.name) problems.push(`${where}: series attributes differ`);
    if (t.last !== undefined) {
      // The log keeps the shard of a gauge's last event, its commit standing in for the sequence
      // number (functions/shared/rollups/fold.ts), and a packed minute keeps only the shard.
      const lin = s.lastShard !== undefined ? s.lastShard : s.lastLin === undefined ? undefined : parseLastLineage(s.lastLin).shardId;
      const want = t.last.lineage.shardId;
      if (s.last !== t.last.value || s.lastTs !== t.last.ts || JSON.stringify(lin) !== JSON.stringify(want)) {
        problems.push(`${where}: last ${s.last}@${s.lastTs}, expected ${t.last.value}@${t.last.ts}`);
      }
    } else if (s.last !== undefined) problems.push(`${where}: unexpected last`);
    if (t.cum !== undefined) {
      const lin = s.cumLin === undefined ? undefined : parseLastLineage(s.cumLin).shardId;
      if (s.cumCount !== t.cum.count || s.cumSum !== t.cum.sum || s.cumTs !== t.cum.ts || lin !== t.cum.lineage.shardId) {
        problems.push(`${where}: cumulative point ${s.cumCount}/${s.cumSum}@${s.cumTs} (${lin}), expected ${t.cum.count}/${t.cum.sum}@${t.cum.ts} (${t.cum.lineage.shardId})`);
      } else if (s.cumSketch === undefined || Buffer.compare(Buffer.from(s.cumSketch), Buffer.from(t.cum.sketch)) !== 0) {
        problems.push(`${where}: cumulative point's sketch differs`);
      }
    } else if (s.cumCount !== undefined) problems.push(`${where}: unexpected cumulative point`);
    if (t.values.length > 0) {
      if (s.sketch === undefined) problems.push(`${where}: sketch missing`);
      else {
        const sketch = Sketch.decode(s.sketch);
        const sorted = [...t.values].sort((a, b) => a - b);
        if (sketch.count !== sorted.length) {
          problems.push(`${where}: sketch count ${sketch.count}, expected ${sorted.length}`);
          if (sketch.count > sorted.length) overCounted = true;
        }
        for (const q of QUANTILES) {
          const exact = exactQuantile(sorted, q);
          const got = sketch.quantile(q);
          const err = exact === 0 ? Math.abs(got) : Math.abs(got - exact) / Math.abs(exact);
          if (!(err <= 0.01 * (1 + 1e-9))) problems.push(`${where}: p${q * 100} ${got}, exact ${exact}`);
        }
      }
    } else if (s.sketch !== undefined) problems.push(`${where}: unexpected sketch`);
  }
  for (const id of stored.keys()) if (!truth.has(id)) problems.push(`${id}: unexpected item`);

  // Series index and metric list: every series with a bucket, lastSeen at most INDEX_REFRESH_MS behind.
  const series = new Map<string, { tags: Record<string, string>; type: EventType; min: number; max: number }>();
  const metrics = new Map<string, { type: EventType; max: number }>();
  for (const { event: e } of world.truth) {
    if (!(e.value === 0 || (Math.abs(e.value) >= 1e-100 && Math.abs(e.value) <= 1e100)) || START - e.ts > TTL['1h'] || isEmptyPoint(e)) continue;
    const sid = `${e.tenant}#idx#${e.name}\u0000${seriesId(e.tenant, e.name, e.tags)}`;
    const cur = series.get(sid) ?? { tags: e.tags as Record<string, string>, type: e.type, min: e.ts, max: e.ts };
    series.set(sid, { ...cur, min: Math.min(cur.min, e.ts), max: Math.max(cur.max, e.ts) });
    const mid = `${e.tenant}#metrics\u0000${e.name}`;
    metrics.set(mid, { type: e.type, max: Math.max(metrics.get(mid)?.max ?? -Infinity, e.ts) });
  }
  for (const [id, t] of series) {
    const s = store.series.get(id);
    if (s === undefined) problems.push(`index ${id}: missing`);
    else if (JSON.stringify(s.tags) !== JSON.stringify(t.tags) || s.type !== t.type || s.lastSeen > t.max || s.lastSeen <= t.max - INDEX_REFRESH_MS || s.firstSeen < t.min || s.firstSeen > s.lastSeen) {
      problems.push(`index ${id}: ${JSON.stringify(s)} vs ${JSON.stringify(t)}`);
    }
  }
  if (store.series.size !== series.size) problems.push(`index: ${store.series.size} entries, expected ${series.size}`);
  for (const [id, t] of metrics) {
    const m = store.metrics.get(id);
    if (m === undefined || m.type !== t.type || m.lastSeen > t.max || m.lastSeen <= t.max - INDEX_REFRESH_MS) problems.push(`metric ${id}: ${JSON.stringify(m)} vs ${JSON.stringify(t)}`);
  }
  if (store.metrics.size !== metrics.size) problems.push(`metric list: ${store.metrics.size} entries, expected ${metrics.size}`);
  return { problems, overCounted };
}

// ---------------------------------------------------------------------------------------------

describe('Fault injection: rollups under Lambda delivery schedules', () => {
  it(`end exactly as the events applied once, over ${RUNS} random schedules (seed ${BASE_SEED})`, { timeout: Math.max(120_000, RUNS * 1_000) }, async () => {
    // Prepare
    const totals = newCounters();
    const failures: string[] = [];

    // Act
    for (let i = 0; i < RUNS; i++) {
      const r = await runSchedule(BASE_SEED + i, { guard: true });
      for (const k of Object.keys(totals) as Array<keyof Counters>) totals[k] += r.counters[k];
      if (r.problems.length > 0) failures.push(`seed ${r.seed}: ${r.problems.slice(0, 5).join('; ')}`);
    }

    // Assess
    expect(failures, `reproduce with ROLLUP_FAULT_SEED=<seed> ROLLUP_FAULT_RUNS=1`).toEqual([]);
    // The schedules did exercise every fault they claim to.
    for (const k of Object.keys(totals) as Array<keyof Counters>) expect(totals[k], k).toBeGreaterThan(0);
  });

  it('fails when the idempotency guard is removed (the suite detects double counting)', async () => {
    // Prepare
    const runs = Math.min(RUNS, 20);
    let detected = 0;
    let overCounted = 0;

    // Act
    for (let i = 0; i < runs; i++) {
      const r = await runSchedule(BASE_SEED + i, { guard: false });
      if (r.problems.length > 0) detected++;
      if (r.overCounted) overCounted++;
    }

    // Assess
    expect(detected).toBeGreaterThan(runs / 2);
    expect(overCounted).toBeGreaterThan(0);
  });
});
