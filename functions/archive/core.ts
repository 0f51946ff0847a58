/**
 * The archive consumer: one Kinesis batch in, Parquet files and quarantine objects out.
 *
 * 1. Plan the batch (plan.ts): which objects it makes, under which keys, from which records.
 * 2. Encode each object when its turn comes and write it (writer.ts: retries throttling, 5xx and
 *    network errors while the time budget lasts), `concurrency` at a time.
 * 3. Objects still unwritten → `batchItemFailures` with the lowest sequence number among the
 *    records that contributed to any of them, so Lambda retries from there. Bad data never throws.
 *
 * Pure over ports: `ObjectStore` (the slice of S3 used, shared/archive/bucket.ts) and a
 * `BlockCodec`. The formats it writes live in functions/shared/archive/.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { SETTINGS } from '../../lib/settings.ts';
import type { ObjectStore } from '../shared/archive/bucket.ts';
import { PARQUET_CONTENT_TYPE } from '../shared/archive/parquet.ts';
import type { BlockCodec } from '../shared/archive/zstd.ts';
import { compareSeq } from '../shared/batch.ts';
import { mapPool } from '../shared/pool.ts';
import { BUDGET_EXHAUSTED, RetryBudget, retryClock } from '../shared/retry.ts';
import { planBatch } from './plan.ts';
import { RetryingWriter, type ArchiveLogger, type WriteOutcome } from './writer.ts';

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
  /**
   * The rollups' 1 h retention, ms (ROLLUP_TTL_1H_DAYS): an event older than that, plus
   * LIMITS.arrivalSlackMs, when its record arrived is quarantined (plan.ts).
   * @default the setting's default, 400 days
   */
  readonly maxAgeMs?: number;
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

/** Archives one batch. Never throws for bad data or failed writes: see `batchItemFailures`. */
export async function archiveBatch(input: ArchiveInput, deps: ArchiveDeps): Promise<ArchiveResult> {
  const clock = retryClock(deps);
  const started = clock.now();
  const deadline = started + input.remainingMs() - (deps.marginMs ?? SETTINGS.archive.timeMarginMs.default);
  const plan = planBatch(input.records, started, {
    codec: deps.codec,
    ...(deps.maxAgeMs !== undefined && { maxAgeMs: deps.maxAgeMs }),
    ...(deps.rowGroupRows !== undefined && { rowGroupRows: deps.rowGroupRows }),
  });

  const budget = new RetryBudget(deadline, { baseMs: deps.baseDelayMs ?? 100, maxMs: deps.maxDelayMs ?? 5_000 }, clock);
  const writer = new RetryingWriter({
    store: deps.store,
    budget,
    attemptTimeoutMs: deps.attemptTimeoutMs ?? 30_000,
    ...(deps.logger !== undefined && { logger: deps.logger }),
  });
  // An object is encoded only once it can still be written.
  const spent: WriteOutcome = { ok: false, code: BUDGET_EXHAUSTED };
  const outcomes = await mapPool(plan.objects, deps.concurrency ?? SETTINGS.archive.writeConcurrency.default, (o) =>
    budget.expired() ? Promise.resolve(spent) : writer.write(o.key, o.body(), o.contentType),
  );

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
