/**
 * The one classifier of errors from AWS SDK calls (DynamoDB, S3, Kinesis) and the network under
 * them. Adapters turn what it says into domain errors (errors.ts `ServiceError` and subclasses);
 * cores decide from `retryable` whether to retry (retry.ts) or report.
 *
 * - throttled: the service asks us to slow down (HTTP 429 and the services' throttling names).
 *   Retryable; an intake answers 429/503 with Retry-After when it cannot get through.
 * - retryable: throttling, 5xx, timeouts, connection failures, and anything the SDK itself marks
 *   `$retryable`.
 * - conditionFailed: a DynamoDB condition did not hold (optimistic concurrency lost); never retried
 *   as is, the caller reads again.
 * - fromService: the error came from the service or the network, not from our code. An error that
 *   is neither (a TypeError, a bug) must not be mistaken for a service failure: callers rethrow it.
 */

/** Error names that mean "too much traffic": slow down. */
export const THROTTLING_CODES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'KMSThrottlingException',
  'SlowDown',
  'BandwidthLimitExceeded',
]);

/** Error names of failures that may pass: the service's own errors and timeouts. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'InternalServerError',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AbortError',
  'NetworkingError',
]);

/** Node.js socket error codes (`err.code`). */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * Whether an error name reported inside a successful response (a PutRecords entry's `ErrorCode`,
 * a DeleteObjects entry's `Code`) may pass on a retry: throttling or a transient service error.
 */
export function isRetryableCode(code: string): boolean {
  return THROTTLING_CODES.has(code) || TRANSIENT_CODES.has(code);
}

export interface AwsErrorClass {
  /** The service's error name (`ThrottlingException`), the socket code, or `UnknownError`. */
  readonly code: string;
  readonly status: number | undefined;
  readonly message: string;
  readonly fromService: boolean;
  readonly throttled: boolean;
  readonly retryable: boolean;
  readonly conditionFailed: boolean;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

export function classifyAwsError(err: unknown): AwsErrorClass {
  const e = (err !== null && typeof err === 'object' ? err : {}) as SdkErrorShape;
  const name = e.name !== undefined && e.name !== 'Error' ? e.name : undefined;
  const code = name ?? e.code ?? 'UnknownError';
  const status = e.$metadata?.httpStatusCode;
  const network = e.code !== undefined && NETWORK_CODES.has(e.code);
  const known = isRetryableCode(code);
  const fromService = e.$metadata !== undefined || network || known;
  const conditionFailed = code === 'ConditionalCheckFailedException';
  const throttled = THROTTLING_CODES.has(code) || status === 429;
  const retryable =
    !conditionFailed && (throttled || known || network || (status !== undefined && status >= 500) || e.$retryable !== undefined);
  return { code, status, message: e.message ?? String(err), fromService, throttled, retryable, conditionFailed };
}
