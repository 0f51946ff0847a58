/**
 * Kinesis record codec (DESIGN.md, "Kinesis record format").
 *
 * Encode: events -> gzip'd NDJSON records of at most 1 MiB (data + partition key), one partition
 * key per record following the partition-key rule, grouped into PutRecords requests of at most 500
 * records and 5 MiB.
 *
 * Decode: any supported record form (JSON, NDJSON, gzip of either, KPL-aggregated records whose user
 * records are any of those) -> events with their lineage, or a `RecordRejectedError` carrying the
 * reason and the raw bytes. Decoding never throws for bad input.
 */
import { isUtf8 } from 'node:buffer';
import { gzipSync, gunzipSync } from 'node:zlib';
import { RecordRejectedError, type Lineage } from './errors.ts';
import { clientTags, validateEvent, type StreamEvent, type ValidateOptions } from './event.ts';
import { decodeKpl, isKplAggregated } from './kpl.ts';

export const KINESIS_LIMITS = {
  /** Data blob plus partition key, per record. */
  recordBytes: 1024 * 1024,
  requestRecords: 500,
  /** Whole PutRecords request: data plus partition keys. */
  requestBytes: 5 * 1024 * 1024,
  partitionKeyChars: 256,
} as const;

/**
 * Partition-key buckets per tenant by default (INTAKE_PARTITION_BUCKETS). Consumers do not depend
 * on it (the rollup log is exact whatever shard an event takes, docs/ROLLUPS.md): it only decides
 * how metrics share shards. A tenant's traffic spreads over at most this many keys before its
 * metrics must spread by series: raise it when a tenant needs more shards than this.
 */
export const PARTITION_BUCKETS = 64;

/** Most partition keys one metric is spread over (INTAKE_SPREAD, and salted retries). */
export const MAX_SPREAD = 64;

/** Inflated size above which a gzip'd record is rejected (a gzip bomb never reaches memory). */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/**
 * Partition-key rule: `tenant#bucket(hash(name))`, so a batch of one shard holds many events of
 * few metrics (the rollup writes one log segment per metric per batch: fewer, larger writes). A
 * metric spread over `spread` keys adds the series' slot, `tenant#bucket#(hash(series) mod spread)`:
 * its series go to up to `spread` shards, each series to one. Exactness does not depend on the
 * key (docs/ROLLUPS.md, "Partition keys"), so the rule may change while records are in the stream.
 */
export function partitionKeyFor(tenant: string, name: string, slot = 0, buckets = PARTITION_BUCKETS): string {
  const bucket = fnv1a32(name) % buckets;
  return slot === 0 ? `${tenant}#${bucket}` : `${tenant}#${bucket}#${slot}`;
}

/** The slot of an event's series among `spread` keys (0 when not spread). */
export function spreadSlot(e: Pick<StreamEvent, 'name' | 'tags'>, spread: number): number {
  if (spread <= 1) return 0;
  let key = e.name;
  for (const k of Object.keys(e.tags).sort()) key += `\u0000${k}\u0000${e.tags[k]}`;
  return fnv1a32(key) % spread;
}

/** FNV-1a, 32 bit, over UTF-16 code units: stable across runtimes and cheap. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface EncodedRecord {
  readonly partitionKey: string;
  /** gzip'd NDJSON. */
  readonly data: Uint8Array;
  /** How many events the record holds. */
  readonly count: number;
}

export interface EncodeOptions {
  /** Largest record, data + partition key. @default 1 MiB */
  readonly maxRecordBytes?: number;
  /** Uncompressed NDJSON gathered before a record is compressed. @default 4 MiB */
  readonly targetRawBytes?: number;
  /** gzip level. @default 6 */
  readonly level?: number;
  /**
   * Partition keys per metric (1..MAX_SPREAD), for every metric or per (tenant, name): a metric
   * spread over K keys can take K shards' write capacity. Must be the same for a retried request
   * (its records must come out the same).
   * @default 1
   */
  readonly spread?: number | ((tenant: string, name: string) => number);
  /** Partition-key buckets per tenant. @default PARTITION_BUCKETS (64) */
  readonly buckets?: number;
  /** Each event's line (`serializeEvent`), where the caller has already made them. @default made here */
  readonly lines?: readonly string[];
}

/**
 * Encodes events into gzip'd NDJSON records. Events keep their relative order within each partition
 * key; records come out grouped by partition key in order of first appearance.
 */
