/**
 * Object keys of the archive bucket, and the rules that make its contents safe to read. The
 * archive function and compaction write these keys; compaction, the query and every reader list
 * and parse them (the rule itself is dedupe.ts).
 *
 * ## Layout
 *
 * ```
 * events/tenant=<t>/dt=<YYYY-MM-DD>/hour=<HH>/<shardId>-<firstSeq>-<lastSeq>.parquet   archive λ
 * events/tenant=<t>/dt=<YYYY-MM-DD>/hour=<HH>/compacted-<hash>.parquet                   compaction
 * quarantine/dt=<YYYY-MM-DD>/<shardId>-<seq>.ndjson                                      archive λ
 * ```
 *
 * - `dt`/`hour` of `events/` are the UTC date and hour of each event's `ts`; `dt` of
 *   `quarantine/` is the UTC date the record arrived in Kinesis (a rejected record may have no
 *   usable `ts`).
 * - A batch file's name is derived only from the batch: its shard and the first and last sequence
 *   numbers of the batch's records (not of the events in that file), so a retried identical batch
 *   overwrites its own files with the same content. A batch re-delivered with other boundaries
 *   writes other files that overlap the first ones: the same rows twice.
 * - A compacted file's name is a hash of the keys it replaces, of which of their rows it keeps, and
 *   of its part number: the same work always gets the same name, other work another name.
 *
 * ## Reader rule (every reader: query λ, Athena, DuckDB, compaction itself)
 *
 * A partition-hour may hold the same row more than once — overlapping batch files, or a
 * compacted file beside the inputs it replaces when compaction crashed (or is running) between
 * writing it and deleting them. Readers therefore read **every** `.parquet` object of the
 * partition-hour and keep, of its rows, one row per lineage `(_shard, _seq, _sub)` (copies of one
 * lineage are identical rows). Nothing else is dropped.
 *
 * A client `id` is not a dedupe key: rows sharing an `id` are different events (one request id on
 * several metrics is common) and all survive, as the rollups count all of them. Dropping repeated
 * ids exactly would need durable per-id state in the rollup (a conditional write per event with an
 * id), which its cost targets rule out, and the archive must keep what the rollups count. A client
 * that retries a request sends an `Idempotency-Key` instead (functions/intake/idempotency.ts): a
 * retried request is not written to the stream twice.
 *
 * The rule is idempotent and compaction applies exactly it, so a reader sees the same rows before,
 * during and after compaction, and after a crash at any point of it: compaction writes its
 * output before deleting any input, an output holds only rows that survive the rule, and the rule
 * over (inputs ∪ outputs) equals the rule over the inputs. Nothing is missed either: a row
 * leaves its last input only once it is in a written output.
 *
 * A reader that lists a partition and then finds a listed object gone (404: compaction deleted it
 * after writing its replacement) lists the partition again and starts over; it never skips the
 * object. Athena fails such a query rather than skipping the file; re-run it. In SQL:
 *
 * ```sql
 * SELECT * FROM (
 *   SELECT *, row_number() OVER (PARTITION BY _shard, _seq, _sub) AS rn
 *   FROM events WHERE tenant = 'acme' AND dt = '2026-11-28' AND hour = 12)
 * WHERE rn = 1
 * ```
 *
 * (lib/constructs/archive-catalog.ts `readerRuleSql`; the Athena workgroup holds it as the saved
 * query `events-deduplicated`; dedupe.ts implements it in TypeScript, reader.ts reads by it).
 */
import { createHash } from 'node:crypto';

export const EVENTS_PREFIX = 'events/';
export const QUARANTINE_PREFIX = 'quarantine/';
export const PARQUET_SUFFIX = '.parquet';
export const COMPACTED_FILE_PREFIX = 'compacted-';

const HOUR_MS = 3_600_000;

/** One partition-hour of one tenant. */
export interface Partition {
  readonly tenant: string;
  /** UTC date, `YYYY-MM-DD`. */
  readonly dt: string;
  /** UTC hour, 0-23. */
  readonly hour: number;
}

/** `YYYY-MM-DD` of an epoch-ms instant, UTC. */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The partition-hour holding an event of `tenant` at `ts`. */
export function partitionOf(tenant: string, ts: number): Partition {
  const iso = new Date(ts).toISOString();
  return { tenant, dt: iso.slice(0, 10), hour: Number(iso.slice(11, 13)) };
}

/** Start of the partition-hour, epoch ms. */
export function partitionStart(p: Partition): number {
  return Date.parse(`${p.dt}T00:00:00Z`) + p.hour * HOUR_MS;
}

export function partitionEnd(p: Partition): number {
  return partitionStart(p) + HOUR_MS;
}

/** `events/tenant=<t>/dt=<d>/hour=<HH>/` */
export function partitionPrefix(p: Partition): string {
  return `${EVENTS_PREFIX}tenant=${p.tenant}/dt=${p.dt}/hour=${String(p.hour).padStart(2, '0')}/`;
}

/** `events/tenant=<t>/` */
export function tenantPrefix(tenant: string): string {
  return `${EVENTS_PREFIX}tenant=${tenant}/`;
}

/** Key of a batch's file for one partition-hour. */
export function batchObjectKey(p: Partition, shardId: string, firstSeq: string, lastSeq: string): string {
  return `${partitionPrefix(p)}${shardId}-${firstSeq}-${lastSeq}${PARQUET_SUFFIX}`;
}

/** Key of the quarantine object of one Kinesis record. */
export function quarantineKey(arrivalMs: number, shardId: string, sequenceNumber: string): string {
  return `${QUARANTINE_PREFIX}dt=${utcDate(arrivalMs)}/${shardId}-${sequenceNumber}.ndjson`;
}

/**
 * Key of compaction output `part` (0-based) replacing `inputs`: a hash of the sorted input keys,
 * of `content` (what the output keeps of them: compaction passes a digest of the rows it keeps
 * from each input) and of the part number, so the same work always gets the same names and other
 * work other names.
 */
export function compactedObjectKey(p: Partition, inputs: readonly string[], part: number, content = ''): string {
  const h = createHash('sha256');
  for (const k of [...inputs].sort()) h.update(k).update('\n');
  h.update(content).update('\n');
  h.update(`part=${part}`);
  return `${partitionPrefix(p)}${COMPACTED_FILE_PREFIX}${h.digest('hex').slice(0, 32)}${PARQUET_SUFFIX}`;
}

const EVENTS_KEY_RE = /^events\/tenant=([a-z0-9][a-z0-9_-]*)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([^/]+)$/;

export interface ParsedEventsKey {
  readonly partition: Partition;
  /** File name within the partition. */
  readonly file: string;
  readonly compacted: boolean;
}

/** Parses a key under `events/`; undefined for anything that is not a Parquet file of a partition. */
export function parseEventsKey(key: string): ParsedEventsKey | undefined {
  const m = EVENTS_KEY_RE.exec(key);
  if (m === null) return undefined;
  const file = m[4]!;
  if (!file.endsWith(PARQUET_SUFFIX)) return undefined;
  const hour = Number(m[3]);
  const dt = m[2]!;
  if (hour > 23 || Number.isNaN(Date.parse(`${dt}T00:00:00Z`)) || utcDate(Date.parse(`${dt}T00:00:00Z`)) !== dt) return undefined;
  return { partition: { tenant: m[1]!, dt, hour }, file, compacted: file.startsWith(COMPACTED_FILE_PREFIX) };
}
