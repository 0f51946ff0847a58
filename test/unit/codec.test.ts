import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeEvents,
  decodeRecord,
  encodeRecords,
  fnv1a32,
  groupPutRequests,
  KINESIS_LIMITS,
  MAX_INFLATED_BYTES,
  PARTITION_BUCKETS,
  partitionKeyFor,
  spreadSlot,
  type DecodedRecord,
  type EncodeOptions,
  type EncodedRecord,
} from '../../functions/shared/codec.ts';
import { RecordRejectedError, type Lineage } from '../../functions/shared/errors.ts';
import { checkName, EVENT_TYPES, LIMITS, validateEvent, type StreamEvent } from '../../functions/shared/event.ts';
import { decodeKpl } from '../../functions/shared/kpl.ts';
import { kplAggregate, kplDeaggregate } from './support/kpl-agg.ts';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
const POS = { shardId: 'shardId-000000000007', sequenceNumber: '49590338271490256608559692538361571095921575989136588898' };
const MiB = 1024 * 1024;
const EMOJI = '\u{1F600}';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const lin = (subIndex: number): Lineage => ({ ...POS, subIndex });

/** A valid event body (direct producer: carries its tenant). */
function body(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { tenant: 'acme', name: `api.requests.${i}`, ts: NOW - i, value: i, tags: { env: 'prod', i: String(i) }, ...over };
}
const line = (i: number, over: Record<string, unknown> = {}): string => JSON.stringify(body(i, over));

/** The normalized event validateEvent makes of `body(i, over)`. */
function normalized(i: number, over: Record<string, unknown> = {}): StreamEvent {
  const r = validateEvent(body(i, over), { now: NOW });
  if (!r.ok) throw new Error(r.reason);
  return r.event;
}

function jsonErrorMessage(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
}

/** Every slot of a decoded record in lineage order: value text or error reason. */
function slots(rec: DecodedRecord): Array<{ sub: number; kind: 'value' | 'error'; detail: unknown }> {
  return [
    ...rec.values.map((v) => ({ sub: v.lineage.subIndex, kind: 'value' as const, detail: v.value })),
    ...rec.errors.map((e) => ({ sub: e.lineage.subIndex, kind: 'error' as const, detail: e.reason })),
  ].sort((a, b) => a.sub - b.sub);
}

function md5(b: Uint8Array): Buffer {
  return createHash('md5').update(b).digest();
}

/** A KPL record around a hand-written protobuf body (valid checksum). */
function kplRaw(bodyBytes: number[] | Uint8Array): Buffer {
  const b = Buffer.from(bodyBytes);
  return Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), b, md5(b)]);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries for the round trip

const NAME_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-'];
const TENANT_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789_-'];
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

const nameArb = fc
  .oneof(
    { weight: 10, arbitrary: fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 24 }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 200, maxLength: 200 }) },
  )
  // No empty, "." or ".." segment (the name rule): a "/" next to another, or at an end, goes.
  .map((n) => n.split('/').filter((seg) => seg !== '' && seg !== '.' && seg !== '..').join('/') || 'n')
  .filter((n) => checkName(n) === undefined);
const tenantArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('acme', 'globex', 't0') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), fc.string({ unit: fc.constantFrom(...TENANT_CHARS), maxLength: 63 }))
      .map(([h, t]) => h + t),
  },
);
const tagKeyArb = (min: number, max: number) =>
  fc.string({ unit: 'binary', minLength: min, maxLength: max }).filter((k) => !FORBIDDEN.has(k));
const smallTagsArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constant({}) },
  {
    weight: 8,
    arbitrary: fc.dictionary(tagKeyArb(1, 12), fc.string({ unit: 'binary', maxLength: 24 }), {
      maxKeys: 6,
      noNullPrototype: true,
    }),
  },
);
/** The contract's maximum: 32 tags, 100-code-point keys, 200-code-point values. */
const maxTagsArb = fc.dictionary(tagKeyArb(100, 100), fc.string({ unit: 'binary', minLength: 200, maxLength: 200 }), {
  minKeys: 32,
  maxKeys: 32,
  noNullPrototype: true,
});
const tagsArb = fc.oneof({ weight: 13, arbitrary: smallTagsArb }, { weight: 1, arbitrary: maxTagsArb });
/** attrs of exactly 16384 - slack bytes serialized. */
const nearLimitAttrsArb = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer({ min: 0, max: 64 }), fc.constantFrom('x', 'é', 'ab'))
  .map(([u, slack, pad]) => {
    const room = LIMITS.attrsMaxBytes - slack - Buffer.byteLength(JSON.stringify({ u, pad: '' }), 'utf8');
    const unit = Buffer.byteLength(pad, 'utf8');
    return { u, pad: pad.repeat(Math.floor(room / unit)) + 'x'.repeat(room % unit) };
  });
const smallAttrsArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc
      .dictionary(fc.string({ unit: 'binary', maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4, noNullPrototype: true })
      // Plain objects, no -0 (JSON cannot carry it), no keys the validator refuses at any depth.
      .map((a) => JSON.parse(JSON.stringify(a)) as Record<string, unknown>)
      .filter((a) => !/"(__proto__|constructor|prototype)":/.test(JSON.stringify(a))),
  },
);
const attrsArb = fc.oneof({ weight: 12, arbitrary: smallAttrsArb }, { weight: 1, arbitrary: nearLimitAttrsArb });
const tsArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: LIMITS.minTs, max: NOW + LIMITS.maxFutureMs }) },
  { weight: 1, arbitrary: fc.constantFrom(LIMITS.minTs, NOW + LIMITS.maxFutureMs) },
);
const makeEventArb = (tags: fc.Arbitrary<Record<string, string> | undefined>, attrs: fc.Arbitrary<Record<string, unknown> | undefined>) =>
  fc
    .record(
      {
        tenant: tenantArb,
        name: nameArb,
        ts: tsArb,
        value: fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (v === 0 ? 0 : v)),
        type: fc.constantFrom(...EVENT_TYPES),
        tags,
        id: fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
        attrs,
      },
      { requiredKeys: ['tenant', 'name', 'ts'] },
    )
    // Normalize through the validator; the rare generated forbidden key (e.g. "__proto__") is dropped.
    .map((raw) => validateEvent(raw, { now: NOW }))
    .filter((r) => r.ok)
    .map((r) => (r as { ok: true; event: StreamEvent }).event);
