/**
 * Reads raw events of one partition-hour from the archive for `GET /v1/events`, by the reader
 * rule of functions/shared/archive/keys.ts: list the partition, read every Parquet file, keep one
 * row per lineage (shared/archive/dedupe.ts); if a listed file is gone (compaction replaced it),
 * list again and start over.
 *
 * Only what the query needs is fetched: each file is read through byte ranges (footer first), row
 * groups whose `ts` min/max statistics miss [from, to) are skipped, and `_ingested_at` is never
 * read. Pruning by `ts` before the reader rule is safe: copies of a lineage are identical rows
 * (same `ts`).
 */
import { parquetMetadataAsync, parquetRead, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import type { ArchiveBucket } from '../shared/archive/bucket.ts';
import { survivorsByFile } from '../shared/archive/dedupe.ts';
import { PARQUET_SUFFIX, partitionPrefix, type Partition } from '../shared/archive/keys.ts';
import type { ArchiveRow } from '../shared/archive/parquet.ts';
import type { BlockCodec } from '../shared/archive/zstd.ts';
import { StreamfoldError } from '../shared/errors.ts';

export type EventsBucket = Pick<ArchiveBucket, 'list' | 'getRange'>;

/**
 * Columns read for a page of events (every column but `_ingested_at`); `start` and `agg` only
 * where the file has them (files written before them read as null: shared/archive/parquet.ts).
 */
export const EVENT_COLUMNS = ['name', 'ts', 'type', 'value', 'tags', 'id', 'attrs', '_shard', '_seq', '_sub', 'start', 'agg'] as const;
const FIRST_COLUMNS = EVENT_COLUMNS.slice(0, 10);

/** One surviving row. `tags` and `attrs` are JSON text as archived. */
export type EventRow = Omit<ArchiveRow, '_ingested_at'>;

export interface PartitionReader {
  /** Surviving rows of the partition with `from <= ts < to`, in no particular order. */
  read(p: Partition, from: number, to: number): Promise<EventRow[]>;
}

export class PartitionChangingError extends StreamfoldError {}

/** Byte accounting, for benchmarks and tests. */
export interface ReadStats {
  lists: number;
  rangeGets: number;
  bytes: number;
  rowGroupsRead: number;
  rowGroupsSkipped: number;
}

class VanishedError extends Error {}

/** Files up to this size are fetched whole, in one GET. */
export const WHOLE_FILE_BYTES = 256 * 1024;
/** First footer fetch of a larger file (the footer of a 100-row-group file is ~40 KB). */
const FOOTER_FETCH_BYTES = 64 * 1024;

export class ArchivePartitionReader implements PartitionReader {
  readonly stats: ReadStats = { lists: 0, rangeGets: 0, bytes: 0, rowGroupsRead: 0, rowGroupsSkipped: 0 };

  constructor(
    private readonly bucket: EventsBucket,
    private readonly codec: BlockCodec,
    private readonly opts: { maxAttempts?: number } = {},
  ) {}

  async read(p: Partition, from: number, to: number): Promise<EventRow[]> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      this.stats.lists++;
      const { objects } = await this.bucket.list(partitionPrefix(p));
      const files = objects.filter((o) => o.key.endsWith(PARQUET_SUFFIX));
      try {
        const tables = await Promise.all(files.map(async (f) => ({ key: f.key, size: f.size, rows: await this.readFile(f.key, f.size, from, to) })));
        return survivors(tables);
      } catch (err) {
        if (err instanceof VanishedError) continue;
        throw err;
      }
    }
    throw new PartitionChangingError(`${partitionPrefix(p)} kept changing while being read (${maxAttempts} attempts)`);
  }

  private async readFile(key: string, size: number, from: number, to: number): Promise<EventRow[]> {
    const fetchRange = async (start: number, end: number): Promise<ArrayBuffer> => {
      this.stats.rangeGets++;
      this.stats.bytes += end - start;
      const bytes = await this.bucket.getRange(key, start, end);
      if (bytes === undefined) throw new VanishedError(key);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    };
    let file: AsyncBuffer;
    if (size <= WHOLE_FILE_BYTES) {
      // One GET beats a footer GET plus a GET per column chunk for a small file.
      const whole = await fetchRange(0, size);
      file = { byteLength: size, slice: (start: number, end?: number) => whole.slice(start, end ?? size) };
    } else {
      file = { byteLength: size, slice: (start: number, end?: number) => fetchRange(start, end ?? size) };
    }
    const parsers = { timestampFromMilliseconds: (ms: bigint) => Number(ms) };
    const metadata: FileMetaData = await parquetMetadataAsync(file, { parsers, initialFetchSize: FOOTER_FETCH_BYTES } as Parameters<typeof parquetMetadataAsync>[1]);
    const tsIndex = metadata.schema.slice(1).findIndex((s) => s.name === 'ts');
    const names = new Set(metadata.schema.slice(1).map((s) => s.name));
    const columns = [...FIRST_COLUMNS, ...(names.has('start') ? ['start'] : []), ...(names.has('agg') ? ['agg'] : [])];
    const startAt = columns.indexOf('start');
    const aggAt = columns.indexOf('agg');
    const out: EventRow[] = [];
    let groupStart = 0;
    for (const rg of metadata.row_groups) {
      const rows = Number(rg.num_rows);
      const stats = tsIndex >= 0 ? rg.columns[tsIndex]?.meta_data?.statistics : undefined;
      const min = toMs(stats?.min_value ?? stats?.min);
      const max = toMs(stats?.max_value ?? stats?.max);
      if (min !== undefined && max !== undefined && (max < from || min >= to)) {
        this.stats.rowGroupsSkipped++;
        groupStart += rows;
        continue;
      }
      this.stats.rowGroupsRead++;
      await parquetRead({
        file,
        metadata,
        columns,
        rowStart: groupStart,
        rowEnd: groupStart + rows,
        compressors: { [this.codec.name]: this.codec.decompress },
        parsers,
        onComplete: (data: unknown[][]) => {
          for (const r of data) {
            const ts = Number(r[1]);
            if (ts < from || ts >= to) continue;
            out.push({
              name: String(r[0]),
              ts,
              type: String(r[2]),
              value: Number(r[3]),
              tags: String(r[4]),
              id: (r[5] as string | null | undefined) ?? null,
              attrs: (r[6] as string | null | undefined) ?? null,
              _shard: String(r[7]),
              _seq: String(r[8]),
              _sub: Number(r[9]),
              ...(startAt >= 0 && r[startAt] != null ? { start: Number(r[startAt]) } : {}),
              ...(aggAt >= 0 && r[aggAt] != null ? { agg: String(r[aggAt]) } : {}),
            });
          }
        },
      } as Parameters<typeof parquetRead>[0]);
      groupStart += rows;
    }
    return out;
  }
}

function toMs(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  return undefined;
}

/** The reader rule (shared/archive/dedupe.ts) over the rows read from each file. */
export function survivors(files: ReadonlyArray<{ key: string; size: number; rows: readonly EventRow[] }>): EventRow[] {
  const out: EventRow[] = [];
  const columns = (f: (typeof files)[number]) => ({
    length: f.rows.length,
    _shard: f.rows.map((r) => r._shard),
    _seq: f.rows.map((r) => r._seq),
    _sub: f.rows.map((r) => r._sub),
  });
  for (const { file, rows } of survivorsByFile(files, columns)) for (const r of rows) out.push(file.rows[r]!);
  return out;
}
