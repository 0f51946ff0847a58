import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createArchiveHandler } from '../../functions/archive/app.ts';
import { archiveBatch } from '../../functions/archive/core.ts';
import { createRollupHandler } from '../../functions/rollup/app.ts';
import { MemoryRollupStore } from '../../functions/rollup/memory-store.ts';
import { readArchiveFile, tableRows } from '../../functions/shared/archive/parquet.ts';
import { buildQuarantineObjects, decodeRaw, encodeRaw, parseQuarantineObject } from '../../functions/archive/quarantine.ts';
import { loadZstd, type BlockCodec } from '../../functions/shared/archive/zstd.ts';
import { RecordRejectedError } from '../../functions/shared/errors.ts';
import { KPL_MAGIC } from '../../functions/shared/kpl.ts';
import { context, kinesisRecord, MemoryBucket, seq, SHARD, streamEvent } from './archive.support.ts';
import { kplAggregate } from './support/kpl-agg.ts';

let codec: BlockCodec;
beforeAll(async () => {
  codec = await loadZstd();
});

const ARRIVAL = Date.parse('2026-11-28T23:59:58.500Z');
const TS = Date.parse('2026-11-28T23:10:00Z');

/** A valid direct-producer event line. */
function ok(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { tenant: 'acme', name: `api.requests`, ts: TS + i, value: i, tags: { env: 'prod' }, ...over };
}
const j = (o: unknown): string => JSON.stringify(o);

function gunzipMessage(data: Uint8Array): string {
  try {
    gunzipSync(data);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('gunzip succeeded');
}
function jsonMessage(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('JSON.parse succeeded');
}

/** A KPL record around a hand-written protobuf body, with a correct checksum. */
function kplRaw(body: Uint8Array): Buffer {
  return Buffer.concat([KPL_MAGIC, body, createHash('md5').update(body).digest()]);
}

interface BadCase {
  readonly kind: string;
  /** The record's data. */
  readonly data: Uint8Array | string;
  readonly reason: string;
  /** The quarantined bytes when not the whole record (a line of it, a KPL user record). */
  readonly raw?: Uint8Array | string;
}

const hugeAttrs = { blob: 'x'.repeat(17_000) };
const deepAttrs = (() => {
  let a: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 40; i++) a = { a };
  return a;
})();
const gz = gzipSync(j(ok(0)));
const futureTs = ARRIVAL + 11 * 60_000;
const manyTags = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
const goodKpl = kplAggregate([{ data: j(ok(1)) }, { data: j(ok(2)) }]);
const flipped = Buffer.from(goodKpl);
flipped[flipped.length - 1]! ^= 0xff;

