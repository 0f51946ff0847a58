/**
 * Load generator: sends realistic events through the intake at a target rate and shows progress,
 * and beside it how far behind each consumer is; when the load stops, how long the consumers took
 * to catch up.
 *
 *   npm run load -- --rate 5000 --duration 60 --tenant demo
 *
 * Options: --rate events/s (5000), --duration s (60), --batch events per request (500),
 * --concurrency requests in flight (8), --series distinct series the events come from (2000; 0
 * draws tags afresh for every event, almost a series per event), --url (the running embedded
 * stack, else http://127.0.0.1:${PORT:-8787}), --data-dir (the running stack's, for its URL and
 * operator key), --key API key (else STREAMFOLD_API_KEY, else a write key is created for --tenant
 * in the embedded stack's data directory and revoked at the end), --catch-up-deadline s (120).
 *
 * Lag comes from GET /v1/status with the operator key of the data directory's running.json (or
 * STREAMFOLD_OPERATOR_KEY): per consumer, events behind the intake (all tenants') and the age of
 * its oldest unprocessed record. Caught up means no event of the intake's left and nothing
 * buffered or in flight. Exit code 1 when events failed or the consumers did not catch up.
 */
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { eventGenerator } from './fixtures.ts';
import { generateApiKey } from '../functions/shared/tenants.ts';
import { catchUpTimes, fmtAge, formatLag, type StackStatus } from './lag.ts';
import { openTenantStore, runningStack } from './tenant-admin.ts';

interface Totals {
  sent: number;
  accepted: number;
  rejected: number;
  failedEvents: number;
  requests: number;
  statuses: Map<number, number>;
  latencies: number[];
}

