/**
 * The archive consumer: one Kinesis batch in, Parquet files and quarantine objects out.
 *
 * 1. Decode and validate each record (its own arrival time is "now" for the future-ts check, so
 *    a retried batch decides the same way).
 * 2. Valid events → one Parquet file per (shard, tenant, UTC hour of `ts`), named by the batch's
 *    first and last sequence numbers (shared/archive/keys.ts). `_ingested_at` is the record's
 *    arrival time.
 * 3. Rejected pieces → one quarantine object per record (quarantine.ts). Nothing is dropped.
 * 4. Write every object; retry throttling, 5xx and network errors with the shared policy
 *    (shared/retry.ts: exponential backoff and full jitter) while the time budget lasts.
 * 5. Objects still unwritten → `batchItemFailures` with the lowest sequence number among the
 *    records that contributed to any of them, so Lambda retries from there. Bad data never throws.
 *
 * Pure over ports: `ObjectStore` (the slice of S3 used, shared/archive/bucket.ts) and a
 * `BlockCodec`. The formats it writes live in functions/shared/archive/.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { SETTINGS } from '../../lib/settings.ts';
import { ObjectWriteError, type ObjectStore } from '../shared/archive/bucket.ts';
import { batchObjectKey, partitionOf, type Partition } from '../shared/archive/keys.ts';
import { canonicalTagsJson, encodeArchiveTable, PARQUET_CONTENT_TYPE, type ArchiveTable } from '../shared/archive/parquet.ts';
import type { BlockCodec } from '../shared/archive/zstd.ts';
import { compareSeq, decodeBatch, shardIdOf } from '../shared/batch.ts';
import type { LineagedEvent } from '../shared/codec.ts';
import { ServiceError, type RecordRejectedError } from '../shared/errors.ts';
import { mapPool } from '../shared/pool.ts';
import { BUDGET_EXHAUSTED, RetryBudget, retryClock, withRetries } from '../shared/retry.ts';
import { buildQuarantineObjects } from './quarantine.ts';

export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

export interface ArchiveLogger {
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export interface ArchiveDeps {
  readonly store: ObjectStore;
  readonly codec: BlockCodec;
  /** @default DEFAULT_ROW_GROUP_ROWS */
  readonly rowGroupRows?: number;
  /** Objects written at once. @default 8 */
  readonly concurrency?: number;
  /** First backoff step. @default 100 */
  readonly baseDelayMs?: number;
  /** Largest backoff step. @default 5000 */
  readonly maxDelayMs?: number;
  /** Longest single attempt. @default 30000 */
  readonly attemptTimeoutMs?: number;
  /** Time kept back from the function's budget for answering. @default 2000 */
  readonly marginMs?: number;
  readonly logger?: ArchiveLogger;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export interface ArchiveInput {
  readonly records: readonly KinesisStreamRecord[];
  /** Milliseconds left in the invocation. */
  readonly remainingMs: () => number;
}

export interface ArchiveStats {
  readonly records: number;
  readonly events: number;
  readonly rejected: number;
  readonly eventFiles: number;
  readonly quarantineObjects: number;
  readonly bytesWritten: number;
  readonly attempts: number;
  readonly failedObjects: number;
}

export interface ArchiveResult {
  readonly batchItemFailures: Array<{ itemIdentifier: string }>;
  readonly stats: ArchiveStats;
  /** Keys still unwritten, with the last error code. */
  readonly unwritten: ReadonlyArray<{ key: string; code: string }>;
}

/** One object to write and the records it holds data of. */
export interface PlannedObject {
  readonly key: string;
  readonly contentType: string;
  readonly shardId: string;
  /** Lowest sequence number among the records contributing to this object. */
  readonly minSeq: string;
  /** Rows or lines in it. */
  readonly count: number;
  /** Produces the body (Parquet encoding is deferred until the object is written). */
  body(): Uint8Array;
}

export interface BatchPlan {
  readonly objects: PlannedObject[];
  readonly records: number;
  readonly events: number;
  readonly rejected: number;
}

interface RecordInfo {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly arrivalMs: number;
}

/** The record's arrival in Kinesis, epoch ms (`approximateArrivalTimestamp` is in seconds). */
export function arrivalMsOf(record: KinesisStreamRecord, fallback: number): number {
  const s = record.kinesis.approximateArrivalTimestamp;
  return typeof s === 'number' && Number.isFinite(s) ? Math.round(s * 1000) : fallback;
}

/**
 * Decides every object a batch produces. Pure and deterministic: depends only on the records
 * (and `now` only for records without an arrival timestamp).
 */
