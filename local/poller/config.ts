/**
 * The settings of one event source mapping: Lambda's defaults applied once, what
 * `CreateEventSourceMapping` would reject refused with a `PollerConfigError`, and the retry delay
 * they give (the shared policy's backoff, un-jittered).
 */
import { backoffCap } from '../../functions/shared/retry.ts';
import { PollerConfigError } from './errors.ts';
import type { PollerOptions } from './types.ts';

/** Every option with its default applied, validated once. */
export interface ResolvedConfig {
  readonly mappingId: string;
  readonly streamArn: string;
  readonly region: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryLimitInMB: number;
  readonly invokeIdentityArn: string;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly parallelizationFactor: number;
  readonly reportBatchItemFailures: boolean;
  readonly bisectBatchOnFunctionError: boolean;
  readonly maximumRetryAttempts: number;
  /** -1 = never. */
  readonly maximumRecordAgeMs: number;
  readonly functionTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly shardDiscoveryIntervalMs: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PollerConfigError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Applies Lambda's defaults and rejects what `CreateEventSourceMapping` would reject. */
export function resolveConfig(options: PollerOptions): ResolvedConfig {
  if (!options.functionName) throw new PollerConfigError('functionName is required');
  if (!/^arn:[^:]+:kinesis:[^:]*:[^:]*:stream\/.+/.test(options.streamArn ?? '')) {
    throw new PollerConfigError(`streamArn must be a Kinesis stream ARN, got ${JSON.stringify(options.streamArn)}`);
  }
  if (options.startingPosition !== 'TRIM_HORIZON' && options.startingPosition !== 'LATEST') {
    throw new PollerConfigError(`startingPosition must be TRIM_HORIZON or LATEST, got ${String(options.startingPosition)}`);
  }
  const region = options.region ?? 'us-east-1';
  const functionArn = options.functionArn ?? `arn:aws:lambda:${region}:000000000000:function:${options.functionName}`;
  const account = functionArn.split(':')[4] || '000000000000';
  const maximumRecordAgeInSeconds = options.maximumRecordAgeInSeconds ?? -1;
  if (maximumRecordAgeInSeconds !== -1) integerIn('maximumRecordAgeInSeconds', maximumRecordAgeInSeconds, 60, 604_800);
  const retryBaseDelayMs = integerIn('retryBaseDelayMs', options.retryBaseDelayMs ?? 100, 0, 3_600_000);
  return {
    mappingId: options.mappingId ?? `${options.functionName}--${streamNameFromArn(options.streamArn)}`,
    streamArn: options.streamArn,
    region,
    functionName: options.functionName,
    functionArn,
    memoryLimitInMB: integerIn('memoryLimitInMB', options.memoryLimitInMB ?? 128, 128, 10_240),
    invokeIdentityArn: options.invokeIdentityArn ?? `arn:aws:iam::${account}:role/${options.functionName}-role`,
    batchSize: integerIn('batchSize', options.batchSize ?? 100, 1, 10_000),
    batchingWindowMs: integerIn('maximumBatchingWindowInSeconds', options.maximumBatchingWindowInSeconds ?? 0, 0, 300) * 1000,
    startingPosition: options.startingPosition,
    parallelizationFactor: integerIn('parallelizationFactor', options.parallelizationFactor ?? 1, 1, 10),
    reportBatchItemFailures: options.reportBatchItemFailures ?? false,
    bisectBatchOnFunctionError: options.bisectBatchOnFunctionError ?? false,
    maximumRetryAttempts: integerIn('maximumRetryAttempts', options.maximumRetryAttempts ?? -1, -1, 10_000),
    maximumRecordAgeMs: maximumRecordAgeInSeconds === -1 ? -1 : maximumRecordAgeInSeconds * 1000,
    functionTimeoutMs: integerIn('functionTimeoutMs', options.functionTimeoutMs ?? 3000, 1, 900_000),
    pollIntervalMs: integerIn('pollIntervalMs', options.pollIntervalMs ?? 200, 0, 3_600_000),
    shardDiscoveryIntervalMs: integerIn('shardDiscoveryIntervalMs', options.shardDiscoveryIntervalMs ?? 5000, 1, 3_600_000),
    retryBaseDelayMs,
    retryMaxDelayMs: integerIn('retryMaxDelayMs', options.retryMaxDelayMs ?? 5000, retryBaseDelayMs, 3_600_000),
  };
}

export function streamNameFromArn(streamArn: string): string {
  const at = streamArn.indexOf(':stream/');
  return at === -1 ? streamArn : streamArn.slice(at + ':stream/'.length);
}

/**
 * Delay before the `attempt`-th retry (1-based) of a batch or of a failed poll: base, 2×base,
 * 4×base … capped (the shared policy's `backoffCap`, un-jittered so tests are deterministic).
 */
export function retryDelay(config: ResolvedConfig, attempt: number): number {
  return backoffCap(attempt, { baseMs: config.retryBaseDelayMs, maxMs: config.retryMaxDelayMs });
}
