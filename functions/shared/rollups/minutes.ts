/**
 * Per-minute aggregates of count and gauge events, packed into their series' 1 h item (attribute
 * `mins`, keys.ts): a 24 h × 1 min query reads 24 items instead of 1,440, and a batch writes one
 * item per series instead of two. Distributions keep 1 m items (60 sketches would not fit a cheap
 * item). This module owns the stored form: the rollup function writes it (functions/rollup/
 * merge.ts, `mergeMinutes`), the query function reads it (functions/query/rollup-reader.ts,
 * `decodeMinutes`).
 *
 * Stored form, version 1 (varints and doubles as in protobuf, functions/shared/protobuf.ts):
 *
 *   0x01
 *   varint n, then n shard ids (varint length, UTF-8)     the shards of the entries' `last`
 *   per minute with events, minutes ascending:
 *     varint minute of the hour (0..59)
 *     varint flags: two bits each for sum (bits 0-1), min (2-3), max (4-5), last (6-7):
 *                   0 absent (last only), 1 zigzag varint integer (|v| < 2^52), 2 float64 LE
 *     varint count (>= 1)
 *     sum, min, max, then last if present, each as its flags say
 *     if last: varint (lastTs - minute start), varint index of its shard in the list above
 *
 * A minute's `last` keeps the shard of its event but not the sequence number: merging needs only
 * the shard (a new event from the same shard is above that shard's watermark, so it is later), and
 * 1 m queries break ties between series at the same millisecond and shard by index order instead.
 * Integers take 1-8 bytes instead of 8, so a counter's minute costs ~6 bytes, a float gauge's ~40.
 */
import { StreamfoldError } from '../errors.ts';
import { ProtoReader, ProtoWriter } from '../protobuf.ts';

export const MINUTES_PER_HOUR = 60;
const MINUTE_MS = 60_000;
const VERSION = 1;
/** Number kinds (2 bits each in a flags varint; segment.ts uses the same). */
export const ABSENT_NUMBER = 0;
const ABSENT = ABSENT_NUMBER;
const INT = 1;
const F64 = 2;
const MAX_INT = 2 ** 52;

export class MinutesFormatError extends StreamfoldError {}

export interface MinuteLast {
  readonly value: number;
  /** Epoch ms, inside the minute. */
  readonly ts: number;
  readonly shardId: string;
}

export interface MinuteEntry {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly last?: MinuteLast;
}

/** Index = minute of the hour; minutes without events are undefined. Length MINUTES_PER_HOUR. */
export type Minutes = Array<MinuteEntry | undefined>;

export const emptyMinutes = (): Minutes => new Array<MinuteEntry | undefined>(MINUTES_PER_HOUR).fill(undefined);

/** Minute of the hour of `ts` (the hour starting at `hourStart`). */
export const minuteOf = (ts: number, hourStart: number): number => Math.floor((ts - hourStart) / MINUTE_MS);

/** Integers below 2^52 in magnitude: their zigzag form stays a safe integer. */
export const numberKind = (v: number): number => (Number.isInteger(v) && v < MAX_INT && v > -MAX_INT ? INT : F64);
const kind = numberKind;

/** What a batch adds to one minute (functions/rollup/aggregate.ts `Agg`); only the shard of `last` is kept. */
export interface MinuteAdd {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly last: { readonly value: number; readonly ts: number; readonly lineage: { readonly shardId: string } } | undefined;
}

const writer = new ProtoWriter();

export function encodeMinutes(minutes: Minutes, hourStart: number): Uint8Array {
  const shards: string[] = [];
  for (const m of minutes) if (m?.last !== undefined && !shards.includes(m.last.shardId)) shards.push(m.last.shardId);
  const w = writer;
  w.len = 0;
  writeHeader(w, shards);
  for (let i = 0; i < MINUTES_PER_HOUR; i++) {
    const m = minutes[i];
    if (m !== undefined) writeEntry(w, i, m, hourStart, shards);
  }
  return w.finish();
}

export function decodeMinutes(bytes: Uint8Array, hourStart: number): Minutes {
  const r = reader(bytes);
  const shards = readHeader(r);
  const out = emptyMinutes();
  let prev = -1;
  while (!r.done) {
    const i = readMinute(r, prev);
    out[i] = readEntry(r, i, hourStart, shards);
    prev = i;
  }
  return out;
}

/**
 * The stored minutes (if any) with the batch's added: the minutes decode, add and encode would
 * give, but minutes the batch does not touch are copied as they are, not decoded (the shard list
 * keeps the stored order and may keep a shard no minute uses any more). A minute's `last` is
 * the greater by (ts, shardId); on a tie within one shard the added event wins, being above that
 * shard's watermark (functions/rollup/merge.ts) and so later in the shard than the stored one.
 * `adds` are aggregates of different shards, indexed by minute of the hour.
 */
