/**
 * Per-tenant limits at the intake: events/s and bytes/s (token buckets holding one second), new
 * series per clock minute, and active series per metric and per tenant. Pure: the caller passes
 * the time and the tenant's limits; the state is this object's (one per container).
 *
 * Each accepted event of a request is admitted in order until a limit refuses it; an event over
 * a limit is refused with a reason naming the limit, the others are still taken (partial
 * acceptance). The series limits refuse only a series this container has not seen: an event of a
 * known series is never refused for a series limit.
 *
 * Scope of this implementation (see README "Tenants and limits"): the state is per container.
 * With N intake containers a tenant can get up to N× its rate; the shared lease counter that
 * bounds that is designed there, not built yet.
 */
import { TENANT_LIMITS } from '../../lib/settings.ts';

export type LimitName = keyof typeof TENANT_LIMITS;
export type TenantLimits = { readonly [K in LimitName]: number };

export const DEFAULT_LIMITS: TenantLimits = Object.fromEntries(
  Object.entries(TENANT_LIMITS).map(([k, d]) => [k, d.default]),
) as TenantLimits;

/** The CLI's and the messages' name of each limit. */
export const LIMIT_FLAGS: { readonly [K in LimitName]: string } = {
  eventsPerSecond: 'events-per-second',
  bytesPerSecond: 'bytes-per-second',
  newSeriesPerMinute: 'new-series-per-minute',
  seriesPerMetric: 'series-per-metric',
  seriesPerTenant: 'series-per-tenant',
};

const UNITS: { readonly [K in LimitName]: string } = {
  eventsPerSecond: '/s',
  bytesPerSecond: ' B/s',
  newSeriesPerMinute: '/min',
  seriesPerMetric: ' series',
  seriesPerTenant: ' series',
};

/** What one event costs: its series (metric name + tags) and its serialized size. */
export interface LimitedEvent {
  readonly metric: string;
  readonly series: string;
  readonly bytes: number;
}

export interface Refusal {
  readonly index: number;
  readonly limit: LimitName;
  readonly reason: string;
}

export interface AdmitResult {
  /** One flag per event: taken or refused. */
  readonly admitted: boolean[];
  readonly refusals: Refusal[];
  /** Whole seconds after which the first refused limit has room again; 0 when nothing was refused. */
  readonly retryAfterS: number;
  /** The message of the first refusal (what a 429 says), when there was one. */
  readonly message?: string;
}

/** `tenant "demo" is over its events-per-second limit (5000/s); retry after 1 s` */
export function limitMessage(tenant: string, limit: LimitName, value: number, retryAfterS: number): string {
  const tail = retryAfterS > 0 ? `; retry after ${retryAfterS} s` : '; it does not free up with time (ask for a higher limit)';
  return `tenant ${JSON.stringify(tenant)} is over its ${LIMIT_FLAGS[limit]} limit (${value}${UNITS[limit]})${tail}`;
}