const eventArb = makeEventArb(tagsArb, attrsArb);
const smallEventArb = makeEventArb(smallTagsArb, smallAttrsArb);

const batchArb = fc.oneof(
  // Anything.
  { weight: 4, arbitrary: fc.array(eventArb, { maxLength: 30 }) },
  // Few partition keys: order per key is interleaved in the input.
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.array(fc.tuple(fc.constantFrom('acme', 'globex'), fc.constantFrom('a', 'b', 'c.d')), { minLength: 40, maxLength: 40 }))
      .map(([evs, keys]) => evs.map((e, i) => ({ ...e, tenant: keys[i]![0], name: keys[i]![1] }))),
  },
  // One partition key: overall order is kept.
  {
    weight: 2,
    arbitrary: fc
      .tuple(tenantArb, nameArb, fc.array(eventArb, { minLength: 1, maxLength: 60 }))
      .map(([tenant, name, evs]) => evs.map((e) => ({ ...e, tenant, name }))),
  },
);
const optionsArb = fc.constantFrom<EncodeOptions>(
  {},
  { targetRawBytes: 1 },
  { targetRawBytes: 300 },
  { targetRawBytes: 4096 },
  { maxRecordBytes: 96 * 1024 },
  { maxRecordBytes: 96 * 1024, targetRawBytes: 64 * 1024, level: 1 },
  { level: 9 },
);

/** Events grouped by partition key in order of first appearance, order kept inside each key. */
function groupedByKey(events: readonly StreamEvent[]): StreamEvent[] {
  const m = new Map<string, StreamEvent[]>();
  for (const e of events) {
    const pk = partitionKeyFor(e.tenant, e.name);
    let l = m.get(pk);
    if (l === undefined) m.set(pk, (l = []));
    l.push(e);
  }
  return [...m.values()].flat();
}

function checkRequests(records: readonly EncodedRecord[]): void {
  const groups = groupPutRequests(records);
  expect(groups.flat().length).toBe(records.length);
  groups.flat().forEach((r, i) => expect(r).toBe(records[i]));
  for (const g of groups) {
    expect(g.length).toBeGreaterThan(0);
    expect(g.length).toBeLessThanOrEqual(KINESIS_LIMITS.requestRecords);
    const bytes = g.reduce((n, r) => n + r.data.length + Buffer.byteLength(r.partitionKey, 'utf8'), 0);
    expect(bytes).toBeLessThanOrEqual(KINESIS_LIMITS.requestBytes);
  }
}

// ---------------------------------------------------------------------------------------------

