/**
 * Section `e2e`: the whole embedded stack under an open-loop HTTP load, as `npm start` runs it.
 *
 * The stack runs its own settings (`startStack` without overrides, i.e. lib/functions.ts
 * `FunctionDef.local`: rollup 1 s batching window, folds by the sweeper; archive 5 s window), so
 * the figures say what a user of `npm start` gets, batching windows included. (Until issue 15 this
 * section ran every window at 0 in closed-loop rounds, each drained before the next.)
 *
 * Load: OFFERED events/s for 60 s (`--quick`: 5,000 events/s for 10 s), in requests of
 * EVENTS_PER_REQUEST events, at most CONCURRENCY in flight, sent on schedule whatever the stack
 * answers. Events are a realistic mix (local/fixtures.ts with `series: 2000`: 50 metric names, the
 * three types, 2,000 series picked with a skew), one tenant, ts within 5 s before the body was
 * made; bodies are gzip'd NDJSON, as `npm run load` sends, encoded before the clock starts so the
 * generator's CPU is not counted as the stack's. Meanwhile a probe posts one event of a fresh
 * metric every PROBE_INTERVAL_MS and polls `GET /v1/query` every POLL_MS until it is counted
 * (deadline 30 s): freshness is the time from the POST to that answer (resolution POLL_MS).
 * After the load, `stack.status()` (local/lag.ts) is polled until both consumers are caught up
 * (nothing of the intake's left, nothing buffered or in flight; deadline 120 s).
 *
 * Figures: accepted events/s (intake, HTTP 202) while posting; end to end = accepted ÷ (first POST
 * → both consumers caught up), i.e. rolled up and archived, windows included; the catch-up time
 * after the load stops; freshness p50 and p99 under the load; CPU per 1,000 events, with the
 * split per thread (main, kinesalite, dynalite, other: V8's GC helpers and LevelDB's threads) in
 * the section's info. All wall clock, on one machine running the emulators, the front and the
 * consumers together: a floor, not AWS. On a shared machine the wall-clock figures move with
 * what else runs; the CPU per event does not.
 *
 *   npx tsx bench/e2e.ts [--quick]
 *   npm run bench -- --only e2e
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startStack, type RunningStack } from '../local/index.ts';
import { eventGenerator } from '../local/fixtures.ts';
import type { StackStatus } from '../local/lag.ts';
import { threadCpuSeconds } from '../local/threads.ts';
import { defineSection, quantile, runIfMain, type FigureInput, type Spread } from './harness.ts';
import { E2E } from './ids.ts';

const KEY = 'bench-e2e-acme-key-01';
const EVENTS_PER_REQUEST = 500;
const CONCURRENCY = 8;
const SERIES = 2000;
const WARM_UP_REQUESTS = 40;
const FRESHNESS_DEADLINE_MS = 30_000;
const CATCH_UP_DEADLINE_MS = 120_000;
const PROBE_INTERVAL_MS = 500;
const POLL_MS = 100;
const STATUS_EVERY_MS = 100;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

function spreadOf(sorted: readonly number[]): Spread | null {
  if (sorted.length === 0) return null;
  return { min: sorted[0]!, p10: quantile(sorted, 0.1), p90: quantile(sorted, 0.9), max: sorted.at(-1)!, n: sorted.length };
}

async function post(stack: RunningStack, body: Uint8Array | string, gzip: boolean): Promise<{ status: number; accepted: number }> {
  const res = await fetch(`${stack.url}/v1/events`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': gzip ? 'application/x-ndjson' : 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    body,
  });
  const json = (await res.json()) as { accepted?: number };
  return { status: res.status, accepted: res.status === 202 ? (json.accepted ?? 0) : 0 };
}

/** Count of `metric` between `from` and `to`, 0 when nothing is there yet. */
async function count(stack: RunningStack, metric: string, from: number, to: number): Promise<number> {
  const params = new URLSearchParams({ metric, from: String(from), to: String(to), interval: '3600', agg: 'count' });
  const res = await fetch(`${stack.url}/v1/query?${params}`, { headers: { 'x-api-key': KEY } });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return 0;
  }
  const body = (await res.json()) as { series?: Array<{ points: Array<[number, number | null]> }> };
  let n = 0;
  for (const s of body.series ?? []) for (const [, v] of s.points) n += v ?? 0;
  return n;
}

/** Request bodies for the whole load, made before it starts. */
function bodies(requests: number): Uint8Array[] {
  const next = eventGenerator({ tenants: 1, seed: 7, series: SERIES });
  const now = Date.now();
  return Array.from({ length: requests }, () => {
    const lines: string[] = [];
    for (let i = 0; i < EVENTS_PER_REQUEST; i++) {
      const { tenant: _tenant, ...e } = next();
      lines.push(JSON.stringify({ ...e, ts: now - Math.floor(Math.random() * 5_000) }));
    }
    return gzipSync(`${lines.join('\n')}\n`);
  });
}

