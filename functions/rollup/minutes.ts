/**
 * Per-minute aggregates of count and gauge events, packed into their series' 1 h item (attribute
 * `mins`, keys.ts): a 24 h × 1 min query reads 24 items instead of 1,440, and a batch writes one
 * item per series instead of two. Distributions keep 1 m items (60 sketches would not fit a cheap
 * item).
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
import { StreamfoldError } from '../shared/errors.ts';
import { ProtoReader, ProtoWriter } from '../shared/protobuf.ts';

export const MINUTES_PER_HOUR = 60;
const MINUTE_MS = 60_000;
const VERSION = 1;
const ABSENT = 0;
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
const kind = (v: number): number => (Number.isInteger(v) && v < MAX_INT && v > -MAX_INT ? INT : F64);

const writer = new ProtoWriter();

export function encodeMinutes(minutes: Minutes, hourStart: number): Uint8Array {
  const shards: string[] = [];
  for (const m of minutes) if (m?.last !== undefined && !shards.includes(m.last.shardId)) shards.push(m.last.shardId);
  const w = writer;
  w.len = 0;
  w.byte(VERSION);
  w.varint(shards.length);
  for (const s of shards) w.string(s);
  for (let i = 0; i < MINUTES_PER_HOUR; i++) {
    const m = minutes[i];
    if (m === undefined) continue;
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
    writeNumber(w, m.sum);
    writeNumber(w, m.min);
    writeNumber(w, m.max);
    if (last !== undefined) {
      writeNumber(w, last.value);
      w.varint(last.ts - start);
      w.varint(shards.indexOf(last.shardId));
    }
  }
  return w.finish();
}

function writeNumber(w: ProtoWriter, v: number): void {
  if (!Number.isFinite(v)) throw new RangeError(`cannot pack ${v}`);
  if (kind(v) === INT) w.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  else w.double(v);
}

export function decodeMinutes(bytes: Uint8Array, hourStart: number): Minutes {
  const r = new ProtoReader(bytes, (reason) => new MinutesFormatError(`packed minutes: ${reason}`), 'packed minutes');
  const fail = (reason: string) => new MinutesFormatError(`packed minutes: ${reason}`);
  if (r.done) throw fail('empty');
  const version = r.varint();
  if (version !== VERSION) throw fail(`unknown version ${version}`);
  const n = r.varint();
  if (n > MINUTES_PER_HOUR) throw fail(`${n} shards for at most ${MINUTES_PER_HOUR} minutes`);
  const shards: string[] = [];
  for (let i = 0; i < n; i++) shards.push(r.string());
  const out = emptyMinutes();
  let prev = -1;
  while (!r.done) {
    const i = r.varint();
    if (i >= MINUTES_PER_HOUR || i <= prev) throw fail(`minute ${i} after minute ${prev}`);
    prev = i;
    const flags = r.varint();
    if (flags > 0xff) throw fail(`minute ${i}: flags ${flags}`);
    const count = r.varint();
    if (count < 1) throw fail(`minute ${i}: count 0`);
    const sum = readNumber(r, flags & 3, fail, i);
    const min = readNumber(r, (flags >> 2) & 3, fail, i);
    const max = readNumber(r, (flags >> 4) & 3, fail, i);
    const lastKind = (flags >> 6) & 3;
    if (lastKind === ABSENT) {
      out[i] = { count, sum, min, max };
      continue;
    }
    const value = readNumber(r, lastKind, fail, i);
    const offset = r.varint();
    if (offset >= MINUTE_MS) throw fail(`minute ${i}: last event ${offset} ms after the minute's start`);
    const s = r.varint();
    if (s >= shards.length) throw fail(`minute ${i}: shard ${s} of ${shards.length}`);
    out[i] = { count, sum, min, max, last: { value, ts: hourStart + i * MINUTE_MS + offset, shardId: shards[s]! } };
  }
  return out;
}

function readNumber(r: ProtoReader, k: number, fail: (reason: string) => Error, minute: number): number {
  if (k === INT) {
    const z = r.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  if (k === F64) {
    const v = r.double();
    if (!Number.isFinite(v)) throw fail(`minute ${minute}: ${v}`);
    return v;
  }
  throw fail(`minute ${minute}: number encoding ${k}`);
}