describe('Function: encodeRecords + decodeEvents (round trip)', () => {
  it('decodes every generated batch back to the same events, in order per partition key, within Kinesis limits', () => {
    // Prepare
    const property = fc.property(batchArb, optionsArb, (events, opts) => {
      // Act
      const records = encodeRecords(events, opts);
      // Assess
      const maxRecord = opts.maxRecordBytes ?? KINESIS_LIMITS.recordBytes;
      const decoded: StreamEvent[] = [];
      let total = 0;
      records.forEach((r, i) => {
        expect(r.partitionKey.length).toBeGreaterThan(0);
        expect(r.partitionKey.length).toBeLessThanOrEqual(KINESIS_LIMITS.partitionKeyChars);
        const size = r.data.length + Buffer.byteLength(r.partitionKey, 'utf8');
        expect(size).toBeLessThanOrEqual(maxRecord);
        expect(size).toBeLessThanOrEqual(KINESIS_LIMITS.recordBytes);
        expect(r.data[0]).toBe(0x1f);
        expect(r.data[1]).toBe(0x8b);
        expect(r.count).toBeGreaterThan(0);
        total += r.count;

        const pos = { shardId: 'shardId-000000000001', sequenceNumber: String(1_000_000 + i) };
        const out = decodeEvents(r.data, pos, { now: NOW });
        expect(out.rejected).toEqual([]);
        expect(out.events.length).toBe(r.count);
        out.events.forEach((e, k) => {
          expect(e.lineage).toEqual({ ...pos, subIndex: k });
          expect(partitionKeyFor(e.event.tenant, e.event.name)).toBe(r.partitionKey);
          decoded.push(e.event);
        });
      });
      expect(total).toBe(events.length);
      expect(decoded).toEqual(groupedByKey(events));
      if (new Set(events.map((e) => partitionKeyFor(e.tenant, e.name))).size <= 1) {
        expect(decoded).toEqual(events);
      }
      checkRequests(records);
    });
    // Act + Assess (fast-check prints the seed and the shrunk counterexample on failure)
    fc.assert(property, { numRuns: 1000 });
  });

  it('halves a batch until every record fits a small record budget, keeping order', () => {
    // Prepare: a record budget just above the largest single event, so most batches must be halved.
    const property = fc.property(
      fc.array(smallEventArb, { minLength: 1, maxLength: 80, size: '+1' }),
      fc.boolean(),
      fc.constantFrom(1, 1.5, 3),
      (evs, onePk, factor) => {
        const events = onePk ? evs.map((e) => ({ ...e, tenant: 'acme', name: 'one.key' })) : evs;
        const largest = Math.max(
          ...events.map((e) => encodeRecords([e]).reduce((n, r) => Math.max(n, r.data.length + r.partitionKey.length), 0)),
        );
        const maxRecordBytes = Math.ceil(largest * factor);
        // Act
        const records = encodeRecords(events, { maxRecordBytes });
        // Assess
        for (const r of records) {
          expect(r.data.length + Buffer.byteLength(r.partitionKey, 'utf8')).toBeLessThanOrEqual(maxRecordBytes);
        }
        const decoded = records.flatMap((r, i) => {
          const out = decodeEvents(r.data, { shardId: 's', sequenceNumber: String(i) }, { now: NOW });
          expect(out.rejected).toEqual([]);
          return out.events.map((e) => e.event);
        });
        expect(decoded).toEqual(groupedByKey(events));
        if (onePk) expect(decoded).toEqual(events);
      },
    );
    // Act + Assess
    fc.assert(property, { numRuns: 300 });
  });

  it('splits a large batch into gzip records of at most 1 MiB and requests of at most 5 MiB', () => {
    // Prepare: ~10 MiB of poorly compressible NDJSON under one partition key.
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const noise = (n: number) => Array.from({ length: n }, () => ALNUM[Math.floor(rnd() * ALNUM.length)]).join('');
    const events: StreamEvent[] = Array.from({ length: 640 }, (_, i) =>
      normalized(i, { name: 'big.metric', attrs: { blob: noise(16_000) } }),
    );
    // Act
    const records = encodeRecords(events);
    // Assess
    expect(records.length).toBeGreaterThan(5);
    for (const r of records) {
      expect(r.data.length + Buffer.byteLength(r.partitionKey, 'utf8')).toBeLessThanOrEqual(MiB);
    }
    const decoded = records.flatMap((r, i) =>
      decodeEvents(r.data, { shardId: 's', sequenceNumber: String(i) }, { now: NOW }).events.map((e) => e.event),
    );
    expect(decoded).toEqual(events);
    checkRequests(records);
    expect(groupPutRequests(records).length).toBeGreaterThan(1);
  });

  it('returns no records for no events', () => {
    // Prepare
    const events: StreamEvent[] = [];
    // Act
    const records = encodeRecords(events);
    // Assess
    expect(records).toEqual([]);
  });

  it('refuses to emit a record Kinesis would reject when one event cannot fit', () => {
    // Prepare
    const events = [normalized(1)];
    // Act
    const act = () => encodeRecords(events, { maxRecordBytes: 40 });
    // Assess
    expect(act).toThrow(RangeError);
  });

  it('writes one NDJSON line per event with a fixed field order', () => {
    // Prepare
    const e = normalized(3, { id: 'x-1', attrs: { k: [1] }, type: 'gauge' });
    // Act
    const [rec] = encodeRecords([e]);
    // Assess
    expect(gunzipSync(rec!.data).toString('utf8')).toBe(
      `{"tenant":"acme","name":"api.requests.3","ts":${NOW - 3},"value":3,"type":"gauge","tags":{"env":"prod","i":"3"},"id":"x-1","attrs":{"k":[1]}}\n`,
    );
  });
});

describe('Function: groupPutRequests', () => {
  const rec = (pk: string, bytes: number) => ({ partitionKey: pk, data: new Uint8Array(bytes) });

  it('cuts requests at 500 records', () => {
    // Prepare
    const records = Array.from({ length: 1201 }, (_, i) => rec(`k${i}`, 10));
    // Act
    const groups = groupPutRequests(records);
    // Assess
    expect(groups.map((g) => g.length)).toEqual([500, 500, 201]);
    expect(groups.flat()).toEqual(records);
  });

  it('fills a request to exactly 5 MiB, data plus partition keys', () => {
    // Prepare: five records of exactly 1 MiB each (data + 1-byte key), then one more byte.
    const records = [...Array.from({ length: 5 }, () => rec('k', MiB - 1)), rec('k', 0)];
    // Act
    const groups = groupPutRequests(records);
    // Assess
    expect(groups.map((g) => g.length)).toEqual([5, 1]);
  });

  it('counts partition keys in UTF-8 bytes', () => {
    // Prepare: 5 MiB of data with 4-character keys of 3 bytes per character would overflow by the keys.
    const records = Array.from({ length: 5 }, () => rec('€€€€', MiB - 8));
    // Act
    const groups = groupPutRequests(records);
    // Assess
    expect(groups.map((g) => g.length)).toEqual([4, 1]);
  });

  it('returns no requests for no records', () => {
    // Prepare
    const records: Array<{ partitionKey: string; data: Uint8Array }> = [];
    // Act
    const groups = groupPutRequests(records);
    // Assess
    expect(groups).toEqual([]);
  });
});

describe('Function: encodeRecords with a spread', () => {
  it('spreads a metric over at most `spread` keys by series, each series under one key', () => {
    // Prepare: 300 events of one metric over 100 series.
    const events = Array.from({ length: 300 }, (_, i) => normalized(i, { name: 'hot', tags: { host: `h${i % 100}` } }));

    // Act
    const spread = encodeRecords(events, { spread: 8 });
    const one = encodeRecords(events);

    // Assess
    const keys = new Set(spread.map((r) => r.partitionKey));
    expect(keys.size).toBe(8);
    for (const k of keys) expect(k).toMatch(new RegExp(`^acme#${fnv1a32('hot') % PARTITION_BUCKETS}#[1-7]$|^acme#${fnv1a32('hot') % PARTITION_BUCKETS}$`));
    const keyOfHost = new Map<string, string>();
    for (const r of spread) {
      for (const line of gunzipSync(r.data).toString('utf8').trim().split('\n')) {
        const host = (JSON.parse(line) as { tags: { host: string } }).tags.host;
        expect(keyOfHost.get(host) ?? r.partitionKey).toBe(r.partitionKey);
        keyOfHost.set(host, r.partitionKey);
      }
    }
    expect(keyOfHost.size).toBe(100);
    expect(new Set(one.map((r) => r.partitionKey))).toEqual(new Set([partitionKeyFor('acme', 'hot')]));
    expect(spread.reduce((n, r) => n + r.count, 0)).toBe(300);
  });

  it('takes the spread per (tenant, name), and the series slot whatever the tag order', () => {
    const a = normalized(1, { name: 'm', tags: { a: '1', b: '2' } });
    const b = normalized(2, { name: 'm', tags: { b: '2', a: '1' } });
    expect(spreadSlot(a, 16)).toBe(spreadSlot(b, 16));
    expect(spreadSlot(a, 1)).toBe(0);
    const keys = encodeRecords([a, normalized(3, { name: 'other', tags: { x: '1' } })], { spread: (_t, name) => (name === 'm' ? 4 : 1) }).map((r) => r.partitionKey);
    expect(keys).toContain(partitionKeyFor('acme', 'other'));
  });
});

