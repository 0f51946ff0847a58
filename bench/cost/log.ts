/**
 * The rollup log layout's DynamoDB arithmetic (docs/ROLLUPS.md): what one shard's commits and
 * folds write and read per second, and what the log keeps, from the rollup bench's measured
 * write-cost runs (`WritePoint`, read from `WriteCostInfo` by figures.ts). Pure.
 *
 * Per shard and commit (commits/s per shard = the rollup's invocations/s ÷ shards, terms.ts
 * `consumerInvocationsPerSecond`):
 * - entries = items touched = series on the shard touched by the batch, S·(1 − e^(−n/S)), times
 *   the items per touched series the bench measured (1 + the distribution share: a distribution
 *   also writes its minute's 1 m item);
 * - one segment per metric touched on the shard, holding its entries at the measured bytes per
 *   entry, plus its keys (from the key format, keys.ts), cut in parts under MAX_PART_BYTES; one
 *   manifest naming those metrics; one conditional head write, whose size grows with the
 *   unfolded commits it lists (the measured WCU per head write at the bench's unfolded count,
 *   scaled by the count);
 * - a fold every min(fold interval, foldCommits commit intervals) writes each item touched since
 *   the last fold once, at the measured WCU per folded item; it reads the items its container's
 *   cache does not hold (new items always; the rest when the cache is smaller than a fold's items);
 * - the sweeper reads every head once per run; index entries are refreshed once per series and per
 *   (metric, shard) every INDEX_REFRESH_MS.
 *
 * Figures that depend on how many events a batch brings each series (bytes per entry, items per
 * touched series, WCU per folded item) are interpolated on a log scale between the bench's runs
 * (100, 10 and 1 events per series per batch), clamped at the ends.
 */
import { INDEX_REFRESH_MS, logSk, manifestPk, segmentPk } from '../../functions/shared/rollups/keys.ts';
import { MAX_PART_BYTES } from '../../functions/shared/rollups/segment.ts';
import type { Stored } from './terms.ts';

/** One measured write-cost run of the rollup section (bench/rollup.ts `WriteCostInfo`), per batch. */
export interface WritePoint {
  /** Series of the run, all on its one shard; every series is in every batch (events ≥ series). */
  readonly seriesPerBatch: number;
  readonly eventsPerBatch: number;
  /** Event time between batches, and the fold interval of the run. */
  readonly batchSeconds: number;
  readonly foldSeconds: number;
  /** Items (entries) and segments written per batch. */
  readonly itemsPerBatch: number;
  readonly segmentsPerBatch: number;
  /** Log payload bytes per entry (segments and manifests ÷ entries). */
  readonly bytesPerEntry: number;
  /** Segment and manifest WCU per batch, as measured (the model is checked against it). */
  readonly logWcuPerBatch: number;
  readonly headWcuPerWrite: number;
  readonly headWritesPerBatch: number;
  /** Folded items written per fold, and WCU per folded item written. */
  readonly foldItemsPerFold: number;
  readonly foldWcuPerItem: number;
  /** Consistent-read units per batch of the run (a cold container: every folded item is a read). */
  readonly rcuPerBatch: number;
  readonly p99ItemBytes: number;
  readonly maxItemBytes: number;
  readonly maxLogItemBytes: number;
  readonly naiveWcuPer1k: number;
  /** Bytes stored per series for one hour of data, by the retention that keeps them (bench/rollup.ts). */
  readonly storedPerSeriesHour: Stored;
  readonly naiveStoredPerSeriesHour: Stored;
}

/** Lengths the key overhead is computed with (assumed: the bench fixture's are 4-8 and 12-28). */
export const KEY_CHARS = { tenant: 8, metricName: 24 } as const;
const SHARD_ID = 'shardId-000000000000';
/** Attribute names of a log item (pk, sk, d, parts, ttl) and its two numbers (parts 1, a 10-digit ttl). */
const LOG_ATTRIBUTE_BYTES = 'pk'.length + 'sk'.length + 'd'.length + 'parts'.length + 'ttl'.length + 2 + 6;
/** What DynamoDB stores per item besides its data. */
export const ITEM_STORAGE_OVERHEAD_BYTES = 100;

