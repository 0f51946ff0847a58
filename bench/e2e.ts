/**
 * Section `e2e`: the whole embedded stack (`startStack`, batching windows 0) under HTTP load.
 *
 * For 10 s (`--quick`) or 30 s, `CONCURRENCY` clients post requests of `EVENTS_PER_REQUEST`
 * realistic events (local/fixtures.ts, one tenant, ts = now) to `POST /v1/events` back to back.
 * Meanwhile a probe posts one event of a fresh marker metric every ~0.5 s and polls
 * `GET /v1/query` until its count is visible (deadline 30 s): freshness is the time from the POST
 * to the first answer that counts it. After the load, `drain()` waits for both consumers.
 *
 * Figures: accepted events/s (intake, HTTP 202), events/s end to end (accepted ÷ (load + drain
 * time), i.e. rolled up and archived), freshness p50 and p99 under that load. All wall clock, on
 * one machine running the emulators, the front and the consumers together: a floor, not AWS.
 *
 *   npx tsx bench/e2e.ts [--quick]
 *   npm run bench -- --only e2e          once listed in SECTIONS of bench/run.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type RunningStack } from '../local/index.ts';
import { eventGenerator } from '../local/fixtures.ts';
import { defineSection, quantile, runIfMain, type FigureInput, type Spread } from './harness.ts';
import { E2E } from './ids.ts';

const KEY = 'bench-e2e-acme-key-01';
const EVENTS_PER_REQUEST = 500;
const CONCURRENCY = 4;
const FRESHNESS_DEADLINE_MS = 30_000;
const PROBE_INTERVAL_MS = 500;
const POLL_MS = 25;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

function spreadOf(sorted: readonly number[]): Spread | null {
  if (sorted.length === 0) return null;
  return { min: sorted[0]!, p10: quantile(sorted, 0.1), p90: quantile(sorted, 0.9), max: sorted.at(-1)!, n: sorted.length };
}

async function post(stack: RunningStack, events: readonly unknown[]): Promise<number> {
  const res = await fetch(`${stack.url}/v1/events`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  await res.arrayBuffer();
  return res.status;
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

const section = defineSection({
  name: E2E.section,
  description: 'HTTP intake → stream → rollup + archive on the embedded stack: events/s sustained and freshness',
  async run(ctx) {
    const seconds = ctx.quick ? 10 : 30;
    const dataDir = await mkdtemp(join(tmpdir(), 'streamfold-bench-e2e-'));
    const quiet = () => {};
    const stack = await startStack({
      port: 0,
      dataDir,
      tenants: { acme: KEY },
      batchingWindowSeconds: 0,
      log: quiet,
      pollerLogger: { debug: quiet, warn: quiet, error: quiet },
    });
    try {
      const next = eventGenerator({ tenants: 1, seed: 7 });
      const batch = () =>
        Array.from({ length: EVENTS_PER_REQUEST }, () => {
          const { tenant: _tenant, ...e } = next();
          return { ...e, ts: Date.now() };
        });

      // Warm-up: one request per client, and wait until it is processed.
      ctx.log(`stack up at ${stack.url}; warm-up`);
      for (let i = 0; i < CONCURRENCY; i++) await post(stack, batch());
      await stack.drain(60_000);
      ctx.log(`load: ${seconds} s`);

      let accepted = 0;
      let rejected = 0;
      let postMs = 0;
      let drainMs = 0;
      let rounds = 0;
      const started = Date.now();
      const end = started + seconds * 1000;

      const freshness: number[] = [];
      let missed = 0;
      let loadDone = false;
      const probe = (async () => {
        for (let i = 0; !loadDone; i++) {
          const metric = `bench.e2e.probe${i}`;
          const t0 = Date.now();
          const status = await post(stack, [{ name: metric, ts: t0, value: 1 }]);
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

      // Closed loop: a round of CONCURRENCY concurrent requests, then wait until both consumers
      // have caught up. The consumers are the bottleneck here (emulated DynamoDB and S3 on the same
      // cores), so an open loop would only grow the backlog; this measures what the pipeline keeps up with.
      while (Date.now() < end) {
        const t = Date.now();
        const statuses = await Promise.all(Array.from({ length: CONCURRENCY }, () => post(stack, batch())));
        for (const status of statuses) {
          if (status === 202) accepted += EVENTS_PER_REQUEST;
          else rejected += EVENTS_PER_REQUEST;
        }
        const posted = Date.now();
        postMs += posted - t;
        await stack.drain(120_000);
        drainMs += Date.now() - posted;
        rounds++;
      }
      const totalMs = Date.now() - started;
      loadDone = true;
      await probe;
      ctx.log(`${rounds} rounds: ${accepted} accepted, ${postMs} ms posting, ${drainMs} ms draining`);

      freshness.sort((a, b) => a - b);
      ctx.info('load', { seconds, rounds, concurrency: CONCURRENCY, eventsPerRequest: EVENTS_PER_REQUEST, accepted, rejected, postMs, drainMs, totalMs });
      ctx.info('freshness', { probes: freshness.length, missed, deadlineMs: FRESHNESS_DEADLINE_MS });

      const figures: FigureInput[] = [
        {
          ...E2E.figures.intakeHttp(CONCURRENCY, EVENTS_PER_REQUEST),
          unit: 'events/s',
          better: 'higher',
          value: (accepted * 1000) / Math.max(1, postMs),
          spread: null,
          clock: 'wall',
          note: `while posting (${rounds} rounds)${rejected > 0 ? `, ${rejected} events rejected` : ''}`,
        },
        {
          ...E2E.figures.sustained,
          unit: 'events/s',
          better: 'higher',
          value: (accepted * 1000) / totalMs,
          spread: null,
          clock: 'wall',
          note: `rounds of posts, each drained: ${drainMs} of ${totalMs} ms draining`,
        },
      ];
      if (freshness.length > 0) {
        const s = spreadOf(freshness);
        figures.push(
          { ...E2E.figures.freshnessP50, unit: 'ms', better: 'lower', value: quantile(freshness, 0.5), spread: s, note: `${freshness.length} probes, ${missed} missed` },
          { ...E2E.figures.freshnessP99, unit: 'ms', better: 'lower', value: quantile(freshness, 0.99), spread: s },
        );
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
