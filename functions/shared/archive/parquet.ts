/**
 * The archive's Parquet file format: one schema, a column-oriented in-memory table, an encoder
 * over a narrow writer port (hyparquet-writer's `Writer`), and a reader (hyparquet). Written by
 * the archive function (batch files) and compaction (compacted files); read by compaction and
 * reader.ts (the query reads the same files by byte range, functions/query/events-reader.ts).
 * Pure: no AWS SDK, no I/O; the page codec is passed in (see zstd.ts).
 *
 * Columns (DESIGN.md, "Archive"):
 *
 * | column         | Parquet type                                          | notes                           |
 * |----------------|-------------------------------------------------------|---------------------------------|
 * | `name`         | BYTE_ARRAY STRING, required                           | dictionary                      |
 * | `ts`           | INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true), req.   | sort key; min/max + page index  |
 * | `type`         | BYTE_ARRAY STRING, required                           | count / gauge / distribution    |
 * | `value`        | DOUBLE, required                                      |                                 |
 * | `tags`         | BYTE_ARRAY STRING, required                           | JSON object, keys sorted        |
 * | `id`           | BYTE_ARRAY STRING, optional                           |                                 |
 * | `attrs`        | BYTE_ARRAY STRING, optional                           | JSON object as received         |
 * | `_shard`       | BYTE_ARRAY STRING, required                           | lineage                         |
 * | `_seq`         | BYTE_ARRAY STRING, required                           | lineage (decimal, up to 128 bit)|
 * | `_sub`         | INT32, required                                       | lineage                         |
 * | `_ingested_at` | INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true), req.   | Kinesis arrival of the record   |
 * | `start`        | INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true), opt.   | a cumulative point's start      |
 * | `agg`          | BYTE_ARRAY STRING, optional                           | a pre-aggregated point, JSON    |
 *
 * `start` and `agg` came later (the event contract's cumulative and pre-aggregated points): they
 * are optional and last, and a file written before them (without the columns) reads as null in
 * both (`readArchiveFile`, functions/query/events-reader.ts). `tags` never holds the reserved
 * `_sf_*` tags (functions/shared/event.ts clientTags): a cumulative point's start is `start`, and
 * an `agg` point's `value` is its sum.
 *
 * The tenant is not a column: it is the `tenant=` partition of the object key (Glue injects it).
 *
 * **Tags as a JSON string with sorted keys, not a MAP.** Every reader gets the same value back
 * (DuckDB and hyparquet read a VARCHAR/string, Athena a `string` it queries with
 * `json_extract_scalar(tags, '$.env')`, DuckDB with `tags->>'env'`); a MAP comes back as a
 * DuckDB MAP, a hyparquet object and an Athena map, three shapes to keep equal, and nested
 * repetition levels cost the writer time and memory (parquet-wasm needed 1.2 GB with MAP tags).
 * Sorted keys make the string canonical: one series, one string, so the dictionary holds one
 * entry per series and `GROUP BY tags` groups by tag set.
 *
 * **Row groups of 100,000 rows** (`DEFAULT_ROW_GROUP_ROWS`): rows are sorted by `ts`, so each
 * group covers a narrow time slice and its `ts` min/max lets readers skip it; at ~12-36 B/event
 * a group is 1-4 MB compressed (one S3 range GET per column chunk of reasonable size), the
 * writer holds one group's pages at a time, and compression is within ~8 % of one group per file
 * (bench/archive.ts). A Lambda batch file (≤ ~300k events) has 1-3 groups; a 128 MiB compacted
 * file has ~100, each a few tens of seconds of the hour.
 */
import { parquetMetadataAsync, parquetScan, type AsyncBuffer } from 'hyparquet';
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement, type Writer } from 'hyparquet-writer';
import { PARQUET } from '../../../lib/settings.ts';
import { compareSeq } from '../batch.ts';
import type { BlockCodec } from './zstd.ts';

/** Column names, in file order. */
export const ARCHIVE_COLUMNS = [
  'name',
  'ts',
  'type',
  'value',
  'tags',
  'id',
  'attrs',
  '_shard',
  '_seq',
  '_sub',
  '_ingested_at',
  'start',
  'agg',
] as const;
export type ArchiveColumn = (typeof ARCHIVE_COLUMNS)[number];

/** Columns added after the first files were written: absent from old files, read as null. */
export const LATER_COLUMNS: ReadonlySet<ArchiveColumn> = new Set(['start', 'agg']);

/** Content type of every archive file, batch or compacted. */
export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';

/** Format version, written to the file's key-value metadata as `streamfold.archive.version`. */
export const ARCHIVE_FORMAT_VERSION = '1';

/** ARCHIVE_ROW_GROUP_ROWS in lib/settings.ts. */
export const DEFAULT_ROW_GROUP_ROWS: number = PARQUET.rowGroupRows.default;