/** ≥ 30 kinds of bad input, each the whole data of one record (or one line / user record of it). */
const CASES: BadCase[] = [
  { kind: 'broken gzip', data: Buffer.concat([gz.subarray(0, 10), Buffer.from('garbage garbage garbage')]), reason: '' },
  { kind: 'truncated gzip', data: gz.subarray(0, gz.length - 6), reason: '' },
  { kind: 'gzip bomb', data: gzipSync(Buffer.alloc(65 * 1024 * 1024)), reason: 'gzip: inflates to more than 67108864 bytes' },
  { kind: 'nested gzip', data: gzipSync(gz), reason: 'gzip: nested gzip is not supported' },
  { kind: 'invalid UTF-8', data: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), reason: "not valid UTF-8 text (expected JSON or NDJSON, optionally gzip'd)" },
  { kind: 'bad KPL checksum', data: flipped, reason: 'KPL: MD5 checksum mismatch (record corrupt)' },
  { kind: 'KPL shorter than its checksum', data: Buffer.concat([KPL_MAGIC, Buffer.from('abc')]), reason: 'KPL: 7 bytes is shorter than magic + MD5 (20 bytes)' },
  { kind: 'KPL protobuf running past the end', data: kplRaw(Uint8Array.of(0x1a, 0xff, 0x01, 0x00)), reason: 'KPL: protobuf length 255 runs past the end of the record' },
  {
    kind: 'KPL nested aggregated record',
    data: kplAggregate([{ data: goodKpl }]),
    raw: goodKpl,
    reason: 'KPL: nested aggregated record is not supported',
  },
  { kind: 'truncated JSON', data: '{"tenant":"acme","name":"a","ts":17', reason: '' },
  { kind: 'JSON array instead of object', data: '[1,2,3]', reason: 'event: expected a JSON object, got array' },
  { kind: 'JSON number', data: '42', reason: 'event: expected a JSON object, got number' },
  { kind: 'JSON null', data: 'null', reason: 'event: expected a JSON object, got null' },
  { kind: 'unknown field', data: j(ok(0, { colour: 'red' })), reason: 'colour: unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)' },
  { kind: 'missing tenant', data: j({ name: 'a', ts: TS }), reason: 'tenant: required for events written directly to the stream' },
  { kind: 'tenant not lower-case', data: j(ok(0, { tenant: 'ACME' })), reason: 'tenant: must be lower-case letters, digits, "_" or "-", starting with a letter or digit' },
  { kind: 'missing name', data: j({ tenant: 'acme', ts: TS }), reason: 'name: required' },
  { kind: 'name of the wrong type', data: j(ok(0, { name: 7 })), reason: 'name: expected a string, got number' },
  { kind: 'name with a space', data: j(ok(0, { name: 'api requests' })), reason: 'name: invalid character " " at position 3 (allowed: A-Z a-z 0-9 _ . : / -)' },
  { kind: 'name too long', data: j(ok(0, { name: 'n'.repeat(201) })), reason: 'name: longer than 200 chars' },
  { kind: 'missing ts', data: j({ tenant: 'acme', name: 'a' }), reason: 'ts: required' },
  { kind: 'ts in seconds', data: j(ok(0, { ts: 1_764_331_200 })), reason: 'ts: 1764331200 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)' },
  {
    kind: 'future ts',
    data: j(ok(0, { ts: futureTs })),
    reason: `ts: ${new Date(futureTs).toISOString()} is more than 10 min in the future (receiver clock ${new Date(ARRIVAL).toISOString()})`,
  },
  { kind: 'ts not a date', data: j(ok(0, { ts: 'yesterday' })), reason: 'ts: "yesterday" is not an RFC 3339 date-time (e.g. 2026-11-28T01:02:03.456Z)' },
  { kind: 'ts with a fraction of a ms', data: j(ok(0, { ts: TS + 0.5 })), reason: `ts: epoch milliseconds must be an integer, got ${TS + 0.5}` },
  { kind: 'ts of the wrong type', data: j(ok(0, { ts: true })), reason: 'ts: expected epoch milliseconds or an RFC 3339 string, got boolean' },
  { kind: 'value as a string', data: j(ok(0, { value: '3' })), reason: 'value: expected a number, got string' },
  { kind: 'value overflowing to Infinity', data: '{"tenant":"acme","name":"a","ts":' + TS + ',"value":1e999}', reason: 'value: must be a finite number, got Infinity' },
  { kind: 'value beyond what rollups hold', data: j(ok(0, { value: 1e200 })), reason: 'value: 1e+200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)' },
  { kind: 'nonzero value below what rollups hold', data: j(ok(0, { value: -1e-101 })), reason: 'value: -1e-101 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)' },
  {
    kind: "ts older than the rollups' default 1 h retention (400 days, plus 15 min for the stream)",
    data: j(ok(0, { ts: ARRIVAL - 400 * 86_400_000 - 15 * 60_000 - 1 })),
    reason: `ts: ${new Date(ARRIVAL - 400 * 86_400_000 - 15 * 60_000 - 1).toISOString()} is more than 400 days 15 min old, past the rollups' retention (receiver clock ${new Date(ARRIVAL).toISOString()})`,
  },
  { kind: 'unknown type', data: j(ok(0, { type: 'histogram' })), reason: 'type: must be one of count, gauge, distribution, got "histogram"' },
  { kind: 'tags as an array', data: j(ok(0, { tags: ['env:prod'] })), reason: 'tags: expected an object of string to string, got array' },
  { kind: 'tag value of the wrong type', data: j(ok(0, { tags: { env: 1 } })), reason: 'tags.env: expected a string, got number' },
  { kind: 'too many tags', data: j(ok(0, { tags: manyTags })), reason: 'tags: more than 32 tags' },
  { kind: 'tag value too long', data: j(ok(0, { tags: { env: 'v'.repeat(201) } })), reason: 'tags.env: value longer than 200 chars' },
  { kind: 'empty tag key', data: j(ok(0, { tags: { '': 'v' } })), reason: 'tags: empty key' },
  { kind: '__proto__ tag key', data: '{"tenant":"acme","name":"a","ts":' + TS + ',"tags":{"__proto__":"x"}}', reason: 'tags: key "__proto__" is not allowed' },
  { kind: 'empty id', data: j(ok(0, { id: '' })), reason: 'id: empty; omit it or send 1-64 chars' },
  { kind: 'id too long', data: j(ok(0, { id: 'i'.repeat(65) })), reason: 'id: longer than 64 chars' },
  {
    kind: 'huge attrs',
    data: j(ok(0, { attrs: hugeAttrs })),
    reason: `attrs: ${Buffer.byteLength(j(hugeAttrs))} bytes serialized, more than the 16384-byte limit`,
  },
  { kind: 'attrs nested too deep', data: j(ok(0, { attrs: deepAttrs })), reason: `attrs${'.a'.repeat(33)}: nested deeper than 32 levels` },
  { kind: 'attrs not an object', data: j(ok(0, { attrs: 'note' })), reason: 'attrs: expected a JSON object, got string' },
];
// zlib and JSON.parse words are theirs: computed from the same inputs, not copied.
CASES[0] = { ...CASES[0]!, reason: `gzip: ${gunzipMessage(CASES[0]!.data as Uint8Array)}` };
CASES[1] = { ...CASES[1]!, reason: `gzip: ${gunzipMessage(CASES[1]!.data as Uint8Array)}` };
const truncated = CASES.findIndex((c) => c.kind === 'truncated JSON');
CASES[truncated] = { ...CASES[truncated]!, reason: `invalid JSON: ${jsonMessage(CASES[truncated]!.data as string)}` };

