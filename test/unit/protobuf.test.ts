/**
 * The shared protobuf reader (functions/shared/protobuf.ts) that KPL records and stored sketches are
 * read with: every wire type it reads or skips, and the caller's error, with an exact reason, for
 * each way a buffer can be malformed.
 */
import { describe, expect, it } from 'vitest';
import { ProtoReader } from '../../functions/shared/protobuf.ts';

class TestFormatError extends Error {}
const read = (bytes: number[]): ProtoReader => new ProtoReader(Uint8Array.from(bytes), (reason) => new TestFormatError(`test: ${reason}`), 'thing');

describe('Class: ProtoReader', () => {
  it('reads tags, varints up to 2^53, sint32, doubles and length-delimited fields, and skips every wire type', () => {
    // Prepare: field 1 varint 300; field 2 sint32 -3; field 3 double 1.5; field 4 bytes "hi";
    // then one field of each skippable wire type (0, 1, 2, 5) and a varint of 2^53 - 1.
    const double = [...new Uint8Array(new Float64Array([1.5]).buffer)];
    const r = read([
      0x08, 0xac, 0x02,
      0x10, 0x05,
      0x19, ...double,
      0x22, 0x02, 0x68, 0x69,
      0x28, 0x01,
      0x31, 0, 0, 0, 0, 0, 0, 0, 0,
      0x3a, 0x01, 0x00,
      0x45, 0, 0, 0, 0,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
    ]);

    // Act
    const out: unknown[] = [];
    out.push(r.tag(), r.varint());
    out.push(r.tag(), r.sint32());
    out.push(r.tag(), r.double());
    out.push(r.tag(), r.string());
    for (let i = 0; i < 4; i++) r.skip(r.tag().wire);
    out.push(r.varint(), r.done);

    // Assess
    expect(out).toEqual([
      { field: 1, wire: 0 }, 300,
      { field: 2, wire: 0 }, -3,
      { field: 3, wire: 1 }, 1.5,
      { field: 4, wire: 2 }, 'hi',
      2 ** 53 - 1, true,
    ]);
  });

  it('reads an embedded message through sub() without reading past it', () => {
    // Prepare: field 1 = message { field 1 varint 7 }, then field 2 varint 9.
    const r = read([0x0a, 0x02, 0x08, 0x07, 0x10, 0x09]);

    // Act
    r.tag();
    const m = r.sub();
    const inner = [m.tag(), m.varint(), m.done];
    const outer = [r.tag(), r.varint(), r.done];

    // Assess
    expect(inner).toEqual([{ field: 1, wire: 0 }, 7, true]);
    expect(outer).toEqual([{ field: 2, wire: 0 }, 9, true]);
  });

  it.each([
    ['field number 0', [0x00], (r: ProtoReader) => r.tag(), 'test: protobuf field number 0'],
    ['a varint cut short', [0x80, 0x80], (r: ProtoReader) => r.varint(), 'test: truncated protobuf varint'],
    ['a varint above 2^53', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], (r: ProtoReader) => r.varint(), 'test: protobuf varint too large'],
    ['an 11-byte varint', [...Array(10).fill(0x80), 0x01], (r: ProtoReader) => r.varint(), 'test: protobuf varint longer than 10 bytes'],
    ['a length past the end', [0x05, 0x01], (r: ProtoReader) => r.bytes(), 'test: protobuf length 5 runs past the end of the thing'],
    ['a double cut short', [0, 0, 0], (r: ProtoReader) => r.double(), 'test: truncated protobuf field'],
    ['a fixed64 skipped past the end', [0, 0], (r: ProtoReader) => r.skip(1), 'test: truncated protobuf field'],
    ['a fixed32 skipped past the end', [0], (r: ProtoReader) => r.skip(5), 'test: truncated protobuf field'],
    ['wire type 3 (groups)', [], (r: ProtoReader) => r.skip(3), 'test: unsupported protobuf wire type 3'],
  ])('refuses %s with the caller\'s error', (_label, bytes, act, message) => {
    // Prepare
    const r = read(bytes);

    // Act + Assess
    expect(() => act(r)).toThrow(TestFormatError);
    expect(() => act(read(bytes))).toThrow(message);
  });
});
