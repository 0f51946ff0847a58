/**
 * DDSketch checks: what @datadog/sketches-js 2.1.1 gets wrong (why functions/shared/rollups/sketch.ts keeps
 * its own stores), then the rollup sketch's accuracy through merges and stored-form round trips for
 * 0, negatives, tiny and huge magnitudes, its bin limit, and its codec.
 */
import { deflateRawSync } from 'node:zlib';
import { DDSketch } from '@datadog/sketches-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VALUE_MAX_ABS, VALUE_MIN_ABS } from '../../functions/rollup/aggregate.ts';
import { GAMMA, MAX_BINS, RELATIVE_ACCURACY, Sketch, SketchFormatError } from '../../functions/shared/rollups/sketch.ts';

const QUANTILES = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

/** The element of rank floor(q (n - 1)) of the sorted values: what the sketch approximates. */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function expectWithinAccuracy(actual: number, exact: number, label: string): void {
  const err = exact === 0 ? Math.abs(actual) : Math.abs(actual - exact) / Math.abs(exact);
  expect(err, `${label}: sketch ${actual} vs exact ${exact}`).toBeLessThanOrEqual(RELATIVE_ACCURACY * (1 + 1e-9));
}

function sketchOf(values: readonly number[]): Sketch {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s;
}

const roundTrip = (s: Sketch): Sketch => Sketch.decode(s.encode());

describe('Library: @datadog/sketches-js 2.1.1 (documented defects; if one of these fails after an upgrade, revisit sketch.ts)', () => {
  it('merge() drops the negative values of the merged sketch', () => {
    // Prepare
    const a = new DDSketch({ relativeAccuracy: 0.01 });
    const b = new DDSketch({ relativeAccuracy: 0.01 });
    a.accept(1);
    b.accept(-5);
    b.accept(-6);

    // Act
    a.merge(b);

    // Assess
    expect(a.count).toBe(3);
    expect(a.negativeStore.count).toBe(0);
    expect(a.getValueAtQuantile(0)).not.toBeLessThan(0);
  });

  it('toProto() writes dense padding and fromProto() loses min, max and sum', () => {
    // Prepare
    const s = new DDSketch({ relativeAccuracy: 0.01 });
    s.accept(42);

    // Act
    const proto = s.toProto();
    const back = DDSketch.fromProto(proto);

    // Assess
    expect(proto.length).toBeGreaterThan(1000);
    expect(back.min).toBe(Infinity);
    expect(back.max).toBe(-Infinity);
    expect(back.sum).toBe(0);
  });

  it('maps |v| below ~1.1e-308 (subnormals included) to zero and the largest doubles to Infinity', () => {
    // Prepare
    const s = new DDSketch({ relativeAccuracy: 0.01 });

    // Act
    s.accept(1e-310);
    const big = new DDSketch({ relativeAccuracy: 0.01 });
    big.accept(Number.MAX_VALUE);

    // Assess
    expect(s.zeroCount).toBe(1);
    expect(s.getValueAtQuantile(0.5)).toBe(0);
    expect(big.getValueAtQuantile(1)).toBe(Infinity);
  });
});

