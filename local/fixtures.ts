/**
 * Deterministic, realistic events: the same (seed, now, options) always yields the same events.
 * Used by the load generator (local/load.ts), the benchmarks (bench/) and tests; it lives in
 * local/ so that local/ never imports bench/ (bench/ sits above local/ and may import it).
 *
 * Shape (per `StreamEvent`): a few tenants with a skewed share of traffic; ~50 metric names, each
 * with a fixed type (requests and errors are counts, durations and sizes distributions, utilisation
 * gauges) and a skewed popularity; 3-6 tags drawn from a fleet of 200 hosts, each host belonging to
 * one service, region and env (so tag values are correlated, as in production, and the series count
 * stays bounded); `ts` within the last hour before `now`, slightly out of order; an `id` on ~10 % and
 * small `attrs` on ~5 % of events. About 200 bytes per event as serialized NDJSON.
 *
 * That draw makes a new series for almost every other event (~17,000 series in 100,000 events).
 * With `series: N` events come instead from a fixed pool of N series (the same draw, deduplicated),
 * picked with a skew (the top 1 % of series carry ~10 % of the events), as a fleet's metrics do:
 * the same series again and again, a new value each time.
 */
import { serializeEvent } from '../functions/shared/codec.ts';
import type { EventType, StreamEvent } from '../functions/shared/event.ts';

/** sfc32: small, fast, good-quality 32-bit PRNG. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** Index in [0, n), skewed toward 0 (a popularity curve: the first items get most of the traffic). */
  skewed(n: number, power = 2): number {
    return Math.min(n - 1, Math.floor(n * this.next() ** power));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  hex(chars: number): string {
    let s = '';
    while (s.length < chars) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, chars);
  }
}

export type ValueKind = 'one' | 'small-count' | 'percent' | 'bytes' | 'latency-ms' | 'size-bytes' | 'level';

interface MetricDef {
  readonly name: string;
  readonly type: EventType;
  readonly kind: ValueKind;
  /** Extra tag keys beyond the host's (env, service, host, region). */
  readonly extra: readonly ('status' | 'method' | 'endpoint' | 'db' | 'topic' | 'cache')[];
}

const m = (name: string, type: EventType, kind: ValueKind, extra: MetricDef['extra'] = []): MetricDef => ({
  name,
  type,
  kind,
  extra,
});

