/**
 * How far behind the embedded stack's consumers are, per consumer and per shard: pure
 * bookkeeping, no I/O (local/status.ts wires it to the intake and the pollers).
 *
 * - The intake side: every record the intake writes is registered with its shard, sequence
 *   number and event count (`EventLedger.written`).
 * - The consumer side: the poller reports each record once it is done with it, handled or
 *   discarded (`EventLedger.done`); the record's events count for that consumer and shard.
 * - Events behind = events the intake wrote − events the consumer handled or discarded. Records
 *   from other producers (a direct Kinesis client) are not the intake's: they count in the
 *   poller's record counts and in the age of the oldest record, not in events.
 *
 * A record may be reported done before its write is registered (the consumer read it before the
 * intake's PutRecords call returned); it waits in a bounded list of early reports until it is.
 */

export type RecordOutcome = 'processed' | 'discarded';

interface Counts {
  events: number;
  records: number;
}

interface Entry {
  readonly events: number;
  /** Consumers that have not reported the record yet. */
  left: number;
}

/** Events per shard: written by the intake, handled and discarded by each consumer. */
export class EventLedger {
  private readonly consumers: readonly string[];
  private readonly maxEarly: number;
  private readonly entries = new Map<string, Entry>();
  /** Reports of records whose write is not registered yet: key → consumer → outcome. */
  private readonly early = new Map<string, Map<string, RecordOutcome>>();
  private readonly accepted = new Map<string, Counts>();
  private readonly handled = new Map<string, Map<string, { processed: number; discarded: number }>>();

  constructor(consumers: readonly string[], opts: { readonly maxEarly?: number } = {}) {
    this.consumers = [...consumers];
    this.maxEarly = opts.maxEarly ?? 100_000;
    for (const c of consumers) this.handled.set(c, new Map());
  }

  /** The intake wrote a record of `events` events to `shardId`. */
  written(shardId: string, sequenceNumber: string, events: number): void {
    const a = this.accepted.get(shardId) ?? { events: 0, records: 0 };
    a.events += events;
    a.records += 1;
    this.accepted.set(shardId, a);
    const key = `${shardId}/${sequenceNumber}`;
    const reports = this.early.get(key);
    this.early.delete(key);
    for (const [consumer, outcome] of reports ?? []) this.count(consumer, shardId, events, outcome);
    const left = this.consumers.length - (reports?.size ?? 0);
    if (left > 0) this.entries.set(key, { events, left });
  }

  /** `consumer` is done with a record. Unknown consumers are ignored. */
  done(consumer: string, shardId: string, sequenceNumber: string, outcome: RecordOutcome): void {
    if (!this.handled.has(consumer)) return;
    const key = `${shardId}/${sequenceNumber}`;
    const entry = this.entries.get(key);
    if (entry === undefined) {
      // Not the intake's record, or not registered yet.
      let reports = this.early.get(key);
      if (reports === undefined) {
        if (this.early.size >= this.maxEarly) this.early.delete(this.early.keys().next().value!);
        this.early.set(key, (reports = new Map()));
      }
      reports.set(consumer, outcome);
      return;
    }
    this.count(consumer, shardId, entry.events, outcome);
    if (--entry.left <= 0) this.entries.delete(key);
  }

  /** Events and records the intake wrote, per shard. */
  acceptedByShard(): ReadonlyMap<string, Readonly<Counts>> {
    return this.accepted;
  }

  /** Events `consumer` handled and discarded on `shardId`. */
  handledOn(consumer: string, shardId: string): { readonly processed: number; readonly discarded: number } {
    return this.handled.get(consumer)?.get(shardId) ?? { processed: 0, discarded: 0 };
  }

  /** Records registered and not yet reported by every consumer (memory held). */
  get pending(): number {
    return this.entries.size;
  }

  private count(consumer: string, shardId: string, events: number, outcome: RecordOutcome): void {
    const byShard = this.handled.get(consumer);
    if (byShard === undefined) return;
    const h = byShard.get(shardId) ?? { processed: 0, discarded: 0 };
    h[outcome] += events;
    byShard.set(shardId, h);
  }
}

/** What the poller says of one shard (a slice of local/poller ShardStatus). */
export interface ShardProgress {
  readonly shardId: string;
  readonly ended: boolean;
  readonly buffered: number;
  readonly inFlight: number;
  readonly recordsProcessed: number;
  readonly recordsDiscarded: number;
  readonly invocations: number;
  readonly invokeMs: number;
  readonly ageOfOldestMs: number;
}

export interface ShardLag {
  readonly shardId: string;
  /** Events the intake wrote to the shard. */
  readonly eventsAccepted: number;
  readonly eventsProcessed: number;
  readonly eventsDiscarded: number;
  /** eventsAccepted − eventsProcessed − eventsDiscarded. */
  readonly eventsBehind: number;
  readonly recordsProcessed: number;
  readonly recordsDiscarded: number;
  /** Records read from the shard and not yet done (buffered for a batch, or in an invocation). */
  readonly recordsPending: number;
  /** Age of the oldest record not yet done, ms; 0 when caught up. */
  readonly ageOfOldestMs: number;
  readonly invocations: number;
  /** Time spent in invocations since start, ms. */
  readonly invokeMs: number;
  readonly ended: boolean;
}

