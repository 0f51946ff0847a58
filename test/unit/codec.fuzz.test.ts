/**
 * Fuzz: random and mutated byte strings through decodeRecord and decodeEvents.
 *
 * Invariants, for every input: nothing throws; every value and error carries the record's lineage,
 * and their sub-indexes are exactly 0..n-1; every error has a non-empty reason and non-empty raw
 * bytes; decoding is deterministic; decodeEvents covers the same n slots as decodeRecord.
 *
 * Seeded: set FUZZ_SEED=<n> to reproduce a failure (the failing seed, case and input are printed).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeEvents, decodeRecord, type RecordPosition } from '../../functions/shared/codec.ts';
import { RecordRejectedError, type Lineage } from '../../functions/shared/errors.ts';
import { kplAggregate } from './support/kpl-agg.ts';

const BASE_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : 0x5eed2026;
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
const POS: RecordPosition = { shardId: 'shardId-000000000003', sequenceNumber: '49590338271490256608559692538361571095921575989136588898' };

// ---------------------------------------------------------------------------------------------
// PRNG (mulberry32): small, fast and reproducible across platforms.

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---------------------------------------------------------------------------------------------
// Seed corpus: valid records of every form.

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
function event(i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    tenant: 'acme',
    name: `svc.m${i}`,
    ts: NOW - i * 1000,
    value: i * 1.5,
    type: ['count', 'gauge', 'distribution'][i % 3],
    tags: { env: 'prod', host: `h${i}`, 'ключ': '\u{1F600}' },
    ...(i % 2 === 0 ? { id: `id-${i}` } : {}),
    ...(i % 3 === 0 ? { attrs: { a: [1, { b: null }], s: 'x\ny' } } : {}),
    ...extra,
  });
}
const ndjson = (from: number, n: number, eol = '\n') => Array.from({ length: n }, (_, k) => event(from + k)).join(eol) + eol;

const TEXT_SEEDS: Buffer[] = [
  enc(event(0)),
  enc(JSON.stringify(JSON.parse(event(1)), null, 2)),
  enc(ndjson(0, 4)),
  enc(`\r\n${ndjson(4, 3, '\r\n')}\r\n  \r\n`),
  enc(`${event(7)}\n{"tenant":"acme","name":\n${event(8, { name: 'bad name' })}\n`),
  Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc(ndjson(9, 2))]),
];
const GZIP_SEEDS: Buffer[] = [
  ...TEXT_SEEDS.map((t) => gzipSync(t)),
  Buffer.concat([gzipSync(ndjson(0, 2)), gzipSync(ndjson(2, 2))]),
  gzipSync(ndjson(0, 3), { level: 1 }),
];
const KPL_SEEDS: Buffer[] = [
  kplAggregate([{ data: TEXT_SEEDS[0]! }, { data: TEXT_SEEDS[2]! }, { data: GZIP_SEEDS[3]! }]),
  kplAggregate([{ data: TEXT_SEEDS[1]!, partitionKey: 'a' }, { data: GZIP_SEEDS[0]!, partitionKey: 'b', explicitHashKey: '12345' }]),
  kplAggregate([{ data: TEXT_SEEDS[4]! }, { data: kplAggregate([{ data: TEXT_SEEDS[0]! }]) }, { data: TEXT_SEEDS[5]! }]),
  kplAggregate(Array.from({ length: 12 }, (_, i) => ({ data: i % 2 ? gzipSync(event(i)) : event(i) }))),
];
const ALL_SEEDS = [...TEXT_SEEDS, ...GZIP_SEEDS, ...KPL_SEEDS];

const TOKENS: Buffer[] = [
  '\n', '\r\n', '\r', ' ', '{', '}', '[', ']', '"', ':', ',', '\\', '\\u0000', 'null', 'true', '1e999', '-0',
  '99999999999999999999', '1.5', '"ts":', '"name":"', '"tenant":"', '"attrs":{', '"__proto__":', '\u{1F600}', '\uFEFF',
].map(enc);
TOKENS.push(Buffer.from([0x1f, 0x8b]), Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0x00]));

// ---------------------------------------------------------------------------------------------
// Mutations

function mutateOnce(rng: Rng, b: Buffer): Buffer {
  const pos = (extra = 0) => rng.int(b.length + extra);
  switch (rng.int(9)) {
    case 0: {
      // flip 1-4 bits
      const out = Buffer.from(b);
      if (out.length === 0) return out;
      for (let k = rng.range(1, 4); k > 0; k--) out[rng.int(out.length)]! ^= 1 << rng.int(8);
      return out;
    }
    case 1: {
      // set a random byte
      const out = Buffer.from(b);
      if (out.length > 0) out[rng.int(out.length)] = rng.int(256);
      return out;
    }
    case 2:
      // truncate
      return Buffer.from(b.subarray(0, pos()));
    case 3:
      // drop a prefix
      return Buffer.from(b.subarray(pos()));
    case 4: {
      // insert random bytes
      const at = pos(1);
      return Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 8)), b.subarray(at)]);
    }
    case 5: {
      // insert an interesting token
      const at = pos(1);
      return Buffer.concat([b.subarray(0, at), rng.pick(TOKENS), b.subarray(at)]);
    }
    case 6: {
      // delete a range
      const at = pos();
      return Buffer.concat([b.subarray(0, at), b.subarray(at + rng.range(1, 16))]);
    }
    case 7: {
      // duplicate a slice
      const at = pos();
      const len = rng.range(1, 64);
      return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
    }
    default: {
      // splice with another seed
      const other = rng.pick(ALL_SEEDS);
      return Buffer.concat([b.subarray(0, pos()), other.subarray(rng.int(other.length + 1))]);
    }
  }
}

function mutate(rng: Rng, b: Buffer): Buffer {
  let out = b;
  for (let k = rng.range(1, 3); k > 0; k--) out = mutateOnce(rng, out);
  return out;
}

/** Re-seals a KPL record after its protobuf body was mutated, so the parser (not the MD5) sees it. */
function resealKpl(rng: Rng, kpl: Buffer): Buffer {
  const body = mutate(rng, Buffer.from(kpl.subarray(4, kpl.length - 16)));
  return Buffer.concat([kpl.subarray(0, 4), body, createHash('md5').update(body).digest()]);
}