/** 50 metric names, most popular first. */
export const METRICS: readonly MetricDef[] = [
  m('http.server.requests', 'count', 'one', ['status', 'method']),
  m('http.server.duration', 'distribution', 'latency-ms', ['status']),
  m('db.query.duration', 'distribution', 'latency-ms', ['db']),
  m('db.query.count', 'count', 'one', ['db']),
  m('system.cpu.utilization', 'gauge', 'percent'),
  m('system.memory.usage', 'gauge', 'bytes'),
  m('http.client.requests', 'count', 'one', ['status']),
  m('http.client.duration', 'distribution', 'latency-ms', ['status']),
  m('cache.hits', 'count', 'small-count', ['cache']),
  m('cache.misses', 'count', 'small-count', ['cache']),
  m('queue.messages.published', 'count', 'small-count', ['topic']),
  m('queue.messages.consumed', 'count', 'small-count', ['topic']),
  m('queue.consumer.lag', 'gauge', 'level', ['topic']),
  m('http.server.response.size', 'distribution', 'size-bytes', ['endpoint']),
  m('http.server.errors', 'count', 'one', ['status', 'endpoint']),
  m('jvm.gc.pause', 'distribution', 'latency-ms'),
  m('jvm.memory.heap.used', 'gauge', 'bytes'),
  m('jvm.threads.live', 'gauge', 'level'),
  m('process.open_fds', 'gauge', 'level'),
  m('system.disk.io.read', 'count', 'size-bytes'),
  m('system.disk.io.write', 'count', 'size-bytes'),
  m('system.network.bytes_in', 'count', 'size-bytes'),
  m('system.network.bytes_out', 'count', 'size-bytes'),
  m('system.load.1m', 'gauge', 'percent'),
  m('db.pool.connections.active', 'gauge', 'level', ['db']),
  m('db.pool.connections.idle', 'gauge', 'level', ['db']),
  m('db.pool.wait.duration', 'distribution', 'latency-ms', ['db']),
  m('rpc.server.duration', 'distribution', 'latency-ms', ['method']),
  m('rpc.client.duration', 'distribution', 'latency-ms', ['method']),
  m('rpc.server.requests', 'count', 'one', ['method', 'status']),
  m('cache.get.duration', 'distribution', 'latency-ms', ['cache']),
  m('cache.evictions', 'count', 'small-count', ['cache']),
  m('kafka.producer.record.send', 'count', 'small-count', ['topic']),
  m('kafka.consumer.fetch.latency', 'distribution', 'latency-ms', ['topic']),
  m('checkout.orders.created', 'count', 'one'),
  m('checkout.payment.duration', 'distribution', 'latency-ms', ['status']),
  m('checkout.cart.value', 'distribution', 'size-bytes'),
  m('auth.login.attempts', 'count', 'one', ['status']),
  m('auth.token.refresh', 'count', 'one'),
  m('search.query.duration', 'distribution', 'latency-ms', ['endpoint']),
  m('search.results.count', 'distribution', 'small-count'),
  m('worker.jobs.completed', 'count', 'one', ['topic']),
  m('worker.jobs.failed', 'count', 'one', ['topic']),
  m('worker.job.duration', 'distribution', 'latency-ms', ['topic']),
  m('container.cpu.throttled', 'count', 'small-count'),
  m('container.memory.working_set', 'gauge', 'bytes'),
  m('lambda.invocations', 'count', 'one'),
  m('lambda.cold_start.duration', 'distribution', 'latency-ms'),
  m('dns.lookup.duration', 'distribution', 'latency-ms'),
  m('tls.handshake.duration', 'distribution', 'latency-ms'),
];

const SERVICES = [
  'checkout', 'cart', 'payments', 'search', 'catalog', 'auth', 'users', 'orders',
  'shipping', 'inventory', 'notifications', 'recommendations', 'gateway', 'billing', 'reports',
] as const;
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2'] as const;
const STATUSES = ['200', '200', '200', '200', '200', '200', '201', '204', '301', '400', '404', '500', '503'] as const;
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'] as const;
const ENDPOINTS = ['/api/v1/items', '/api/v1/cart', '/api/v1/orders/{id}', '/api/v2/search', '/healthz', '/login'] as const;
const DBS = ['orders-primary', 'orders-replica', 'users', 'catalog'] as const;
const TOPICS = ['orders', 'payments', 'emails', 'audit', 'search-index'] as const;
const CACHES = ['redis-session', 'redis-catalog', 'local-lru'] as const;
const USER_AGENTS = ['curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64)', 'okhttp/4.12.0', 'python-requests/2.32'] as const;

interface Host {
  readonly host: string;
  readonly service: string;
  /** Absent on some hosts (their agent does not send it). */
  readonly region: string | undefined;
  readonly env: string;
}

/** The fleet: 200 hosts, each with its service, region and env. */
export const HOSTS: readonly Host[] = (() => {
  const rng = new Rng(0x5eed);
  const out: Host[] = [];
  for (let i = 0; i < 200; i++) {
    const service = SERVICES[i % SERVICES.length]!;
    const region = REGIONS[rng.skewed(REGIONS.length)]!;
    const env = i % 10 === 9 ? 'staging' : 'prod';
    const host = `${service}-${String(i).padStart(3, '0')}`;
    out.push({ host, service, region: rng.chance(0.85) ? region : undefined, env });
  }
  return out;
})();