export function encodeRecords(events: readonly StreamEvent[], opts: EncodeOptions = {}): EncodedRecord[] {
  const maxRecordBytes = opts.maxRecordBytes ?? KINESIS_LIMITS.recordBytes;
  const targetRaw = opts.targetRawBytes ?? 4 * 1024 * 1024;
  const level = opts.level ?? 6;

  const spreadOf = typeof opts.spread === 'function' ? opts.spread : () => (opts.spread as number | undefined) ?? 1;
  const groups = new Map<string, string[]>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const spread = Math.min(MAX_SPREAD, spreadOf(e.tenant, e.name));
    const pk = partitionKeyFor(e.tenant, e.name, spreadSlot(e, spread), opts.buckets ?? PARTITION_BUCKETS);
    let lines = groups.get(pk);
    if (lines === undefined) groups.set(pk, (lines = []));
    lines.push(opts.lines?.[i] ?? serializeEvent(e));
  }

  const out: EncodedRecord[] = [];
  for (const [pk, lines] of groups) {
    const budget = maxRecordBytes - Buffer.byteLength(pk, 'utf8');
    let start = 0;
    let raw = 0;
    for (let i = 0; i < lines.length; i++) {
      const len = Buffer.byteLength(lines[i]!, 'utf8') + 1;
      if (raw > 0 && raw + len > targetRaw) {
        compressInto(out, pk, lines, start, i, budget, level);
        start = i;
        raw = 0;
      }
      raw += len;
    }
    compressInto(out, pk, lines, start, lines.length, budget, level);
  }
  return out;
}

/** Compresses lines[from, to) into one record, halving the range until each part fits. */
function compressInto(
  out: EncodedRecord[],
  partitionKey: string,
  lines: readonly string[],
  from: number,
  to: number,
  budget: number,
  level: number,
): void {
  if (from >= to) return;
  const text = `${lines.slice(from, to).join('\n')}\n`;
  const data = gzipSync(text, { level });
  if (data.length <= budget) {
    out.push({ partitionKey, data, count: to - from });
    return;
  }
  if (to - from === 1) {
    // One event's line is bounded by the contract (16 KB attrs + small fields): unreachable with
    // validated events, but never emit a record Kinesis would refuse.
    throw new RangeError(`one event compresses to ${data.length} bytes, more than ${budget}`);
  }
  const mid = from + Math.floor((to - from) / 2);
  compressInto(out, partitionKey, lines, from, mid, budget, level);
  compressInto(out, partitionKey, lines, mid, to, budget, level);
}

/**
 * The NDJSON line of one event, with a fixed field order. A cumulative point carries `start`
 * (its reserved `_sf_start` tag is left out: the consumers' validator sets it again from
 * `start`); a pre-aggregated point carries `agg` and no `value`.
 */
export function serializeEvent(e: StreamEvent): string {
  if (e.start === undefined && e.agg === undefined) {
    return JSON.stringify({
      tenant: e.tenant,
      name: e.name,
      ts: e.ts,
      value: e.value,
      type: e.type,
      tags: e.tags,
      id: e.id,
      attrs: e.attrs,
    });
  }
  return JSON.stringify({
    tenant: e.tenant,
    name: e.name,
    ts: e.ts,
    value: e.agg === undefined ? e.value : undefined,
    type: e.type,
    tags: clientTags(e.tags),
    id: e.id,
    attrs: e.attrs,
    start: e.start,
    agg: e.agg,
  });
}