describe('Function: archiveBatch — quarantine corpus', () => {
  it(`quarantines each of ${CASES.length} kinds of bad input with its exact reason and archives the rest`, async () => {
    // Prepare: a good record, then one record per bad kind, then a mixed NDJSON record.
    const records = [kinesisRecord(`${j(ok(1))}\n${j(ok(2))}\n`, { sequenceNumber: seq(1), arrivalMs: ARRIVAL })];
    CASES.forEach((c, i) => records.push(kinesisRecord(c.data, { sequenceNumber: seq(100 + i), arrivalMs: ARRIVAL })));
    const mixed = `${j(ok(3))}\n{"tenant":"acme","name":\n${j(ok(4))}\n${j(ok(5, { value: 'x' }))}\n`;
    records.push(kinesisRecord(gzipSync(mixed), { sequenceNumber: seq(999), arrivalMs: ARRIVAL }));
    const bucket = new MemoryBucket();
    expect(CASES.length).toBeGreaterThanOrEqual(30);

    // Act
    const result = await archiveBatch({ records, remainingMs: () => 60_000 }, { store: bucket, codec });

    // Assess: nothing failed, every bad kind is in its own object with its reason and exact bytes.
    expect(result.batchItemFailures).toEqual([]);
    CASES.forEach((c, i) => {
      const key = `quarantine/dt=2026-11-28/${SHARD}-${seq(100 + i)}.ndjson`;
      const body = bucket.objects.get(key);
      expect(body, `${c.kind}: ${key}`).toBeDefined();
      const lines = parseQuarantineObject(body!);
      expect(lines, c.kind).toHaveLength(1);
      const line = lines[0]!;
      expect(line.reason, c.kind).toBe(c.reason);
      expect(line.lineage, c.kind).toEqual({ shardId: SHARD, sequenceNumber: seq(100 + i), subIndex: 0 });
      expect(line.arrival).toBe(new Date(ARRIVAL).toISOString());
      const expectedRaw = c.raw ?? c.data;
      expect(Buffer.from(decodeRaw(line)).equals(Buffer.from(expectedRaw)), `${c.kind}: raw bytes`).toBe(true);
    });
    expect(
      parseQuarantineObject(bucket.objects.get(`quarantine/dt=2026-11-28/${SHARD}-${seq(1)}.ndjson`) ?? new Uint8Array()),
    ).toEqual([]);
    const mixedLines = parseQuarantineObject(bucket.objects.get(`quarantine/dt=2026-11-28/${SHARD}-${seq(999)}.ndjson`)!);
    expect(mixedLines.map((l) => [l.lineage.subIndex, l.reason, l.raw])).toEqual([
      [1, `invalid JSON: ${jsonMessage('{"tenant":"acme","name":')}`, '{"tenant":"acme","name":'],
      [3, 'value: expected a number, got string', j(ok(5, { value: 'x' }))],
    ]);
    expect(bucket.keys('quarantine/')).toHaveLength(CASES.length + 1);

    // The valid events (two records, four events) are archived, one file for the tenant-hour.
    const files = bucket.keys('events/');
    expect(files).toEqual([`events/tenant=acme/dt=2026-11-28/hour=23/${SHARD}-${seq(1)}-${seq(999)}.parquet`]);
    const rows = tableRows(await readArchiveFile(bucket.objects.get(files[0]!)!, { codec }));
    expect(rows.map((r) => [r._seq, r._sub, r.value])).toEqual([
      [seq(1), 0, 1],
      [seq(1), 1, 2],
      [seq(999), 0, 3],
      [seq(999), 2, 4],
    ]);
    expect(result.stats).toMatchObject({ records: records.length, events: 4, rejected: CASES.length + 2, eventFiles: 1, quarantineObjects: CASES.length + 1 });
  });

  it('writes the same quarantine bytes on a retry of the same record', async () => {
    // Prepare
    const records = CASES.slice(0, 8).map((c, i) => kinesisRecord(c.data, { sequenceNumber: seq(10 + i), arrivalMs: ARRIVAL }));
    const a = new MemoryBucket();
    const b = new MemoryBucket();
    // Act
    await archiveBatch({ records, remainingMs: () => 60_000 }, { store: a, codec });
    await archiveBatch({ records: records.slice(3), remainingMs: () => 60_000 }, { store: b, codec, now: () => ARRIVAL + 86_400_000 });
    // Assess
    for (const key of b.keys()) expect(Buffer.from(b.objects.get(key)!).equals(Buffer.from(a.objects.get(key)!))).toBe(true);
  });
});