describe('Function: partitionKeyFor', () => {
  it('is tenant#bucket with bucket = FNV-1a-32(name) mod 64', () => {
    // Prepare
    const name = 'api.requests';
    // Act
    const key = partitionKeyFor('acme', name);
    // Assess
    expect(key).toBe(`acme#${fnv1a32(name) % PARTITION_BUCKETS}`);
    expect(key).toMatch(/^acme#([0-9]|[1-5][0-9]|6[0-3])$/);
  });

  it('uses the standard FNV-1a 32-bit hash (part of the stream contract)', () => {
    // Prepare: published FNV-1a test vectors
    const vectors: Array<[string, number]> = [
      ['', 0x811c9dc5],
      ['a', 0xe40c292c],
      ['foobar', 0xbf9cf968],
    ];
    // Act + Assess
    for (const [s, h] of vectors) expect(fnv1a32(s)).toBe(h);
    expect(PARTITION_BUCKETS).toBe(64);
  });

  it('maps the same tenant and name to the same key, whatever the tags, value or time', () => {
    // Prepare
    const events = [
      normalized(1, { name: 'm', tags: { a: '1' } }),
      normalized(2, { name: 'm', tags: { b: '2' }, type: 'gauge' }),
      normalized(3, { name: 'm', ts: LIMITS.minTs }),
    ];
    // Act
    const records = encodeRecords(events);
    // Assess
    expect(records).toHaveLength(1);
    expect(records[0]!.partitionKey).toBe(partitionKeyFor('acme', 'm'));
    expect(records[0]!.count).toBe(3);
  });

  it('keeps tenants apart and every key within 256 chars', () => {
    // Prepare
    const property = fc.property(tenantArb, tenantArb, nameArb, (t1, t2, name) => {
      // Act
      const k1 = partitionKeyFor(t1, name);
      const k2 = partitionKeyFor(t2, name);
      // Assess
      expect(k1).toBe(partitionKeyFor(t1, name));
      expect(k1.startsWith(`${t1}#`)).toBe(true);
      expect(k1.length).toBeLessThanOrEqual(KINESIS_LIMITS.partitionKeyChars);
      const bucket = Number(k1.slice(t1.length + 1));
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < PARTITION_BUCKETS).toBe(true);
      if (t1 !== t2) expect(k1).not.toBe(k2);
    });
    fc.assert(property, { numRuns: 500 });
  });

  it('spreads names over all 64 buckets', () => {
    // Prepare
    const names = Array.from({ length: 5000 }, (_, i) => `svc${i % 50}.metric_${i}`);
    // Act
    const buckets = new Set(names.map((n) => partitionKeyFor('t', n)));
    // Assess
    expect(buckets.size).toBe(PARTITION_BUCKETS);
  });
});