export function mergeMinutes(stored: Uint8Array | undefined, hourStart: number, adds: ReadonlyArray<ReadonlyArray<MinuteAdd | undefined>>): Uint8Array {
  const touched = touchedScratch;
  touched.fill(0);
  for (const a of adds) for (let i = 0; i < MINUTES_PER_HOUR; i++) if (a[i] !== undefined) touched[i] = 1;

  // One walk over the stored entries: untouched ones are only delimited, touched ones decoded.
  const out = outScratch;
  out.fill(undefined);
  let shards: string[] = [];
  let headerEnd = 0;
  const spanStart = spans;
  spanStart.fill(-1);
  if (stored !== undefined) {
    const r = reader(stored);
    shards = readHeader(r);
    headerEnd = r.pos;
    let prev = -1;
    while (!r.done) {
      const from = r.pos;
      const i = readMinute(r, prev);
      prev = i;
      if (touched[i] === 1) {
        out[i] = readEntry(r, i, hourStart, shards);
      } else {
        skipEntry(r, i, shards.length);
        spanStart[i] = from;
        spanEnd[i] = r.pos;
      }
    }
  }
  // In the order functions/rollup/merge.ts adds the hour's totals, so sums round the same way.
  for (const a of adds) {
    for (let i = 0; i < MINUTES_PER_HOUR; i++) {
      const m = a[i];
      if (m !== undefined) out[i] = combine(out[i], m.count, m.sum, m.min, m.max, m.last && { value: m.last.value, ts: m.last.ts, shardId: m.last.lineage.shardId });
    }
  }
  if (stored === undefined) return encodeMinutes(out, hourStart);
  const known = shards.length;
  for (const m of out) if (m?.last !== undefined && !shards.includes(m.last.shardId)) shards.push(m.last.shardId);
  if (shards.length > MINUTES_PER_HOUR) {
    // Shards no minute uses any more piled up (the list is only appended to): rebuild it.
    const all = decodeMinutes(stored, hourStart);
    for (let i = 0; i < MINUTES_PER_HOUR; i++) if (out[i] !== undefined) all[i] = out[i];
    return encodeMinutes(all, hourStart);
  }
  const w = writer;
  w.len = 0;
  if (shards.length === known) w.raw(stored.subarray(0, headerEnd));
  else writeHeader(w, shards);
  // Untouched entries lie back to back between touched ones: copy each such run at once.
  let runStart = -1;
  let runEnd = -1;
  for (let i = 0; i < MINUTES_PER_HOUR; i++) {
    const m = out[i];
    if (m !== undefined) {
      if (runStart >= 0) w.raw(stored.subarray(runStart, runEnd));
      runStart = -1;
      writeEntry(w, i, m, hourStart, shards);
    } else if (spanStart[i]! >= 0) {
      if (runStart < 0) runStart = spanStart[i]!;
      runEnd = spanEnd[i]!;
    }
  }
  if (runStart >= 0) w.raw(stored.subarray(runStart, runEnd));
  return w.finish();
}

const touchedScratch = new Uint8Array(MINUTES_PER_HOUR);
const outScratch = emptyMinutes();
/** Byte ranges of untouched stored entries, by minute (-1: none). */
const spans = new Int32Array(MINUTES_PER_HOUR);
const spanEnd = new Int32Array(MINUTES_PER_HOUR);

function combine(cur: MinuteEntry | undefined, count: number, sum: number, min: number, max: number, add: MinuteLast | undefined): MinuteEntry {
  let last = cur?.last;
  if (add !== undefined && (last === undefined || add.ts > last.ts || (add.ts === last.ts && add.shardId >= last.shardId))) last = add;
  if (cur === undefined) return last === undefined ? { count, sum, min, max } : { count, sum, min, max, last };
  const out = {
    count: cur.count + count,
    sum: cur.sum + sum,
    min: min < cur.min ? min : cur.min,
    max: max > cur.max ? max : cur.max,
  };
  return last === undefined ? out : { ...out, last };
}

function writeHeader(w: ProtoWriter, shards: readonly string[]): void {
  w.byte(VERSION);
  w.varint(shards.length);
  for (const s of shards) w.string(s);
}

function writeEntry(w: ProtoWriter, i: number, m: MinuteEntry, hourStart: number, shards: readonly string[]): void {
  if (!(Number.isSafeInteger(m.count) && m.count >= 1)) throw new RangeError(`minute ${i}: count ${m.count} is not a positive integer`);
  const last = m.last;
  const start = hourStart + i * MINUTE_MS;
  if (last !== undefined && !(Number.isInteger(last.ts) && last.ts >= start && last.ts < start + MINUTE_MS)) {
    throw new RangeError(`minute ${i}: last event time ${last.ts} is outside the minute starting ${start}`);
  }
  const flags = kind(m.sum) | (kind(m.min) << 2) | (kind(m.max) << 4) | ((last === undefined ? ABSENT : kind(last.value)) << 6);
  w.varint(i);
  w.varint(flags);
  w.varint(m.count);
  writePackedNumber(w, m.sum);
  writePackedNumber(w, m.min);
  writePackedNumber(w, m.max);
  if (last !== undefined) {
    writePackedNumber(w, last.value);
    w.varint(last.ts - start);
    w.varint(shards.indexOf(last.shardId));
  }
}