describe('Function: buildQuarantineObjects', () => {
  it('puts one line per rejected piece in sub-index order, text as utf8 and binary as base64', () => {
    // Prepare
    const lin = (sub: number, s = seq(5)) => ({ shardId: SHARD, sequenceNumber: s, subIndex: sub });
    const rejected = [
      new RecordRejectedError('second', Buffer.from([0xc3, 0x28]), lin(2)),
      new RecordRejectedError('first', Buffer.from('\ufeff{"a":"ü"}', 'utf8'), lin(0)),
      new RecordRejectedError('other record', Buffer.from('x'), lin(0, seq(6))),
    ];
    // Act
    const objects = buildQuarantineObjects(rejected, () => ARRIVAL);
    // Assess
    expect(objects.map((o) => [o.key, o.pieces])).toEqual([
      [`quarantine/dt=2026-11-28/${SHARD}-${seq(5)}.ndjson`, 2],
      [`quarantine/dt=2026-11-28/${SHARD}-${seq(6)}.ndjson`, 1],
    ]);
    const lines = parseQuarantineObject(objects[0]!.body);
    expect(lines.map((l) => [l.lineage.subIndex, l.reason, l.encoding, l.raw])).toEqual([
      [0, 'first', 'utf8', '\ufeff{"a":"ü"}'],
      [2, 'second', 'base64', 'wyg='],
    ]);
    expect(encodeRaw(Buffer.from([0xc3, 0x28]))).toEqual({ encoding: 'base64', raw: 'wyg=' });
  });
});

