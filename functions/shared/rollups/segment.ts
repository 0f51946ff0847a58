/**
 * The rollup log's payloads (docs/ROLLUPS.md): what one commit of one shard adds to the items of
 * one metric (a **segment**, attribute `d` of a segment item, keys.ts), and the list of metrics a
 * commit touched (a **manifest**). Written by the rollup function at commit; read back by its fold
 * (after a restart, and in the sweeper) and by the query's reader, which apply them with fold.ts.
 *
 * Segment, version 1 (varints and doubles as in protobuf, functions/shared/protobuf.ts; numbers
 * as in minutes.ts: zigzag varint for integers below 2^52, float64 LE otherwise):
 *
 *   0x01
 *   varint base       epoch minutes of the earliest bucket start in the segment
 *   varint n          entries, then n entries:
 *     17 bytes          series id (keys.ts seriesId: 22 base64url characters, 6 bits each, packed)
 *     varint flags      bit 0 resolution (0 = 1 h, 1 = 1 m); bits 1-2 type (0 count, 1 gauge,
 *                       2 distribution: the type of the series' first event in the commit);
 *                       bit 3 last; bit 4 sketch; bit 5 minutes; bit 6 derived
 *     varint            bucket start in epoch minutes − base
 *     unless derived:
 *       varint kinds    2 bits each: sum (bits 0-1), min (2-3), max (4-5), last (6-7)
 *       varint count    >= 1
 *       sum, min, max   as their kinds say
 *       if last:        value, then varint (lastTs − bucket start)
 *       if sketch:      varint length, sketch.ts stored form
 *     if minutes:       varint length, minutes.ts stored form, whose one shard is '' (the
 *                       segment's own shard, known from its key)
 *     if cum (bit 7):   the latest cumulative histogram point of the entry (`start` with `agg`):
 *                       varint count, sum (its own kind varint, then the number), varint
 *                       (ts − bucket start), varint length + sketch.ts stored form of its buckets
 *
 * An entry with `cum` is never derived. Bit 7 came with cumulative histograms: a reader older than
 * it refuses such a segment (flags above 0x7f), it never misreads one.
 *
 * A *derived* 1 h entry holds no totals of its own: every event of its hour in the commit is in its
 * packed minutes and in the series' 1 m entries of that hour (in the same segment), so its count,
 * sum, min, max, last and sketch are theirs combined (the decoder computes them). Most 1 h entries
 * are derived; one is not when some of its events are older than the 1 m retention. The sum is
 * the minutes' sum, added in minute order (one rounding of the same events).
 *
 * A gauge's `last` keeps its value and time only: within a shard, a later commit holds later
 * events, so fold.ts orders points of one shard by commit (the commit's `to` stands in for the
 * event's sequence number) and points of different shards by shard id, as the first layout did.
 *
 * A payload of more than 256 bytes that deflate makes at least 10 % smaller is stored as 0x02 and
 * the raw deflate of the form above: series ids do not compress, the rest does (a segment of a
 * busy shard shrinks ~40 %, bench/rollup.ts).
 *
 * Manifest, version 1: 0x01, varint n, then n × (string tenant, string name, varint parts).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ProtoReader, ProtoWriter } from '../protobuf.ts';
import { StreamfoldError } from '../errors.ts';
import type { EventType } from '../event.ts';
import { RESOLUTION_MS, type Resolution } from './keys.ts';
import { decodeMinutes, numberKind, readPackedNumber, writePackedNumber, ABSENT_NUMBER } from './minutes.ts';
import { Sketch } from './sketch.ts';

export class SegmentFormatError extends StreamfoldError {}

/** Series ids are 22 base64url characters (keys.ts): 132 bits, stored in 17 bytes. */
export const SERIES_ID_CHARS = 22;
const SERIES_ID_BYTES = 17;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;
/** Parts are cut below this many payload bytes: DynamoDB's item limit is 400 KB with the keys. */
export const MAX_PART_BYTES = 350_000;