const logSkBytes = logSk(1_000_000, 'x'.repeat(12), 0).length;
/** Key and attribute bytes of a segment item, and of a manifest item, besides their payload. */
export const SEGMENT_OVERHEAD_BYTES = segmentPk('t'.repeat(KEY_CHARS.tenant), 'm'.repeat(KEY_CHARS.metricName), SHARD_ID).length + logSkBytes + LOG_ATTRIBUTE_BYTES;
export const MANIFEST_OVERHEAD_BYTES = manifestPk(SHARD_ID).length + logSkBytes + LOG_ATTRIBUTE_BYTES;
/** A manifest entry: string tenant, string name, varint parts (segment.ts). */
const MANIFEST_ENTRY_BYTES = 1 + KEY_CHARS.tenant + 1 + KEY_CHARS.metricName + 1;

const KB = 1024;
const ceilKb = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));
/**
 * Expected whole KB billed for items of `bytes` on average whose sizes spread over more than 1 KB
 * (segments: metrics differ in series and types): half a KB of rounding each, never under 1.
 * `ceil` of the mean under-counts the bench's 1,000-series run by 28 %; this is within 11 % of
 * every run (test/unit/cost.test.ts).
 */
export const expectedKb = (bytes: number): number => Math.max(1, bytes / KB + 0.5);

// ---------------------------------------------------------------------------------------------

/** Events per series per batch of a run (every series is in every batch of the bench). */
const eventsPerSeriesOf = (p: WritePoint) => p.eventsPerBatch / p.seriesPerBatch;

/**
 * `f` of the points, interpolated on a log scale of events per touched series per batch (or of
 * `xOf`, another per-series rate of a run), clamped at the ends.
 */
export function interpolate(points: readonly WritePoint[], eventsPerSeries: number, f: (p: WritePoint) => number, xOf: (p: WritePoint) => number = eventsPerSeriesOf): number {
  if (points.length === 0) throw new Error('no write points');
  const sorted = [...points].sort((a, b) => xOf(a) - xOf(b));
  const x = Math.log(Math.max(1e-9, eventsPerSeries));
  const first = sorted[0]!;
  const last = sorted.at(-1)!;
  if (x <= Math.log(xOf(first))) return f(first);
  if (x >= Math.log(xOf(last))) return f(last);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    const xa = Math.log(xOf(a));
    const xb = Math.log(xOf(b));
    if (x <= xb) return f(a) + ((f(b) - f(a)) * (x - xa)) / (xb - xa);
  }
  return f(last);
}

/**
 * Bytes stored per series-hour (ours and naive) at `eventsPerSeriesMinute`: the runs' figures,
 * interpolated by their own events per series per minute (sketches and minutes grow with events).
 */
export function storedAt(points: readonly WritePoint[], eventsPerSeriesMinute: number): { readonly ours: Stored; readonly naive: Stored } {
  const perMinute = (p: WritePoint) => (eventsPerSeriesOf(p) * 60) / p.batchSeconds;
  const at = (f: (p: WritePoint) => number) => interpolate(points, eventsPerSeriesMinute, f, perMinute);
  return {
    ours: { '1m': at((p) => p.storedPerSeriesHour['1m']), '1h': at((p) => p.storedPerSeriesHour['1h']) },
    naive: { '1m': at((p) => p.naiveStoredPerSeriesHour['1m']), '1h': at((p) => p.naiveStoredPerSeriesHour['1h']) },
  };
}

/** Items per touched series (1 + distribution share), and folded items per series per fold, of a run. */
const itemsPerSeriesOf = (p: WritePoint) => p.itemsPerBatch / p.seriesPerBatch;
const foldItemsPerSeriesOf = (p: WritePoint) => p.foldItemsPerFold / p.seriesPerBatch;
/** Event minutes one fold spans (its interval, plus the minute it started in). */
const minutesPerFold = (foldSeconds: number) => foldSeconds / 60 + 1;

// ---------------------------------------------------------------------------------------------

/** The load on the rollup's log: the stream's shards and how events and series sit on them. */
export interface LogLoad {
  readonly eventsPerSecond: number;
  readonly shards: number;
  /** Rollup invocations (commits) per second, all shards. */
  readonly commitsPerSecond: number;
  readonly series: number;
  /** Distinct (tenant, metric name) pairs: a segment is per metric per shard. */
  readonly metrics: number;
  /** Shards one metric's series spread over (1: a metric stays on one shard). */
  readonly metricSpread: number;
  readonly foldIntervalSeconds: number;
  /** Unfolded commits at which a container folds whatever their age. */
  readonly foldCommits: number;
  /** Folded items a container caches. */
  readonly itemCacheEntries: number;
  /** Seconds between sweeper runs (each reads every head). */
  readonly sweepSeconds: number;
  readonly logTtlSeconds: number;
}

