import fc from 'fast-check';
import { parquetMetadata, parquetScan } from 'hyparquet';
import { compressors, decompressZstd } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteWriter, ParquetWriter, type SchemaElement } from 'hyparquet-writer';
import {
  ARCHIVE_COLUMNS,
  ARCHIVE_SCHEMA,
  canonicalTagsJson,
  encodeArchiveTable,
  readArchiveFile,
  sortOrder,
  tableFromRows,
  tableRows,
  takeRows,
  type ArchiveRow,
} from '../../functions/shared/archive/parquet.ts';
import { hasNativeZstd, loadZstd, UNCOMPRESSED, type BlockCodec } from '../../functions/shared/archive/zstd.ts';
import { generateEvents } from '../../local/fixtures.ts';
import { Duck, readWithHyparquet, seq } from './archive.support.ts';

let codec: BlockCodec;
let duck: Duck;

beforeAll(async () => {
  codec = await loadZstd();
  duck = await Duck.open();
});
afterAll(() => duck.close());

const T0 = Date.parse('2026-11-28T12:00:00Z');

/** Realistic rows (bench fixtures) plus every awkward value the contract allows. */
function sampleRows(): ArchiveRow[] {
  const rows: ArchiveRow[] = generateEvents(3000, { seed: 7, now: T0 + 3_600_000 }).map((e, i) => ({
    name: e.name,
    ts: e.ts,
    type: e.type,
    value: e.value,
    tags: canonicalTagsJson(e.tags),
    id: e.id ?? null,
    attrs: e.attrs === undefined ? null : JSON.stringify(e.attrs),
    _shard: i % 3 === 0 ? 'shardId-000000000001' : 'shardId-000000000002',
    _seq: seq(1000 + Math.floor(i / 40)),
    _sub: i % 40,
    _ingested_at: T0 + 3_600_000 + Math.floor(i / 40) * 7,
  }));
  const odd: Array<Partial<ArchiveRow>> = [
    { value: -0.5, tags: '{}', id: '', attrs: '{}' },
    { value: 1.7976931348623157e308, tags: canonicalTagsJson({ 'ключ': 'значение', emoji: '🦆🦆', q: '"quoted" \\ back' }) },
    { value: 5e-324, id: 'x'.repeat(64), attrs: JSON.stringify({ nested: { deep: [1, 2, { a: null }] }, s: 'ü\u0000\u2028' }) },
    { value: -123456789.125, tags: canonicalTagsJson({ 10: 'ten', 9: 'nine', a: 'a' }) },
    { name: 'a', ts: T0, type: 'gauge' },
    { name: 'z'.repeat(200), ts: T0 + 3_599_999, type: 'distribution' },
    // A cumulative count (its start), a pre-aggregated histogram (its agg), and both.
    { name: 'cum.count', start: T0 - 86_400_000, value: 42 },
    { name: 'agg.dist', type: 'distribution', value: 12.5, agg: JSON.stringify({ count: 3, sum: 12.5, buckets: { bounds: [1, 5], counts: [1, 1, 1] } }) },
    { name: 'cum.dist', type: 'distribution', value: 3, start: T0 - 1, agg: JSON.stringify({ count: 2, sum: 3 }) },
  ];
  odd.forEach((o, i) => {
    rows.push({
      name: 'odd.metric',
      ts: T0 + 1_000 * i,
      type: 'count',
      value: 1,
      tags: '{"k":"v"}',
      id: null,
      attrs: null,
      _shard: 'shardId-000000000009',
      _seq: seq(99_000 + i),
      _sub: 0,
      _ingested_at: T0 + 3_600_000,
      ...o,
    });
  });
  // Same ts as another row: the tie is broken by lineage.
  rows.push({ ...rows[0]!, _shard: 'shardId-000000000000', _seq: seq(1), _sub: 5 });
  return rows;
}

