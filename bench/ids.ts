/**
 * Figure ids: the names under which each bench section records its figures and facts in
 * `bench/results.json`, and by which other code (the cost model, `bench/cost/`) finds them.
 *
 * A section names each figure from here (`rateFigure({ ...ROLLUP.figures.steadyRate, ... })`), so a
 * figure's display name is typed once, and a reader looks it up by its id, never by what a table
 * prints. An id is `<section>/<key>` (`@<n>` for one of a family, e.g. per series count); it is
 * recorded beside the display name and stays put when the wording changes. Results written before
 * ids existed are matched by display name (`isFigure`).
 *
 * Also here: the `info` keys and shapes a reader relies on. This module imports nothing: the
 * sections themselves import what they measure (DuckDB, the embedded stack), which a reader must
 * not have to load.
 */

/** A figure's stable id and its display name. */
export interface FigureName {
  readonly id: string;
  readonly name: string;
}

/** A figure as results.json records it (no id in results written before ids). */
export interface RecordedFigureName {
  readonly id?: string;
  readonly name: string;
}

/** Whether a recorded figure is `f`: by id, or by display name in results that carry no ids. */
export function isFigure(recorded: RecordedFigureName, f: FigureName): boolean {
  return recorded.id !== undefined ? recorded.id === f.id : recorded.name === f.name;
}

function named<K extends string>(section: string, names: Readonly<Record<K, string>>): Readonly<Record<K, FigureName>> {
  return Object.fromEntries(Object.entries<string>(names).map(([key, name]) => [key, { id: `${section}/${key}`, name }])) as Record<K, FigureName>;
}

const seriesLabel = (series: number) => `${series.toLocaleString('en-US')} series/batch`;

/** A family of rollup figures, one per series count of the write-cost runs. */
function perSeries(key: string, what: string): (series: number) => FigureName {
  return (series) => ({ id: `rollup/${key}@${series}`, name: `${what}, ${seriesLabel(series)}` });
}

export const CODEC = {
  section: 'codec',
  figures: named('codec', {
    decodeValidate: 'decode + validate (decodeEvents)',
    decodeOnly: 'decode only (decodeRecord)',
    gunzipOnly: 'gunzip only',
  }),
} as const;

export const INTAKE = {
  section: 'intake',
  info: {
    /** number: average JSON bytes per event of the fixture. */
    avgEventBytes: 'avgEventBytes',
  },
  figures: named('intake', {
    recordsPer1k: 'Kinesis records per 1k events',
    bytesPerEvent: 'bytes per event (data + key)',
    putCallsPer10k: 'PutRecords calls per 10k events',
    eventsPerShard: 'events/s one shard can take (1,000 records/s, 1 MiB/s)',
    encodeRate: 'encode (gzip NDJSON, partition keys) on one core',
  }),
} as const;

export const OTLP = {
  section: 'otlp',
  figures: named('otlp', {
    decode: 'OTLP protobuf body → events (decodeOtlpProto) on one core',
    toRecords: 'OTLP protobuf body → Kinesis records (decode, validate, gzip NDJSON) on one core',
    bytesPerPoint: 'stream bytes per OTLP data point (data + key)',
    bodyBytesPerPoint: 'OTLP protobuf body bytes per data point (gzip)',
  }),
} as const;

/**
 * What one write-cost run of the rollup section measured (info `writeCost<series>`): an hour of
 * event time in batches of `events / batches` events over `<series>` series.
 */
/**
 * One rollup write-cost run (bench/rollup.ts): batches of one shard at the AWS batching window,
 * through the real core and a metered in-memory table, over several fold intervals of event time.
 * What DynamoDB would bill, split as docs/ROLLUPS.md splits the writes.
 */
export interface WriteCostInfo {
  readonly events: number;
  readonly batches: number;
  /** Event time between batches (the rollup's batching window on AWS), and the fold interval. */
  readonly batchSeconds: number;
  readonly foldSeconds: number;
  /** Series in the run, and items (series x bucket) touched per batch on average. */
  readonly series: number;
  readonly itemsPerBatch: number;
  /** Log writes: segments and manifests (items, payload bytes, WCU), and the head's commits. */
  readonly segments: number;
  readonly manifests: number;
  readonly logBytes: number;
  readonly logWcu: number;
  /** Segment payload bytes per entry (one item's addition in one commit). */
  readonly bytesPerEntry: number;
  readonly headWrites: number;
  readonly headWcu: number;
  /** Folds run, folded items written, their WCU (1 per KB of the larger of old and new item), consistent reads. */
  readonly folds: number;
  readonly foldItemsWritten: number;
  readonly foldWcu: number;
  readonly rcu: number;
  readonly indexWrites: number;
  readonly coldIndexWrites: number;
  readonly maxItemBytes: number;
  readonly p99ItemBytes: number;
  readonly maxLogItemBytes: number;
  readonly naiveWrites: number;
  readonly naiveWcu: number;
  /**
   * Bytes stored per series for one hour of data (every item's size plus DynamoDB's 100 B of
   * per-item overhead), by the resolution whose retention keeps them: `1m` items (distribution
   * minutes) and `1h` items (with count and gauge minutes packed in). Naive: its own items.
   * Log bytes are kept `logTtl` (not per hour of data): `logBytes` above.
   */
  readonly stored1m: number;
  readonly stored1h: number;
  readonly naiveStored1m: number;
  readonly naiveStored1h: number;
}

