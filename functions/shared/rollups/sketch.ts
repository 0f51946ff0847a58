/**
 * Quantile sketch of distribution buckets: DDSketch (relative accuracy 1 %) with the logarithmic
 * index mapping of @datadog/sketches-js, stored in the DDSketch protobuf schema. This module owns
 * the stored form of the `sketch` attribute: the rollup function builds and merges sketches
 * (functions/rollup/aggregate.ts, merge.ts), the query function decodes and merges them across
 * series (functions/query/series.ts).
 *
 * Why not the library's sketch objects (sketches-js 2.1.1, checked in test/unit/rollup.sketch.test.ts):
 * - `merge()` drops the other sketch's negative values (it merges only the positive store);
 * - `toProto()` writes the dense store's padding (a single value costs ~2 KB);
 * - `fromProto()` loses min/max/sum and reads only contiguous bins.
 * So this module keeps its own sparse stores and codec, and uses the library for the mapping
 * (key <-> value), which is where the accuracy guarantee lives. Format 0 is the standard DDSketch
 * proto (sketches-java/-go/-py read it; sketches-js's `fromProto` reads the contiguous form only).
 *
 * Stored form (`sketch` attribute, see keys.ts): one format byte, then
 *   0x02: compact: varints only (zero count, then per store the bin count, the first key, and
 *         (gap to the previous key, count) per non-empty bin); what `encode` writes when the
 *         counts are integers (always, for sketches built here) and the result fits in 512 B
 *   0x03: deflate-raw of the compact body, for wider sketches when it is smaller
 *   0x00: DDSketch proto; each store as contiguous counts or as a sparse map, whichever is smaller
 *   0x01: deflate-raw of the proto with contiguous stores
 * Formats 0x00/0x01 were the stored form before 0x02 and are still read; `toProto()` gives the
 * standard proto for other DDSketch implementations. The compact form costs no zlib call for
 * the common sketch (zlib was a third of the rollup's merge CPU) and is about as small as the
 * deflated proto: ~2 bytes per non-empty bin against 8 for a contiguous double.
 *
 * Range: the rollup only accepts 0 and 1e-100 <= |v| <= 1e100 (functions/rollup/aggregate.ts:
 * DynamoDB numbers hold at most 9.99e125 in magnitude and at least 1e-130). Inside that range every
 * value is indexed with <= 1 % relative error. Each store keeps at most MAX_BINS consecutive bins
 * (about 9 decades at 1 %): when a store is wider, its lowest-magnitude bins are folded into the
 * lowest kept bin, so quantiles in the top 9 decades stay within 1 % and smaller magnitudes are
 * over-estimated (never under).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DDSketch } from '@datadog/sketches-js';
import { StreamfoldError } from '../errors.ts';
import { ProtoReader, ProtoWriter } from '../protobuf.ts';

export const RELATIVE_ACCURACY = 0.01;
/** Widest store, in consecutive bins: gamma^1024 ~ 8.6e8 (8.9 decades at 1 %). */
export const MAX_BINS = 1024;
/**
 * Compact forms larger than this are deflated (when that is smaller). A write unit (1 KB of item)
 * costs ~1,500x the Lambda time of a zlib call (~30 us), so sketches big enough to push their item
 * over 1 KB are compressed; below it the call would buy nothing.
 */
const COMPRESS_ABOVE_BYTES = 512;

/**
 * A 4 KB window and small hash tables: the same size as zlib's defaults on sketch protos (their
 * redundancy is local: runs of zero bytes, small integers), at a third of the cost, which for
 * inputs this small is mostly allocating zlib's state. Any inflate window reads it.
 */
const DEFLATE_OPTIONS = { windowBits: 12, memLevel: 4 } as const;

const FORMAT_PROTO = 0x00;
const FORMAT_PROTO_DEFLATE = 0x01;
const FORMAT_COMPACT = 0x02;
const FORMAT_COMPACT_DEFLATE = 0x03;

interface Mapping {
  readonly gamma: number;
  readonly minPossible: number;
  key(value: number): number;
  value(key: number): number;
}