/** One archived event. Timestamps are epoch milliseconds. */
export interface ArchiveRow {
  readonly name: string;
  readonly ts: number;
  readonly type: string;
  readonly value: number;
  /** Canonical JSON (sorted keys). */
  readonly tags: string;
  readonly id: string | null;
  /** JSON text, or null. */
  readonly attrs: string | null;
  readonly _shard: string;
  readonly _seq: string;
  readonly _sub: number;
  readonly _ingested_at: number;
  /** A cumulative point's start, epoch ms; absent (null) otherwise. */
  readonly start?: number | null;
  /** A pre-aggregated point's `agg` as JSON; absent (null) otherwise. */
  readonly agg?: string | null;
}

/** Column-oriented rows: every array has `length` entries. */
export interface ArchiveTable {
  length: number;
  readonly name: string[];
  readonly ts: number[];
  readonly type: string[];
  readonly value: number[];
  readonly tags: string[];
  readonly id: Array<string | null>;
  readonly attrs: Array<string | null>;
  readonly _shard: string[];
  readonly _seq: string[];
  readonly _sub: number[];
  readonly _ingested_at: number[];
  readonly start: Array<number | null>;
  readonly agg: Array<string | null>;
}

export function emptyTable(): ArchiveTable {
  return { length: 0, name: [], ts: [], type: [], value: [], tags: [], id: [], attrs: [], _shard: [], _seq: [], _sub: [], _ingested_at: [], start: [], agg: [] };
}

export function pushRow(t: ArchiveTable, r: ArchiveRow): void {
  t.name.push(r.name);
  t.ts.push(r.ts);
  t.type.push(r.type);
  t.value.push(r.value);
  t.tags.push(r.tags);
  t.id.push(r.id);
  t.attrs.push(r.attrs);
  t._shard.push(r._shard);
  t._seq.push(r._seq);
  t._sub.push(r._sub);
  t._ingested_at.push(r._ingested_at);
  t.start.push(r.start ?? null);
  t.agg.push(r.agg ?? null);
  t.length++;
}

export function tableFromRows(rows: Iterable<ArchiveRow>): ArchiveTable {
  const t = emptyTable();
  for (const r of rows) pushRow(t, r);
  return t;
}

export function rowAt(t: ArchiveTable, i: number): ArchiveRow {
  return {
    name: t.name[i]!,
    ts: t.ts[i]!,
    type: t.type[i]!,
    value: t.value[i]!,
    tags: t.tags[i]!,
    id: t.id[i]!,
    attrs: t.attrs[i]!,
    _shard: t._shard[i]!,
    _seq: t._seq[i]!,
    _sub: t._sub[i]!,
    _ingested_at: t._ingested_at[i]!,
    // Only when set: rows of plain events (and of old files) have neither.
    ...(t.start[i] != null ? { start: t.start[i] } : {}),
    ...(t.agg[i] != null ? { agg: t.agg[i] } : {}),
  };
}

export function tableRows(t: ArchiveTable): ArchiveRow[] {
  const out = new Array<ArchiveRow>(t.length);
  for (let i = 0; i < t.length; i++) out[i] = rowAt(t, i);
  return out;
}

/** A new table holding rows `order[0], order[1], …` of `t`. */
export function takeRows(t: ArchiveTable, order: ArrayLike<number>): ArchiveTable {
  const n = order.length;
  const pick = <T>(src: readonly T[]): T[] => {
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = src[order[i]!]!;
    return out;
  };
  return {
    length: n,
    name: pick(t.name),
    ts: pick(t.ts),
    type: pick(t.type),
    value: pick(t.value),
    tags: pick(t.tags),
    id: pick(t.id),
    attrs: pick(t.attrs),
    _shard: pick(t._shard),
    _seq: pick(t._seq),
    _sub: pick(t._sub),
    _ingested_at: pick(t._ingested_at),
    start: pick(t.start),
    agg: pick(t.agg),
  };
}

export function concatTables(tables: readonly ArchiveTable[]): ArchiveTable {
  if (tables.length === 1) return tables[0]!;
  const out = emptyTable();
  for (const t of tables) {
    for (const c of ARCHIVE_COLUMNS) {
      const dst = out[c] as unknown[];
      const src = t[c] as unknown[];
      for (let i = 0; i < src.length; i++) dst.push(src[i]);
    }
    out.length += t.length;
  }
  return out;
}

/** Orders rows by lineage: shard, sequence number (numeric), sub-index. */
export function compareRowLineage(t: ArchiveTable, a: number, b: number): number {
  const sa = t._shard[a]!;
  const sb = t._shard[b]!;
  if (sa !== sb) return sa < sb ? -1 : 1;
  return compareSeq(t._seq[a]!, t._seq[b]!) || t._sub[a]! - t._sub[b]!;
}