export function planBatch(records: readonly KinesisStreamRecord[], now: number, opts: { codec: BlockCodec; rowGroupRows?: number }): BatchPlan {
  const infos: RecordInfo[] = [];
  const events: Array<{ e: LineagedEvent; arrivalMs: number }> = [];
  const rejected: RecordRejectedError[] = [];
  const arrivals = new Map<string, number>();
  // Per shard: first and last sequence numbers of the batch's records.
  const bounds = new Map<string, { first: string; last: string }>();

  for (const r of records) {
    const shardId = shardIdOf(r);
    const sequenceNumber = r.kinesis.sequenceNumber;
    const arrivalMs = arrivalMsOf(r, now);
    infos.push({ shardId, sequenceNumber, arrivalMs });
    arrivals.set(`${shardId}\u0000${sequenceNumber}`, arrivalMs);
    const b = bounds.get(shardId);
    if (b === undefined) bounds.set(shardId, { first: sequenceNumber, last: sequenceNumber });
    else {
      if (compareSeq(sequenceNumber, b.first) < 0) b.first = sequenceNumber;
      if (compareSeq(sequenceNumber, b.last) > 0) b.last = sequenceNumber;
    }
    const d = decodeBatch([r], arrivalMs);
    for (const e of d.events) events.push({ e, arrivalMs });
    for (const x of d.rejected) rejected.push(x);
  }

  // Group valid events by file.
  interface Group {
    readonly partition: Partition;
    readonly shardId: string;
    readonly items: Array<{ e: LineagedEvent; arrivalMs: number }>;
    minSeq: string;
  }
  const groups = new Map<string, Group>();
  for (const item of events) {
    const { event, lineage } = item.e;
    const partition = partitionOf(event.tenant, event.ts);
    const k = `${lineage.shardId}\u0000${partition.tenant}\u0000${partition.dt}\u0000${partition.hour}`;
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = { partition, shardId: lineage.shardId, items: [], minSeq: lineage.sequenceNumber }));
    g.items.push(item);
    if (compareSeq(lineage.sequenceNumber, g.minSeq) < 0) g.minSeq = lineage.sequenceNumber;
  }

  const objects: PlannedObject[] = [];
  for (const g of groups.values()) {
    const b = bounds.get(g.shardId)!;
    objects.push({
      key: batchObjectKey(g.partition, g.shardId, b.first, b.last),
      contentType: PARQUET_CONTENT_TYPE,
      shardId: g.shardId,
      minSeq: g.minSeq,
      count: g.items.length,
      body: () => encodeArchiveTable(tableOf(g.items), { codec: opts.codec, ...(opts.rowGroupRows !== undefined && { rowGroupRows: opts.rowGroupRows }) }),
    });
  }
  for (const q of buildQuarantineObjects(rejected, (s, seq) => arrivals.get(`${s}\u0000${seq}`) ?? now)) {
    objects.push({
      key: q.key,
      contentType: NDJSON_CONTENT_TYPE,
      shardId: q.shardId,
      minSeq: q.sequenceNumber,
      count: q.pieces,
      body: () => q.body,
    });
  }
  return { objects, records: infos.length, events: events.length, rejected: rejected.length };
}

/**
 * Columns of a batch file, already in file order (ts, then lineage), so the encoder finds them
 * sorted and copies nothing.
 */
export function tableOf(items: ReadonlyArray<{ e: LineagedEvent; arrivalMs: number }>): ArchiveTable {
  const n0 = items.length;
  const ts = new Float64Array(n0);
  for (let i = 0; i < n0; i++) ts[i] = items[i]!.e.event.ts;
  const lineageCmp = (a: number, b: number): number => {
    const x = items[a]!.e.lineage;
    const y = items[b]!.e.lineage;
    if (x.shardId !== y.shardId) return x.shardId < y.shardId ? -1 : 1;
    return compareSeq(x.sequenceNumber, y.sequenceNumber) || x.subIndex - y.subIndex;
  };
  const cmp = (a: number, b: number): number => ts[a]! - ts[b]! || lineageCmp(a, b);
  let order: Int32Array | null = null;
  for (let i = 1; i < n0; i++) {
    if (cmp(i - 1, i) > 0) {
      order = new Int32Array(n0);
      for (let j = 0; j < n0; j++) order[j] = j;
      order.sort(cmp);
      break;
    }
  }
  const n = items.length;
  const t: ArchiveTable = {
    length: n,
    name: new Array<string>(n),
    ts: new Array<number>(n),
    type: new Array<string>(n),
    value: new Array<number>(n),
    tags: new Array<string>(n),
    id: new Array<string | null>(n),
    attrs: new Array<string | null>(n),
    _shard: new Array<string>(n),
    _seq: new Array<string>(n),
    _sub: new Array<number>(n),
    _ingested_at: new Array<number>(n),
  };
  // One string per tag set, shared by its rows: fresh per-row strings would survive into the old
  // generation with the column arrays and make garbage collection most of the cost.
  const tagStrings = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const { e, arrivalMs } = items[order === null ? i : order[i]!]!;
    const ev = e.event;
    t.name[i] = ev.name;
    t.ts[i] = ev.ts;
    t.type[i] = ev.type;
    t.value[i] = ev.value;
    const raw = JSON.stringify(ev.tags);
    let tags = tagStrings.get(raw);
    if (tags === undefined) tagStrings.set(raw, (tags = canonicalTagsJson(ev.tags)));
    t.tags[i] = tags;
    t.id[i] = ev.id ?? null;
    t.attrs[i] = ev.attrs === undefined ? null : JSON.stringify(ev.attrs);
    t._shard[i] = e.lineage.shardId;
    t._seq[i] = e.lineage.sequenceNumber;
    t._sub[i] = e.lineage.subIndex;
    t._ingested_at[i] = arrivalMs;
  }
  return t;
}