// The SDK warns that its Node 20 support ends in 2027 (see README, "Node versions"); the lock pins it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '5000' },
      duration: { type: 'string', default: '60' },
      tenant: { type: 'string', default: 'demo' },
      batch: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '8' },
      series: { type: 'string', default: '2000' },
      url: { type: 'string' },
      key: { type: 'string' },
      'data-dir': { type: 'string' },
      'catch-up-deadline': { type: 'string', default: '120' },
    },
  });
  const rate = positive('rate', values.rate!);
  const duration = positive('duration', values.duration!);
  const batch = Math.min(10_000, positive('batch', values.batch!));
  const concurrency = positive('concurrency', values.concurrency!);
  const series = values.series === '0' ? 0 : Math.round(positive('series', values.series!));
  const catchUpDeadlineMs = positive('catch-up-deadline', values['catch-up-deadline']!) * 1000;
  const running = runningStack(values['data-dir']);
  const url = values.url ?? running?.url ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`;
  const lag = new LagWatch(url, process.env.STREAMFOLD_OPERATOR_KEY ?? running?.operatorKey);

  let key = values.key ?? process.env.STREAMFOLD_API_KEY;
  let revoke: (() => Promise<void>) | undefined;
  if (key === undefined) {
    const { store, close } = await openTenantStore(values['data-dir']);
    const created = generateApiKey();
    await store.putKey(values.tenant!, created.key, ['write'], created.keyId);
    await close();
    key = created.key;
    revoke = async () => {
      const admin = await openTenantStore(values['data-dir']);
      try {
        await admin.store.revoke(created.keyId);
      } finally {
        await admin.close();
      }
    };
    console.log(`using a new write key ${created.keyId} for tenant "${values.tenant}" (revoked at the end)`);
  }

  const next = eventGenerator({ tenants: 1, seed: Date.now() % 1e9, ...(series > 0 ? { series } : {}) });
  const totals: Totals = { sent: 0, accepted: 0, rejected: 0, failedEvents: 0, requests: 0, statuses: new Map(), latencies: [] };
  const started = Date.now();
  const end = started + duration * 1000;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();

  const send = async (n: number) => {
    const now = Date.now();
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const { tenant: _t, ...e } = next();
      lines.push(JSON.stringify({ ...e, ts: now - Math.floor(Math.random() * 5_000) }));
    }
    const body = gzipSync(lines.join('\n'));
    const t0 = performance.now();
    totals.sent += n;
    try {
      const res = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'x-api-key': key!, 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
        body,
      });
      const json = (await res.json()) as { accepted?: number; rejected?: number };
      totals.statuses.set(res.status, (totals.statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) {
        totals.accepted += json.accepted ?? 0;
        totals.rejected += json.rejected ?? 0;
      } else totals.failedEvents += n;
    } catch {
      totals.statuses.set(0, (totals.statuses.get(0) ?? 0) + 1);
      totals.failedEvents += n;
    }
    totals.requests++;
    totals.latencies.push(performance.now() - t0);
  };

  lag.start();
  const progress = setInterval(() => draw(totals, started, duration, lag, false), 250);
  try {
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate) - totals.sent;
      if (due >= Math.min(batch, rate) && inFlight < concurrency) {
        inFlight++;
        const p = send(Math.min(batch, due)).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
        continue;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
  } finally {
    clearInterval(progress);
    await revoke?.();
  }
  const stoppedAt = Date.now();
  await lag.poll();
  draw(totals, started, duration, lag, true);
  summary(totals, started);
  const caughtUp = await catchUp(lag, stoppedAt, catchUpDeadlineMs);
  lag.stop();
  return totals.failedEvents > 0 || caughtUp === false ? 1 : 0;
}

/** Polls GET /v1/status with the operator key; keeps every answer. */
class LagWatch {
  latest: StackStatus | undefined;
  readonly samples: StackStatus[] = [];
  /** Why there are no figures (no key, refused, unreachable). */
  problem: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly operatorKey: string | undefined,
  ) {
    if (operatorKey === undefined) this.problem = 'no operator key (pass --data-dir of the running stack, or set STREAMFOLD_OPERATOR_KEY)';
  }

  start(): void {
    if (this.operatorKey === undefined) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One GET /v1/status (at most one in flight). */
  poll(): Promise<void> {
    if (this.operatorKey === undefined) return Promise.resolve();
    this.polling ??= (async () => {
      try {
        const res = await fetch(`${this.url}/v1/status`, { headers: { 'x-api-key': this.operatorKey! } });
        const body = (await res.json()) as StackStatus & { error?: string };
        if (res.status !== 200) {
          this.problem = `GET /v1/status answered ${res.status}: ${body.error ?? ''}`;
          this.stop();
          return;
        }
        this.latest = body;
        this.samples.push(body);
        this.problem = undefined;
      } catch (err) {
        this.problem = `GET /v1/status failed: ${(err as Error).message}`;
      }
    })().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /** `rollup 4,500 behind, oldest 1.2 s; archive …`, or why there is nothing to show. */
  line(): string {
    if (this.latest !== undefined) return this.latest.consumers.map(formatLag).join('; ');
    return `lag: ${this.problem ?? 'waiting for GET /v1/status'}`;
  }
}

/**
 * After the load: polls until every consumer is caught up or the deadline passes, then prints how
 * long each took. Returns whether all caught up (undefined when lag cannot be read).
 */
async function catchUp(lag: LagWatch, stoppedAt: number, deadlineMs: number): Promise<boolean | undefined> {
  if (lag.latest === undefined) {
    console.log(`catch-up   unknown: ${lag.problem ?? 'no answer from GET /v1/status'}`);
    return undefined;
  }
  lag.stop();
  let printed = Date.now();
  for (;;) {
    const s = lag.latest;
    if (s !== undefined && s.consumers.every((c) => c.caughtUp)) break;
    if (Date.now() - stoppedAt >= deadlineMs) break;
    const line = `catching up ${fmtAge(Date.now() - stoppedAt).padStart(8)}  ${lag.line()}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}\x1b[K`);
    else if (Date.now() - printed >= 5_000) {
      printed = Date.now();
      console.log(line);
    }
    await new Promise((r) => setTimeout(r, 250));
    await lag.poll();
  }
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
  const times = catchUpTimes(stoppedAt, lag.samples);
  let all = true;
  for (const c of lag.latest!.consumers) {
    const t = times.get(c.name);
    if (t !== undefined) console.log(`caught up  ${c.name.padEnd(8)} ${fmtAge(t)} after the load stopped`);
    else {
      all = false;
      console.log(`behind     ${c.name.padEnd(8)} did not catch up within ${fmtAge(deadlineMs)} of the load stopping: ${formatLag(c)}`);
    }
  }
  return all;
}

function draw(t: Totals, started: number, duration: number, lag: LagWatch, final: boolean): void {
  const elapsed = (Date.now() - started) / 1000;
  const frac = Math.min(1, elapsed / duration);
  const width = 24;
  const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '-');
  const line = `[${bar}] ${elapsed.toFixed(0).padStart(4)}s  sent ${fmt(t.sent)}  accepted ${fmt(t.accepted)}  ${fmt(t.accepted / Math.max(elapsed, 0.001))}/s  | ${lag.line()}`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
  else if (final || Math.floor(elapsed / 5) > lastPrinted) {
    lastPrinted = Math.floor(elapsed / 5);
    console.log(line);
  }
}
let lastPrinted = 0;

function summary(t: Totals, started: number): void {
  const secs = (Date.now() - started) / 1000;
  const lat = [...t.latencies].sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1) : '-');
  console.log(`\nsent      ${fmt(t.sent)} events in ${t.requests} requests over ${secs.toFixed(1)} s`);
  console.log(`accepted  ${fmt(t.accepted)} (${fmt(t.accepted / secs)} events/s); rejected ${fmt(t.rejected)}; failed ${fmt(t.failedEvents)}`);
  console.log(`statuses  ${[...t.statuses].map(([s, n]) => `${s === 0 ? 'network error' : s}: ${n}`).join(', ')}`);
  console.log(`latency   p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms per request`);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function positive(name: string, raw: string): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
  return v;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  },
);