/** Metrics a service emits: the common ones (HTTP, DB, system) plus a few of its own, most popular first. */
const SERVICE_METRICS: ReadonlyMap<string, readonly MetricDef[]> = (() => {
  const rng = new Rng(0x3e7);
  const common = METRICS.slice(0, 8);
  const rest = METRICS.slice(8);
  const out = new Map<string, MetricDef[]>();
  for (const s of SERVICES) {
    const own = new Set<MetricDef>();
    while (own.size < 8) own.add(rest[rng.int(rest.length)]!);
    out.set(s, [...common, ...own]);
  }
  return out;
})();

export interface FixtureOptions {
  /** @default 1 */
  readonly seed?: number;
  /** Events fall within the hour before this instant (epoch ms). @default Date.UTC(2026, 0, 15, 12) */
  readonly now?: number;
  /** Number of tenants, with a skewed share of traffic; each owns an equal slice of the 200 hosts. @default 4 */
  readonly tenants?: number;
  /** Share of events carrying an `id`. @default 0.1 */
  readonly idRate?: number;
  /** Share of events carrying small `attrs`. @default 0.05 */
  readonly attrsRate?: number;
  /**
   * Draw events from a fixed pool of this many series (tenant, name, tags), picked with a skew,
   * instead of drawing tags afresh for every event. The pool covers every metric name once it is
   * larger than about 1,000 series.
   * @default none: tags drawn per event
   */
  readonly series?: number;
}

const TENANT_NAMES = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka'];

/** Returns a function that yields the next event of a deterministic stream. */
export function eventGenerator(opts: FixtureOptions = {}): () => StreamEvent {
  const rng = new Rng(opts.seed ?? 1);
  const now = opts.now ?? Date.UTC(2026, 0, 15, 12);
  const nTenants = Math.max(1, Math.min(opts.tenants ?? 4, HOSTS.length));
  const tenants = Array.from({ length: nTenants }, (_, i) => TENANT_NAMES[i] ?? `tenant-${i}`);
  const fleets = tenants.map((_, t) => HOSTS.filter((_h, i) => i % nTenants === t));
  const idRate = opts.idRate ?? 0.1;
  const attrsRate = opts.attrsRate ?? 0.05;
  // Time advances through the hour (wrapping), each event a few seconds late at most: mostly in order.
  const start = now - 3_600_000 + 5_000;
  let clock = start;

  type Series = { readonly tenant: number; readonly def: MetricDef; readonly tags: Readonly<Record<string, string>> };
  const draw = (r: Rng): Series => {
    const t = r.skewed(nTenants, 1.5);
    const h = r.pick(fleets[t]!);
    const metrics = SERVICE_METRICS.get(h.service)!;
    const def = metrics[r.skewed(metrics.length, 1.6)]!;
    // 3-6 tags: env, service, host, region (on most hosts), then the metric's own keys.
    const tags: Record<string, string> = { env: h.env, service: h.service, host: h.host };
    if (h.region !== undefined) tags.region = h.region;
    for (const k of def.extra) {
      tags[k] = r.pick(
        k === 'status' ? STATUSES : k === 'method' ? METHODS : k === 'endpoint' ? ENDPOINTS : k === 'db' ? DBS : k === 'topic' ? TOPICS : CACHES,
      );
    }
    return { tenant: t, def, tags };
  };
  const pool = opts.series === undefined ? undefined : seriesPool(opts.series, draw, new Rng((opts.seed ?? 1) ^ 0x5e71e5));

  return () => {
    // A pooled series' popularity follows its place in the pool (which is in draw order).
    const { tenant: t, def, tags } = pool === undefined ? draw(rng) : pool[rng.skewed(pool.length, 2)]!;
    clock += rng.int(73); // ~36 ms per event on average: 100,000 events span an hour
    if (clock > now) clock = start;
    const ts = clock - rng.int(5_000);

    const e: { -readonly [K in keyof StreamEvent]: StreamEvent[K] } = {
      tenant: tenants[t]!,
      name: def.name,
      ts,
      value: valueFor(rng, def.kind),
      type: def.type,
      tags: pool === undefined ? tags : { ...tags },
    };
    if (rng.chance(idRate)) e.id = rng.chance(0.5) ? `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-a${rng.hex(3)}-${rng.hex(12)}` : `evt_${rng.hex(16)}`;
    if (rng.chance(attrsRate)) {
      const attrs: Record<string, unknown> = { trace_id: rng.hex(32), span_id: rng.hex(16) };
      if (rng.chance(0.5)) attrs.user_agent = rng.pick(USER_AGENTS);
      if (rng.chance(0.3)) attrs.retry = rng.int(4);
      if (rng.chance(0.2)) attrs.sampled = rng.chance(0.5);
      e.attrs = attrs;
    }
    return e;
  };
}

