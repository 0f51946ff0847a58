/** The poller of one mapping: shard discovery, one loop per shard over its `ShardConsumer` (core.ts), start, stop and drain. */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { InMemoryCheckpointStore } from './checkpoints.ts';
import { systemClock } from './clock.ts';
import { resolveConfig, retryDelay, type ResolvedConfig } from './config.ts';
import { ShardConsumer, type ShardStatus, type StepResult } from './core.ts';
import { describeError, DrainTimeoutError, PollerError } from './errors.ts';
import type { CheckpointStore, Clock, PollerLogger, PollerOptions } from './types.ts';

/** Warnings and errors to stderr; debug dropped. */
export const consoleLogger: PollerLogger = {
  debug: () => {},
  warn: (message, details) => console.warn(`[poller] ${message}`, details ?? ''),
  error: (message, details) => console.error(`[poller] ${message}`, details ?? ''),
};

export interface DrainOptions {
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** How often the shards' state is checked. @default 25 */
  readonly checkIntervalMs?: number;
}

export interface RunUntilIdleOptions {
  /** Give up after this many rounds (one step of every shard per round). @default 10000 */
  readonly maxRounds?: number;
}

/**
 * A Lambda event source mapping for one Kinesis stream and one function, run in-process: one loop
 * per shard (shards in parallel, batches within a shard in order), child shards started once their
 * parents are read to the end, progress kept in a checkpoint store.
 *
 * `start()`/`stop()`/`drain()` run it with real time; `runUntilIdle()` drives the same shard
 * consumers round by round without timers, for deterministic tests with a manual clock.
 */
export class Poller {
  readonly config: ResolvedConfig;
  private readonly options: PollerOptions;
  private readonly clock: Clock;
  private readonly logger: PollerLogger;
  private readonly checkpoints: CheckpointStore;
  private readonly consumers = new Map<string, ShardConsumer>();

  private running = false;
  private stopping = false;
  private stopController = new AbortController();
  private wakeController: AbortController | undefined;
  private loops: Promise<void>[] = [];
  private discoveriesStarted = 0;
  /** Start number of the latest discovery that completed. */
  private lastDiscoveryCompleted = 0;
  private endings = 0;
  private endingsSeenByDiscovery = 0;