const VERSION = 1;
const DEFLATED = 2;
/** Smallest payload worth deflating, and the largest a deflated one may inflate to. */
const DEFLATE_FROM = 256;
const MAX_INFLATED = 4 * 1024 * 1024;
const MINUTE_MS = RESOLUTION_MS['1m'];
const TYPES: readonly EventType[] = ['count', 'gauge', 'distribution'];
const F_1M = 1;
const F_LAST = 1 << 3;
const F_SKETCH = 1 << 4;
const F_MINUTES = 1 << 5;
const F_DERIVED = 1 << 6;
const F_CUM = 1 << 7;
const HOUR_MS = RESOLUTION_MS['1h'];

/** What one commit adds to one item. */
export interface SegmentEntry {
  readonly seriesId: string;
  readonly res: Resolution;
  /** Bucket start, epoch ms. */
  readonly start: number;
  readonly type: EventType;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** Gauge events: the latest of the commit's events of this item. */
  readonly last?: { readonly value: number; readonly ts: number };
  /** Distribution events: sketch.ts stored form. */
  readonly sketch?: Uint8Array;
  /** 1 h items of count and gauge events: minutes.ts stored form, the one shard being ''. */
  readonly minutes?: Uint8Array;
  /** Cumulative distribution points: the commit's latest point of this item (its totals since its start). */
  readonly cum?: CumEntry;
}

/** A cumulative histogram point's totals: count, sum and buckets (a sketch), at ts. */
export interface CumEntry {
  readonly count: number;
  readonly sum: number;
  readonly ts: number;
  /** sketch.ts stored form. */
  readonly sketch: Uint8Array;
}

const writer = new ProtoWriter();

/** One payload of `entries` (which the caller keeps under MAX_PART_BYTES; see `splitSegment`). */
export function encodeSegment(entries: readonly SegmentEntry[]): Uint8Array {
  const w = writer;
  w.len = 0;
  writeEntries(w, entries);
  const raw = w.finish();
  if (raw.length <= DEFLATE_FROM) return raw;
  const packed = deflateRawSync(raw, { level: 1 });
  if (packed.length + 1 > raw.length * 0.9) return raw;
  const out = new Uint8Array(packed.length + 1);
  out[0] = DEFLATED;
  out.set(packed, 1);
  return out;
}

/**
 * The entries as payloads of at most MAX_PART_BYTES each (most segments are one part). A part
 * holds whole entries; an entry larger than a part on its own (a sketch of ~1,000 bins is ~3 KB,
 * so none is) would be refused.
 */
export function splitSegment(entries: readonly SegmentEntry[], maxBytes = MAX_PART_BYTES): Uint8Array[] {
  const whole = encodeSegment(entries);
  if (whole.length <= maxBytes) return [whole];
  const parts: Uint8Array[] = [];
  let from = 0;
  while (from < entries.length) {
    // Halve the run until it fits: entries are small and alike, so few tries.
    let to = Math.min(entries.length, from + Math.max(1, Math.floor(((entries.length - from) * maxBytes) / whole.length)));
    let bytes = encodeSegment(entries.slice(from, to));
    while (bytes.length > maxBytes && to - from > 1) {
      to = from + Math.floor((to - from) / 2);
      bytes = encodeSegment(entries.slice(from, to));
    }
    if (bytes.length > maxBytes) throw new RangeError(`one segment entry takes ${bytes.length} bytes, more than a part (${maxBytes})`);
    parts.push(bytes);
    from = to;
  }
  return parts;
}