const section = defineSection({
  name: E2E.section,
  description: 'HTTP intake → stream → rollup + archive on the embedded stack as npm start runs it: events/s sustained, catch-up, freshness',
  async run(ctx) {
    const seconds = ctx.quick ? 10 : 60;
    const offered = ctx.quick ? 5_000 : 12_000;
    const requests = Math.ceil((offered * seconds) / EVENTS_PER_REQUEST);
    const dataDir = await mkdtemp(join(tmpdir(), 'streamfold-bench-e2e-'));
    const quiet = () => {};
    const stack = await startStack({
      port: 0,
      dataDir,
      tenants: { acme: KEY },
      log: quiet,
      pollerLogger: { debug: quiet, warn: quiet, error: quiet },
    });
    try {
      ctx.log(`stack up at ${stack.url}; encoding ${requests} requests`);
      const load = bodies(requests);
      const warm = bodies(WARM_UP_REQUESTS);

      // Warm-up: the first batches write every series' index entry (a series' first event costs
      // an index write, the rest none); 20,000 events reach all but ~1 % of the 2,000 series.
      for (let i = 0; i < warm.length; i += CONCURRENCY) await Promise.all(warm.slice(i, i + CONCURRENCY).map((b) => post(stack, b, true)));
      await stack.drain(120_000);
      ctx.log(`load: ${offered.toLocaleString('en-US')} events/s for ${seconds} s`);

      const samples: StackStatus[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push(stack.status());
          await sleep(STATUS_EVERY_MS);
        }
      })();
      const cpu0 = threadCpuSeconds();
      const accepted0 = stack.status().intake.eventsAccepted;

      let accepted = 0;
      let rejected = 0;
      const statuses = new Map<number, number>();
      const freshness: number[] = [];
      let missed = 0;
      let loadDone = false;
      const probe = (async () => {
        for (let i = 0; !loadDone; i++) {
          const metric = `bench.e2e.probe${i}`;
          const t0 = Date.now();
          const { status } = await post(stack, JSON.stringify([{ name: metric, ts: t0, value: 1 }]), false);
          if (status !== 202) {
            missed++;
            continue;
          }
          const deadline = t0 + FRESHNESS_DEADLINE_MS;
          let seen = false;
          while (Date.now() < deadline) {
            if ((await count(stack, metric, t0 - 3_600_000, t0 + 3_600_000)) >= 1) {
              freshness.push(Date.now() - t0);
              seen = true;
              break;
            }
            await sleep(POLL_MS);
          }
          if (!seen) missed++;
          await sleep(Math.max(0, PROBE_INTERVAL_MS - (Date.now() - t0)));
        }
      })();

      // Open loop: request k goes out at started + k × (EVENTS_PER_REQUEST / offered) s, or as soon
      // after as fewer than CONCURRENCY are in flight.
      const started = Date.now();
      const inFlight = new Set<Promise<void>>();
      for (let k = 0; k < requests; ) {
        const due = Math.floor(((Date.now() - started) / 1000) * (offered / EVENTS_PER_REQUEST)) + 1;
        if (k < due && inFlight.size < CONCURRENCY) {
          const p = post(stack, load[k++]!, true).then(
            (r) => {
              statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
              if (r.status === 202) accepted += r.accepted;
              else rejected += EVENTS_PER_REQUEST;
            },
            () => {
              statuses.set(0, (statuses.get(0) ?? 0) + 1);
              rejected += EVENTS_PER_REQUEST;
            },
          );
          const tracked = p.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
          continue;
        }
        await (inFlight.size >= CONCURRENCY ? Promise.race(inFlight) : sleep(2));
      }
      await Promise.all(inFlight);
      const stopped = Date.now();
      const postMs = stopped - started;
      // No probe after the load: each would be one more event to catch up with.
      loadDone = true;

      // Catch-up: both consumers done with everything the intake wrote.
      let caughtUpAt: number | undefined;
      while (Date.now() - stopped < CATCH_UP_DEADLINE_MS) {
        const s = stack.status();
        if (s.consumers.every((c) => c.caughtUp)) {
          caughtUpAt = s.at;
          break;
        }
        await sleep(STATUS_EVERY_MS);
      }
      const cpu1 = threadCpuSeconds();
      sampling = false;
      await Promise.all([probe, sampler]);
      const end = caughtUpAt ?? Date.now();
      const last = stack.status();
      const totalMs = end - started;
      ctx.log(`${accepted} accepted in ${postMs} ms; caught up ${caughtUpAt === undefined ? 'not within the deadline' : `${caughtUpAt - stopped} ms after`}`);

      // Which thread was busy: CPU seconds over the load and the catch-up, per 1,000 events.
      const cpu = new Map<string, number>();
      if (cpu0 !== undefined && cpu1 !== undefined) for (const [name, s] of cpu1) cpu.set(name, s - (cpu0.get(name) ?? 0));
      const events = last.intake.eventsAccepted - accepted0;
      const per1000 = (s: number) => Math.round(((s * 1000) / Math.max(1, events)) * 1000 * 10) / 10;
      const cpuTotal = [...cpu.values()].reduce((a, b) => a + b, 0);
      const maxBehind = Object.fromEntries(last.consumers.map((c) => [c.name, Math.max(0, ...samples.map((s) => s.consumers.find((x) => x.name === c.name)?.eventsBehind ?? 0))]));
      const maxAge = Object.fromEntries(last.consumers.map((c) => [c.name, Math.max(0, ...samples.map((s) => s.consumers.find((x) => x.name === c.name)?.ageOfOldestMs ?? 0))]));

      freshness.sort((a, b) => a - b);
      ctx.info('load', {
        offeredEventsPerSecond: offered,
        seconds,
        series: SERIES,
        concurrency: CONCURRENCY,
        eventsPerRequest: EVENTS_PER_REQUEST,
        accepted,
        rejected,
        statuses: Object.fromEntries(statuses),
        postMs,
        catchUpMs: caughtUpAt === undefined ? null : caughtUpAt - stopped,
        totalMs,
      });
      ctx.info('lag', { maxEventsBehind: maxBehind, maxAgeOfOldestMs: maxAge, final: last.consumers.map(({ shards: _s, ...c }) => c) });
      ctx.info('consumers', last.consumers.map((c) => ({ name: c.name, shards: c.shards.map((s) => ({ shardId: s.shardId, records: s.recordsProcessed, invocations: s.invocations, invokeMs: s.invokeMs })) })));
      ctx.info('cpuMsPer1000Events', Object.fromEntries([...cpu].map(([name, s]) => [name, per1000(s)])));
      ctx.info('cpuCoresUsed', Math.round((cpuTotal / Math.max(0.001, totalMs / 1000)) * 100) / 100);
      ctx.info('freshness', { probes: freshness.length, missed, deadlineMs: FRESHNESS_DEADLINE_MS, pollMs: POLL_MS });

      const figures: FigureInput[] = [
        {
          ...E2E.figures.intakeHttp(CONCURRENCY, EVENTS_PER_REQUEST),
          unit: 'events/s',
          better: 'higher',
          value: (accepted * 1000) / Math.max(1, postMs),
          spread: null,
          clock: 'wall',
          note: `offered ${offered.toLocaleString('en-US')} events/s, open loop${rejected > 0 ? `; ${rejected} events not accepted` : ''}`,
        },
        {
          ...E2E.figures.sustained,
          unit: 'events/s',
          better: 'higher',
          value: (accepted * 1000) / totalMs,
          spread: null,
          clock: 'wall',
          note: `accepted ÷ (first POST → both consumers caught up), ${SERIES.toLocaleString('en-US')} series; 975 events/s with the first rollup layout, closed loop`,
          ...(ctx.quick ? {} : { target: { min: 10_000 } }),
        },
      ];
      if (caughtUpAt !== undefined) {
        figures.push({
          ...E2E.figures.catchUp,
          unit: 'ms',
          better: 'lower',
          value: caughtUpAt - stopped,
          spread: null,
          clock: 'wall',
          note: 'windows included: rollup 1 s, archive 5 s',
          target: { max: 10_000 },
        });
      }
      if (freshness.length > 0) {
        const s = spreadOf(freshness);
        figures.push(
          { ...E2E.figures.freshnessP50, unit: 'ms', better: 'lower', value: quantile(freshness, 0.5), spread: s, note: `${freshness.length} probes, ${missed} missed, polled every ${POLL_MS} ms` },
          { ...E2E.figures.freshnessP99, unit: 'ms', better: 'lower', value: quantile(freshness, 0.99), spread: s, ...(ctx.quick ? {} : { target: { max: 3_000 } }) },
        );
      }
      if (cpu.size > 0) {
        const split = [...cpu].sort((a, b) => b[1] - a[1]).map(([name, s]) => `${name} ${per1000(s)}`).join(', ');
        figures.push({ ...E2E.figures.cpu, unit: 'ms', better: 'lower', value: per1000(cpuTotal), spread: null, clock: 'cpu', note: split });
      }
      return figures;
    } finally {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
});

export default section;
await runIfMain(import.meta.url, section);