  constructor(options: PollerOptions) {
    this.config = resolveConfig(options);
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? consoleLogger;
    this.checkpoints = options.checkpoints ?? new InMemoryCheckpointStore();
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** One entry per shard being (or done being) consumed. */
  status(): ShardStatus[] {
    return [...this.consumers.values()].map((c) => c.status());
  }

  /** Starts shard discovery and one polling loop per shard. Returns at once. */
  start(): void {
    if (this.running) throw new PollerError(`poller ${this.config.mappingId} is already running`);
    this.running = true;
    this.stopping = false;
    this.stopController = new AbortController();
    this.loops = [this.discoveryLoop()];
    for (const consumer of this.consumers.values()) {
      if (!consumer.status().ended) this.loops.push(this.shardLoop(consumer));
    }
  }

  /**
   * Stops polling. Resolves once every loop has ended: an invocation in flight is awaited (up to the
   * function timeout), no timer is left behind. Unprocessed records stay behind the checkpoint.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.stopController.abort();
    this.wakeController?.abort();
    let awaited = -1;
    while (awaited !== this.loops.length) {
      awaited = this.loops.length;
      await Promise.all(this.loops);
    }
    this.loops = [];
    this.running = false;
  }

  /**
   * Resolves when, after this call, the shard list has been read and every shard has been read to
   * the tip with nothing buffered or in flight (closed shards read to their end). For tests and
   * scripts: put records, then `await poller.drain()`.
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    if (!this.running) throw new PollerError('drain() needs a started poller');
    const timeoutMs = options.timeoutMs ?? 30_000;
    const discoveryMark = this.discoveriesStarted;
    const stepMarks = new Map([...this.consumers].map(([id, c]) => [id, c.status().stepsStarted]));
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      const pending: string[] = [];
      if (this.lastDiscoveryCompleted <= discoveryMark || this.endings > this.endingsSeenByDiscovery) {
        pending.push('(shard discovery)');
      }
      for (const status of this.status()) {
        if (status.ended) continue;
        if (status.idleSinceStep === undefined || status.idleSinceStep <= (stepMarks.get(status.shardId) ?? 0)) {
          pending.push(status.shardId);
        }
      }
      if (pending.length === 0) return;
      if (this.stopping) throw new PollerError('poller stopped while draining');
      if (this.clock.now() >= deadline) throw new DrainTimeoutError(timeoutMs, pending);
      await this.clock.sleep(options.checkIntervalMs ?? 25, this.stopController.signal);
    }
  }

  /**
   * Drives every shard, one step each per round, until none can make progress without time passing
   * beyond what it waits for: waits (batching window, retry backoff) are slept through on the clock,
   * so with a manual clock this runs instantly and deterministically. Not for use with `start()`.
   */
  async runUntilIdle(options: RunUntilIdleOptions = {}): Promise<{ idle: boolean; rounds: number }> {
    if (this.running) throw new PollerError('runUntilIdle() cannot run while the poller is started');
    const maxRounds = options.maxRounds ?? 10_000;
    let discoveryFailures = 0;
    for (let round = 1; round <= maxRounds; round += 1) {
      let created = 0;
      let discoveryRetryAt: number | undefined;
      try {
        created = (await this.discover()).length;
        discoveryFailures = 0;
      } catch (error) {
        discoveryFailures += 1;
        discoveryRetryAt = this.clock.now() + retryDelay(this.config, discoveryFailures);
        this.logger.warn('shard discovery failed; retrying', { mappingId: this.config.mappingId, error: describeError(error) });
      }
      const active = [...this.consumers.values()].filter((c) => !c.status().ended);
      const results = await Promise.all(active.map((c) => c.step()));
      if (created > 0 || results.some((r) => r.kind === 'progress' || r.kind === 'ended')) continue;
      const waits = results.flatMap((r) => (r.kind === 'wait' ? [r.until] : []));
      if (discoveryRetryAt !== undefined) waits.push(discoveryRetryAt);
      if (waits.length === 0) return { idle: true, rounds: round };
      await this.clock.sleep(Math.max(0, Math.min(...waits) - this.clock.now()));
    }
    return { idle: false, rounds: maxRounds };
  }

  /** Reads the shard list and creates consumers for new shards whose parents are done. */
  private async discover(): Promise<ShardConsumer[]> {
    const number = ++this.discoveriesStarted;
    const endingsAtStart = this.endings;
    const shards = await this.options.source.listShards();
    const listed = new Set(shards.map((s) => s.shardId));
    const created: ShardConsumer[] = [];
    for (const shard of shards) {
      if (this.consumers.has(shard.shardId)) continue;
      const parents = [shard.parentShardId, shard.adjacentParentShardId].filter(
        (p): p is string => p !== undefined && listed.has(p),
      );
      if (!parents.every((p) => this.consumers.get(p)?.status().ended === true)) continue;
      const consumer = new ShardConsumer({
        config: this.config,
        shard,
        startAt: parents.length > 0 ? 'TRIM_HORIZON' : 'mapping',
        source: this.options.source,
        handler: this.options.handler,
        checkpoints: this.checkpoints,
        onFailure: this.options.onFailure,
        clock: this.clock,
        logger: this.logger,
        ...(this.options.onRecordsDone !== undefined ? { onRecordsDone: this.options.onRecordsDone } : {}),
      });
      this.consumers.set(shard.shardId, consumer);
      created.push(consumer);
    }
    this.endingsSeenByDiscovery = Math.max(this.endingsSeenByDiscovery, endingsAtStart);
    this.lastDiscoveryCompleted = Math.max(this.lastDiscoveryCompleted, number);
    return created;
  }

  private async discoveryLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let delay = this.config.shardDiscoveryIntervalMs;
      try {
        const created = await this.discover();
        failures = 0;
        if (!this.stopping) for (const consumer of created) this.loops.push(this.shardLoop(consumer));
      } catch (error) {
        failures += 1;
        delay = retryDelay(this.config, failures);
        this.logger.warn('shard discovery failed; retrying', {
          mappingId: this.config.mappingId,
          retryInMs: delay,
          error: describeError(error),
        });
      }
      if (this.stopping) break;
      // A shard ended while the list was being read: its children may be ready now.
      if (failures === 0 && this.endings > this.endingsSeenByDiscovery) continue;
      const wake = new AbortController();
      this.wakeController = wake;
      await this.clock.sleep(delay, AbortSignal.any([this.stopController.signal, wake.signal]));
    }
  }

  private async shardLoop(consumer: ShardConsumer): Promise<void> {
    while (!this.stopping) {
      let result: StepResult;
      try {
        result = await consumer.step();
      } catch (error) {
        // step() handles its own failures; this is a last line so a bug never kills the process.
        this.logger.error('unexpected poller failure', { shardId: consumer.shardId, error: describeError(error) });
        result = { kind: 'wait', until: this.clock.now() + this.config.retryMaxDelayMs };
      }
      if (result.kind === 'ended') {
        this.endings += 1;
        this.wakeController?.abort();
        return;
      }
      if (result.kind === 'progress') {
        await yieldToEventLoop();
        continue;
      }
      const delay = result.kind === 'idle' ? this.config.pollIntervalMs : Math.max(0, result.until - this.clock.now());
      await this.clock.sleep(delay, this.stopController.signal);
    }
  }
}