/** The library's logarithmic mapping at 1 % (gamma = 1.0202…, index offset 0). */
const mapping: Mapping = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }).mapping as Mapping;
export const GAMMA = mapping.gamma;

export class SketchFormatError extends StreamfoldError {}

export class Sketch {
  /** bin key -> count, for v > 0. */
  readonly pos = new Map<number, number>();
  private negative: Map<number, number> | undefined;
  zero = 0;
  count = 0;

  /** The negative store if it was ever used (no allocation). */
  negativeStore(): Map<number, number> | undefined {
    return this.negative;
  }

  /** bin key -> count of -v, for v < 0 (created on first use: most distributions have none). */
  get neg(): Map<number, number> {
    return (this.negative ??= new Map());
  }

  add(v: number): void {
    if (v > mapping.minPossible) bump(this.pos, mapping.key(v), 1);
    else if (v < -mapping.minPossible) bump(this.neg, mapping.key(-v), 1);
    else this.zero++;
    this.count++;
  }

  /** Adds `n` observations (a positive integer) at `v`: what `n` calls of add(v) do. */
  addN(v: number, n: number): void {
    if (n <= 0) return;
    if (v > mapping.minPossible) bump(this.pos, mapping.key(v), n);
    else if (v < -mapping.minPossible) bump(this.neg, mapping.key(-v), n);
    else this.zero += n;
    this.count += n;
  }

  /**
   * This sketch minus `earlier`, bin by bin: the observations added since `earlier` was taken (a
   * cumulative histogram's increase). Undefined when some bin of `earlier` holds more than this
   * one's (the histogram was reset).
   */
  minus(earlier: Sketch): Sketch | undefined {
    const out = this.clone();
    if (!subtractStore(out.pos, earlier.pos)) return undefined;
    const en = earlier.negativeStore();
    if (en !== undefined && en.size > 0 && !subtractStore(out.neg, en)) return undefined;
    if (earlier.zero > out.zero) return undefined;
    out.zero -= earlier.zero;
    out.count -= earlier.count;
    return out;
  }

  merge(other: Sketch): void {
    for (const [k, c] of other.pos) bump(this.pos, k, c);
    if (other.negative !== undefined) for (const [k, c] of other.negative) bump(this.neg, k, c);
    this.zero += other.zero;
    this.count += other.count;
  }

  clone(): Sketch {
    const s = new Sketch();
    s.merge(this);
    return s;
  }

  /**
   * The value at quantile q (0..1): the bin value of the element of rank floor(q * (count - 1)) in
   * ascending order, within 1 % of that element. NaN when empty.
   */
  quantile(q: number): number {
    if (this.count === 0 || !(q >= 0 && q <= 1)) return NaN;
    const rank = Math.floor(q * (this.count - 1));
    let seen = 0;
    const neg = this.negative ?? new Map<number, number>();
    const negKeys = [...neg.keys()].sort((a, b) => b - a);
    for (const k of negKeys) {
      seen += neg.get(k)!;
      if (seen > rank) return -mapping.value(k);
    }
    seen += this.zero;
    if (seen > rank) return 0;
    const posKeys = [...this.pos.keys()].sort((a, b) => a - b);
    for (const k of posKeys) {
      seen += this.pos.get(k)!;
      if (seen > rank) return mapping.value(k);
    }
    return posKeys.length > 0 ? mapping.value(posKeys.at(-1)!) : 0;
  }

  /** Folds bins beyond MAX_BINS below each store's highest key into the lowest kept bin. */
  collapse(): void {
    collapseStore(this.pos);
    if (this.negative !== undefined) collapseStore(this.negative);
  }

  /** Stored form (format byte + compact body, deflated when large and smaller). Collapses first. */
  encode(): Uint8Array {
    this.collapse();
    if (!encodeCompact(scratch, this)) return this.encodeProtoForm();
    return finishCompact(scratch);
  }

  /**
   * The standard DDSketch proto (no format byte) with contiguous stores, the form every DDSketch
   * implementation reads (sketches-js's `fromProto` reads no other).
   */
  toProto(): Uint8Array {
    this.collapse();
    encodeProto(scratch, this, true);
    return scratch.view(1).slice();
  }