describe('Function: decodeRecord / decodeEvents — record forms', () => {
  const three = [line(0), line(1), line(2)];
  const threeEvents = [normalized(0), normalized(1), normalized(2)];

  it('decodes one plain JSON event', () => {
    // Prepare
    const data = enc(line(7));
    // Act
    const rec = decodeRecord(data, POS);
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(rec.errors).toEqual([]);
    expect(rec.values).toEqual([{ value: body(7), lineage: lin(0), text: line(7) }]);
    expect(out).toEqual({ events: [{ event: normalized(7), lineage: lin(0) }], rejected: [] });
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('decodes one pretty-printed multi-line JSON event (%s)', (_label, eol) => {
    // Prepare
    const text = `\n${JSON.stringify(body(4, { attrs: { a: { b: [1, 2] } } }), null, 2).replaceAll('\n', eol)}${eol}`;
    const data = enc(text);
    // Act
    const rec = decodeRecord(data, POS);
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(text.split('\n').length).toBeGreaterThan(10);
    expect(rec.errors).toEqual([]);
    expect(rec.values).toEqual([{ value: body(4, { attrs: { a: { b: [1, 2] } } }), lineage: lin(0), text }]);
    expect(out.events).toEqual([{ event: normalized(4, { attrs: { a: { b: [1, 2] } } }), lineage: lin(0) }]);
  });

  it('decodes NDJSON with CRLF, blank and whitespace-only lines, and no final newline', () => {
    // Prepare
    const text = `\r\n${three[0]}\r\n\r\n   \r\n${three[1]}\n\t\n${three[2]}`;
    const data = enc(text);
    // Act
    const rec = decodeRecord(data, POS);
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(rec.errors).toEqual([]);
    expect(rec.values.map((v) => v.text)).toEqual(three);
    expect(rec.values.map((v) => v.lineage)).toEqual([lin(0), lin(1), lin(2)]);
    expect(out.events).toEqual(threeEvents.map((event, i) => ({ event, lineage: lin(i) })));
    expect(out.rejected).toEqual([]);
  });

  it('decodes NDJSON that starts with a UTF-8 byte order mark', () => {
    // Prepare
    const data = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc(`${three.join('\n')}\n`)]);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.rejected).toEqual([]);
    expect(out.events.map((e) => e.event)).toEqual(threeEvents);
  });

  it.each([
    ['plain JSON', line(0), [0]],
    ['pretty-printed JSON', JSON.stringify(body(0), null, 4), [0]],
    ['NDJSON with CRLF and blank lines', `${three[0]}\r\n\r\n${three[1]}\r\n${three[2]}\r\n`, [0, 1, 2]],
  ])('decodes gzip of %s', (_label, text, ids) => {
    // Prepare
    const data = gzipSync(text);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.rejected).toEqual([]);
    expect(out.events).toEqual(ids.map((i, k) => ({ event: normalized(i), lineage: lin(k) })));
  });

  it('decodes multi-member gzip as the concatenation of its members', () => {
    // Prepare
    const data = Buffer.concat([gzipSync(`${three[0]}\n`), gzipSync(`${three[1]}\n${three[2]}\n`, { level: 1 }), gzipSync('')]);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.rejected).toEqual([]);
    expect(out.events).toEqual(threeEvents.map((event, i) => ({ event, lineage: lin(i) })));
  });

  it('uses the stamped tenant over the body tenant', () => {
    // Prepare
    const data = enc(line(1, { tenant: 'other' }));
    // Act
    const out = decodeEvents(data, POS, { now: NOW, tenant: 'stamped' });
    // Assess
    expect(out.events.map((e) => e.event.tenant)).toEqual(['stamped']);
  });

  it('appends to a given accumulator', () => {
    // Prepare
    const into = decodeEvents(enc(line(0)), { shardId: 's', sequenceNumber: '1' }, { now: NOW });
    // Act
    const out = decodeEvents(enc(`${line(1)}\n{bad\n`), { shardId: 's', sequenceNumber: '2' }, { now: NOW }, into);
    // Assess
    expect(out).toBe(into);
    expect(out.events.map((e) => [e.lineage.sequenceNumber, e.lineage.subIndex])).toEqual([
      ['1', 0],
      ['2', 0],
    ]);
    expect(out.rejected.map((e) => [e.lineage.sequenceNumber, e.lineage.subIndex])).toEqual([['2', 1]]);
  });

  it('yields nothing, and rejects nothing, for an empty or blank record', () => {
    // Prepare
    const inputs = [new Uint8Array(0), enc('\n\r\n  \n'), gzipSync('')];
    // Act + Assess
    for (const data of inputs) expect(decodeRecord(data, POS)).toEqual({ values: [], errors: [] });
  });
});

