/**
 * Error hierarchy shared by every function. Each error names what went wrong in words a caller
 * can act on, and carries the context a reader needs (`cause` is passed on, never swallowed).
 */
export class StreamfoldError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where one event sits in the stream. Unique and deterministic across retries. */
export interface Lineage {
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** Position of the event inside its Kinesis record (KPL user records and NDJSON lines, in order). */
  readonly subIndex: number;
}

/**
 * A record, or a part of one, that could not be turned into a valid event: it is quarantined with
 * its raw bytes and this reason, and never fails the rest of its batch.
 */
export class RecordRejectedError extends StreamfoldError {
  readonly reason: string;
  readonly raw: Uint8Array;
  readonly lineage: Lineage;

  constructor(reason: string, raw: Uint8Array, lineage: Lineage) {
    super(`${lineage.shardId}/${lineage.sequenceNumber}/${lineage.subIndex}: ${reason}`);
    this.reason = reason;
    this.raw = raw;
    this.lineage = lineage;
  }
}

/** A required setting is missing or malformed; thrown once, at start-up. */
export class ConfigError extends StreamfoldError {}

/**
 * A call to a service (DynamoDB, S3, Kinesis) failed. `retryable`: it may succeed later
 * (throttling, 5xx, network, an exhausted time budget) and the work is reported as undone so it is
 * retried; otherwise it will fail again the same way (access denied, validation) and is reported
 * as a permanent failure. `code` is the service's error name (aws-errors.ts) or our own.
 */
export class ServiceError extends StreamfoldError {
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable;
  }
}