/** A token bucket holding `rate` tokens (one second), refilled continuously. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private rate: number, now: number) {
    this.tokens = rate;
    this.at = now;
  }

  /** Takes `n` tokens if there are; false (nothing taken) if not. */
  take(n: number, now: number, rate: number): boolean {
    this.refill(now, rate);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Whole seconds until `n` tokens (capped at one second's worth) are there. */
  waitS(n: number, now: number, rate: number): number {
    this.refill(now, rate);
    const need = Math.min(n, rate) - this.tokens;
    return need <= 0 ? 0 : Math.max(1, Math.ceil(need / rate));
  }

  private refill(now: number, rate: number): void {
    if (rate !== this.rate) {
      this.tokens = Math.min(this.tokens, rate);
      this.rate = rate;
    }
    if (now > this.at) this.tokens = Math.min(rate, this.tokens + ((now - this.at) / 1000) * rate);
    this.at = Math.max(this.at, now);
  }
}

interface TenantState {
  readonly events: TokenBucket;
  readonly bytes: TokenBucket;
  /** Series this container has taken, per metric. */
  readonly series: Map<string, Set<string>>;
  seriesTotal: number;
  minute: number;
  newInMinute: number;
}

export class TenantLimiter {
  private readonly tenants = new Map<string, TenantState>();

  admit(tenant: string, limits: TenantLimits, events: readonly LimitedEvent[], now: number): AdmitResult {
    const s = this.state(tenant, now);
    const minute = Math.floor(now / 60_000);
    if (minute !== s.minute) {
      s.minute = minute;
      s.newInMinute = 0;
    }
    const admitted: boolean[] = [];
    const refusals: Refusal[] = [];
    let first: { limit: LimitName; retryAfterS: number } | undefined;
    for (let index = 0; index < events.length; index++) {
      const e = events[index]!;
      const refused = this.check(s, limits, e, now, minute);
      if (refused === undefined) {
        admitted.push(true);
        continue;
      }
      admitted.push(false);
      first ??= refused;
      refusals.push({ index, limit: refused.limit, reason: limitMessage(tenant, refused.limit, limits[refused.limit], refused.retryAfterS) });
    }
    return first === undefined
      ? { admitted, refusals, retryAfterS: 0 }
      : { admitted, refusals, retryAfterS: first.retryAfterS, message: limitMessage(tenant, first.limit, limits[first.limit], first.retryAfterS) };
  }

  /** The limit that refuses `e` (nothing taken then), or undefined when `e` was taken. */
  private check(s: TenantState, limits: TenantLimits, e: LimitedEvent, now: number, minute: number): { limit: LimitName; retryAfterS: number } | undefined {
    const known = s.series.get(e.metric)?.has(e.series) ?? false;
    if (!known) {
      if (s.newInMinute >= limits.newSeriesPerMinute) return { limit: 'newSeriesPerMinute', retryAfterS: Math.max(1, Math.ceil(((minute + 1) * 60_000 - now) / 1000)) };
      if ((s.series.get(e.metric)?.size ?? 0) >= limits.seriesPerMetric) return { limit: 'seriesPerMetric', retryAfterS: 0 };
      if (s.seriesTotal >= limits.seriesPerTenant) return { limit: 'seriesPerTenant', retryAfterS: 0 };
    }
    if (s.events.waitS(1, now, limits.eventsPerSecond) > 0) return { limit: 'eventsPerSecond', retryAfterS: s.events.waitS(1, now, limits.eventsPerSecond) };
    if (s.bytes.waitS(e.bytes, now, limits.bytesPerSecond) > 0) return { limit: 'bytesPerSecond', retryAfterS: s.bytes.waitS(e.bytes, now, limits.bytesPerSecond) };
    s.events.take(1, now, limits.eventsPerSecond);
    // An event larger than one second of bytes takes the whole bucket.
    s.bytes.take(Math.min(e.bytes, limits.bytesPerSecond), now, limits.bytesPerSecond);
    if (!known) {
      let set = s.series.get(e.metric);
      if (set === undefined) s.series.set(e.metric, (set = new Set()));
      set.add(e.series);
      s.seriesTotal++;
      s.newInMinute++;
    }
    return undefined;
  }

  private state(tenant: string, now: number): TenantState {
    let s = this.tenants.get(tenant);
    if (s === undefined) {
      // Buckets start full at the tenant's first request; their rate is the tenant's at each call.
      s = { events: new TokenBucket(Number.MAX_SAFE_INTEGER, now), bytes: new TokenBucket(Number.MAX_SAFE_INTEGER, now), series: new Map(), seriesTotal: 0, minute: Math.floor(now / 60_000), newInMinute: 0 };
      this.tenants.set(tenant, s);
    }
    return s;
  }
}

/** Where a tenant's stored limits come from (TenantStore.getLimits), cached per container. */
export interface LimitsSource {
  limitsFor(tenant: string): Promise<Partial<TenantLimits>>;
}

/** The tenant's limits: its stored ones over the defaults, each read at most every `ttlMs`. */
export class CachedLimits {
  private readonly cache = new Map<string, { at: number; limits: TenantLimits }>();

  constructor(
    private readonly source: LimitsSource,
    private readonly defaults: TenantLimits = DEFAULT_LIMITS,
    private readonly ttlMs = 10_000,
  ) {}

  async limitsFor(tenant: string, now: number): Promise<TenantLimits> {
    const hit = this.cache.get(tenant);
    if (hit !== undefined && now - hit.at < this.ttlMs) return hit.limits;
    const limits = { ...this.defaults, ...(await this.source.limitsFor(tenant)) };
    this.cache.set(tenant, { at: now, limits });
    return limits;
  }
}