  /** Format 0x00/0x01: for counts the compact form cannot hold (not integers). */
  private encodeProtoForm(): Uint8Array {
    encodeProto(scratch, this, false);
    if (scratch.len - 1 > COMPRESS_ABOVE_BYTES) {
      const rawLength = scratch.len - 1;
      // Contiguous counts (runs of zero bytes) compress far better than the sparse map.
      encodeProto(scratch, this, true);
      const z = deflateRawSync(scratch.view(1), DEFLATE_OPTIONS);
      if (z.length < rawLength) return withFormat(FORMAT_PROTO_DEFLATE, z);
      encodeProto(scratch, this, false);
    }
    const out = scratch.finish();
    out[0] = FORMAT_PROTO;
    return out;
  }

  /**
   * `Sketch.decode(stored)` merged with `adds`, then `encode()`d, without building the stored
   * sketch: the stored compact form is read into sorted arrays and merged with each store's new
   * bins in one walk. Same bytes as the slow way. Undefined when the fast way does not apply (the
   * stored form is not compact 0x02, a count is not an integer, or a store would need collapsing):
   * take the slow way then. `adds` are not modified.
   */
  static mergeEncoded(stored: Uint8Array, adds: readonly Sketch[]): Uint8Array | undefined {
    if (stored.length === 0 || stored[0] !== FORMAT_COMPACT || adds.length === 0) return undefined;
    let zero = 0;
    for (const a of adds) zero += a.zero;
    const r = reader(stored.subarray(1));
    zero += r.varint();
    if (!isCount(zero)) return undefined;
    const w = scratch;
    w.len = 0;
    w.byte(0);
    w.varint(zero);
    if (!mergeCompactStore(r, w, adds, false) || !mergeCompactStore(r, w, adds, true)) return undefined;
    if (!r.done) throw new SketchFormatError('sketch: trailing bytes');
    return finishCompact(w);
  }

  static decode(bytes: Uint8Array): Sketch {
    if (bytes.length === 0) throw new SketchFormatError('sketch: empty');
    const body = bytes.subarray(1);
    switch (bytes[0]) {
      case FORMAT_COMPACT:
        return decodeCompact(body);
      case FORMAT_COMPACT_DEFLATE:
        return decodeCompact(inflateRawSync(body));
      case FORMAT_PROTO:
        return decodeProto(body);
      case FORMAT_PROTO_DEFLATE:
        return decodeProto(inflateRawSync(body));
      default:
        throw new SketchFormatError(`sketch: unknown format byte ${bytes[0]}`);
    }
  }
}

export const encodeSketch = (s: Sketch): Uint8Array => s.encode();
export const decodeSketch = (bytes: Uint8Array): Sketch => Sketch.decode(bytes);

/** `into` minus `sub` bin by bin (bins reaching 0 removed); false if a bin would go negative. */
function subtractStore(into: Map<number, number>, sub: Map<number, number>): boolean {
  for (const [k, c] of sub) {
    if (c === 0) continue;
    const have = into.get(k) ?? 0;
    if (have < c) return false;
    if (have === c) into.delete(k);
    else into.set(k, have - c);
  }
  return true;
}

function bump(m: Map<number, number>, k: number, c: number): void {
  m.set(k, (m.get(k) ?? 0) + c);
}

function collapseStore(m: Map<number, number>): void {
  if (m.size === 0) return;
  let max = -Infinity;
  let min = Infinity;
  for (const k of m.keys()) {
    if (k > max) max = k;
    if (k < min) min = k;
  }
  const lowest = max - MAX_BINS + 1;
  if (min >= lowest) return;
  let folded = 0;
  for (const [k, c] of m) {
    if (k < lowest) {
      folded += c;
      m.delete(k);
    }
  }
  bump(m, lowest, folded);
}