/**
 * The file order: `ts`, then lineage, so the same rows always give the same file. Returns null
 * when the table is already in that order (the common case for one shard's batch in time order).
 */
export function sortOrder(t: ArchiveTable): Int32Array | null {
  const n = t.length;
  const cmp = (a: number, b: number): number => t.ts[a]! - t.ts[b]! || compareRowLineage(t, a, b);
  let sorted = true;
  for (let i = 1; i < n; i++) {
    if (cmp(i - 1, i) > 0) {
      sorted = false;
      break;
    }
  }
  if (sorted) return null;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort(cmp);
}

// ---------------------------------------------------------------------------------------------
// Canonical tags

/**
 * Canonical JSON of a tag set: keys in code-unit order (what `Array.prototype.sort` gives), so
 * one series has exactly one `tags` string.
 */
export function canonicalTagsJson(tags: Readonly<Record<string, string>>): string {
  const keys = Object.keys(tags);
  let sorted = true;
  let indexLike = false;
  for (let i = 0; i < keys.length; i++) {
    const c = keys[i]!.charCodeAt(0);
    if (c >= 48 && c <= 57) indexLike = true;
    if (i > 0 && keys[i - 1]! > keys[i]!) sorted = false;
  }
  // JSON.stringify writes keys in Object.keys order.
  if (sorted) return JSON.stringify(tags);
  keys.sort();
  if (!indexLike) {
    // Insertion order is enumeration order for keys that are not array indexes.
    const o: Record<string, string> = {};
    for (const k of keys) o[k] = tags[k]!;
    return JSON.stringify(o);
  }
  let s = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) s += ',';
    s += `${JSON.stringify(k)}:${JSON.stringify(tags[k])}`;
  }
  return `${s}}`;
}

// ---------------------------------------------------------------------------------------------
// Schema and encoding

function stringColumn(name: ArchiveColumn, optional = false): SchemaElement {
  return {
    name,
    type: 'BYTE_ARRAY',
    converted_type: 'UTF8',
    logical_type: { type: 'STRING' },
    repetition_type: optional ? 'OPTIONAL' : 'REQUIRED',
  };
}

/** INT64 milliseconds with both annotations, so old and new readers see an instant in UTC. */
function timestampColumn(name: ArchiveColumn, optional = false): SchemaElement {
  return {
    name,
    type: 'INT64',
    converted_type: 'TIMESTAMP_MILLIS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    repetition_type: optional ? 'OPTIONAL' : 'REQUIRED',
  };
}

export const ARCHIVE_SCHEMA: readonly SchemaElement[] = [
  { name: 'schema', num_children: ARCHIVE_COLUMNS.length },
  stringColumn('name'),
  timestampColumn('ts'),
  stringColumn('type'),
  { name: 'value', type: 'DOUBLE', repetition_type: 'REQUIRED' },
  stringColumn('tags'),
  stringColumn('id', true),
  stringColumn('attrs', true),
  stringColumn('_shard'),
  stringColumn('_seq'),
  { name: '_sub', type: 'INT32', repetition_type: 'REQUIRED' },
  timestampColumn('_ingested_at'),
  timestampColumn('start', true),
  stringColumn('agg', true),
];

/**
 * Per-column write settings, chosen by measurement (bench/archive.ts): encodings are fixed, so the
 * writer skips its dictionary trials (a trial on a column that then goes PLAIN, like `value` or
 * `id`, costs as much as encoding it). Dictionary for low-cardinality strings; DELTA_BINARY_PACKED
 * for sorted `ts` and runs of equal `_ingested_at`; PLAIN for mostly unique values.
 *
 * Min/max statistics on the two timestamps only: rows are sorted by `ts`, so every row group spans
 * nearly all names, types, values and tag sets and their bounds would prune nothing, while
 * computing them costs ~10 % of the encode. `ts` also gets a page index (column + offset index)
 * for page-level pruning.
 */
const COLUMN_OPTIONS: Readonly<Record<ArchiveColumn, Omit<ColumnSource, 'name' | 'data'>>> = {
  name: { encoding: 'RLE_DICTIONARY', statistics: false },
  ts: { encoding: 'DELTA_BINARY_PACKED', columnIndex: true },
  type: { encoding: 'RLE_DICTIONARY', statistics: false },
  value: { encoding: 'PLAIN', statistics: false },
  tags: { encoding: 'RLE_DICTIONARY', statistics: false },
  id: { encoding: 'PLAIN', statistics: false },
  attrs: { encoding: 'PLAIN', statistics: false },
  _shard: { encoding: 'RLE_DICTIONARY', statistics: false },
  _seq: { encoding: 'RLE_DICTIONARY', statistics: false },
  _sub: { encoding: 'DELTA_BINARY_PACKED', statistics: false },
  _ingested_at: { encoding: 'DELTA_BINARY_PACKED' },
  start: { encoding: 'PLAIN', statistics: false },
  agg: { encoding: 'PLAIN', statistics: false },
};

