/**
 * Load generator: sends realistic events through the intake at a target rate and shows progress.
 *
 *   npm run load -- --rate 5000 --duration 60 --tenant demo
 *
 * Options: --rate events/s (5000), --duration s (60), --batch events per request (500),
 * --concurrency requests in flight (8), --url (the running embedded stack, else
 * http://127.0.0.1:${PORT:-8787}), --key API key (else STREAMFOLD_API_KEY, else a write key is
 * created for --tenant in the embedded stack's data directory and revoked at the end).
 */
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { eventGenerator } from './fixtures.ts';
import { generateApiKey } from '../functions/shared/tenants.ts';
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
      url: { type: 'string' },
      key: { type: 'string' },
      'data-dir': { type: 'string' },
    },
  });
  const rate = positive('rate', values.rate!);
  const duration = positive('duration', values.duration!);
  const batch = Math.min(10_000, positive('batch', values.batch!));
  const concurrency = positive('concurrency', values.concurrency!);
  const url = values.url ?? runningStack(values['data-dir'])?.url ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`;

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

  const next = eventGenerator({ tenants: 1, seed: Date.now() % 1e9 });
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

  const progress = setInterval(() => draw(totals, started, duration, false), 250);
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
  draw(totals, started, duration, true);
  summary(totals, started);
  return totals.failedEvents > 0 ? 1 : 0;
}

function draw(t: Totals, started: number, duration: number, final: boolean): void {
  const elapsed = (Date.now() - started) / 1000;
  const frac = Math.min(1, elapsed / duration);
  const width = 24;
  const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '-');
  const line = `[${bar}] ${elapsed.toFixed(0).padStart(4)}s  sent ${fmt(t.sent)}  accepted ${fmt(t.accepted)}  ${fmt(t.accepted / Math.max(elapsed, 0.001))}/s`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line}${final ? '\n' : ''}`);
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