function withFormat(format: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = format;
  out.set(body, 1);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Compact form (0x02): varint(zero), store(pos), store(neg); a store is varint(bins) and, when
// bins > 0, sint(first key) varint(count), then per further bin varint(key - previous - 1)
// varint(count). Keys ascending; every count a positive integer.

/** Writes format byte placeholder + compact body; false when a count is not a safe integer. */
function encodeCompact(w: ProtoWriter, s: Sketch): boolean {
  w.len = 0;
  w.byte(0);
  if (!isCount(s.zero)) return false;
  w.varint(s.zero);
  return writeCompactStore(w, s.pos) && writeCompactStore(w, s.negativeStore());
}

const isCount = (c: number): boolean => Number.isSafeInteger(c) && c >= 0;

function writeCompactStore(w: ProtoWriter, m: Map<number, number> | undefined): boolean {
  let bins = 0;
  let min = Infinity;
  let max = -Infinity;
  if (m !== undefined) {
    for (const [k, c] of m) {
      if (c === 0) continue;
      if (!isCount(c)) return false;
      bins++;
      if (k < min) min = k;
      if (k > max) max = k;
    }
  }
  w.varint(bins);
  if (bins === 0) return true;
  // Collapsed stores span at most MAX_BINS keys. A sparse store (the usual case: a few dozen bins
  // over a span of hundreds) is cheaper to sort than to walk; a dense one is cheaper to walk.
  if (bins * 8 < max - min + 1) {
    const keys = sortScratch.subarray(0, bins);
    let n = 0;
    for (const [k, c] of m!) if (c !== 0) keys[n++] = k;
    keys.sort();
    for (let i = 0; i < n; i++) mergedCounts[i] = m!.get(keys[i]!)!;
    writeBins(w, keys, mergedCounts, n);
    return true;
  }
  let prev = min - 1;
  for (let k = min; k <= max; k++) {
    const c = m!.get(k);
    if (c === undefined || c === 0) continue;
    if (k === min) w.sint32(k);
    else w.varint(k - prev - 1);
    w.varint(c);
    prev = k;
  }
  return true;
}

/** Keys of one store, for sorting (stores hold at most MAX_BINS keys once collapsed). */
const sortScratch = new Int32Array(MAX_BINS);

/** The stored form of the compact body in `w` (after its placeholder byte): deflated when large and smaller. */
function finishCompact(w: ProtoWriter): Uint8Array {
  if (w.len - 1 > COMPRESS_ABOVE_BYTES) {
    const z = deflateRawSync(w.view(1), DEFLATE_OPTIONS);
    if (z.length < w.len - 1) return withFormat(FORMAT_COMPACT_DEFLATE, z);
  }
  const out = w.finish();
  out[0] = FORMAT_COMPACT;
  return out;
}

/** Bins of one stored store, then of the merged one (keys ascending). */
const storedKeys = new Int32Array(MAX_BINS);
const storedCounts = new Float64Array(MAX_BINS);
const mergedKeys = new Int32Array(2 * MAX_BINS);
const mergedCounts = new Float64Array(2 * MAX_BINS);

/**
 * Reads one compact store from `r`, merges the same store of every sketch in `adds` into it and
 * writes the result to `w` (compact store form). False when a count is not an integer or the
 * result spans more than MAX_BINS keys (it would need collapsing).
 */
function mergeCompactStore(r: ProtoReader, w: ProtoWriter, adds: readonly Sketch[], negative: boolean): boolean {
  const bins = readBins(r);
  // The new bins: one sketch's store, or several summed (a batch with several shards' parts).
  let add: Map<number, number> | undefined;
  if (adds.length === 1) add = negative ? adds[0]!.negativeStore() : adds[0]!.pos;
  else {
    for (const a of adds) {
      const m = negative ? a.negativeStore() : a.pos;
      if (m === undefined || m.size === 0) continue;
      add ??= new Map();
      for (const [key, c] of m) add.set(key, (add.get(key) ?? 0) + c);
    }
  }
  if (add !== undefined && add.size > MAX_BINS) return false;
  const keys = sortScratch.subarray(0, add?.size ?? 0);
  let a = 0;
  if (add !== undefined) {
    for (const [key, c] of add) {
      if (!isCount(c)) return false;
      keys[a++] = key;
    }
    keys.sort();
  }
  // Merge walk; bins whose count is 0 are left out, as `encode` does.
  let n = 0;
  let i = 0;
  let j = 0;
  while (i < bins || j < a) {
    let key: number;
    let c: number;
    if (j >= a || (i < bins && storedKeys[i]! < keys[j]!)) {
      key = storedKeys[i]!;
      c = storedCounts[i++]!;
    } else {
      key = keys[j++]!;
      c = add!.get(key)!;
      if (i < bins && storedKeys[i] === key) c += storedCounts[i++]!;
    }
    if (c === 0) continue;
    mergedKeys[n] = key;
    mergedCounts[n++] = c;
  }
  if (n > 0 && mergedKeys[n - 1]! - mergedKeys[0]! + 1 > MAX_BINS) return false;
  for (let i = 0; i < n; i++) if (!isCount(mergedCounts[i]!)) return false;
  w.varint(n);
  writeBins(w, mergedKeys, mergedCounts, n);
  return true;
}

/** Reads one compact store's bins into storedKeys/storedCounts; returns how many. */
function readBins(r: ProtoReader): number {
  const bins = r.varint();
  if (bins > MAX_BINS) throw new SketchFormatError(`sketch: ${bins} bins`);
  let k = 0;
  for (let i = 0; i < bins; i++) {
    k = i === 0 ? r.sint32() : k + r.varint() + 1;
    storedKeys[i] = k;
    storedCounts[i] = r.varint();
  }
  return bins;
}

/** Writes `n` bins (keys ascending, counts positive integers) after their count: first key, then gaps. */
function writeBins(w: ProtoWriter, keys: Int32Array, counts: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if (i === 0) w.sint32(keys[0]!);
    else w.varint(keys[i]! - keys[i - 1]! - 1);
    w.varint(counts[i]!);
  }
}