describe('Class: Sketch', () => {
  it('holds 0, negatives, tiny and huge magnitudes of the accepted range within 1 %, through merges and round trips', () => {
    // Prepare: each group spans less than MAX_BINS bins per sign (about 8.9 decades).
    const groups = [
      [0, 0, -1, 1, 0.5, -2.5, 1000, -1e-3],
      [VALUE_MIN_ABS, -VALUE_MIN_ABS, 3 * VALUE_MIN_ABS, 0, -1e-95],
      [VALUE_MAX_ABS, -VALUE_MAX_ABS, 1e95, -3.5e96, 0],
      [Number.MIN_VALUE * 0, 5e-324 * 0, 1e-50, -1e-50],
    ];
    for (const values of groups) {
      const parts = [values.slice(0, 2), values.slice(2, 4), values.slice(4)];

      // Act
      const merged = roundTrip(sketchOf(parts[0]!));
      merged.merge(roundTrip(sketchOf(parts[1]!)));
      const final = roundTrip(merged);
      final.merge(sketchOf(parts[2]!));
      const again = roundTrip(final);

      // Assess
      const sorted = [...values].sort((a, b) => a - b);
      expect(again.count).toBe(values.length);
      expect(again.zero).toBe(values.filter((v) => v === 0).length);
      for (let i = 0; i < sorted.length; i++) {
        const q = i / (sorted.length - 1);
        expectWithinAccuracy(again.quantile(q), exactQuantile(sorted, q), `${JSON.stringify(values)} q=${q}`);
      }
    }
  });

  it('keeps 1 % relative accuracy for any split, merge order and round trips (property)', () => {
    // Magnitudes within 8 decades per sign (under MAX_BINS), at either end of the accepted range or in the middle.
    const groupsArb = fc.constantFrom(1e-3, VALUE_MIN_ABS, VALUE_MAX_ABS / 1e8).chain((lo) => {
      const magnitude = fc.double({ min: lo, max: lo * 1e8, noNaN: true });
      const value = fc.oneof(fc.constant(0), magnitude, magnitude.map((v) => -v), ...(lo === 1e-3 ? [fc.integer({ min: -1000, max: 1000 })] : []));
      return fc.array(fc.array(value, { maxLength: 40 }), { minLength: 1, maxLength: 6 });
    });
    fc.assert(
      fc.property(groupsArb, fc.boolean(), (groups, encodeEach) => {
        // Prepare
        const all = groups.flat();
        fc.pre(all.length > 0);

        // Act
        const total = new Sketch();
        for (const g of groups) {
          const s = sketchOf(g);
          total.merge(encodeEach ? roundTrip(s) : s);
        }
        const stored = roundTrip(total);

        // Assess
        const sorted = [...all].sort((a, b) => a - b);
        expect(stored.count).toBe(all.length);
        for (const q of QUANTILES) expectWithinAccuracy(stored.quantile(q), exactQuantile(sorted, q), `q=${q}`);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the top MAX_BINS bins of a store and folds lower magnitudes upwards', () => {
    // Prepare: 1e-6 .. 1e6 spans ~1,370 bins at 1 %, more than MAX_BINS.
    const values: number[] = [];
    for (let e = -6; e <= 6; e += 0.01) values.push(10 ** e);
    const s = sketchOf(values);

    // Act
    const stored = roundTrip(s);

    // Assess
    const sorted = [...values].sort((a, b) => a - b);
    expect(stored.pos.size).toBeLessThanOrEqual(MAX_BINS);
    for (const q of [0.5, 0.9, 0.99, 1]) expectWithinAccuracy(stored.quantile(q), exactQuantile(sorted, q), `q=${q}`);
    // Below the kept range: over-estimated, never under.
    expect(stored.quantile(0)).toBeGreaterThan(sorted[0]!);
    expect(stored.quantile(0)).toBeLessThan(1e-2);
    expect(stored.count).toBe(values.length);
  });

  it('stays small without zlib: a 1-value sketch is a few bytes, a wide one is deflated under 2.5 KB', () => {
    // Prepare
    const one = sketchOf([42]);
    const latencies: number[] = [];
    for (let i = 0; i < 10_000; i++) latencies.push(10 + ((i * 7919) % 9000) / 100); // 10..100 ms: ~115 bins
    const wide: number[] = [];
    for (let i = 0; i < 100_000; i++) wide.push((i % 2 ? -1 : 1) * 10 ** (((i * 7919) % 20_000) / 1000 - 10));

    // Act
    const small = one.encode();
    const typical = sketchOf(latencies).encode();
    const big = sketchOf(wide).encode();

    // Assess: compact form (0x02) for the common sketch, deflated compact form (0x03) when wide.
    expect(small[0]).toBe(2);
    expect(small.length).toBeLessThan(10);
    expect(typical[0]).toBe(2);
    expect(typical.length).toBeLessThan(512);
    expect(big[0]).toBe(3);
    expect(big.length).toBeLessThan(2500);
  });

  it('keeps non-integer counts (which the compact form cannot hold) in the proto form', () => {
    // Prepare
    const s = sketchOf([1, 2, 3]);
    s.zero = 0.5;
    s.count += 0.5;

    // Act
    const stored = s.encode();
    const back = Sketch.decode(stored);

    // Assess
    expect(stored[0]).toBe(0);
    expect(back.zero).toBe(0.5);
    expect(back.count).toBe(3.5);
    for (const q of QUANTILES) expect(back.quantile(q)).toBe(s.quantile(q));
  });

  it('reads the earlier stored forms: proto (0x00) and deflated proto (0x01)', () => {
    // Prepare
    const values: number[] = [0, -3, -0.5];
    for (let i = 1; i <= 200; i++) values.push(i, 1 + i / 100);
    const s = sketchOf(values);
    const proto = s.toProto();

    // Act
    const plain = Sketch.decode(new Uint8Array([0, ...proto]));
    const deflated = Sketch.decode(new Uint8Array([1, ...deflateRawSync(proto)]));

    // Assess
    for (const back of [plain, deflated]) {
      expect(back.count).toBe(values.length);
      expect(back.zero).toBe(1);
      for (const q of QUANTILES) expect(back.quantile(q)).toBe(s.quantile(q));
    }
  });

  it('refuses corrupt compact sketches with a SketchFormatError', () => {
    // Prepare
    const good = sketchOf([1, 2, 3, -4]).encode();

    // Act + Assess
    expect(() => Sketch.decode(new Uint8Array([...good, 0]))).toThrow(/trailing bytes/);
    expect(() => Sketch.decode(good.subarray(0, good.length - 1))).toThrow(SketchFormatError);
    expect(() => Sketch.decode(new Uint8Array([2, 0, 0x81, 0x10]))).toThrow(/2049 bins/);
  });

  it('mergeEncoded gives the same bytes as decode + merge + encode, without touching the added sketches (property)', () => {
    const value = fc.oneof(
      fc.constant(0),
      fc.double({ min: 1e-3, max: 1e5, noNaN: true }),
      fc.double({ min: 1e-3, max: 1e5, noNaN: true }).map((v) => -v),
      fc.integer({ min: -1000, max: 1000 }),
    );
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 150 }), fc.array(fc.array(value, { maxLength: 40 }), { minLength: 1, maxLength: 3 }), (storedValues, groups) => {
        // Prepare
        const stored = sketchOf(storedValues).encode();
        // Up to 150 bins of ~3 bytes stay under the 512 B deflate threshold: the compact form.
        fc.pre(stored[0] === 0x02);
        const adds = groups.map(sketchOf);
        const before = adds.map((a) => a.toProto());

        // Act
        const fast = Sketch.mergeEncoded(stored, adds);
        const slow = Sketch.decode(stored);
        for (const a of adds) slow.merge(a);

        // Assess
        expect(fast).toBeDefined();
        expect(Buffer.from(fast!).toString('hex')).toBe(Buffer.from(slow.encode()).toString('hex'));
        expect(adds.map((a) => a.toProto())).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });

  it('mergeEncoded declines what it cannot merge in one walk and refuses corrupt input', () => {
    // Prepare
    const narrow = sketchOf([1, 2, 3]);
    const legacy = new Uint8Array([0x00, ...narrow.toProto()]);
    const wide: number[] = [];
    for (let e = -6; e <= 6; e += 0.01) wide.push(10 ** e);
    const deflated = sketchOf(wide).encode();
    const good = narrow.encode();

    // Act + Assess
    // Legacy proto form and the deflated compact form: the caller takes the slow way.
    expect(Sketch.mergeEncoded(legacy, [narrow])).toBeUndefined();
    expect(deflated[0]).toBe(0x03);
    expect(Sketch.mergeEncoded(deflated, [narrow])).toBeUndefined();
    // A result wider than MAX_BINS would need collapsing.
    expect(Sketch.mergeEncoded(good, [sketchOf([1e-6, 1e6])])).toBeUndefined();
    expect(Sketch.mergeEncoded(good, [])).toBeUndefined();
    expect(() => Sketch.mergeEncoded(new Uint8Array([...good, 0]), [narrow])).toThrow(/trailing bytes/);
    expect(() => Sketch.mergeEncoded(new Uint8Array([2, 0, 0x81, 0x10]), [narrow])).toThrow(/2049 bins/);
  });

  it('exports a standard DDSketch proto that the library reads back with the same quantiles', () => {
    // Prepare
    const values: number[] = [0];
    for (let i = 1; i <= 60; i++) values.push(i, 1 + i / 100);
    const s = sketchOf(values);

    // Act
    const lib = DDSketch.fromProto(s.toProto());

    // Assess
    expect(lib.count).toBe(values.length);
    for (const q of QUANTILES) expect(lib.getValueAtQuantile(q)).toBeCloseTo(s.quantile(q), 9);
  });

  it('refuses a sketch of another accuracy and unknown formats', () => {
    // Prepare
    const other = new DDSketch({ relativeAccuracy: 0.02 });
    other.accept(3);
    const foreign = new Uint8Array([0, ...other.toProto()]);

    // Act + Assess
    expect(() => Sketch.decode(foreign)).toThrow(SketchFormatError);
    expect(() => Sketch.decode(new Uint8Array([7, 1, 2]))).toThrow(/format byte 7/);
    expect(() => Sketch.decode(new Uint8Array([]))).toThrow(SketchFormatError);
    expect(GAMMA).toBeCloseTo(1.01 / 0.99, 12);
  });

  it('answers NaN when empty and for quantiles outside [0, 1]', () => {
    expect(new Sketch().quantile(0.5)).toBeNaN();
    expect(sketchOf([1]).quantile(1.5)).toBeNaN();
  });
});