/** Archives one batch. Never throws for bad data or failed writes: see `batchItemFailures`. */
export async function archiveBatch(input: ArchiveInput, deps: ArchiveDeps): Promise<ArchiveResult> {
  const clock = retryClock(deps);
  const started = clock.now();
  const deadline = started + input.remainingMs() - (deps.marginMs ?? SETTINGS.archive.timeMarginMs.default);
  const plan = planBatch(input.records, started, {
    codec: deps.codec,
    ...(deps.rowGroupRows !== undefined && { rowGroupRows: deps.rowGroupRows }),
  });

  const budget = new RetryBudget(deadline, { baseMs: deps.baseDelayMs ?? 100, maxMs: deps.maxDelayMs ?? 5_000 }, clock);
  const writer = new RetryingWriter(deps, budget);
  const outcomes = await mapPool(plan.objects, deps.concurrency ?? SETTINGS.archive.writeConcurrency.default, (o) => writer.write(o));

  const unwritten: Array<{ key: string; code: string }> = [];
  const lowest = new Map<string, string>();
  outcomes.forEach((res, i) => {
    if (res.ok) return;
    const o = plan.objects[i]!;
    unwritten.push({ key: o.key, code: res.code });
    const cur = lowest.get(o.shardId);
    if (cur === undefined || compareSeq(o.minSeq, cur) < 0) lowest.set(o.shardId, o.minSeq);
  });
  if (unwritten.length > 0) {
    deps.logger?.error('archive objects unwritten; the batch is retried from the lowest sequence number', {
      unwritten: unwritten.slice(0, 20),
      unwrittenCount: unwritten.length,
      retryFrom: Object.fromEntries(lowest),
    });
  }
  const batchItemFailures = [...lowest.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, seq]) => ({ itemIdentifier: seq }));

  let eventFiles = 0;
  for (const o of plan.objects) if (o.contentType === PARQUET_CONTENT_TYPE) eventFiles++;
  return {
    batchItemFailures,
    unwritten,
    stats: {
      records: plan.records,
      events: plan.events,
      rejected: plan.rejected,
      eventFiles,
      quarantineObjects: plan.objects.length - eventFiles,
      bytesWritten: writer.bytesWritten,
      attempts: writer.attempts,
      failedObjects: unwritten.length,
    },
  };
}

type WriteOutcome = { ok: true } | { ok: false; code: string };

/** A failure the adapter classified, or an unclassified one taken as retryable. */
function writeErrorOf(err: unknown): ServiceError {
  return err instanceof ServiceError ? err : new ObjectWriteError(String(err), { code: 'UnknownError', retryable: true, cause: err });
}

/** Puts objects with the shared retry policy (shared/retry.ts) until the budget's deadline. */
class RetryingWriter {
  bytesWritten = 0;
  attempts = 0;

  constructor(
    private readonly deps: ArchiveDeps,
    private readonly budget: RetryBudget,
  ) {}

  async write(o: PlannedObject): Promise<WriteOutcome> {
    const budget = this.budget;
    if (budget.expired()) return { ok: false, code: BUDGET_EXHAUSTED };
    const body = o.body();
    const attemptTimeout = this.deps.attemptTimeoutMs ?? 30_000;
    const out = await withRetries(
      budget,
      async () => {
        this.attempts++;
        await this.deps.store.put(o.key, body, o.contentType, AbortSignal.timeout(Math.max(1, Math.floor(Math.min(attemptTimeout, budget.left())))));
      },
      (err) => writeErrorOf(err).retryable,
      undefined,
      (err, attempt, delayMs) => {
        const e = writeErrorOf(err);
        this.deps.logger?.warn('archive write failed; retrying', { key: o.key, code: e.code, error: e.message, attempt, delayMs });
      },
    );
    if (out.ok) {
      this.bytesWritten += body.length;
      return { ok: true };
    }
    const e = writeErrorOf(out.error);
    if (!e.retryable) this.deps.logger?.error('archive write failed and is not retryable', { key: o.key, code: e.code, error: e.message });
    return { ok: false, code: e.code };
  }
}
