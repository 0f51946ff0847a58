/**
 * Protobuf wire-format primitives for the hand-read formats: KPL aggregated records (kpl.ts),
 * DDSketch sketches (rollups/sketch.ts), packed minutes (rollups/minutes.ts), and the drop-in
 * intake's OTLP and Datadog bodies (functions/intake/otlp/proto.ts, datadog/proto.ts).
 * Hand-written code keeps protobuf libraries out of the Lambda bundles. The reader is
 * bounds-checked: every malformed input ends in the error the caller builds from a reason
 * (`fail`), never in a RangeError or a silent misread.
 */

/** Builds the caller's error from a reason such as `truncated protobuf varint`. */
export type FormatFailure = (reason: string) => Error;

export class ProtoReader {
  pos = 0;
  private view: DataView | undefined;

  constructor(
    readonly buf: Uint8Array,
    private readonly fail: FormatFailure,
    /** What `buf` is, for messages: `protobuf length 9 runs past the end of the <what>`. */
    private readonly what = 'message',
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A field's tag; field number 0 is refused. */
  tag(): { field: number; wire: number } {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0) throw this.fail('protobuf field number 0');
    return { field, wire: t % 8 };
  }

  /**
   * A field's key (field number × 8 + wire type) as one number, without the object `tag()` makes:
   * for hot loops (`fieldOf`, `key & 7`). Field number 0 is refused.
   */
  key(): number {
    const k = this.varint();
    if (k < 8) throw this.fail('protobuf field number 0');
    return k;
  }

  /** Unsigned varint up to 2^53 (no count, length or index here is larger). */
  varint(): number {
    // Most varints here are one byte.
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw this.fail('truncated protobuf varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (result > Number.MAX_SAFE_INTEGER) throw this.fail('protobuf varint too large');
        return result;
      }
      mul *= 128;
    }
    throw this.fail('protobuf varint longer than 10 bytes');
  }

  /** A varint int64 (two's complement; negatives take 10 bytes) as a number: exact within ±2^53. */
  int64(): number {
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw this.fail('truncated protobuf varint');
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * (i - 5) + 3);
      if ((b & 0x80) === 0) return (hi | 0) * 4294967296 + (lo >>> 0);
    }
    throw this.fail('protobuf varint longer than 10 bytes');
  }

  /** Zigzag-encoded sint32. */
  sint32(): number {
    const v = this.varint() >>> 0;
    return (v >>> 1) ^ -(v & 1);
  }

  /** Little-endian fixed64 double. */
  double(): number {
    this.need(8);
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Little-endian fixed32 (unsigned). */
  fixed32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  /** Little-endian fixed64 (unsigned) as a number: exact below 2^53, rounded above (callers check Number.isSafeInteger). */
  fixed64(): number {
    const lo = this.fixed32();
    return this.fixed32() * 4294967296 + lo;
  }

  /** Little-endian sfixed64 as a number: exact within ±2^53. */
  sfixed64(): number {
    const lo = this.fixed32();
    const hi = this.fixed32();
    return hi >= 0x80000000 ? (hi - 4294967296) * 4294967296 + lo : hi * 4294967296 + lo;
  }

  /** A fixed64 of nanoseconds as whole milliseconds, exactly (floored): ns / 1e6 over 64 bits. */
  fixed64Millis(): number {
    const lo = this.fixed32();
    const hi = this.fixed32();
    // (hi * 2^32 + lo) / 1e6 = hi * 4294 + (hi * 967296 + lo) / 1e6, the second term below 2^53.
    return hi * 4294 + Math.floor((hi * 967296 + lo) / 1e6);
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Uint8Array {
    const len = this.varint();
    if (len > this.buf.length - this.pos) throw this.fail(`protobuf length ${len} runs past the end of the ${this.what}`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A reader over a length-delimited field (an embedded message or packed values). */
  sub(): ProtoReader {
    return new ProtoReader(this.bytes(), this.fail, this.what);
  }

  string(): string {
    const len = this.varint();
    if (len > this.buf.length - this.pos) throw this.fail(`protobuf length ${len} runs past the end of the ${this.what}`);
    const start = this.pos;
    this.pos += len;
    return utf8(this.buf, start, start + len);
  }

  /** End position of a length-delimited field whose length is read now (for nested reading without a sub-reader). */
  end(): number {
    const len = this.varint();
    if (len > this.buf.length - this.pos) throw this.fail(`protobuf length ${len} runs past the end of the ${this.what}`);
    return this.pos + len;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.need(8);
        this.pos += 8;
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw this.fail(`unsupported protobuf wire type ${wire}`);
    }
  }

  private need(n: number): void {
    if (n > this.buf.length - this.pos) throw this.fail('truncated protobuf field');
  }
}

/**
 * Repeated short ASCII strings (attribute keys and values, metric names: the same few appear in
 * every point of a request) returned as the same string, found by a hash of their bytes and
 * checked byte for byte, without building a new one each time. Longer or non-ASCII strings are
 * decoded as usual. One cache per decoder; it holds at most `size` strings.
 */
export class StringCache {
  private readonly table: Array<string | undefined>;
  private readonly mask: number;

  constructor(size = 4096) {
    this.table = new Array<string | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  /** A length-delimited string field of `r`. */
  read(r: ProtoReader): string {
    const end = r.end();
    const start = r.pos;
    r.pos = end;
    const buf = r.buf;
    const len = end - start;
    if (len > 64) return utf8(buf, start, end);
    let h = 0x811c9dc5 ^ len;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80) return utf8(buf, start, end);
      h = Math.imul(h ^ b, 0x01000193);
    }
    const slot = (h >>> 0) & this.mask;
    const hit = this.table[slot];
    if (hit !== undefined && hit.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (hit.charCodeAt(i) !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return hit;
    }
    const str = utf8(buf, start, end);
    this.table[slot] = str;
    return str;
  }
}

/** The field number of a key read with `ProtoReader.key()`. */
export const fieldOf = (key: number): number => (key > 0xffffffff ? Math.floor(key / 8) : key >>> 3);

/**
 * UTF-8 text of bytes [start, end): short ASCII (names, keys, most tag values) without a call into
 * the decoder; anything else through Buffer (invalid sequences become U+FFFD, as TextDecoder does).
 */
export function utf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 24) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let s = '';
      for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
      return s;
    }
  }
  return (Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)).toString('utf8', start, end);
}

/** A growable byte buffer with the writer's side of the primitives above. */
export class ProtoWriter {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned varint of an integer up to 2^53. */
  varint(v: number): void {
    this.ensure(10);
    while (v > 0x7f) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }

  /** Zigzag-encoded sint32. */
  sint32(v: number): void {
    this.varint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** Little-endian fixed64 double. */
  double(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.len, v, true);
    this.len += 8;
  }

  /** Length-prefixed UTF-8. */
  string(v: string): void {
    const bytes = Buffer.from(v, 'utf8');
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Bytes as they are (no length prefix). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** A view of bytes [from, len) (valid until the next write). */
  view(from: number): Uint8Array {
    return this.buf.subarray(from, this.len);
  }

  /** A copy of everything written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
