/**
 * Compaction: merges a closed partition-hour's small Parquet files into files of up to a target
 * size, keeping exactly the rows the reader rule keeps (plan.ts), writing every new file before
 * deleting any old one. Safe to run twice, concurrently with the archive function, and to crash
 * at any point (see plan.ts and functions/shared/archive/keys.ts). Run one compaction at a time
 * per bucket (reserved concurrency 1): two concurrent runs stay correct for readers but may leave
 * overlapping compacted files for the next run to merge.
 *
 * Pure over ports: `ArchiveBucket` (list/get/put/delete) and a `BlockCodec`.
 */
import {
  compactedObjectKey,
  EVENTS_PREFIX,
  PARQUET_SUFFIX,
  parseEventsKey,
  partitionPrefix,
  partitionStart,
  tenantPrefix,
  utcDate,
  type Partition,
} from '../shared/archive/keys.ts';
import {
  ARCHIVE_COLUMNS,
  emptyTable,
  encodeArchiveTable,
  PARQUET_CONTENT_TYPE,
  readArchiveFile,
  sortOrder,
  takeRows,
  type ArchiveTable,
} from '../shared/archive/parquet.ts';
import type { ArchiveBucket, ObjectInfo } from '../shared/archive/bucket.ts';
import type { AsyncBuffer } from 'hyparquet';
import type { BlockCodec } from '../shared/archive/zstd.ts';
import { StreamfoldError } from '../shared/errors.ts';
import {
  DEFAULT_GRACE_MS,
  DEFAULT_LOOKBACK_HOURS,
  DEFAULT_MAX_ROWS,
  DEFAULT_RESERVE_MS,
  DEFAULT_TARGET_BYTES,
  isNoop,
  isPartitionClosed,
  needsCompaction,
  planCompaction,
  selectSurvivors,
  type CompactionPlan,
  type FileKeys,
} from './plan.ts';
import { mapPool } from '../shared/pool.ts';

const HOUR_MS = 3_600_000;

/** The partition changed under us (a listed file vanished): try again later. */
export class PartitionChangedError extends StreamfoldError {}

export interface CompactLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

export interface CompactDeps {
  readonly bucket: ArchiveBucket;
  readonly codec: BlockCodec;
  /** @default DEFAULT_TARGET_BYTES (128 MiB) */
  readonly targetBytes?: number;
  /** @default DEFAULT_MAX_ROWS (4M) */
  readonly maxRows?: number;
  /** @default DEFAULT_GRACE_MS (10 min) */
  readonly graceMs?: number;
  readonly rowGroupRows?: number;
  /** Files read at once. @default 16 */
  readonly readConcurrency?: number;
  /** Plan only: write and delete nothing. */
  readonly dryRun?: boolean;
  readonly logger?: CompactLogger;
  readonly now?: () => number;
}

export interface PartitionOutcome {
  readonly partition: Partition;
  readonly action: 'open' | 'empty' | 'noop' | 'compacted' | 'planned';
  readonly filesBefore: number;
  readonly rowsBefore: number;
  readonly rowsAfter: number;
  readonly lineageDuplicates: number;
  readonly written: readonly string[];
  readonly deleted: readonly string[];
  readonly kept: readonly string[];
  readonly plan?: CompactionPlan;
}

