/**
 * Puts encoded objects into the archive bucket (the `ObjectStore` port) with the one retry policy
 * (shared/retry.ts): what the adapter classifies retryable (throttling, 5xx, network; an error it
 * did not classify at all counts as retryable) is tried again with full-jitter backoff while the
 * batch's time budget lasts, each attempt cut off at its own timeout. Never throws: the outcome
 * names the last error code of an object left unwritten. Counts attempts and bytes written.
 */
import { ObjectWriteError, type ObjectStore } from '../shared/archive/bucket.ts';
import { ServiceError } from '../shared/errors.ts';
import { withRetries, type RetryBudget } from '../shared/retry.ts';

export interface ArchiveLogger {
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export type WriteOutcome = { readonly ok: true } | { readonly ok: false; readonly code: string };

export interface WriterOptions {
  readonly store: ObjectStore;
  /** The batch's deadline and backoff. */
  readonly budget: RetryBudget;
  /** Longest single attempt. */
  readonly attemptTimeoutMs: number;
  readonly logger?: ArchiveLogger;
}

/** A failure the adapter classified, or an unclassified one taken as retryable. */
function writeErrorOf(err: unknown): ServiceError {
  return err instanceof ServiceError ? err : new ObjectWriteError(String(err), { code: 'UnknownError', retryable: true, cause: err });
}

export class RetryingWriter {
  bytesWritten = 0;
  attempts = 0;

  constructor(private readonly opts: WriterOptions) {}

  async write(key: string, body: Uint8Array, contentType: string): Promise<WriteOutcome> {
    const { store, budget, attemptTimeoutMs, logger } = this.opts;
    const out = await withRetries(
      budget,
      async () => {
        this.attempts++;
        await store.put(key, body, contentType, AbortSignal.timeout(Math.max(1, Math.floor(Math.min(attemptTimeoutMs, budget.left())))));
      },
      (err) => writeErrorOf(err).retryable,
      undefined,
      (err, attempt, delayMs) => {
        const e = writeErrorOf(err);
        logger?.warn('archive write failed; retrying', { key, code: e.code, error: e.message, attempt, delayMs });
      },
    );
    if (out.ok) {
      this.bytesWritten += body.length;
      return { ok: true };
    }
    const e = writeErrorOf(out.error);
    if (!e.retryable) logger?.error('archive write failed and is not retryable', { key, code: e.code, error: e.message });
    return { ok: false, code: e.code };
  }
}
