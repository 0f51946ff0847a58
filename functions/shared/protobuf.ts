/**
 * A protobuf wire-format reader, bounds-checked, for the two hand-read formats: KPL aggregated
 * records (kpl.ts) and DDSketch sketches (functions/rollup/sketch.ts). A hand-written reader keeps
 * protobuf libraries out of the Lambda bundles. Every malformed input ends in the error the caller
 * builds from a reason (`fail`), never in a RangeError or a silent misread.
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

  /** Unsigned varint up to 2^53 (no count, length or index here is larger). */
  varint(): number {
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
    return Buffer.from(this.bytes()).toString('utf8');
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
