/**
 * Local event-source poller: drives Lambda handlers from a Kinesis stream with the semantics of a
 * Lambda event source mapping (see core.ts for the rules and their sources, and for which file owns
 * which part of them).
 *
 * ```ts
 * const poller = new Poller({
 *   source: new KinesisShardSource({ client: kinesis, stream: streamArn }),
 *   streamArn, functionName: 'rollup', handler,
 *   startingPosition: 'TRIM_HORIZON', batchSize: 500, bisectBatchOnFunctionError: true,
 *   reportBatchItemFailures: true, maximumRetryAttempts: 5,
 *   checkpoints: new FileCheckpointStore('.streamfold/checkpoints'),
 *   onFailure: new FileOnFailureDestination('.streamfold/on-failure/rollup'),
 * });
 * poller.start();
 * // …
 * await poller.stop();
 * ```
 */
export { Poller, consoleLogger } from './poller.ts';
export type { DrainOptions, RunUntilIdleOptions } from './poller.ts';
export { ShardConsumer } from './core.ts';
export type { ShardConsumerDeps, ShardStatus, StepResult } from './core.ts';
export { resolveConfig, streamNameFromArn } from './config.ts';
export type { ResolvedConfig } from './config.ts';
export { interpretResponse, toEventRecord } from './invocation.ts';
export type { InvocationOutcome } from './invocation.ts';
export { MAX_PAYLOAD_BYTES } from './record-buffer.ts';
export { KinesisShardSource } from './kinesis-source.ts';
export type { KinesisShardSourceOptions } from './kinesis-source.ts';
export { FileCheckpointStore, InMemoryCheckpointStore } from './checkpoints.ts';
export { FileOnFailureDestination, InMemoryOnFailureDestination } from './on-failure.ts';
export { ManualClock, systemClock } from './clock.ts';
export { DrainTimeoutError, FunctionTimeoutError, PollerConfigError, PollerError, SourceReadError } from './errors.ts';
export type * from './types.ts';