/** What the log layout writes, reads and keeps, per shard and in all (per second). */
export interface LogUsage {
  readonly commitIntervalSeconds: number;
  readonly eventsPerBatch: number;
  readonly seriesPerShard: number;
  readonly touchedPerBatch: number;
  readonly eventsPerTouchedSeries: number;
  readonly itemsPerTouchedSeries: number;
  readonly entriesPerBatch: number;
  readonly bytesPerEntry: number;
  /** Metrics per shard (metric-shard pairs), and segments (metrics touched) per batch. */
  readonly metricsPerShard: number;
  readonly segmentsPerBatch: number;
  readonly entriesPerSegment: number;
  /** Average segment payload, the parts it is cut into, its WCU (all parts). */
  readonly segmentBytes: number;
  readonly segmentParts: number;
  readonly segmentWcu: number;
  readonly manifestBytes: number;
  readonly manifestWcu: number;
  /** The fold interval in effect (the fold interval, or foldCommits commits sooner) and the head's unfolded commits then. */
  readonly foldSeconds: number;
  readonly unfoldedCommits: number;
  readonly headWcuPerWrite: number;
  /** Upper bound of the head's size at `unfoldedCommits` (its WCU in KB). */
  readonly headBytes: number;
  readonly foldItemsPerFold: number;
  readonly foldWcuPerItem: number;
  readonly foldReadsPerFold: number;
  readonly cacheHit: number;
  /** WCU/s, all shards. */
  readonly wcu: { readonly segments: number; readonly manifests: number; readonly head: number; readonly fold: number; readonly index: number };
  /** RCU/s, all shards: the fold's consistent reads, the sweeper's head reads. */
  readonly rcu: { readonly fold: number; readonly head: number };
  /** Log items' bytes written per second (with DynamoDB's per-item overhead), and what logTtl keeps. */
  readonly logBytesPerSecond: number;
  readonly logStoredBytes: number;
}