describe('Function: decodeRecord / decodeEvents — KPL aggregated records', () => {
  const userRecords = () => [
    { partitionKey: 'a', data: line(0) }, // plain JSON           -> sub 0
    { partitionKey: 'b', data: `${line(1)}\n${line(2)}\n` }, // NDJSON  -> sub 1, 2
    { partitionKey: 'a', data: gzipSync(`${line(3)}\r\n\r\n${line(4)}\r\n${line(5)}`) }, // gzip'd NDJSON -> 3, 4, 5
    { partitionKey: 'c', data: JSON.stringify(body(6), null, 2) }, // pretty JSON -> 6
    { partitionKey: 'a', data: gzipSync(line(7)) }, // gzip'd JSON -> 7
  ];

  it('reads the same user records as aws-kinesis-agg', () => {
    // Prepare
    const data = kplAggregate(userRecords());
    // Act
    const mine = decodeKpl(data);
    // Assess
    expect(mine.map((u) => ({ partitionKey: u.partitionKey, data: Buffer.from(u.data) }))).toEqual(kplDeaggregate(data));
    expect(mine.map((u) => u.partitionKey)).toEqual(['a', 'b', 'a', 'c', 'a']);
  });

  it('decodes user records of every form with an exact, deterministic sub-index sequence', () => {
    // Prepare
    const data = kplAggregate(userRecords());
    // Act
    const first = decodeEvents(data, POS, { now: NOW });
    const second = decodeEvents(Buffer.from(data), POS, { now: NOW });
    // Assess
    expect(first.rejected).toEqual([]);
    expect(first.events).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ event: normalized(i), lineage: lin(i) })));
    expect(second).toEqual(first);
    expect(JSON.stringify(decodeRecord(data, POS))).toBe(JSON.stringify(decodeRecord(data, POS)));
  });

  it('reads user records with explicit hash keys', () => {
    // Prepare
    const data = kplAggregate([
      { partitionKey: 'a', data: line(0), explicitHashKey: '170141183460469231731687303715884105728' },
      { partitionKey: 'b', data: line(1) },
    ]);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.events.map((e) => e.event)).toEqual([normalized(0), normalized(1)]);
  });

  it('counts bad lines and bad user records as slots, in order', () => {
    // Prepare
    const badLine = '{"tenant":"acme","name":';
    const data = kplAggregate([
      { data: `${line(0)}\n${badLine}\n${line(1, { name: 'bad name' })}\n` }, // 0 ok, 1 JSON error, 2 invalid
      { data: Buffer.from([0xc3, 0x28]) }, // 3 bad UTF-8
      { data: gzipSync(line(2)).subarray(0, 12) }, // 4 truncated gzip
      { data: line(3) }, // 5 ok
    ]);
    // Act
    const rec = decodeRecord(data, POS);
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(slots(rec).map((s) => [s.sub, s.kind])).toEqual([
      [0, 'value'],
      [1, 'error'],
      [2, 'value'],
      [3, 'error'],
      [4, 'error'],
      [5, 'value'],
    ]);
    expect(out.events.map((e) => e.lineage.subIndex)).toEqual([0, 5]);
    const rejected = [...out.rejected].sort((a, b) => a.lineage.subIndex - b.lineage.subIndex);
    expect(rejected.map((e) => [e.lineage.subIndex, e.reason])).toEqual([
      [1, `invalid JSON: ${jsonErrorMessage(badLine)}`],
      [2, `name: invalid character " " at position 3 (allowed: A-Z a-z 0-9 _ . : / -)`],
      [3, "not valid UTF-8 text (expected JSON or NDJSON, optionally gzip'd)"],
      [4, 'gzip: unexpected end of file'],
    ]);
    expect(rejected.map((e) => Buffer.from(e.raw).toString('hex'))).toEqual([
      enc(badLine).toString('hex'),
      enc(line(1, { name: 'bad name' })).toString('hex'),
      'c328',
      Buffer.from(gzipSync(line(2)).subarray(0, 12)).toString('hex'),
    ]);
  });

  it('rejects a KPL record with a flipped byte in its protobuf body, keeping the raw bytes', () => {
    // Prepare
    const good = kplAggregate(userRecords());
    for (const at of [4, 5, Math.floor(good.length / 2), good.length - 17]) {
      const data = Buffer.from(good);
      data[at]! ^= 0x01;
      // Act
      const rec = decodeRecord(data, POS);
      const out = decodeEvents(data, POS, { now: NOW });
      // Assess
      expect(rec.values).toEqual([]);
      expect(rec.errors).toHaveLength(1);
      expect(rec.errors[0]).toBeInstanceOf(RecordRejectedError);
      expect(rec.errors[0]!.reason).toBe('KPL: MD5 checksum mismatch (record corrupt)');
      expect(rec.errors[0]!.lineage).toEqual(lin(0));
      expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
      expect(out.events).toEqual([]);
      expect(out.rejected.map((e) => e.reason)).toEqual(['KPL: MD5 checksum mismatch (record corrupt)']);
    }
  });

  it('rejects a KPL record with a flipped byte in its checksum', () => {
    // Prepare
    const data = kplAggregate(userRecords());
    data[data.length - 1]! ^= 0x80;
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.errors.map((e) => e.reason)).toEqual(['KPL: MD5 checksum mismatch (record corrupt)']);
    expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
  });

  it.each([
    ['the last byte', (b: Buffer) => b.subarray(0, b.length - 1), 'KPL: MD5 checksum mismatch (record corrupt)'],
    ['half', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2)), 'KPL: MD5 checksum mismatch (record corrupt)'],
    ['to 20 bytes', (b: Buffer) => b.subarray(0, 20), 'KPL: MD5 checksum mismatch (record corrupt)'],
    ['to 19 bytes', (b: Buffer) => b.subarray(0, 19), 'KPL: 19 bytes is shorter than magic + MD5 (20 bytes)'],
    ['to the magic only', (b: Buffer) => b.subarray(0, 4), 'KPL: 4 bytes is shorter than magic + MD5 (20 bytes)'],
  ])('rejects a KPL record truncated by %s', (_label, cut, reason) => {
    // Prepare
    const data = cut(kplAggregate(userRecords()));
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.values).toEqual([]);
    expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([[reason, lin(0)]]);
    expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
  });

  it.each([
    // body truncated inside a record, with a valid checksum over what remains
    ['a truncated protobuf body', [0x0a, 0x01, 0x6b, 0x1a, 0x0a, 0x08, 0x00, 0x1a], 'KPL: protobuf length 10 runs past the end of the record'],
    ['a truncated varint', [0x0a, 0x01, 0x6b, 0x1a, 0x04, 0x08, 0x80, 0x80, 0x80], 'KPL: truncated protobuf varint'],
    ['a partition key index out of range', [0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x08, 0x05, 0x1a, 0x01, 0x7b], 'KPL: user record 0 names partition key 5 of 1'],
    ['a user record without data', [0x0a, 0x01, 0x6b, 0x1a, 0x02, 0x08, 0x00], 'KPL: user record without data'],
    ['a user record without a partition key index', [0x0a, 0x01, 0x6b, 0x1a, 0x03, 0x1a, 0x01, 0x7b], 'KPL: user record without partition_key_index'],
    ['a group wire type', [0x0b, 0x0c], 'KPL: unsupported protobuf wire type 3'],
    ['field number 0', [0x02, 0x00], 'KPL: protobuf field number 0'],
    ['a fixed64 field cut short', [0x21, 0x00, 0x00], 'KPL: truncated protobuf field'],
    ['an 11-byte varint', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'KPL: protobuf varint longer than 10 bytes'],
  ])('rejects a KPL record with %s (valid checksum)', (_label, bodyBytes, reason) => {
    // Prepare
    const data = kplRaw(bodyBytes);
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.values).toEqual([]);
    expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([[reason, lin(0)]]);
    expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
  });

  it('skips unknown and tag fields it does not need', () => {
    // Prepare: record with explicit_hash_key_index (2), a tag (4), an unknown fixed32 (7); top-level unknown fixed64 (9)
    const data = kplRaw([
      0x0a, 0x01, 0x6b, // partition_key_table: "k"
      0x49, 1, 2, 3, 4, 5, 6, 7, 8, // field 9, fixed64
      0x1a, 0x11, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 0x31, 0x22, 0x03, 0x0a, 0x01, 0x74, 0x3d, 1, 2, 3, 4, // record
    ]);
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.errors).toEqual([]);
    expect(rec.values).toEqual([{ value: 1, lineage: lin(0), text: '1' }]);
  });

  it('rejects a nested KPL user record as one slot, keeping its bytes, and decodes its siblings', () => {
    // Prepare
    const inner = kplAggregate([{ data: line(1) }]);
    const data = kplAggregate([{ data: line(0) }, { data: inner }, { data: `${line(2)}\n${line(3)}` }]);
    // Act
    const rec = decodeRecord(data, POS);
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([['KPL: nested aggregated record is not supported', lin(1)]]);
    expect(Buffer.from(rec.errors[0]!.raw).equals(inner)).toBe(true);
    expect(out.events).toEqual([
      { event: normalized(0), lineage: lin(0) },
      { event: normalized(2), lineage: lin(2) },
      { event: normalized(3), lineage: lin(3) },
    ]);
  });

  it('yields nothing for a KPL record without user records', () => {
    // Prepare
    const data = kplRaw([0x0a, 0x01, 0x6b]);
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec).toEqual({ values: [], errors: [] });
  });
});