/** Groups records into PutRecords requests of at most 500 records and 5 MiB, keeping order. */
export function groupPutRequests<R extends { partitionKey: string; data: Uint8Array }>(
  records: readonly R[],
): R[][] {
  const out: R[][] = [];
  let cur: R[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = r.data.length + Buffer.byteLength(r.partitionKey, 'utf8');
    if (cur.length > 0 && (cur.length === KINESIS_LIMITS.requestRecords || bytes + size > KINESIS_LIMITS.requestBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** One parsed JSON value from a record (not yet validated), with its lineage. */
export interface DecodedValue {
  readonly value: unknown;
  readonly lineage: Lineage;
  /** The line or document text, kept for quarantine if validation rejects the value. */
  readonly text: string;
}

export interface DecodedRecord {
  readonly values: DecodedValue[];
  readonly errors: RecordRejectedError[];
}

export interface RecordPosition {
  readonly shardId: string;
  readonly sequenceNumber: string;
}

/** Receives, in record order, each parsed value or rejected piece of a record. */
interface RecordVisitor {
  value(value: unknown, lineage: Lineage, text: string): void;
  reject(error: RecordRejectedError): void;
}

/** Text is decoded in pieces of about this size, cut after a newline (never inside a UTF-8 sequence). */
const TEXT_CHUNK_BYTES = 64 * 1024;

/**
 * Decodes one Kinesis record's data into JSON values with lineage. The sub-index counts every
 * event slot in the record in order (KPL user records, then NDJSON lines), so it is the same on
 * every delivery of the same bytes. Never throws.
 */
export function decodeRecord(data: Uint8Array, pos: RecordPosition): DecodedRecord {
  const out: DecodedRecord = { values: [], errors: [] };
  walkRecord(data, pos, {
    value: (value, lineage, text) => out.values.push({ value, lineage, text }),
    reject: (e) => out.errors.push(e),
  });
  return out;
}

function walkRecord(data: Uint8Array, pos: RecordPosition, visit: RecordVisitor): void {
  const counter = { next: 0 };
  if (isKplAggregated(data)) {
    let users;
    try {
      users = decodeKpl(data);
    } catch (err) {
      reject(visit, pos, counter, errorReason(err), data);
      return;
    }
    for (const u of users) {
      if (isKplAggregated(u.data)) {
        reject(visit, pos, counter, 'KPL: nested aggregated record is not supported', u.data);
        continue;
      }
      decodePayload(u.data, pos, counter, visit);
    }
    return;
  }
  decodePayload(data, pos, counter, visit);
}

function decodePayload(data: Uint8Array, pos: RecordPosition, counter: { next: number }, visit: RecordVisitor): void {
  let bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const reason =
        code === 'ERR_BUFFER_TOO_LARGE'
          ? `gzip: inflates to more than ${MAX_INFLATED_BYTES} bytes`
          : `gzip: ${errorReason(err)}`;
      reject(visit, pos, counter, reason, data);
      return;
    }
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      reject(visit, pos, counter, 'gzip: nested gzip is not supported', data);
      return;
    }
  }
  if (!isUtf8(bytes)) {
    reject(visit, pos, counter, 'not valid UTF-8 text (expected JSON or NDJSON, optionally gzip\'d)', data);
    return;
  }
  // A UTF-8 byte-order mark is not part of the text.
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const state: TextState = { first: true, whole: () => bytes.toString('utf8', bom) };
  // Decode in pieces: one huge string per record lands in V8's large-object space and costs more
  // than the parsing itself (bench/codec).
  let start = bom;
  while (start < bytes.length) {
    let end = Math.min(start + TEXT_CHUNK_BYTES, bytes.length);
    if (end < bytes.length) {
      const nl = bytes.lastIndexOf(0x0a, end - 1);
      end = nl >= start ? nl + 1 : (() => {
        const next = bytes.indexOf(0x0a, end);
        return next === -1 ? bytes.length : next + 1;
      })();
    }
    if (!decodeText(bytes.toString('utf8', start, end), end === bytes.length, pos, counter, visit, state)) return;
    start = end;
  }
}

interface TextState {
  /** No line has been seen yet. */
  first: boolean;
  /** The record's whole text, for the rare multi-line document. */
  readonly whole: () => string;
}

/** Returns false when the whole record turned out to be one document (nothing more to read). */
function decodeText(
  text: string,
  last: boolean,
  pos: RecordPosition,
  counter: { next: number },
  visit: RecordVisitor,
  state: TextState,
): boolean {
  const n = text.length;
  let start = 0;
  while (start < n) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = n;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--; // CRLF
    const line = text.slice(start, stop);
    start = end + 1;
    if (isBlank(line)) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      // A single JSON document may span several lines (pretty-printed): try the whole text once.
      if (state.first && (end < n || !last)) {
        const whole = state.whole();
        const doc = tryParse(whole);
        if (doc !== NOT_JSON) {
          visit.value(doc, lineage(pos, counter), whole);
          return false;
        }
      }
      state.first = false;
      reject(visit, pos, counter, `invalid JSON: ${errorReason(err)}`, Buffer.from(line, 'utf8'));
      continue;
    }
    state.first = false;
    visit.value(value, lineage(pos, counter), line);
  }
  return true;
}

const NOT_JSON = Symbol('not json');
function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 0xfeff) return false;
  }
  return true;
}

function lineage(pos: RecordPosition, counter: { next: number }): Lineage {
  return { shardId: pos.shardId, sequenceNumber: pos.sequenceNumber, subIndex: counter.next++ };
}

function reject(visit: RecordVisitor, pos: RecordPosition, counter: { next: number }, reason: string, raw: Uint8Array): void {
  visit.reject(new RecordRejectedError(reason, raw, lineage(pos, counter)));
}

function errorReason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Decode + validate: what every consumer runs on a batch.

export interface LineagedEvent {
  readonly event: StreamEvent;
  readonly lineage: Lineage;
}

export interface DecodedEvents {
  readonly events: LineagedEvent[];
  /** Undecodable records and invalid events, each with its raw bytes and reason. */
  readonly rejected: RecordRejectedError[];
}

/** Decodes and validates one record's data; valid events in order, the rest rejected. */
export function decodeEvents(
  data: Uint8Array,
  pos: RecordPosition,
  opts: ValidateOptions,
  into: DecodedEvents = { events: [], rejected: [] },
): DecodedEvents {
  walkRecord(data, pos, {
    value(value, lineage, text) {
      const r = validateEvent(value, opts);
      if (r.ok) into.events.push({ event: r.event, lineage });
      else into.rejected.push(new RecordRejectedError(r.reason, Buffer.from(text, 'utf8'), lineage));
    },
    reject: (e) => into.rejected.push(e),
  });
  return into;
}