export const ROLLUP = {
  section: 'rollup',
  info: {
    /** The info key of the write-cost run over `series` series (a `WriteCostInfo`). */
    writeCost: (series: number): string => `writeCost${series}`,
    /** The series count of a write-cost info key, or undefined for any other key. */
    writeCostSeries: (key: string): number | undefined => {
      const m = /^writeCost(\d+)$/.exec(key);
      return m ? Number(m[1]) : undefined;
    },
  },
  figures: {
    ...named('rollup', {
      steadyRate: 'decode+validate+aggregate+build writes, 10k events/1k series, steady state',
      decodeOnly: 'decode + validate only (same batches)',
      newItemsRate: 'decode+validate+aggregate+build writes, 1k events/1k series, new items',
      foldRate: 'fold: decode segments + merge into stored items, per event folded',
    }),
    writesPer1k: perSeries('writesPer1k', 'writes per 1k events'),
    writesPerItem: perSeries('writesPerItem', 'item writes per touched item per batch'),
    wcuPer1k: perSeries('wcuPer1k', 'est. WCU per 1k events'),
    largestItem: perSeries('largestItem', 'largest item written'),
    bytesPerEntry: perSeries('bytesPerEntry', 'log bytes per item per commit'),
  },
} as const;

export const ARCHIVE = {
  section: 'archive',
  info: {
    /** `{ avgEventBytes: number, series, withId, withAttrs }` of the fixture. */
    fixture: 'fixture',
  },
  figures: named('archive', {
    encodeRate: 'encode events → Parquet (ZSTD)',
    duckdbRate: 'DuckDB appender + COPY TO parquet (1 thread)',
    bytesPerEvent: 'bytes/event (Parquet ZSTD)',
    duckdbBytesPerEvent: 'bytes/event (DuckDB Parquet ZSTD)',
    readRate: 'read back (hyparquet, all columns)',
    batchRate: 'batch: decode + validate + encode',
  }),
} as const;

export const QUERY = {
  section: 'query',
  figures: named('query', {
    seriesP50: 'GET /v1/query 24 h × 1 min, one series: p50',
    seriesP99: 'GET /v1/query 24 h × 1 min, one series: p99',
    bucketQueryP50: 'the bucket Query alone (rollup reader, 24 packed hours): p50',
    bucketQueryP99: 'the bucket Query alone (rollup reader, 24 packed hours): p99',
    readCalls: 'GET /v1/query 24 h × 1 min: DynamoDB read calls',
    readUnits: 'GET /v1/query 24 h × 1 min: read units (eventually consistent)',
    eventsP50: 'GET /v1/events 1 h, page of 1,000: p50',
    eventsP99: 'GET /v1/events 1 h, page of 1,000: p99',
  }),
} as const;

export const E2E = {
  section: 'e2e',
  figures: {
    ...named('e2e', {
      sustained: 'end to end: events/s rolled up and archived (sustained)',
      freshnessP50: 'freshness p50: POST → counted by /v1/query, under load',
      freshnessP99: 'freshness p99: POST → counted by /v1/query, under load',
      catchUp: 'catch-up: load stopped → both consumers caught up',
      cpu: 'CPU per 1,000 events, all threads of the stack',
    }),
    intakeHttp: (clients: number, eventsPerRequest: number): FigureName => ({
      id: 'e2e/intakeHttp',
      name: `intake: events/s accepted over HTTP (≤ ${clients} requests in flight × ${eventsPerRequest} events)`,
    }),
  },
} as const;

export const EMULATORS = {
  section: 'emulators',
  figures: {
    ...named('emulators', {
      kinesalitePut: 'kinesalite PutRecords, LevelDB (500/call, 1 KiB)',
      dynaliteUpdate: 'dynalite UpdateItem, LevelDB, 1 in flight',
    }),
    dynaliteUpdateConcurrent: (inFlight: number): FigureName => ({
      id: 'emulators/dynaliteUpdateConcurrent',
      name: `dynalite UpdateItem, LevelDB, ${inFlight} in flight`,
    }),
  },
} as const;