describe('Function: decodeRecord / decodeEvents — errors', () => {
  async function gzipZerosStreaming(totalBytes: number): Promise<Buffer> {
    const gz = createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    const ended = once(gz, 'end');
    const zeros = Buffer.alloc(MiB);
    for (let written = 0; written < totalBytes; written += MiB) {
      if (!gz.write(zeros)) await once(gz, 'drain');
    }
    gz.end();
    await ended;
    return Buffer.concat(chunks);
  }

  it.each([
    ['its trailer', (b: Buffer) => b.subarray(0, b.length - 4)],
    ['half', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2))],
    ['to its header', (b: Buffer) => b.subarray(0, 10)],
    ['to the magic bytes', (b: Buffer) => b.subarray(0, 2)],
  ])('rejects gzip truncated by %s, keeping the raw bytes', (_label, cut) => {
    // Prepare
    const data = cut(gzipSync(`${line(0)}\n${line(1)}\n`));
    // Act
    const rec = decodeRecord(data, POS);
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(rec.values).toEqual([]);
    expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([['gzip: unexpected end of file', lin(0)]]);
    expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
    expect(out.events).toEqual([]);
  });

  it('rejects gzip with a corrupt CRC', () => {
    // Prepare
    const data = gzipSync(line(0));
    data[data.length - 6]! ^= 0xff;
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.values).toEqual([]);
    expect(rec.errors.map((e) => e.reason)).toEqual(['gzip: incorrect data check']);
  });

  it('rejects a 100 MB gzip bomb without inflating it', async () => {
    // Prepare
    const data = await gzipZerosStreaming(100 * MiB);
    expect(data.length).toBeLessThan(200 * 1024);
    // Act
    const started = performance.now();
    const rec = decodeRecord(data, POS);
    const elapsed = performance.now() - started;
    // Assess
    expect(rec.values).toEqual([]);
    expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([[`gzip: inflates to more than ${MAX_INFLATED_BYTES} bytes`, lin(0)]]);
    expect(rec.errors[0]!.reason).toBe('gzip: inflates to more than 67108864 bytes');
    expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('rejects a 1 GiB multi-member gzip bomb, stopping at the limit', () => {
    // Prepare: 1024 members of 1 MiB of zeros each (~1 MB compressed).
    const member = gzipSync(Buffer.alloc(MiB), { level: 9 });
    const data = Buffer.concat(Array.from({ length: 1024 }, () => member));
    // Act
    const started = performance.now();
    const out = decodeEvents(data, POS, { now: NOW });
    const elapsed = performance.now() - started;
    // Assess
    expect(out.events).toEqual([]);
    expect(out.rejected.map((e) => e.reason)).toEqual(['gzip: inflates to more than 67108864 bytes']);
    // Inflating all of it would take well over this on any machine that can run the suite.
    expect(elapsed).toBeLessThan(5_000);
  });

  it('accepts gzip that inflates to exactly the limit', () => {
    // Prepare: 63 members of 1 MiB of blank lines (skipped), then one member of exactly 1 MiB ending in an event.
    const blank = Buffer.alloc(MiB, 0x20);
    blank[MiB - 1] = 0x0a;
    const ev = enc(`${line(0)}\n`);
    const last = Buffer.concat([blank.subarray(0, MiB - ev.length), ev]);
    last[MiB - ev.length - 1] = 0x0a;
    const member = gzipSync(blank, { level: 1 });
    const data = Buffer.concat([...Array.from({ length: 63 }, () => member), gzipSync(last, { level: 1 })]);
    expect(63 * MiB + last.length).toBe(MAX_INFLATED_BYTES);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.rejected).toEqual([]);
    expect(out.events).toEqual([{ event: normalized(0), lineage: lin(0) }]);
  });

  it('rejects gzip that inflates to one byte more than the limit', () => {
    // Prepare
    const blank = Buffer.alloc(MiB, 0x0a);
    const member = gzipSync(blank, { level: 1 });
    const data = Buffer.concat([...Array.from({ length: 64 }, () => member), gzipSync('\n')]);
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.errors.map((e) => e.reason)).toEqual(['gzip: inflates to more than 67108864 bytes']);
  });

  it('rejects gzip inside gzip', () => {
    // Prepare
    const data = gzipSync(gzipSync(line(0)));
    // Act
    const rec = decodeRecord(data, POS);
    // Assess
    expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([['gzip: nested gzip is not supported', lin(0)]]);
    expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
  });

  it.each([
    ['a lone continuation byte', [0x7b, 0x80, 0x7d]],
    ['an invalid lead byte', [0x7b, 0xff, 0xfe, 0x7d]],
    ['an overlong encoding', [0x7b, 0xc0, 0xaf, 0x7d]],
    ['an encoded surrogate', [0x7b, 0xed, 0xa0, 0x80, 0x7d]],
    ['a truncated sequence at the end', [...enc(line(0)), 0xe2, 0x82]],
    ['Latin-1 text', [...enc('{"name":"caf'), 0xe9, ...enc('"}')]],
  ])('rejects invalid UTF-8: %s', (_label, bytes) => {
    // Prepare
    const plain = Buffer.from(bytes);
    for (const data of [plain, gzipSync(plain)]) {
      // Act
      const rec = decodeRecord(data, POS);
      // Assess
      expect(rec.values).toEqual([]);
      expect(rec.errors.map((e) => [e.reason, e.lineage])).toEqual([
        ["not valid UTF-8 text (expected JSON or NDJSON, optionally gzip'd)", lin(0)],
      ]);
      expect(Buffer.from(rec.errors[0]!.raw).equals(data)).toBe(true);
    }
  });

  it('rejects an invalid JSON line in the middle of NDJSON and decodes the others', () => {
    // Prepare
    const bad = '{"tenant":"acme","name":"x","ts":oops}';
    const text = `${line(0)}\r\n${line(1)}\r\n${bad}\r\n\r\n${line(2)}\r\n`;
    for (const data of [enc(text), gzipSync(text)]) {
      // Act
      const rec = decodeRecord(data, POS);
      const out = decodeEvents(data, POS, { now: NOW });
      // Assess
      expect(rec.values.map((v) => v.lineage.subIndex)).toEqual([0, 1, 3]);
      expect(rec.errors).toHaveLength(1);
      const err = rec.errors[0]!;
      expect(err).toBeInstanceOf(RecordRejectedError);
      expect(err.reason).toBe(`invalid JSON: ${jsonErrorMessage(bad)}`);
      expect(err.lineage).toEqual(lin(2));
      expect(Buffer.from(err.raw).toString('utf8')).toBe(bad);
      expect(err.message).toBe(`${POS.shardId}/${POS.sequenceNumber}/2: ${err.reason}`);
      expect(out.events).toEqual([
        { event: normalized(0), lineage: lin(0) },
        { event: normalized(1), lineage: lin(1) },
        { event: normalized(2), lineage: lin(3) },
      ]);
      expect(out.rejected).toEqual([err]);
    }
  });

  it('rejects an invalid first line line by line when the whole text is not one JSON document', () => {
    // Prepare
    const bad = '{"name":';
    const data = enc(`${bad}\n${line(0)}\n${line(1)}\n`);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.rejected.map((e) => [e.reason, e.lineage, Buffer.from(e.raw).toString('utf8')])).toEqual([
      [`invalid JSON: ${jsonErrorMessage(bad)}`, lin(0), bad],
    ]);
    expect(out.events.map((e) => e.lineage.subIndex)).toEqual([1, 2]);
  });

  it('rejects an event that fails validation with the raw bytes of its line', () => {
    // Prepare
    const invalid = line(1, { ts: 1_764_331_200 });
    const text = `${line(0)}\n${invalid}\n${line(2)}\n`;
    for (const data of [enc(text), gzipSync(text), kplAggregate([{ data: line(0) }, { data: gzipSync(`${invalid}\n${line(2)}`) }])]) {
      // Act
      const out = decodeEvents(data, POS, { now: NOW });
      // Assess
      expect(out.events).toEqual([
        { event: normalized(0), lineage: lin(0) },
        { event: normalized(2), lineage: lin(2) },
      ]);
      expect(out.rejected).toHaveLength(1);
      const err = out.rejected[0]!;
      expect(err.reason).toBe(
        'ts: 1764331200 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)',
      );
      expect(err.lineage).toEqual(lin(1));
      expect(Buffer.from(err.raw).equals(enc(invalid))).toBe(true);
    }
  });

  it('rejects a non-object JSON value through validation', () => {
    // Prepare
    const data = enc(`[${line(0)}]\n42\n"x"\nnull\n`);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.events).toEqual([]);
    expect(out.rejected.map((e) => [e.lineage.subIndex, e.reason])).toEqual([
      [0, 'event: expected a JSON object, got array'],
      [1, 'event: expected a JSON object, got number'],
      [2, 'event: expected a JSON object, got string'],
      [3, 'event: expected a JSON object, got null'],
    ]);
  });

  it('quarantines an event with a far-future epoch ms instead of throwing (a throw would block the shard)', () => {
    // Prepare
    const poison = line(1, { ts: 1e20 });
    const data = gzipSync(`${line(0)}\n${poison}\n`);
    // Act
    const act = () => decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(act).not.toThrow();
    const out = act();
    expect(out.events).toEqual([{ event: normalized(0), lineage: lin(0) }]);
    expect(out.rejected.map((e) => [e.lineage, Buffer.from(e.raw).toString('utf8')])).toEqual([[lin(1), poison]]);
    expect(out.rejected[0]!.reason).toMatch(/^ts: .* is more than 10 min in the future/);
  });

  it('keeps shardId and sequence number of the record in every lineage', () => {
    // Prepare
    const pos = { shardId: 'shardId-000000000042', sequenceNumber: '1' };
    const data = enc(`${line(0)}\n{x\n${line(1, { name: '' })}\n`);
    // Act
    const out = decodeEvents(data, pos, { now: NOW });
    // Assess
    for (const l of [...out.events.map((e) => e.lineage), ...out.rejected.map((e) => e.lineage)]) {
      expect([l.shardId, l.sequenceNumber]).toEqual([pos.shardId, pos.sequenceNumber]);
    }
    expect([...out.events, ...out.rejected].map((x) => x.lineage.subIndex).sort()).toEqual([0, 1, 2]);
  });
});

describe('Function: decodeEvents — emoji and unicode survive', () => {
  it('round-trips unicode tags, id and attrs through gzip and KPL', () => {
    // Prepare
    const over = {
      tags: { ['ключ']: EMOJI.repeat(200), [EMOJI.repeat(100)]: '\u2028\u2029' },
      id: EMOJI.repeat(64),
      attrs: { '\u0000': 'nul', s: 'é\ud800' },
    };
    const data = kplAggregate([{ data: gzipSync(line(0, over)) }, { data: line(1, over) }]);
    // Act
    const out = decodeEvents(data, POS, { now: NOW });
    // Assess
    expect(out.rejected).toEqual([]);
    expect(out.events.map((e) => e.event)).toEqual([normalized(0, over), normalized(1, over)]);
  });
});