function writeEntries(w: ProtoWriter, entries: readonly SegmentEntry[]): void {
  let base = Infinity;
  for (const e of entries) if (e.start < base) base = e.start;
  const baseMinute = entries.length === 0 ? 0 : Math.floor(base / MINUTE_MS);
  const derivable = derivableHours(entries);
  w.byte(VERSION);
  w.varint(baseMinute);
  w.varint(entries.length);
  for (const e of entries) {
    if (!(Number.isSafeInteger(e.count) && e.count >= 1)) throw new RangeError(`${e.seriesId}: count ${e.count} is not a positive integer`);
    if (e.start % MINUTE_MS !== 0) throw new RangeError(`${e.seriesId}: bucket start ${e.start} is not on a minute`);
    writeSeriesId(w, e.seriesId);
    const type = TYPES.indexOf(e.type);
    const derived = derivable.has(e);
    w.varint((e.res === '1m' ? F_1M : 0) | (type << 1) | (e.last ? F_LAST : 0) | (e.sketch ? F_SKETCH : 0) | (e.minutes ? F_MINUTES : 0) | (derived ? F_DERIVED : 0) | (e.cum ? F_CUM : 0));
    w.varint(e.start / MINUTE_MS - baseMinute);
    if (!derived) {
      w.varint(numberKind(e.sum) | (numberKind(e.min) << 2) | (numberKind(e.max) << 4) | ((e.last ? numberKind(e.last.value) : ABSENT_NUMBER) << 6));
      w.varint(e.count);
      writePackedNumber(w, e.sum);
      writePackedNumber(w, e.min);
      writePackedNumber(w, e.max);
      if (e.last) {
        const offset = e.last.ts - e.start;
        if (!(Number.isInteger(offset) && offset >= 0 && offset < RESOLUTION_MS[e.res])) throw new RangeError(`${e.seriesId}: last event time ${e.last.ts} is outside its bucket`);
        writePackedNumber(w, e.last.value);
        w.varint(offset);
      }
      if (e.sketch) {
        w.varint(e.sketch.length);
        w.raw(e.sketch);
      }
    }
    if (e.minutes) {
      w.varint(e.minutes.length);
      w.raw(e.minutes);
    }
    if (e.cum) {
      const c = e.cum;
      const offset = c.ts - e.start;
      if (!(Number.isSafeInteger(c.count) && c.count >= 0)) throw new RangeError(`${e.seriesId}: cumulative count ${c.count} is not an integer >= 0`);
      if (!(Number.isInteger(offset) && offset >= 0 && offset < RESOLUTION_MS[e.res])) throw new RangeError(`${e.seriesId}: cumulative point time ${c.ts} is outside its bucket`);
      w.varint(c.count);
      w.varint(numberKind(c.sum));
      writePackedNumber(w, c.sum);
      w.varint(offset);
      w.varint(c.sketch.length);
      w.raw(c.sketch);
    }
  }
}

function writeSeriesId(w: ProtoWriter, id: string): void {
  if (id.length !== SERIES_ID_CHARS) throw new RangeError(`series id ${JSON.stringify(id)} is not 22 base64url characters`);
  // 22 × 6 bits, big-endian, into 17 bytes (the last 4 bits zero).
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < SERIES_ID_CHARS; i++) {
    const c = id.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c]! : -1;
    if (v < 0) throw new RangeError(`series id ${JSON.stringify(id)} is not 22 base64url characters`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      w.byte((acc >> bits) & 0xff);
      acc &= (1 << bits) - 1;
    }
  }
  w.byte((acc << (8 - bits)) & 0xff);
}