/** `v` as its kind says: zigzag varint for an integer below 2^52, else float64 LE. */
export function writePackedNumber(w: ProtoWriter, v: number): void {
  if (!Number.isFinite(v)) throw new RangeError(`cannot pack ${v}`);
  if (kind(v) === INT) w.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  else w.double(v);
}

const fail = (reason: string): MinutesFormatError => new MinutesFormatError(`packed minutes: ${reason}`);
const reader = (bytes: Uint8Array): ProtoReader => new ProtoReader(bytes, fail, 'packed minutes');

/** The last header read and its shard list: the items of one stream mostly share their header. */
let cachedHeader: Uint8Array = Uint8Array.of(0); // from the shard count on: no shards
let cachedShards: readonly string[] = [];

/** The shard list (a fresh array, the caller may extend it); leaves `r` after the header. */
function readHeader(r: ProtoReader): string[] {
  if (r.done) throw fail('empty');
  const version = r.varint();
  if (version !== VERSION) throw fail(`unknown version ${version}`);
  const from = r.pos;
  const n = r.varint();
  if (n > MINUTES_PER_HOUR) throw fail(`${n} shards for at most ${MINUTES_PER_HOUR} minutes`);
  if (n === cachedShards.length && sameBytes(r.buf, from, cachedHeader)) {
    r.pos = from + cachedHeader.length;
    return [...cachedShards];
  }
  const shards: string[] = [];
  for (let i = 0; i < n; i++) shards.push(r.string());
  cachedHeader = r.buf.slice(from, r.pos);
  cachedShards = shards;
  return [...shards];
}

function sameBytes(buf: Uint8Array, from: number, want: Uint8Array): boolean {
  if (buf.length - from < want.length) return false;
  for (let i = 0; i < want.length; i++) if (buf[from + i] !== want[i]) return false;
  return true;
}

/** The next entry's minute, which must come after `prev`. */
function readMinute(r: ProtoReader, prev: number): number {
  const i = r.varint();
  if (i >= MINUTES_PER_HOUR || i <= prev) throw fail(`minute ${i} after minute ${prev}`);
  return i;
}

/** The rest of minute `i`'s entry (after its minute). */
function readEntry(r: ProtoReader, i: number, hourStart: number, shards: readonly string[]): MinuteEntry {
  const flags = readFlags(r, i);
  const count = readCount(r, i);
  const sum = readNumber(r, flags & 3, i);
  const min = readNumber(r, (flags >> 2) & 3, i);
  const max = readNumber(r, (flags >> 4) & 3, i);
  const lastKind = (flags >> 6) & 3;
  if (lastKind === ABSENT) return { count, sum, min, max };
  const value = readNumber(r, lastKind, i);
  const offset = readOffset(r, i);
  const s = readShard(r, i, shards.length);
  return { count, sum, min, max, last: { value, ts: hourStart + i * MINUTE_MS + offset, shardId: shards[s]! } };
}

/**
 * Steps over the rest of minute `i`'s entry, checking its structure as readEntry does but not the
 * doubles' values (the entry is copied as it is; the encoder never writes a non-finite one).
 */
function skipEntry(r: ProtoReader, i: number, shardCount: number): void {
  const flags = readFlags(r, i);
  readCount(r, i);
  skipNumber(r, flags & 3, i);
  skipNumber(r, (flags >> 2) & 3, i);
  skipNumber(r, (flags >> 4) & 3, i);
  const lastKind = (flags >> 6) & 3;
  if (lastKind === ABSENT) return;
  skipNumber(r, lastKind, i);
  readOffset(r, i);
  readShard(r, i, shardCount);
}

function skipNumber(r: ProtoReader, k: number, minute: number): void {
  if (k === INT) r.varint();
  else if (k === F64) r.skip(1);
  else throw fail(`minute ${minute}: number encoding ${k}`);
}

function readFlags(r: ProtoReader, i: number): number {
  const flags = r.varint();
  if (flags > 0xff) throw fail(`minute ${i}: flags ${flags}`);
  return flags;
}

function readCount(r: ProtoReader, i: number): number {
  const count = r.varint();
  if (count < 1) throw fail(`minute ${i}: count 0`);
  return count;
}

function readOffset(r: ProtoReader, i: number): number {
  const offset = r.varint();
  if (offset >= MINUTE_MS) throw fail(`minute ${i}: last event ${offset} ms after the minute's start`);
  return offset;
}

function readShard(r: ProtoReader, i: number, shardCount: number): number {
  const s = r.varint();
  if (s >= shardCount) throw fail(`minute ${i}: shard ${s} of ${shardCount}`);
  return s;
}

function readNumber(r: ProtoReader, k: number, minute: number): number {
  return readPackedNumber(r, k, `minute ${minute}`, fail);
}

/** A number written by writePackedNumber with kind `k`; `what` names it in errors. */
export function readPackedNumber(r: ProtoReader, k: number, what: string, failure: (reason: string) => Error): number {
  if (k === INT) {
    const z = r.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  if (k === F64) {
    const v = r.double();
    if (!Number.isFinite(v)) throw failure(`${what}: ${v}`);
    return v;
  }
  throw failure(`${what}: number encoding ${k}`);
}
