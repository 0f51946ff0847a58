/**
 * Writing records to Kinesis with PutRecords: requests of at most 500 records and 5 MiB, and only
 * the records that failed are retried, with the one retry policy (retry.ts: exponential backoff and
 * full jitter, within a time budget). Pure over a narrow port, so it is tested without an SDK.
 */
import { classifyAwsError, THROTTLING_CODES } from './aws-errors.ts';
import { groupPutRequests, MAX_SPREAD } from './codec.ts';
import { RetryBudget, retryClock } from './retry.ts';

export interface PutRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

/** Outcome of one record in a PutRecords call (the SDK's result entries, in request order). */
export type PutResult = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly message: string };

/** The slice of Kinesis the writer uses. A call-level failure is reported as every entry failed. */
export interface RecordSink {
  putRecords(records: readonly PutRecord[]): Promise<PutResult[]>;
}

export interface RetryPolicy {
  /** Epoch ms after which no new attempt starts. */
  readonly deadline: number;
  /** @default 50 */
  readonly baseDelayMs?: number;
  /** @default 2000 */
  readonly maxDelayMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Keys throttled lately, whose records go under salted keys (see HotKeys). @default none */
  readonly hotKeys?: HotKeys;
}

/**
 * Partition keys Kinesis throttled lately, kept per container. A record whose key was throttled is
 * sent under a salted key, `<key>~<n>` with n below the key's level, so it lands on other shards:
 * one series hotter than a shard gets through. Each throttle doubles the level (up to MAX_SPREAD);
 * a key stays hot `hotMs` after its last throttle. Salting changes only where a record goes, never
 * its data (consumers do not depend on keys, docs/ROLLUPS.md).
 */
export class HotKeys {
  private readonly keys = new Map<string, { level: number; until: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly hotMs = 600_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** The key to send `key` under now. */
  keyFor(key: string, random: () => number): string {
    const h = this.keys.get(key);
    if (h === undefined) return key;
    if (h.until <= this.now()) {
      this.keys.delete(key);
      return key;
    }
    return `${key}~${Math.floor(random() * h.level)}`;
  }

  /** Kinesis throttled a record sent under `key` (the unsalted key). */
  throttled(key: string): void {
    const h = this.keys.get(key);
    if (h === undefined && this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(key, { level: Math.min(MAX_SPREAD, (h?.level ?? 1) * 2), until: this.now() + this.hotMs });
  }

  /** The salt level of a key (1: not hot), for tests and logs. */
  level(key: string): number {
    const h = this.keys.get(key);
    return h === undefined || h.until <= this.now() ? 1 : h.level;
  }
}

export interface PutOutcome {
  /** Per input record: written or not. */
  readonly written: boolean[];
  readonly attempts: number;
  readonly calls: number;
  /** Error code of the last failure of each record still unwritten (by index). */
  readonly failures: ReadonlyMap<number, string>;
}

/**
 * Writes every record, retrying the failed ones until all are written or the deadline passes.
 * Never throws for a Kinesis failure: the outcome says which records are written.
 */
export async function putAllRecords(sink: RecordSink, records: readonly PutRecord[], policy: RetryPolicy): Promise<PutOutcome> {
  const budget = new RetryBudget(policy.deadline, { baseMs: policy.baseDelayMs ?? 50, maxMs: policy.maxDelayMs ?? 2000 }, retryClock(policy));

  const written = records.map(() => false);
  const failures = new Map<number, string>();
  let pending = records.map((_, i) => i);
  let attempts = 0;
  let calls = 0;

  const random = policy.random ?? Math.random;
  while (pending.length > 0) {
    attempts++;
    const failed: number[] = [];
    const hot = policy.hotKeys;
    /** Keys throttled in this attempt: each raises its level once, however many of its records failed. */
    const throttledKeys = new Set<string>();
    const indexed = pending.map((i) => ({ data: records[i]!.data, partitionKey: hot ? hot.keyFor(records[i]!.partitionKey, random) : records[i]!.partitionKey, index: i }));
    for (const group of groupPutRequests(indexed)) {
      calls++;
      let results: PutResult[];
      try {
        results = await sink.putRecords(group);
      } catch (err) {
        const { code, message } = classifyAwsError(err);
        results = group.map(() => ({ ok: false, code, message }));
      }
      group.forEach((r, j) => {
        const res = results[j];
        if (res !== undefined && res.ok) {
          written[r.index] = true;
          failures.delete(r.index);
        } else {
          const code = res === undefined ? 'MissingResult' : res.code;
          failures.set(r.index, code);
          failed.push(r.index);
          if (hot && THROTTLING_CODES.has(code)) throttledKeys.add(records[r.index]!.partitionKey);
        }
      });
    }
    for (const k of throttledKeys) hot!.throttled(k);
    pending = failed;
    if (pending.length === 0 || !(await budget.pause(attempts))) break;
  }
  return { written, attempts, calls, failures };
}