function sorted(rows: readonly ArchiveRow[]): ArchiveRow[] {
  const t = tableFromRows(rows);
  const order = sortOrder(t);
  return tableRows(order === null ? t : takeRows(t, order));
}

describe('Function: encodeArchiveTable (round trip through independent readers)', () => {
  it('DuckDB read_parquet gives back every row and column, sorted by ts then lineage', async () => {
    // Prepare
    const rows = sampleRows();
    // Act
    const bytes = encodeArchiveTable(tableFromRows(rows), { codec, rowGroupRows: 1000 });
    const back = await duck.readRows(duck.file(bytes));
    // Assess
    expect(back).toEqual(sorted(rows));
  });

  it('hyparquet (with hyparquet-compressors, not our codec) gives back every row and column', async () => {
    // Prepare
    const rows = sampleRows();
    // Act
    const bytes = encodeArchiveTable(tableFromRows(rows), { codec, rowGroupRows: 1000 });
    const back = await readWithHyparquet(bytes);
    // Assess
    expect(back).toEqual(sorted(rows));
  });

  it('types ts and _ingested_at as UTC timestamps in DuckDB, with the logical type set', async () => {
    // Prepare
    const path = duck.file(encodeArchiveTable(tableFromRows(sampleRows()), { codec }));
    // Act
    const described = await duck.rows(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
    const schema = await duck.rows(`SELECT name, type, converted_type, logical_type, repetition_type FROM parquet_schema('${path}')`);
    // Assess
    const types = Object.fromEntries(described.map((r) => [r.column_name, r.column_type]));
    expect(types).toEqual({
      name: 'VARCHAR',
      ts: 'TIMESTAMP WITH TIME ZONE',
      type: 'VARCHAR',
      value: 'DOUBLE',
      tags: 'VARCHAR',
      id: 'VARCHAR',
      attrs: 'VARCHAR',
      _shard: 'VARCHAR',
      _seq: 'VARCHAR',
      _sub: 'INTEGER',
      _ingested_at: 'TIMESTAMP WITH TIME ZONE',
      start: 'TIMESTAMP WITH TIME ZONE',
      agg: 'VARCHAR',
    });
    const ts = schema.find((r) => r.name === 'ts')!;
    expect(ts.type).toBe('INT64');
    expect(ts.converted_type).toBe('TIMESTAMP_MILLIS');
    expect(String(ts.logical_type)).toContain('isAdjustedToUTC=1');
    expect(String(ts.logical_type)).toContain('MILLIS=');
    expect(schema.filter((r) => r.repetition_type === 'OPTIONAL').map((r) => r.name)).toEqual(['id', 'attrs', 'start', 'agg']);
  });

  it('writes ZSTD row groups whose ts min/max are present, ordered and disjoint (time pruning)', async () => {
    // Prepare
    const rows = sampleRows();
    const bytes = encodeArchiveTable(tableFromRows(rows), { codec, rowGroupRows: 1000 });
    const path = duck.file(bytes);
    // Act
    const meta = await duck.rows(
      `SELECT row_group_id, path_in_schema, compression, epoch_ms(stats_min_value::TIMESTAMPTZ) AS lo, epoch_ms(stats_max_value::TIMESTAMPTZ) AS hi
       FROM parquet_metadata('${path}') WHERE path_in_schema = 'ts' ORDER BY row_group_id`,
    );
    const codecs = await duck.rows(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`);
    const hyp = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    // Assess
    expect(meta).toHaveLength(Math.ceil(rows.length / 1000));
    expect(codecs.map((c) => c.compression)).toEqual(['ZSTD']);
    const all = sorted(rows);
    meta.forEach((g, i) => {
      expect(Number(g.lo)).toBe(all[i * 1000]!.ts);
      expect(Number(g.hi)).toBe(all[Math.min(all.length, (i + 1) * 1000) - 1]!.ts);
      if (i > 0) expect(Number(g.lo)).toBeGreaterThanOrEqual(Number(meta[i - 1]!.hi));
    });
    const tsChunk = hyp.row_groups[0]!.columns.find((c) => c.meta_data?.path_in_schema[0] === 'ts')!;
    expect(tsChunk.meta_data!.statistics!.min_value).toBeDefined();
    expect(tsChunk.meta_data!.statistics!.max_value).toBeDefined();
  });

  it('lets a reader skip row groups and pages by ts (hyparquet pruning on our statistics)', async () => {
    // Prepare: 10 groups of 300 rows; ask for a slice inside one group.
    const rows = sorted(sampleRows());
    const bytes = encodeArchiveTable(tableFromRows(rows), { codec, rowGroupRows: 300 });
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const lo = rows[1234]!.ts;
    const hi = rows[1240]!.ts;
    // Act
    const scan = await parquetScan({ file, compressors, pruningFilter: { ts: { $gte: new Date(lo), $lte: new Date(hi) } } });
    // Assess: only the group holding rows 1234..1240 (rows 1200..1499) is left to read.
    const kept = scan.ranges.reduce((n, r) => n + (r.rowEnd - r.rowStart), 0);
    expect(kept).toBeLessThanOrEqual(300);
    expect(scan.ranges.every((r) => r.rowStart >= 1200 && r.rowEnd <= 1500)).toBe(true);
  });

  it('is deterministic: the same rows in any order give the same bytes', () => {
    // Prepare
    const rows = sampleRows();
    const shuffled = [...rows].reverse();
    // Act
    const a = encodeArchiveTable(tableFromRows(rows), { codec });
    const b = encodeArchiveTable(tableFromRows(shuffled), { codec });
    // Assess
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('reads back its own files, whole or by column, with either codec', async () => {
    // Prepare
    const rows = sampleRows();
    for (const c of [codec, UNCOMPRESSED]) {
      const bytes = encodeArchiveTable(tableFromRows(rows), { codec: c, rowGroupRows: 700 });
      // Act
      const whole = await readArchiveFile(bytes, { codec: c });
      const keys = await readArchiveFile(bytes, { codec: c, columns: ['_shard', '_seq', '_sub', 'id'] });
      // Assess
      expect(tableRows(whole)).toEqual(sorted(rows));
      expect(keys.length).toBe(rows.length);
      expect(keys._seq).toEqual(whole._seq);
      expect(keys.id).toEqual(whole.id);
      expect(keys.name).toEqual([]);
    }
  });

  it('reads a file written before start and agg (the first schema): both null, every other column as written', async () => {
    // Prepare: the first layout's 11 columns, written as the archive wrote them then.
    const rows = sorted(sampleRows().filter((r) => r.start == null && r.agg == null).slice(-500));
    const t = tableFromRows(rows);
    const first = ARCHIVE_COLUMNS.slice(0, 11);
    const writer = new ByteWriter();
    const pq = new ParquetWriter({ writer, schema: [{ name: 'schema', num_children: first.length }, ...ARCHIVE_SCHEMA.slice(1, 12)] as SchemaElement[], codec: 'UNCOMPRESSED', statistics: true });
    pq.write({ columnData: first.map((name) => ({ name, data: name === 'value' ? Float64Array.from(t.value) : name === '_sub' ? Int32Array.from(t._sub) : (t[name] as unknown[]) })), rowGroupSize: 1000 });
    pq.finish();
    const old = writer.getBytes();
    // Act
    const whole = await readArchiveFile(old, { codec: UNCOMPRESSED });
    const later = await readArchiveFile(old, { codec: UNCOMPRESSED, columns: ['start', 'agg'] });
    // Assess
    expect(tableRows(whole)).toEqual(rows);
    expect(later.start).toEqual(new Array(rows.length).fill(null));
    expect(later.agg).toEqual(new Array(rows.length).fill(null));
    expect((await readWithHyparquet(old)).length).toBe(rows.length);
  });

  it('refuses an empty file and a file that is not an archive file', async () => {
    // Prepare
    const foreign = await (async () => {
      const path = duck.file(new Uint8Array(0));
      await duck.rows(`COPY (SELECT 1 AS a) TO '${path}' (FORMAT parquet)`);
      const { readFileSync } = await import('node:fs');
      return new Uint8Array(readFileSync(path));
    })();
    // Act / Assess
    expect(() => encodeArchiveTable(tableFromRows([]), { codec })).toThrow(/at least one row/);
    await expect(readArchiveFile(foreign, { codec })).rejects.toThrow(/not an archive file|column/);
  });

  it('has the documented columns, in order', () => {
    expect([...ARCHIVE_COLUMNS]).toEqual(['name', 'ts', 'type', 'value', 'tags', 'id', 'attrs', '_shard', '_seq', '_sub', '_ingested_at', 'start', 'agg']);
  });
});

describe('Function: canonicalTagsJson', () => {
  // Keys the validator accepts: it refuses __proto__, constructor and prototype (functions/shared/event.ts).
  const tagKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
  const tagSets = fc.dictionary(tagKey, fc.string({ maxLength: 12 }), { maxKeys: 32 });

  it('is JSON of the same tags, keys sorted, whatever the input key order', () => {
    fc.assert(
      fc.property(tagSets, fc.integer(), (tags, seed) => {
        // Prepare: same entries, other insertion order
        const entries = Object.entries(tags);
        const shuffled = fc.sample(fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }), { seed, numRuns: 1 })[0]!;
        // Act
        const a = canonicalTagsJson(tags);
        const b = canonicalTagsJson(Object.fromEntries(shuffled));
        // Assess
        expect(a).toBe(b);
        expect(JSON.parse(a)).toEqual(tags);
        const expected = `{${Object.keys(tags)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${JSON.stringify(tags[k])}`)
          .join(',')}}`;
        expect(a).toBe(expected);
      }),
    );
  });

  it('orders array-index-like keys as text, not as numbers', () => {
    expect(canonicalTagsJson({ 9: 'a', 10: 'b', x: 'c' })).toBe('{"10":"b","9":"a","x":"c"}');
  });
});

describe('Function: loadZstd', () => {
  it('round-trips pages, synchronously once loaded', async () => {
    // Prepare
    const input = Buffer.from('streamfold '.repeat(1000));
    // Act
    const c = await loadZstd();
    const packed = c.compress(input);
    const unpacked = c.decompress(packed, input.length);
    // Assess
    expect(c.implementation).toBe(hasNativeZstd() ? 'native' : 'wasm');
    expect(packed.length).toBeLessThan(input.length / 10);
    expect(Buffer.from(unpacked).equals(input)).toBe(true);
    expect(() => c.decompress(packed, input.length + 1)).toThrow(/inflated/);
  });

  it('keeps frames valid when several levels are loaded in one process (one wasm instance)', async () => {
    // Prepare: a second init() of the wasm module used to corrupt every later frame.
    const input = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i % 97} ${i}`).join('\n'));
    // Act
    const frames: Array<[number, Uint8Array]> = [];
    for (const level of [1, 9, 3, 6, 3]) frames.push([level, (await loadZstd({ level })).compress(input)]);
    // Assess: an independent decoder (fzstd, via hyparquet-compressors) reads every frame.
    for (const [level, frame] of frames) {
      expect(Buffer.from(decompressZstd(frame)).equals(input), `level ${level}`).toBe(true);
    }
  });

  it('rejects levels zstd does not have', async () => {
    await expect(loadZstd({ level: 0 })).rejects.toThrow(/level/);
    await expect(loadZstd({ level: 23 })).rejects.toThrow(/level/);
  });

  it('says why when native zstd is asked for and missing', async () => {
    if (hasNativeZstd()) return;
    await expect(loadZstd({ implementation: 'native' })).rejects.toThrow(/node:zlib has no zstd/);
  });
});
