/**
 * Reading one partition-hour the way every reader must (keys.ts, "Reader rule"): list it, read
 * every Parquet file whole, keep the rows the rule keeps (dedupe.ts); if a listed file is gone
 * (compaction replaced it), list again and start over. Used by tests, tools and benchmarks; the
 * query function reads by byte range instead (functions/query/events-reader.ts), under the same
 * rule.
 */
import { StreamfoldError } from '../errors.ts';
import type { ArchiveBucket } from './bucket.ts';
import { survivorsByFile } from './dedupe.ts';
import { PARQUET_SUFFIX, partitionPrefix, type Partition } from './keys.ts';
import { concatTables, emptyTable, readArchiveFile, sortOrder, takeRows, type ArchiveTable } from './parquet.ts';
import type { BlockCodec } from './zstd.ts';

export type ReadableBucket = Pick<ArchiveBucket, 'list' | 'get'>;

export class PartitionUnstableError extends StreamfoldError {}

/** The partition-hour's rows, one per event, sorted by ts then lineage. */
export async function readPartition(
  bucket: ReadableBucket,
  p: Partition,
  codec: BlockCodec,
  opts: { maxAttempts?: number } = {},
): Promise<ArchiveTable> {
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const { objects } = await bucket.list(partitionPrefix(p));
    const files = objects.filter((o) => o.key.endsWith(PARQUET_SUFFIX));
    const tables: Array<{ key: string; size: number; table: ArchiveTable }> = [];
    let vanished = false;
    for (const o of files) {
      const bytes = await bucket.get(o.key);
      if (bytes === undefined) {
        vanished = true;
        break;
      }
      tables.push({ key: o.key, size: o.size, table: await readArchiveFile(bytes, { codec }) });
    }
    if (vanished) continue;
    return survivingRows(tables);
  }
  throw new PartitionUnstableError(`${partitionPrefix(p)} kept changing while being read (${maxAttempts} attempts)`);
}

/** The reader rule over whole files' tables: surviving rows, sorted by ts then lineage. */
export function survivingRows(files: ReadonlyArray<{ key: string; size?: number; table: ArchiveTable }>): ArchiveTable {
  if (files.length === 0) return emptyTable();
  const parts = survivorsByFile(files, (f) => f.table).map(({ file, rows }) => takeRows(file.table, rows));
  const all = concatTables(parts);
  const order = sortOrder(all);
  return order === null ? all : takeRows(all, order);
}
