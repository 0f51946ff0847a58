/**
 * The port of the archive bucket (keys.ts lays out its objects): `ObjectStore`, the slice the
 * archive function writes through, and `ArchiveBucket`, what compaction and the readers use
 * besides. Implemented by s3-store.ts (AWS SDK) and by the tests' in-memory bucket. Adapters
 * reject with `ObjectWriteError`, classified retryable or not (shared/aws-errors.ts).
 */
import { ServiceError } from '../errors.ts';

/**
 * A failed call to the bucket, classified by the adapter: `retryable` when it is worth another
 * attempt (throttling, 5xx, network, timeout).
 */
export class ObjectWriteError extends ServiceError {}

/** The slice of S3 the archive writes through. Rejects with `ObjectWriteError`. */
export interface ObjectStore {
  put(key: string, body: Uint8Array, contentType: string, signal?: AbortSignal): Promise<void>;
}

/** A listed object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
}

/** What compaction needs besides `put`. */
export interface ArchiveBucket extends ObjectStore {
  list(prefix: string, opts?: { delimiter?: string }): Promise<{ objects: ObjectInfo[]; prefixes: string[] }>;
  /** The object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Bytes [start, end) of the object, or undefined when it does not exist. */
  getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined>;
  /** Deletes keys (absent keys are not an error). */
  delete(keys: readonly string[]): Promise<void>;
}
