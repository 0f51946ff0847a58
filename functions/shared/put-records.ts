/**
 * Writing records to Kinesis with PutRecords: requests of at most 500 records and 5 MiB, and only
 * the records that failed are retried, with the one retry policy (retry.ts: exponential backoff and
 * full jitter, within a time budget). Pure over a narrow port, so it is tested without an SDK.
 */
import { classifyAwsError } from './aws-errors.ts';
import { groupPutRequests } from './codec.ts';
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

  while (pending.length > 0) {
    attempts++;
    const failed: number[] = [];
    const indexed = pending.map((i) => ({ ...records[i]!, index: i }));
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
          failures.set(r.index, res === undefined ? 'MissingResult' : res.code);
          failed.push(r.index);
        }
      });
    }
    pending = failed;
    if (pending.length === 0 || !(await budget.pause(attempts))) break;
  }
  return { written, attempts, calls, failures };
}