/** Compacts one partition-hour. Throws on S3 errors (nothing is lost: see the module comment). */
export async function compactPartition(p: Partition, deps: CompactDeps): Promise<PartitionOutcome> {
  const now = (deps.now ?? Date.now)();
  const base = { partition: p, filesBefore: 0, rowsBefore: 0, rowsAfter: 0, lineageDuplicates: 0, written: [], deleted: [], kept: [] };
  if (!isPartitionClosed(p, now, deps.graceMs ?? DEFAULT_GRACE_MS)) return { ...base, action: 'open' };

  const listed = (await deps.bucket.list(partitionPrefix(p))).objects.filter((o) => o.key.endsWith(PARQUET_SUFFIX));
  if (listed.length === 0) return { ...base, action: 'empty' };
  const targetBytes = deps.targetBytes ?? DEFAULT_TARGET_BYTES;
  if (!needsCompaction(listed, targetBytes)) return { ...base, filesBefore: listed.length, kept: listed.map((o) => o.key), action: 'noop' };

  const keys = await mapPool(listed, deps.readConcurrency ?? 16, (o) => readKeys(o, deps));
  const sel = selectSurvivors(keys);
  const maxRows = deps.maxRows ?? DEFAULT_MAX_ROWS;
  const plan = planCompaction(p, sel, targetBytes, maxRows);
  const stats = {
    ...base,
    filesBefore: listed.length,
    rowsBefore: sel.rows,
    rowsAfter: sel.survivors,
    lineageDuplicates: sel.lineageDuplicates,
    kept: plan.keep,
    plan,
  };
  if (isNoop(plan)) return { ...stats, action: 'noop' };
  if (deps.dryRun) return { ...stats, action: 'planned' };

  const byKey = new Map(sel.files.map((f, i) => [f.key, i]));
  const listedKeys = new Set(listed.map((o) => o.key));
  const targetRows = deps.rowGroupRows;
  const written: string[] = [];
  const toDelete: string[] = [...plan.dropOnly];
  for (const bin of plan.merge) {
    // Chosen rows of each input, appended as it is read: one input's table is alive at a time.
    const merged = emptyTable();
    for (const key of bin.inputs) {
      const i = byKey.get(key)!;
      const table = await readFull(key, deps);
      const mask = sel.chosen[i]!;
      if (table.length !== mask.length) throw new PartitionChangedError(`${key} changed while compacting (${table.length} rows, was ${mask.length})`);
      appendRows(merged, table, mask);
    }
    const bodies = encodeWithin(merged, { targetBytes, maxRows, codec: deps.codec, ...(targetRows !== undefined && { rowGroupRows: targetRows }) });
    const outputs = bodies.map((_, i) => compactedObjectKey(p, bin.inputs, i, bin.digest));
    // Never overwrite a listed file (see CompactionPlan.deferred): leave this bin for a later run.
    if (outputs.some((k) => listedKeys.has(k))) continue;
    for (let i = 0; i < bodies.length; i++) {
      await deps.bucket.put(outputs[i]!, bodies[i]!.bytes, PARQUET_CONTENT_TYPE);
      written.push(outputs[i]!);
      deps.logger?.info('compacted file written', { key: outputs[i], inputs: bin.inputs.length, rows: bodies[i]!.rows, bytes: bodies[i]!.bytes.length });
    }
    toDelete.push(...bin.inputs);
  }
  // Only now: every surviving row of every deleted file is in a kept file, a deferred bin's
  // inputs, or an output written above.
  const writtenSet = new Set(written);
  const deleted = toDelete.filter((k) => !writtenSet.has(k)).sort();
  await deps.bucket.delete(deleted);
  return { ...stats, action: 'compacted', written, deleted };
}

/** Files larger than this are read by byte ranges (footer + key column chunks only). */
const RANGE_READ_ABOVE_BYTES = 4 * 1024 * 1024;

/**
 * Encodes rows as one file, or, if that comes out larger than `targetBytes` (the plan sizes bins
 * by estimate) or holds more than `maxRows`, as several files of consecutive ts ranges, each within
 * both (only a single row larger than the target would exceed it).
 */
export function encodeWithin(
  t: ArchiveTable,
  opts: { targetBytes: number; maxRows: number; codec: BlockCodec; rowGroupRows?: number },
): Array<{ bytes: Uint8Array; rows: number }> {
  const enc = { codec: opts.codec, ...(opts.rowGroupRows !== undefined && { rowGroupRows: opts.rowGroupRows }) };
  const order = sortOrder(t);
  const sorted = order === null ? t : takeRows(t, order);
  const out: Array<{ bytes: Uint8Array; rows: number }> = [];
  const encode = (from: number, to: number): void => {
    const n = to - from;
    if (n > opts.maxRows) {
      const mid = from + Math.ceil(n / Math.ceil(n / opts.maxRows));
      encode(from, mid);
      encode(mid, to);
      return;
    }
    const slice = from === 0 && to === sorted.length ? sorted : takeRows(sorted, range(from, to));
    const bytes = encodeArchiveTable(slice, enc);
    if (bytes.length <= opts.targetBytes || n <= 1) {
      out.push({ bytes, rows: n });
      return;
    }
    const mid = from + Math.floor(n / 2);
    encode(from, mid);
    encode(mid, to);
  };
  if (sorted.length > 0) encode(0, sorted.length);
  return out;
}

/** Appends the rows of `src` where `mask` is 1 to `dst`. */
function appendRows(dst: ArchiveTable, src: ArchiveTable, mask: Uint8Array): void {
  for (const c of ARCHIVE_COLUMNS) {
    const to = dst[c] as unknown[];
    const from = src[c] as unknown[];
    for (let r = 0; r < mask.length; r++) if (mask[r] === 1) to.push(from[r]);
  }
  for (let r = 0; r < mask.length; r++) dst.length += mask[r]!;
}

function range(from: number, to: number): Int32Array {
  const r = new Int32Array(to - from);
  for (let i = 0; i < r.length; i++) r[i] = from + i;
  return r;
}