describe('Both consumers: what the rollups cannot hold', () => {
  it("is quarantined by the archive with its reason and skipped by the rollup as invalid, with the stack's ROLLUP_TTL_1H_DAYS", async () => {
    // Prepare: a direct producer's record (the intake refuses these itself); the retention the
    // stack sets on both functions from its one rollup prop, 30 days here.
    const day = 86_400_000;
    const env = { ARCHIVE_BUCKET_NAME: 'streamfold-archive', ROLLUPS_TABLE_NAME: 'streamfold-rollups', ROLLUP_TTL_1H_DAYS: '30', POWERTOOLS_LOG_LEVEL: 'SILENT' };
    const old = ARRIVAL - 30 * day - 15 * 60_000 - 1;
    const lines = [ok(0, { value: 1e200 }), ok(1, { value: 1e-200 }), ok(2, { ts: old }), ok(3, { ts: ARRIVAL - 10 * day }), ok(4)];
    const record = kinesisRecord(lines.map(j).join('\n'), { sequenceNumber: seq(7), arrivalMs: ARRIVAL });
    const bucket = new MemoryBucket();
    const archive = createArchiveHandler(env, { codec, store: bucket, onStats: () => {} });
    const store = new MemoryRollupStore();
    const counted = new Map<string, number>();
    const rollup = createRollupHandler(env, {
      store,
      now: () => ARRIVAL + 1_000,
      sleep: async () => undefined,
      random: () => 0.5,
      metrics: { add: (name, value) => counted.set(name, (counted.get(name) ?? 0) + value) },
      flushMetrics: () => {},
    });

    // Act
    const archived = await archive(streamEvent([record]), context());
    const rolled = await rollup(streamEvent([record]), context());

    // Assess: the same three refused by both, with these reasons; the same two kept by both.
    expect(archived).toEqual({ batchItemFailures: [] });
    expect(rolled).toEqual({ batchItemFailures: [] });
    const quarantined = parseQuarantineObject(bucket.objects.get(`quarantine/dt=2026-11-28/${SHARD}-${seq(7)}.ndjson`)!);
    expect(quarantined.map((l) => [l.lineage.subIndex, l.reason])).toEqual([
      [0, 'value: 1e+200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      [1, 'value: 1e-200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      [2, `ts: ${new Date(old).toISOString()} is more than 30 days 15 min old, past the rollups' retention (receiver clock ${new Date(ARRIVAL).toISOString()})`],
    ]);
    const files = bucket.keys('events/');
    const rows = (await Promise.all(files.map(async (k) => tableRows(await readArchiveFile(bucket.objects.get(k)!, { codec }))))).flat();
    expect(rows.map((r) => r._sub).sort()).toEqual([3, 4]);
    expect(Object.fromEntries(['eventsIn', 'invalid', 'outOfRange', 'lateDropped'].map((k) => [k, counted.get(k)]))).toEqual({ eventsIn: 2, invalid: 3, outOfRange: 0, lateDropped: 0 });
  });
});
