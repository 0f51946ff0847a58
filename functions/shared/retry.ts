/**
 * The one retry policy of every function and of the local poller: exponential backoff with full
 * jitter, inside a time budget.
 *
 *   cap(attempt)   = min(maxMs, baseMs × 2^(attempt − 1))       attempt is 1-based
 *   delay(attempt) = random() × cap(attempt)                     (full jitter, AWS Architecture Blog,
 *                                                                 "Exponential Backoff And Jitter")
 *
 * A retry starts only if it can start before the deadline; otherwise the caller reports what is
 * still undone (a batch item failure, an unwritten record) instead of running past its budget.
 * What is retryable is decided by the caller's classifier (aws-errors.ts for AWS calls), never here.
 * Pure: the clock, the sleep and the randomness are passed in.
 */
import { ServiceError } from './errors.ts';

export interface Backoff {
  /** First step, ms. */
  readonly baseMs: number;
  /** Largest step, ms. */
  readonly maxMs: number;
}

export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** In [0, 1). */
  random(): number;
}

export const realClock: RetryClock = {
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** A clock from the parts a caller was given (tests pass some), the real clock for the rest. */
export function retryClock(parts: { readonly now?: () => number; readonly sleep?: (ms: number) => Promise<void>; readonly random?: () => number }): RetryClock {
  return { now: parts.now ?? realClock.now, sleep: parts.sleep ?? realClock.sleep, random: parts.random ?? realClock.random };
}

/** The un-jittered step before retry `attempt` (1-based): base, 2×base, 4×base … capped at max. */
export function backoffCap(attempt: number, backoff: Backoff): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

/** Full-jitter delay before retry `attempt`: uniform in [0, cap), at least 1 ms. */
export function jitteredDelay(attempt: number, backoff: Backoff, random: () => number): number {
  return Math.max(1, Math.floor(random() * backoffCap(attempt, backoff)));
}

/**
 * A deadline and the policy to wait within it. `pause(attempt)` sleeps before retry `attempt` and
 * answers whether the retry may go ahead (false: the delay would end past the deadline, or the
 * deadline passed while sleeping).
 */
export class RetryBudget {
  /** Pauses taken (retries made), for metrics. */
  retries = 0;

  constructor(
    readonly deadline: number,
    private readonly backoff: Backoff,
    private readonly clock: RetryClock = realClock,
  ) {}

  expired(): boolean {
    return this.clock.now() >= this.deadline;
  }

  /** Milliseconds left, never negative. */
  left(): number {
    return Math.max(0, this.deadline - this.clock.now());
  }

  /** `onWait` hears the delay just before the sleep (for a log line), and only if the retry goes ahead. */
  async pause(attempt: number, onWait?: (delayMs: number) => void): Promise<boolean> {
    const delay = jitteredDelay(attempt, this.backoff, () => this.clock.random());
    if (this.clock.now() + delay >= this.deadline) return false;
    onWait?.(delay);
    await this.clock.sleep(delay);
    this.retries++;
    return !this.expired();
  }
}

export type AttemptOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown; readonly attempts: number };

/**
 * Runs `attempt` until it succeeds, throws something `retryable` refuses, or the budget ends.
 * Errors `retryable` refuses and budget exhaustion come back as `{ ok: false }` with the last
 * error; an error that `isFatal` says is not a service error at all (a bug) is rethrown.
 * `onRetry` hears each error that is retried and the delay before the retry.
 */
export async function withRetries<T>(
  budget: RetryBudget,
  attempt: (n: number) => Promise<T>,
  retryable: (error: unknown) => boolean,
  isFatal: (error: unknown) => boolean = () => false,
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void,
): Promise<AttemptOutcome<T>> {
  for (let n = 1; ; n++) {
    if (budget.expired()) return { ok: false, error: new BudgetExhaustedError('the time budget ran out before the call could be made'), attempts: n - 1 };
    try {
      return { ok: true, value: await attempt(n) };
    } catch (error) {
      if (isFatal(error)) throw error;
      const onWait = onRetry && ((delayMs: number) => onRetry(error, n, delayMs));
      if (!retryable(error) || !(await budget.pause(n, onWait))) return { ok: false, error, attempts: n };
    }
  }
}

/** The `code` of `BudgetExhaustedError`, for outcomes that report a code without the error. */
export const BUDGET_EXHAUSTED = 'BudgetExhausted';

/** The time budget ran out before the work could be (re)tried: worth retrying in a later invocation. */
export class BudgetExhaustedError extends ServiceError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: BUDGET_EXHAUSTED, retryable: true, cause });
  }
}
