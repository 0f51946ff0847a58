/** The local poller's errors, and how any error is described in its log lines. */
import { StreamfoldError } from '../../functions/shared/errors.ts';

/** `Name: message` of an error, for a log line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Base of every error the local poller raises. */
export class PollerError extends StreamfoldError {}

/** The poller was given settings Lambda would reject; thrown by the constructor. */
export class PollerConfigError extends PollerError {}

/** An invocation ran past the function timeout. Counts as a function error, like Lambda's `Task timed out`. */
export class FunctionTimeoutError extends PollerError {
  readonly timeoutMs: number;

  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName}: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.timeoutMs = timeoutMs;
  }
}

/** Reading the stream failed (throttling, network, emulator down). Retried with backoff. */
export class SourceReadError extends PollerError {
  readonly shardId: string | undefined;
  /** The stream refused the call for its rate limits; waiting is the fix. */
  readonly throttled: boolean;

  constructor(message: string, options: { shardId?: string; throttled: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.shardId = options.shardId;
    this.throttled = options.throttled;
  }
}

/** `drain()` did not see every shard caught up before its deadline. */
export class DrainTimeoutError extends PollerError {
  readonly pending: readonly string[];

  constructor(timeoutMs: number, pending: readonly string[]) {
    super(`poller not drained after ${timeoutMs} ms; shards not caught up: ${pending.join(', ') || '(shard discovery pending)'}`);
    this.pending = pending;
  }
}