export interface EncodeOptions {
  readonly codec: BlockCodec;
  /** @default DEFAULT_ROW_GROUP_ROWS */
  readonly rowGroupRows?: number;
}

/** Encodes rows as one Parquet file in memory. See {@link writeArchiveTable}. */
export function encodeArchiveTable(input: ArchiveTable, opts: EncodeOptions): Uint8Array {
  const writer = new ByteWriter(Math.max(1024, input.length * 16));
  // ByteWriter has no async flush, so writing completes synchronously.
  void writeArchiveTable(input, writer, opts);
  return writer.getBytes();
}

/**
 * Writes rows (sorted here by ts, then lineage) as one Parquet file to `writer`, the narrow port
 * (hyparquet-writer's `Writer`: append bytes, optional async `flush` after each row group,
 * `finish`). Deterministic: the same rows, in any order, give the same bytes with the same codec.
 */
export function writeArchiveTable(input: ArchiveTable, writer: Writer, opts: EncodeOptions): void | Promise<void> {
  if (input.length === 0) throw new RangeError('an archive file holds at least one row');
  const rowGroupRows = opts.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) {
    throw new RangeError(`rowGroupRows must be a positive integer, got ${rowGroupRows}`);
  }
  const order = sortOrder(input);
  const t = order === null ? input : takeRows(input, order);
  const codec = opts.codec.name;
  const pq = new ParquetWriter({
    writer,
    schema: ARCHIVE_SCHEMA as SchemaElement[],
    codec,
    compressors: { [codec]: opts.codec.compress },
    statistics: true,
    kvMetadata: [{ key: 'streamfold.archive.version', value: ARCHIVE_FORMAT_VERSION }],
    createdBy: 'streamfold archive (hyparquet-writer)',
  });
  const columnData: ColumnSource[] = ARCHIVE_COLUMNS.map((name) => ({
    name,
    data: name === 'value' ? Float64Array.from(t.value) : name === '_sub' ? Int32Array.from(t._sub) : t[name],
    ...COLUMN_OPTIONS[name],
  }));
  const written = pq.write({ columnData, rowGroupSize: rowGroupRows });
  return written ? written.then(() => pq.finish()) : pq.finish();
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ReadOptions {
  readonly codec: BlockCodec;
  /** @default every column */
  readonly columns?: readonly ArchiveColumn[];
}

/** A table with only some columns filled (the others empty). */
export type PartialTable = ArchiveTable;

/**
 * Reads an archive file into a table. Timestamps come back as epoch ms. Columns not asked for
 * are left empty. `source` is the whole file, or an `AsyncBuffer` serving byte ranges (then only
 * the footer and the column chunks asked for are fetched). Throws if the file is not an archive file (missing or mistyped column).
 */
export async function readArchiveFile(source: Uint8Array | AsyncBuffer, opts: ReadOptions): Promise<PartialTable> {
  const file: AsyncBuffer =
    source instanceof Uint8Array
      ? (source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength) as ArrayBuffer)
      : source;
  const columns = opts.columns ?? ARCHIVE_COLUMNS;
  const parsers = { timestampFromMilliseconds: (ms: bigint) => Number(ms) };
  const metadata = await parquetMetadataAsync(file, { parsers } as Parameters<typeof parquetMetadataAsync>[1]);
  const schemaNames = new Set(metadata.schema.slice(1).map((s) => s.name));
  const scan = await parquetScan({
    file,
    metadata,
    columns: columns.filter((c) => schemaNames.has(c)),
    compressors: { [opts.codec.name]: opts.codec.decompress },
    parsers,
  });
  for (const c of columns) {
    if (!schemaNames.has(c) && !LATER_COLUMNS.has(c)) throw new RangeError(`not an archive file: no column ${c}`);
  }
  const out = emptyTable();
  out.length = Number(scan.metadata.num_rows);
  for (const c of columns) {
    const dst = out[c] as unknown[];
    if (!schemaNames.has(c)) {
      // A file written before the column: every row null.
      for (let i = 0; i < out.length; i++) dst.push(null);
      continue;
    }
    for (const range of scan.ranges) {
      const data = await scan.readColumn({ column: c, rowStart: range.rowStart, rowEnd: range.rowEnd });
      for (let i = 0; i < data.length; i++) {
        const v = (data as ArrayLike<unknown>)[i];
        dst.push(v === undefined ? null : v);
      }
    }
    if (dst.length !== out.length) throw new RangeError(`archive file: column ${c} has ${dst.length} of ${out.length} rows`);
  }
  return out;
}