function randomText(rng: Rng): Buffer {
  const alphabet = '{}[]":,. \n\r\t0123456789-+eEtruefalsnl\\abcxyz_/';
  let s = '';
  for (let n = rng.range(0, 200); n > 0; n--) s += alphabet[rng.int(alphabet.length)];
  return enc(s);
}

// ---------------------------------------------------------------------------------------------
// Invariants

function checkSlots(lineages: readonly Lineage[], pos: RecordPosition): void {
  for (const l of lineages) {
    expect(l.shardId).toBe(pos.shardId);
    expect(l.sequenceNumber).toBe(pos.sequenceNumber);
  }
  const subs = lineages.map((l) => l.subIndex).sort((a, b) => a - b);
  expect(subs).toEqual(subs.map((_, i) => i));
}

function checkError(e: unknown): void {
  expect(e).toBeInstanceOf(RecordRejectedError);
  const err = e as RecordRejectedError;
  expect(typeof err.reason).toBe('string');
  expect(err.reason.length).toBeGreaterThan(0);
  expect(err.raw).toBeInstanceOf(Uint8Array);
  expect(err.raw.length).toBeGreaterThan(0);
}

function fingerprint(data: Uint8Array): string {
  const rec = decodeRecord(data, POS);
  return JSON.stringify([
    rec.values.map((v) => [v.lineage.subIndex, v.text]),
    rec.errors.map((e) => [e.lineage.subIndex, e.reason, Buffer.from(e.raw).toString('base64')]),
  ]);
}

function checkInput(data: Uint8Array): void {
  const rec = decodeRecord(data, POS);
  checkSlots([...rec.values.map((v) => v.lineage), ...rec.errors.map((e) => e.lineage)], POS);
  for (const v of rec.values) expect(v.text.trim().length).toBeGreaterThan(0);
  for (const e of rec.errors) checkError(e);

  const out = decodeEvents(data, POS, { now: NOW });
  const lineages = [...out.events.map((e) => e.lineage), ...out.rejected.map((e) => e.lineage)];
  checkSlots(lineages, POS);
  expect(lineages.length).toBe(rec.values.length + rec.errors.length);
  for (const e of out.rejected) checkError(e);

  expect(fingerprint(Buffer.from(data))).toBe(fingerprint(data));
}

/** Runs `count` generated inputs; on the first failure, names the seed, the case and the input. */
function fuzz(category: string, count: number, seedOffset: number, gen: (rng: Rng) => Buffer): void {
  // Prepare
  const seed = (BASE_SEED + seedOffset) >>> 0;
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) {
    const input = gen(rng);
    try {
      // Act + Assess
      checkInput(input);
    } catch (err) {
      const msg =
        `fuzz failure in "${category}" case ${i}: reproduce with FUZZ_SEED=${BASE_SEED} ` +
        `(category seed ${seed})\ninput (base64, ${input.length} bytes): ${input.toString('base64')}\n` +
        `${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
      console.error(msg);
      throw new Error(msg, { cause: err });
    }
  }
}

describe('Function: decodeRecord / decodeEvents (fuzz)', () => {
  it('survives random bytes (2,000)', () => {
    fuzz('random bytes', 2000, 1, (rng) => {
      const b = rng.bytes(rng.range(0, 512));
      // Some start with a magic number, so the gzip and KPL paths see garbage too.
      const head = rng.int(4);
      if (head === 1 && b.length >= 2) b.set([0x1f, 0x8b]);
      if (head === 2 && b.length >= 4) b.set([0xf3, 0x89, 0x9a, 0xc2]);
      return b;
    });
  });

  it('survives random JSON-like text (1,500)', () => {
    fuzz('random text', 1500, 2, randomText);
  });

  it('survives mutated JSON and NDJSON (2,000)', () => {
    fuzz('mutated text', 2000, 3, (rng) => mutate(rng, rng.pick(TEXT_SEEDS)));
  });

  it('survives mutated gzip bytes (1,500)', () => {
    fuzz('mutated gzip', 1500, 4, (rng) => mutate(rng, rng.pick(GZIP_SEEDS)));
  });

  it("survives gzip'd mutated NDJSON (1,000)", () => {
    fuzz('gzip of mutated text', 1000, 5, (rng) => gzipSync(mutate(rng, rng.pick(TEXT_SEEDS)), { level: 1 }));
  });

  it('survives mutated KPL bytes (500)', () => {
    fuzz('mutated KPL', 500, 6, (rng) => mutate(rng, rng.pick(KPL_SEEDS)));
  });

  it('survives KPL with a mutated protobuf body and a valid checksum (1,500)', () => {
    fuzz('resealed KPL', 1500, 7, (rng) => resealKpl(rng, rng.pick(KPL_SEEDS)));
  });

  it('survives KPL whose user records are mutated (500)', () => {
    fuzz('KPL of mutated user records', 500, 8, (rng) =>
      kplAggregate(
        Array.from({ length: rng.range(1, 5) }, () => {
          const data = mutate(rng, rng.pick([...TEXT_SEEDS, ...GZIP_SEEDS]));
          // aws-kinesis-agg refuses empty data
          return { data: data.length > 0 ? data : Buffer.from([0x20]) };
        }),
      ),
    );
  });
});