function decodeCompact(bytes: Uint8Array): Sketch {
  const r = reader(bytes);
  const s = new Sketch();
  s.zero = r.varint();
  let count = s.zero + readCompactStore(r, s.pos);
  const neg = new Map<number, number>();
  count += readCompactStore(r, neg);
  if (neg.size > 0) for (const [k, c] of neg) s.neg.set(k, c);
  if (!r.done) throw new SketchFormatError('sketch: trailing bytes');
  s.count = count;
  return s;
}

/** Reads one store into `into`; returns the sum of its counts. */
function readCompactStore(r: ProtoReader, into: Map<number, number>): number {
  const bins = readBins(r);
  let total = 0;
  for (let i = 0; i < bins; i++) {
    into.set(storedKeys[i]!, storedCounts[i]!);
    total += storedCounts[i]!;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// DDSketch protobuf (DataDog/sketches-java src/main/proto/DDSketch.proto):
//   DDSketch { IndexMapping mapping = 1; Store positiveValues = 2; Store negativeValues = 3; double zeroCount = 4; }
//   IndexMapping { double gamma = 1; double indexOffset = 2; Interpolation interpolation = 3; }
//   Store { map<sint32, double> binCounts = 1; repeated double contiguousBinCounts = 2 [packed];
//           sint32 contiguousBinIndexOffset = 3; }

/** One writer reused by every encode. */
const scratch = new ProtoWriter();

const zigzag = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0;
const varintLength = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

/**
 * Writes one store as field `field` of the sketch: contiguous counts (8 B per bin of the span) or
 * a sparse map, whichever is smaller (always contiguous when `contiguous`).
 */
function writeStore(w: ProtoWriter, field: number, m: Map<number, number> | undefined, contiguous: boolean): void {
  w.varint((field << 3) | 2);
  if (m === undefined || m.size === 0) {
    w.varint(0);
    return;
  }
  let min = Infinity;
  let max = -Infinity;
  let sparseBytes = 0;
  for (const k of m.keys()) {
    if (k < min) min = k;
    if (k > max) max = k;
    // entry tag + entry length + key tag + key + value tag + double
    sparseBytes += 12 + varintLength(zigzag(k));
  }
  const n = max - min + 1;
  const contiguousBytes = 1 + varintLength(n * 8) + n * 8 + (min !== 0 ? 1 + varintLength(zigzag(min)) : 0);
  if (contiguous || contiguousBytes <= sparseBytes) {
    w.varint(contiguousBytes);
    w.varint((2 << 3) | 2);
    w.varint(n * 8);
    for (let k = min; k <= max; k++) w.double(m.get(k) ?? 0);
    if (min !== 0) {
      w.varint((3 << 3) | 0);
      w.sint32(min);
    }
    return;
  }
  w.varint(sparseBytes);
  for (const [k, c] of m) {
    const z = zigzag(k);
    w.varint((1 << 3) | 2);
    w.varint(1 + varintLength(z) + 1 + 8);
    w.varint((1 << 3) | 0);
    w.varint(z);
    w.varint((2 << 3) | 1);
    w.double(c);
  }
}

/** Format byte placeholder at 0, then the DDSketch proto. */
function encodeProto(w: ProtoWriter, s: Sketch, contiguous: boolean): void {
  w.len = 0;
  w.byte(0);
  // mapping { gamma }: indexOffset 0 and interpolation NONE (0) are proto3 defaults, omitted.
  w.varint((1 << 3) | 2);
  w.varint(9);
  w.varint((1 << 3) | 1);
  w.double(GAMMA);
  // Both stores, even empty (2 bytes each): sketches-js refuses a sketch without one.
  writeStore(w, 2, s.pos, contiguous);
  writeStore(w, 3, s.negativeStore(), contiguous);
  if (s.zero > 0) {
    w.varint((4 << 3) | 1);
    w.double(s.zero);
  }
}

const sketchFailure = (reason: string): Error => new SketchFormatError(`sketch: ${reason}`);
const reader = (bytes: Uint8Array): ProtoReader => new ProtoReader(bytes, sketchFailure, 'sketch');

function decodeProto(bytes: Uint8Array): Sketch {
  const r = reader(bytes);
  const s = new Sketch();
  let gamma: number | undefined;
  let indexOffset = 0;
  let pos: Array<[number, number]> = [];
  let neg: Array<[number, number]> = [];
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const m = r.sub();
      while (!m.done) {
        const t = m.varint();
        if (t === ((1 << 3) | 1)) gamma = m.double();
        else if (t === ((2 << 3) | 1)) indexOffset = m.double();
        else if (t === ((3 << 3) | 0)) {
          if (m.varint() !== 0) throw new SketchFormatError('sketch: only the logarithmic mapping is supported');
        } else m.skip(t & 7);
      }
    } else if (field === 2 && wire === 2) pos = decodeStore(r.sub());
    else if (field === 3 && wire === 2) neg = decodeStore(r.sub());
    else if (field === 4 && wire === 1) s.zero = r.double();
    else r.skip(wire);
  }
  if (gamma === undefined || Math.abs(gamma - GAMMA) > 1e-12) {
    throw new SketchFormatError(`sketch: gamma ${gamma} differs from ${GAMMA} (relative accuracy ${RELATIVE_ACCURACY})`);
  }
  const shift = Math.round(indexOffset);
  let count = s.zero;
  for (const [k, c] of pos) {
    bump(s.pos, k + shift, c);
    count += c;
  }
  for (const [k, c] of neg) {
    bump(s.neg, k + shift, c);
    count += c;
  }
  s.count = count;
  return s;
}

function decodeStore(r: ProtoReader): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const contiguous: number[] = [];
  let offset = 0;
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const e = r.sub();
      let k = 0;
      let c = 0;
      while (!e.done) {
        const t = e.varint();
        if (t === ((1 << 3) | 0)) k = e.sint32();
        else if (t === ((2 << 3) | 1)) c = e.double();
        else e.skip(t & 7);
      }
      if (c > 0) out.push([k, c]);
    } else if (field === 2 && wire === 2) {
      const p = r.sub();
      while (!p.done) contiguous.push(p.double());
    } else if (field === 2 && wire === 1) contiguous.push(r.double());
    else if (field === 3 && wire === 0) offset = r.sint32();
    else r.skip(wire);
  }
  contiguous.forEach((c, i) => {
    if (c > 0) out.push([offset + i, c]);
  });
  return out;
}