export interface ConsumerLag {
  readonly name: string;
  readonly eventsProcessed: number;
  readonly eventsDiscarded: number;
  readonly eventsBehind: number;
  readonly recordsProcessed: number;
  readonly recordsDiscarded: number;
  readonly recordsPending: number;
  /** The largest over its shards. */
  readonly ageOfOldestMs: number;
  /** Nothing of the intake's is left to do, nothing is buffered or in flight. */
  readonly caughtUp: boolean;
  readonly shards: readonly ShardLag[];
}

export interface StackStatus {
  /** Epoch ms the figures were taken at. */
  readonly at: number;
  /** Since the stack started: what the intake wrote to the stream. */
  readonly intake: { readonly eventsAccepted: number; readonly recordsWritten: number };
  readonly consumers: readonly ConsumerLag[];
}

/** The status document: the ledger's events beside each consumer's shard progress. */
export function stackStatus(at: number, ledger: EventLedger, consumers: ReadonlyArray<{ readonly name: string; readonly shards: readonly ShardProgress[] }>): StackStatus {
  const accepted = ledger.acceptedByShard();
  let eventsAccepted = 0;
  let recordsWritten = 0;
  for (const a of accepted.values()) {
    eventsAccepted += a.events;
    recordsWritten += a.records;
  }
  return {
    at,
    intake: { eventsAccepted, recordsWritten },
    consumers: consumers.map((c) => consumerLag(c.name, c.shards, ledger)),
  };
}

function consumerLag(name: string, progress: readonly ShardProgress[], ledger: EventLedger): ConsumerLag {
  const byId = new Map(progress.map((p) => [p.shardId, p]));
  // Shards the intake wrote to count even before the poller found them.
  const ids = [...new Set([...byId.keys(), ...ledger.acceptedByShard().keys()])].sort();
  const shards = ids.map((shardId): ShardLag => {
    const p = byId.get(shardId);
    const accepted = ledger.acceptedByShard().get(shardId)?.events ?? 0;
    const h = ledger.handledOn(name, shardId);
    return {
      shardId,
      eventsAccepted: accepted,
      eventsProcessed: h.processed,
      eventsDiscarded: h.discarded,
      eventsBehind: Math.max(0, accepted - h.processed - h.discarded),
      recordsProcessed: p?.recordsProcessed ?? 0,
      recordsDiscarded: p?.recordsDiscarded ?? 0,
      recordsPending: (p?.buffered ?? 0) + (p?.inFlight ?? 0),
      ageOfOldestMs: p?.ageOfOldestMs ?? 0,
      invocations: p?.invocations ?? 0,
      invokeMs: p?.invokeMs ?? 0,
      ended: p?.ended ?? false,
    };
  });
  const sum = (f: (s: ShardLag) => number) => shards.reduce((n, s) => n + f(s), 0);
  const eventsBehind = sum((s) => s.eventsBehind);
  const recordsPending = sum((s) => s.recordsPending);
  return {
    name,
    eventsProcessed: sum((s) => s.eventsProcessed),
    eventsDiscarded: sum((s) => s.eventsDiscarded),
    eventsBehind,
    recordsProcessed: sum((s) => s.recordsProcessed),
    recordsDiscarded: sum((s) => s.recordsDiscarded),
    recordsPending,
    ageOfOldestMs: shards.reduce((m, s) => Math.max(m, s.ageOfOldestMs), 0),
    caughtUp: eventsBehind === 0 && recordsPending === 0,
    shards,
  };
}

/**
 * Catch-up of the consumers after a load stopped, from status samples taken after it: for each
 * consumer, the time from `stoppedAt` to the first sample that shows it caught up, or undefined
 * when none does.
 */
export function catchUpTimes(stoppedAt: number, samples: readonly StackStatus[]): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  for (const s of samples) {
    for (const c of s.consumers) {
      if (!out.has(c.name)) out.set(c.name, undefined);
      if (out.get(c.name) === undefined && c.caughtUp && s.at >= stoppedAt) out.set(c.name, s.at - stoppedAt);
    }
  }
  return out;
}

/** `12,345` */
function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `0 ms`, `850 ms`, `4.2 s`, `2 min 5 s` */
export function fmtAge(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** One consumer's lag for a progress line: `rollup 4,500 behind, oldest 1.2 s`. */
export function formatLag(c: Pick<ConsumerLag, 'name' | 'eventsBehind' | 'ageOfOldestMs'>): string {
  return `${c.name} ${fmtInt(c.eventsBehind)} behind, oldest ${fmtAge(c.ageOfOldestMs)}`;
}