async function readKeys(o: ObjectInfo, deps: CompactDeps): Promise<FileKeys> {
  const gone = () => new PartitionChangedError(`${o.key} disappeared while compacting; run again`);
  let source: Uint8Array | AsyncBuffer;
  if (o.size > RANGE_READ_ABOVE_BYTES) {
    source = {
      byteLength: o.size,
      slice: async (start: number, end: number = o.size) => {
        const part = await deps.bucket.getRange(o.key, start, end);
        if (part === undefined) throw gone();
        return part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength) as ArrayBuffer;
      },
    };
  } else {
    const bytes = await deps.bucket.get(o.key);
    if (bytes === undefined) throw gone();
    source = bytes;
  }
  const t = await readArchiveFile(source, { codec: deps.codec, columns: ['_shard', '_seq', '_sub'] });
  return {
    key: o.key,
    size: o.size,
    compacted: parseEventsKey(o.key)?.compacted ?? false,
    length: t.length,
    _shard: t._shard,
    _seq: t._seq,
    _sub: t._sub,
  };
}

async function readFull(key: string, deps: CompactDeps): Promise<ArchiveTable> {
  const bytes = await deps.bucket.get(key);
  if (bytes === undefined) throw new PartitionChangedError(`${key} disappeared while compacting; run again`);
  return readArchiveFile(bytes, { codec: deps.codec });
}

// ---------------------------------------------------------------------------------------------
// Which partitions

export interface PartitionQuery {
  /** @default every tenant */
  readonly tenant?: string;
  /** @default every date in the window */
  readonly dt?: string;
  /** @default every hour of each date */
  readonly hour?: number;
  /**
   * Without `dt`: consider partitions whose hour started at most this long ago (late events and
   * Lambda retries land in recent hours; older ones are compacted on request with `dt`).
   * @default 48
   */
  readonly lookbackHours?: number;
}

/** Partition-hours present in the bucket matching `q`, oldest first. */
export async function findPartitions(bucket: ArchiveBucket, q: PartitionQuery, now: number): Promise<Partition[]> {
  const tenants =
    q.tenant !== undefined
      ? [q.tenant]
      : (await bucket.list(EVENTS_PREFIX, { delimiter: '/' })).prefixes
          .map((pre) => /^events\/tenant=([^/]+)\/$/.exec(pre)?.[1])
          .filter((t): t is string => t !== undefined);
  let dates: string[] | undefined;
  let earliest = -Infinity;
  if (q.dt !== undefined) dates = [q.dt];
  else {
    earliest = now - (q.lookbackHours ?? DEFAULT_LOOKBACK_HOURS) * HOUR_MS;
    dates = [];
    for (let d = Date.parse(`${utcDate(earliest)}T00:00:00Z`); d <= now; d += 24 * HOUR_MS) dates.push(utcDate(d));
  }
  const out: Partition[] = [];
  for (const tenant of tenants) {
    for (const dt of dates) {
      const { prefixes } = await bucket.list(`${tenantPrefix(tenant)}dt=${dt}/`, { delimiter: '/' });
      for (const pre of prefixes) {
        const m = /\/hour=(\d{2})\/$/.exec(pre);
        if (m === null) continue;
        const p: Partition = { tenant, dt, hour: Number(m[1]) };
        if (q.hour !== undefined && p.hour !== q.hour) continue;
        if (partitionStart(p) + HOUR_MS <= earliest) continue;
        out.push(p);
      }
    }
  }
  return out.sort((a, b) => partitionStart(a) - partitionStart(b) || (a.tenant < b.tenant ? -1 : 1));
}

export interface RunOptions extends PartitionQuery {
  /** Milliseconds left; no new partition starts with less than `reserveMs` left. */
  readonly remainingMs?: () => number;
  /** @default 60000 */
  readonly reserveMs?: number;
}

export interface RunOutcome {
  readonly partitions: PartitionOutcome[];
  readonly failed: Array<{ partition: Partition; error: string }>;
  /** Partitions not started for lack of time. */
  readonly skipped: number;
}

/** Compacts every closed partition matching the query, oldest first, within the time budget. */
export async function compactPartitions(deps: CompactDeps, opts: RunOptions = {}): Promise<RunOutcome> {
  const now = (deps.now ?? Date.now)();
  const graceMs = deps.graceMs ?? DEFAULT_GRACE_MS;
  const partitions = (await findPartitions(deps.bucket, opts, now)).filter((p) => isPartitionClosed(p, now, graceMs));
  const outcomes: PartitionOutcome[] = [];
  const failed: RunOutcome['failed'] = [];
  let skipped = 0;
  for (const p of partitions) {
    if (opts.remainingMs !== undefined && opts.remainingMs() < (opts.reserveMs ?? DEFAULT_RESERVE_MS)) {
      skipped++;
      continue;
    }
    try {
      outcomes.push(await compactPartition(p, deps));
    } catch (err) {
      // One partition's failure does not stop the others; it is retried on the next run.
      const error = err instanceof Error ? err.message : String(err);
      deps.logger?.warn('partition not compacted', { partition: p, error });
      failed.push({ partition: p, error });
    }
  }
  return { partitions: outcomes, failed, skipped };
}