export function logUsage(load: LogLoad, points: readonly WritePoint[]): LogUsage {
  const N = load.shards;
  const c = load.commitsPerSecond / N;
  const T = 1 / c;
  const n = load.eventsPerSecond / load.commitsPerSecond;
  const S = load.series / N;
  const touched = S * (1 - Math.exp(-n / S));
  const rho = n / touched;
  const at = (f: (p: WritePoint) => number) => interpolate(points, rho, f);
  const items = at(itemsPerSeriesOf);
  const entries = touched * items;
  const bpe = at((p) => p.bytesPerEntry);

  // Segments: a metric-shard pair is touched when the batch holds one of its events.
  const metricsPerShard = Math.max(1, (load.metrics * Math.min(load.metricSpread, N)) / N);
  const segments = Math.min(entries, metricsPerShard * (1 - Math.exp(-n / metricsPerShard)));
  const entriesPerSegment = entries / segments;
  const segmentBytes = entriesPerSegment * bpe;
  const segmentParts = Math.max(1, Math.ceil(segmentBytes / MAX_PART_BYTES));
  const segmentWcu = segmentParts * expectedKb(segmentBytes / segmentParts + SEGMENT_OVERHEAD_BYTES);
  const manifestBytes = 2 + segments * MANIFEST_ENTRY_BYTES;
  const manifestParts = Math.max(1, Math.ceil(manifestBytes / MAX_PART_BYTES));
  const manifestWcu = manifestParts * ceilKb(manifestBytes / manifestParts + MANIFEST_OVERHEAD_BYTES);

  // Head: one write per commit and one per fold (the prune), its size growing with the commits it lists.
  const F = Math.min(load.foldIntervalSeconds, load.foldCommits * T);
  const U = F / T;
  const headAt = (p: WritePoint) => p.headWcuPerWrite * (U / (p.foldSeconds / p.batchSeconds));
  const headWcuPerWrite = Math.max(1, at(headAt));
  const headWritesPerCommit = 1 + 1 / U;

  // Fold: the series touched since the last fold, each its 1 h item and (distributions) the
  // minutes it spans; the bench's count per series at its fold interval, scaled by minutes spanned.
  const perShardEps = load.eventsPerSecond / N;
  const touchedPerFold = S * (1 - Math.exp(-(perShardEps * F) / S));
  const foldItemsPerSeries = at((p) => 1 + (foldItemsPerSeriesOf(p) - 1) * (minutesPerFold(F) / minutesPerFold(p.foldSeconds)));
  const foldItems = touchedPerFold * foldItemsPerSeries;
  const foldWcuPerItem = at((p) => p.foldWcuPerItem);
  // Reads: each minute item is new; an hour item is new once an hour, else read when the cache
  // (LRU, refilled by each fold) is smaller than a fold's items.
  const hourItems = touchedPerFold;
  const minuteItems = foldItems - hourItems;
  const cacheHit = Math.min(1, load.itemCacheEntries / foldItems);
  const newHour = Math.min(1, F / 3600);
  const foldReads = minuteItems + hourItems * (newHour + (1 - newHour) * (1 - cacheHit));
  const rcuPerRead = Math.max(1, Math.ceil(at((p) => p.p99ItemBytes) / 4096));
  const headBytes = headWcuPerWrite * KB;

  const perShard = { segments: c * segments * segmentWcu, manifests: c * manifestWcu, head: c * headWritesPerCommit * headWcuPerWrite, fold: (foldItems * foldWcuPerItem) / F };
  const indexPerSecond = (load.series + load.metrics * Math.min(load.metricSpread, N)) / (INDEX_REFRESH_MS / 1000);
  const logItemBytes = segments * (segmentBytes + segmentParts * (SEGMENT_OVERHEAD_BYTES + ITEM_STORAGE_OVERHEAD_BYTES)) + manifestBytes + manifestParts * (MANIFEST_OVERHEAD_BYTES + ITEM_STORAGE_OVERHEAD_BYTES);
  const logBytesPerSecond = N * c * logItemBytes;
  return {
    commitIntervalSeconds: T,
    eventsPerBatch: n,
    seriesPerShard: S,
    touchedPerBatch: touched,
    eventsPerTouchedSeries: rho,
    itemsPerTouchedSeries: items,
    entriesPerBatch: entries,
    bytesPerEntry: bpe,
    metricsPerShard,
    segmentsPerBatch: segments,
    entriesPerSegment,
    segmentBytes,
    segmentParts,
    segmentWcu,
    manifestBytes,
    manifestWcu,
    foldSeconds: F,
    unfoldedCommits: U,
    headWcuPerWrite,
    headBytes,
    foldItemsPerFold: foldItems,
    foldWcuPerItem,
    foldReadsPerFold: foldReads,
    cacheHit,
    wcu: { segments: N * perShard.segments, manifests: N * perShard.manifests, head: N * perShard.head, fold: N * perShard.fold, index: indexPerSecond },
    rcu: { fold: (N * foldReads * rcuPerRead) / F, head: (N * Math.max(1, Math.ceil(headBytes / 4096))) / load.sweepSeconds },
    logBytesPerSecond,
    logStoredBytes: logBytesPerSecond * load.logTtlSeconds,
  };
}

export const logWcuPerSecond = (u: LogUsage): number => u.wcu.segments + u.wcu.manifests + u.wcu.head + u.wcu.fold + u.wcu.index;
export const logRcuPerSecond = (u: LogUsage): number => u.rcu.fold + u.rcu.head;

/**
 * The model run on a bench run's own load (one shard, its series over its segments per batch, one
 * batch every batchSeconds): its segment and manifest WCU per batch beside what the run measured.
 */
export function checkAgainstRun(p: WritePoint): { readonly modelled: number; readonly measured: number } {
  const u = logUsage(
    {
      eventsPerSecond: p.eventsPerBatch / p.batchSeconds,
      shards: 1,
      commitsPerSecond: 1 / p.batchSeconds,
      series: p.seriesPerBatch,
      metrics: p.segmentsPerBatch,
      metricSpread: 1,
      foldIntervalSeconds: p.foldSeconds,
      foldCommits: Number.POSITIVE_INFINITY,
      itemCacheEntries: 0,
      sweepSeconds: 300,
      logTtlSeconds: 0,
    },
    [p],
  );
  // Every series is in every batch of a run (not 1 − e^(−n/S) of them): entries are the run's.
  const perEntry = u.entriesPerBatch > 0 ? p.itemsPerBatch / u.entriesPerBatch : 1;
  const segmentWcu = u.segmentParts * expectedKb((u.segmentBytes * perEntry) / u.segmentParts + SEGMENT_OVERHEAD_BYTES);
  return { modelled: u.segmentsPerBatch * segmentWcu + u.manifestWcu, measured: p.logWcuPerBatch };
}
