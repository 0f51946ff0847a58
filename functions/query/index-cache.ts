/**
 * A short per-container cache of the metadata a query reads before its buckets: the metric's type
 * (GetItem) and its series index (Query), per (tenant, name), kept `ttlMs`. Like the API key cache
 * (shared/http.ts), it lives as long as the Lambda container and is never shared across tenants.
 *
 * What it trades: a series first written (or an index entry refreshed) less than `ttlMs` ago may be
 * missing from `GET /v1/query` and `GET /v1/metrics/{name}/series` for up to `ttlMs`; points of the
 * series already known are as fresh as without it (bucket reads are never cached). An unknown
 * metric and an empty series index are not cached (the rollup writes the metric list, the index
 * and the buckets one by one, so a query may land between them), so a new metric turns into data
 * as soon as its writes land. A failed read is not cached either. `GET /v1/metrics` (the metric list) is read through.
 */
import { SETTINGS } from '../../lib/settings.ts';
import type { MetricInfo, RollupReader, SeriesInfo } from './rollup-reader.ts';
import type { BucketData } from './series.ts';

/** Default lifetime of a cached metric or series index. */
export const DEFAULT_INDEX_CACHE_MS: number = SETTINGS.query.indexCacheMs.default;

interface Entry<T> {
  readonly value: Promise<T>;
  readonly until: number;
}

export class CachedSeriesIndex implements RollupReader {
  private readonly metrics = new Map<string, Entry<MetricInfo | undefined>>();
  private readonly series = new Map<string, Entry<SeriesInfo[]>>();

  constructor(
    private readonly inner: RollupReader,
    private readonly opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {}

  listMetrics(tenant: string): Promise<MetricInfo[]> {
    return this.inner.listMetrics(tenant);
  }

  getMetric(tenant: string, name: string): Promise<MetricInfo | undefined> {
    return this.cached(this.metrics, tenant, name, () => this.inner.getMetric(tenant, name), (m) => m !== undefined);
  }

  /** The cached list is shared by every caller until it expires: callers must not mutate it. */
  listSeries(tenant: string, name: string): Promise<SeriesInfo[]> {
    return this.cached(this.series, tenant, name, () => this.inner.listSeries(tenant, name), (list) => list.length > 0);
  }

  readBuckets(...args: Parameters<RollupReader['readBuckets']>): Promise<Map<string, BucketData[]>> {
    return this.inner.readBuckets(...args);
  }

  private cached<T>(map: Map<string, Entry<T>>, tenant: string, name: string, read: () => Promise<T>, keep: (value: T) => boolean): Promise<T> {
    const now = (this.opts.now ?? Date.now)();
    const key = `${tenant}\u0000${name}`;
    const hit = map.get(key);
    if (hit !== undefined && hit.until > now) return hit.value;
    map.delete(key);
    if (map.size >= (this.opts.maxEntries ?? 1000)) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    // The promise itself is cached, so concurrent queries of one metric share one read.
    const value = read();
    const entry: Entry<T> = { value, until: now + (this.opts.ttlMs ?? DEFAULT_INDEX_CACHE_MS) };
    map.set(key, entry);
    const forget = (): void => {
      if (map.get(key) === entry) map.delete(key);
    };
    value.then((v) => {
      if (!keep(v)) forget();
    }, forget);
    return value;
  }
}