function readSeriesId(bytes: Uint8Array, pos: number): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < SERIES_ID_BYTES && out.length < SERIES_ID_CHARS; i++) {
    acc = (acc << 8) | bytes[pos + i]!;
    bits += 8;
    while (bits >= 6 && out.length < SERIES_ID_CHARS) {
      bits -= 6;
      out += B64[(acc >> bits) & 63];
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}

/**
 * The 1 h entries whose totals their packed minutes and the series' 1 m entries of the hour give
 * exactly (every event of the hour in the commit is in one of them; see the header).
 */
function derivableHours(entries: readonly SegmentEntry[]): Set<SegmentEntry> {
  const out = new Set<SegmentEntry>();
  const minutesOf = new Map<string, SegmentEntry[]>();
  for (const e of entries) {
    if (e.res !== '1m') continue;
    const k = `${e.seriesId}\u0000${e.start - (e.start % HOUR_MS)}`;
    let list = minutesOf.get(k);
    if (list === undefined) minutesOf.set(k, (list = []));
    list.push(e);
  }
  for (const e of entries) {
    if (e.res !== '1h') continue;
    const derived = deriveHour(e.start, e.minutes, minutesOf.get(`${e.seriesId}\u0000${e.start}`) ?? []);
    if (e.cum === undefined && derived !== undefined && derived.count === e.count && derived.min === e.min && derived.max === e.max && sameLast(derived.last, e.last) && (derived.sketch === undefined) === (e.sketch === undefined)) out.add(e);
  }
  return out;
}

const sameLast = (a: SegmentEntry['last'], b: SegmentEntry['last']) => (a === undefined ? b === undefined : b !== undefined && a.value === b.value && a.ts === b.ts);

/** A 1 h entry's totals from its packed minutes and its series' 1 m entries of the hour. */
function deriveHour(start: number, minutes: Uint8Array | undefined, rows: readonly SegmentEntry[]): Pick<SegmentEntry, 'count' | 'sum' | 'min' | 'max' | 'last' | 'sketch'> | undefined {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let last: { value: number; ts: number } | undefined;
  if (minutes !== undefined) {
    for (const m of decodeMinutes(minutes, start)) {
      if (m === undefined) continue;
      count += m.count;
      sum += m.sum;
      if (m.min < min) min = m.min;
      if (m.max > max) max = m.max;
      if (m.last !== undefined && (last === undefined || m.last.ts >= last.ts)) last = { value: m.last.value, ts: m.last.ts };
    }
  }
  let sketch: Sketch | undefined;
  for (const r of [...rows].sort((a, b) => a.start - b.start)) {
    count += r.count;
    sum += r.sum;
    if (r.min < min) min = r.min;
    if (r.max > max) max = r.max;
    if (r.sketch !== undefined) (sketch ??= new Sketch()).merge(Sketch.decode(r.sketch));
  }
  if (count === 0) return undefined;
  return { count, sum, min, max, ...(last !== undefined ? { last } : {}), ...(sketch !== undefined ? { sketch: sketch.encode() } : {}) };
}

const fail = (reason: string): SegmentFormatError => new SegmentFormatError(`rollup segment: ${reason}`);

/** Every entry of a payload; malformed input is a SegmentFormatError naming what is wrong. */
export function decodeSegment(stored: Uint8Array): SegmentEntry[] {
  if (stored.length === 0) throw fail('empty');
  let bytes = stored;
  if (stored[0] === DEFLATED) {
    try {
      const inflated = inflateRawSync(stored.subarray(1), { maxOutputLength: MAX_INFLATED });
      bytes = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.length);
    } catch (e) {
      throw fail(`deflated payload does not inflate: ${(e as Error).message}`);
    }
  }
  const r = new ProtoReader(bytes, fail, 'rollup segment');
  if (r.done) throw fail('empty');
  const version = r.varint();
  if (version !== VERSION) throw fail(`unknown version ${version}`);
  const baseMinute = r.varint();
  const n = r.varint();
  if (n > bytes.length) throw fail(`${n} entries in ${bytes.length} bytes`);
  const out: Array<{ -readonly [K in keyof SegmentEntry]: SegmentEntry[K] }> = [];
  const derived: number[] = [];
  for (let k = 0; k < n; k++) {
    if (bytes.length - r.pos < SERIES_ID_BYTES) throw fail(`entry ${k}: truncated series id`);
    const seriesId = readSeriesId(bytes, r.pos);
    r.pos += SERIES_ID_BYTES;
    const flags = r.varint();
    if (flags > 0xff || (flags >> 1) % 4 === 3 || (flags & F_DERIVED && flags & F_CUM)) throw fail(`entry ${k}: flags ${flags}`);
    const res: Resolution = flags & F_1M ? '1m' : '1h';
    const type = TYPES[(flags >> 1) & 3]!;
    const start = (baseMinute + r.varint()) * MINUTE_MS;
    if (res === '1h' && start % HOUR_MS !== 0) throw fail(`entry ${k}: 1 h bucket ${start} is not on an hour`);
    const what = `entry ${k}`;
    if (flags & F_DERIVED) {
      if (res !== '1h') throw fail(`entry ${k}: a derived 1 m entry`);
      const e: { -readonly [K in keyof SegmentEntry]: SegmentEntry[K] } = { seriesId, res, start, type, count: 0, sum: 0, min: 0, max: 0 };
      if (flags & F_MINUTES) e.minutes = r.bytes();
      derived.push(out.length);
      out.push(e);
      continue;
    }
    const kinds = r.varint();
    if (kinds > 0xff) throw fail(`entry ${k}: number kinds ${kinds}`);
    const count = r.varint();
    if (count < 1) throw fail(`entry ${k}: count 0`);
    const sum = readPackedNumber(r, kinds & 3, what, fail);
    const min = readPackedNumber(r, (kinds >> 2) & 3, what, fail);
    const max = readPackedNumber(r, (kinds >> 4) & 3, what, fail);
    const e: { -readonly [K in keyof SegmentEntry]: SegmentEntry[K] } = { seriesId, res, start, type, count, sum, min, max };
    if (flags & F_LAST) {
      const value = readPackedNumber(r, (kinds >> 6) & 3, what, fail);
      const offset = r.varint();
      if (offset >= RESOLUTION_MS[res]) throw fail(`entry ${k}: last event ${offset} ms after its bucket's start`);
      e.last = { value, ts: start + offset };
    }
    if (flags & F_SKETCH) e.sketch = r.bytes();
    if (flags & F_MINUTES) e.minutes = r.bytes();
    if (flags & F_CUM) {
      const count = r.varint();
      const kind = r.varint();
      const sum = readPackedNumber(r, kind, `${what} cumulative sum`, fail);
      const offset = r.varint();
      if (offset >= RESOLUTION_MS[res]) throw fail(`entry ${k}: cumulative point ${offset} ms after its bucket's start`);
      e.cum = { count, sum, ts: start + offset, sketch: r.bytes() };
    }
    out.push(e);
  }
  if (!r.done) throw fail(`${bytes.length - r.pos} bytes after the last entry`);
  if (derived.length > 0) {
    const minutesOf = new Map<string, SegmentEntry[]>();
    for (const e of out) {
      if (e.res !== '1m') continue;
      const key = `${e.seriesId}\u0000${e.start - (e.start % HOUR_MS)}`;
      let list = minutesOf.get(key);
      if (list === undefined) minutesOf.set(key, (list = []));
      list.push(e);
    }
    for (const k of derived) {
      const e = out[k]!;
      const totals = deriveHour(e.start, e.minutes, minutesOf.get(`${e.seriesId}\u0000${e.start}`) ?? []);
      if (totals === undefined) throw fail(`entry ${k}: a derived 1 h entry with nothing to derive it from`);
      Object.assign(e, totals);
    }
  }
  return out;
}