/**
 * `n` distinct series from `draw`, in draw order. Gives up after 50 draws per wanted series, so a
 * pool larger than the fleet can make is as large as it can be.
 */
function seriesPool<S extends { tenant: number; def: MetricDef; tags: Readonly<Record<string, string>> }>(n: number, draw: (r: Rng) => S, rng: Rng): S[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`series must be a positive integer, got ${n}`);
  const seen = new Set<string>();
  const out: S[] = [];
  for (let tries = 0; out.length < n && tries < 50 * n; tries++) {
    const s = draw(rng);
    const key = `${s.tenant}\u0000${s.def.name}\u0000${Object.keys(s.tags).sort().map((k) => `${k}=${s.tags[k]}`).join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(s);
  }
  return out;
}

/** A realistic value for a metric of this kind. */
export function valueFor(rng: Rng, kind: ValueKind): number {
  switch (kind) {
    case 'one':
      return rng.chance(0.9) ? 1 : 1 + rng.int(20);
    case 'small-count':
      return rng.int(200);
    case 'percent':
      return Math.round(rng.next() * 10_000) / 100;
    case 'bytes':
      return 50_000_000 + rng.int(4_000_000_000);
    case 'level':
      return rng.int(2_000);
    case 'latency-ms': {
      const v = Math.exp(3 + rng.normal()); // lognormal, median ~20 ms
      return rng.chance(0.8) ? Math.round(v * 1000) / 1000 : v; // some producers send full doubles
    }
    case 'size-bytes':
      return Math.round(Math.exp(8 + 1.5 * rng.normal()));
  }
}

/** `count` events of a deterministic stream. */
export function generateEvents(count: number, opts: FixtureOptions = {}): StreamEvent[] {
  const next = eventGenerator(opts);
  const out = new Array<StreamEvent>(count);
  for (let i = 0; i < count; i++) out[i] = next();
  return out;
}

export interface FixtureStats {
  readonly events: number;
  /** Mean bytes per event as NDJSON (the codec's serialization, newline included). */
  readonly avgEventBytes: number;
  readonly tenants: number;
  readonly names: number;
  readonly series: number;
  readonly avgTags: number;
  readonly withId: number;
  readonly withAttrs: number;
  readonly types: Record<EventType, number>;
}

export function fixtureStats(events: readonly StreamEvent[]): FixtureStats {
  let bytes = 0;
  let tags = 0;
  let withId = 0;
  let withAttrs = 0;
  const tenants = new Set<string>();
  const names = new Set<string>();
  const series = new Set<string>();
  const types: Record<EventType, number> = { count: 0, gauge: 0, distribution: 0 };
  for (const e of events) {
    bytes += Buffer.byteLength(serializeEvent(e), 'utf8') + 1;
    const keys = Object.keys(e.tags).sort();
    tags += keys.length;
    if (e.id !== undefined) withId++;
    if (e.attrs !== undefined) withAttrs++;
    tenants.add(e.tenant);
    names.add(e.name);
    series.add(`${e.tenant}\u0000${e.name}\u0000${keys.map((k) => `${k}=${e.tags[k]}`).join(',')}`);
    types[e.type]++;
  }
  const n = Math.max(1, events.length);
  return {
    events: events.length,
    avgEventBytes: bytes / n,
    tenants: tenants.size,
    names: names.size,
    series: series.size,
    avgTags: tags / n,
    withId,
    withAttrs,
    types,
  };
}