/** One segment of a commit: the metric and how many parts it was written in. */
export interface ManifestEntry {
  readonly tenant: string;
  readonly name: string;
  readonly parts: number;
}

export function encodeManifest(entries: readonly ManifestEntry[]): Uint8Array {
  const w = writer;
  w.len = 0;
  w.byte(VERSION);
  w.varint(entries.length);
  for (const e of entries) {
    w.string(e.tenant);
    w.string(e.name);
    w.varint(e.parts);
  }
  return w.finish();
}

export function decodeManifest(bytes: Uint8Array): ManifestEntry[] {
  const mfail = (reason: string) => new SegmentFormatError(`rollup manifest: ${reason}`);
  const r = new ProtoReader(bytes, mfail, 'rollup manifest');
  if (r.done) throw mfail('empty');
  const version = r.varint();
  if (version !== VERSION) throw mfail(`unknown version ${version}`);
  const n = r.varint();
  if (n > bytes.length) throw mfail(`${n} entries in ${bytes.length} bytes`);
  const out: ManifestEntry[] = [];
  for (let k = 0; k < n; k++) {
    const tenant = r.string();
    const name = r.string();
    const parts = r.varint();
    if (parts < 1) throw mfail(`entry ${k}: 0 parts`);
    out.push({ tenant, name, parts });
  }
  if (!r.done) throw mfail(`${bytes.length - r.pos} bytes after the last entry`);
  return out;
}

/**
 * Manifest entries cut into payloads under `maxBytes` (a commit that touches tens of thousands
 * of metrics needs more than one item).
 */
export function splitManifest(entries: readonly ManifestEntry[], maxBytes = MAX_PART_BYTES): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  let size = 8;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const add = Buffer.byteLength(e.tenant) + Buffer.byteLength(e.name) + 8;
    if (size + add > maxBytes && i > from) {
      out.push(encodeManifest(entries.slice(from, i)));
      from = i;
      size = 8;
    }
    size += add;
  }
  out.push(encodeManifest(entries.slice(from)));
  return out;
}
