/**
 * GET /v1/events over the archive: paging newest first with a cursor, the reader rule (copies of a
 * lineage across overlapping files dropped, events sharing an id kept), row-group pruning by `ts` statistics, tenant scoping,
 * and precise 400s. Files are real Parquet (shared/archive/parquet.ts) in an in-memory bucket.
 */
import { describe, expect, it } from 'vitest';
import { error400 } from './support/query.ts';
import { batchObjectKey, compactedObjectKey, partitionOf, tenantPrefix } from '../../functions/shared/archive/keys.ts';
import { canonicalTagsJson, encodeArchiveTable, tableFromRows, type ArchiveRow } from '../../functions/shared/archive/parquet.ts';
import { UNCOMPRESSED } from '../../functions/shared/archive/zstd.ts';
import { ArchivePartitionReader, WHOLE_FILE_BYTES } from '../../functions/query/events-reader.ts';
import { decodeCursor, encodeCursor, listEvents, parseEventsParams, partitionsOf } from '../../functions/query/events.ts';
import { MemoryBucket } from './archive.support.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 28, 9, 0, 0);
const NOW = T0 + 4 * H;
const SHARD = 'shardId-000000000001';

const seq = (n: number) => `4959${String(n).padStart(52, '0')}`;
function row(i: number, over: Partial<ArchiveRow> = {}): ArchiveRow {
  return {
    name: i % 3 === 0 ? 'cpu' : 'req',
    ts: T0 + Math.floor((i * 3 * H) / 300),
    type: 'count',
    value: i,
    tags: canonicalTagsJson({ host: `web-${i % 2}`, env: 'prod' }),
    id: null,
    attrs: i % 10 === 0 ? JSON.stringify({ path: `/p/${i}` }) : null,
    _shard: SHARD,
    _seq: seq(i),
    _sub: 0,
    _ingested_at: T0 + 3 * H,
    ...over,
  };
}

type Page = { events: Array<{ name: string; ts: number; value: number; tags: Record<string, string>; id?: string; attrs?: object }>; nextCursor: string | null };

/** 300 events over 3 hours, in overlapping batch files, a compacted copy, and two events sharing an id. */
function archive(): { bucket: MemoryBucket; truth: ArchiveRow[] } {
  const bucket = new MemoryBucket();
  const rows = Array.from({ length: 300 }, (_, i) => row(i));
  const put = (key: string, rs: ArchiveRow[]) => void bucket.put(key, encodeArchiveTable(tableFromRows(rs), { codec: UNCOMPRESSED, rowGroupRows: 20 }));
  for (let h = 0; h < 3; h++) {
    const inHour = rows.filter((r) => partitionOf('acme', r.ts).hour === partitionOf('acme', T0 + h * H).hour);
    const p = partitionOf('acme', T0 + h * H);
    const mid = Math.floor(inHour.length / 2);
    // Two overlapping batch files (a re-delivery with other boundaries).
    put(batchObjectKey(p, SHARD, inHour[0]!._seq, inHour[mid + 10]!._seq), inHour.slice(0, mid + 10));
    put(batchObjectKey(p, SHARD, inHour[mid]!._seq, inHour.at(-1)!._seq), inHour.slice(mid));
    if (h === 1) put(compactedObjectKey(p, ['x'], 0), inHour.slice(0, 30));
  }
  // Two events with one id under two lineages (one request id on two metrics): both are events.
  const first = row(301, { id: 'evt-1', ts: T0 + 5_000, _seq: seq(1000) });
  const second = row(302, { name: 'req.bytes', id: 'evt-1', ts: T0 + 5_000, _seq: seq(2000) });
  put(batchObjectKey(partitionOf('acme', T0), SHARD, seq(1000), seq(2000)), [first, second]);
  // Another tenant, same hours: never read.
  put(batchObjectKey(partitionOf('globex', T0), SHARD, seq(1), seq(2)), [row(1, { name: 'secret', value: 777_777 })]);
  return { bucket, truth: [...rows, first, second] };
}

const desc = (a: ArchiveRow, b: ArchiveRow) => b.ts - a.ts || (b._seq.length - a._seq.length || (b._seq < a._seq ? -1 : b._seq > a._seq ? 1 : 0));


describe('Function: listEvents', () => {
  it('pages through every surviving event exactly once, newest first', async () => {
    // Prepare
    const { bucket, truth } = archive();
    const reader = new ArchivePartitionReader(bucket, UNCOMPRESSED);
    const q = { from: String(T0), to: String(T0 + 3 * H), limit: '70' };

    // Act
    const seen: Page['events'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await listEvents('acme', { ...q, ...(cursor ? { cursor } : {}) }, reader, NOW);
      expect(res.statusCode).toBe(200);
      const page = JSON.parse(res.body) as Page;
      expect(page.events.length).toBeLessThanOrEqual(70);
      seen.push(...page.events);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);

    // Assess
    const expected = [...truth].sort(desc);
    expect(pages).toBe(Math.ceil(expected.length / 70));
    expect(seen.map((e) => [e.ts, e.value])).toEqual(expected.map((r) => [r.ts, r.value]));
    expect(seen.find((e) => e.value === 301)).toMatchObject({ id: 'evt-1', tags: { env: 'prod', host: 'web-1' } });
    expect(seen.filter((e) => e.id === 'evt-1').map((e) => [e.name, e.value])).toEqual([['req.bytes', 302], ['req', 301]]);
    expect(seen.find((e) => e.value === 10)).toMatchObject({ attrs: { path: '/p/10' } });
    expect(JSON.stringify(seen)).not.toContain('777777');
  });

  it('filters by name, tags and time', async () => {
    // Prepare
    const { bucket, truth } = archive();
    const reader = new ArchivePartitionReader(bucket, UNCOMPRESSED);
    const from = T0 + H / 2;
    const to = T0 + H + H / 4;

    // Act
    const res = await listEvents('acme', { from: new Date(from).toISOString(), to: String(to), name: 'cpu', filter: 'host:web-1', limit: '1000' }, reader, NOW);

    // Assess
    const page = JSON.parse(res.body) as Page;
    const expected = truth.filter((r) => r.name === 'cpu' && r.tags.includes('"web-1"') && r.ts >= from && r.ts < to).sort(desc);
    expect(expected.length).toBeGreaterThan(0);
    expect(page.events.map((e) => e.value)).toEqual(expected.map((r) => r.value));
    expect(page.nextCursor).toBeNull();
  });

  it('skips row groups by ts statistics and reads only the tenant\'s partitions', async () => {
    // Prepare
    const { bucket } = archive();
    const listed: string[] = [];
    const spy = { list: (p: string) => (listed.push(p), bucket.list(p)), getRange: bucket.getRange.bind(bucket) };
    const reader = new ArchivePartitionReader(spy, UNCOMPRESSED);

    // Act
    await listEvents('acme', { from: String(T0 + 10 * 60_000), to: String(T0 + 12 * 60_000) }, reader, NOW);

    // Assess
    expect(listed).toEqual(['events/tenant=acme/dt=2026-11-28/hour=09/']);
    expect(listed.every((p) => p.startsWith(tenantPrefix('acme')))).toBe(true);
    expect(reader.stats.rowGroupsSkipped).toBeGreaterThan(0);
    expect(reader.stats.rowGroupsRead).toBeLessThan(reader.stats.rowGroupsSkipped);
    const total = bucket.keys('events/tenant=acme/dt=2026-11-28/hour=09/').reduce((n, k) => n + bucket.objects.get(k)!.length, 0);
    // Small files are fetched whole, one GET each.
    expect(reader.stats.bytes).toBe(total);
  });

  it('reads a large file by byte ranges: footer and the overlapping row groups\' chunks only', async () => {
    // Prepare: 40,000 events over the hour in row groups of 2,000, with 100-byte attrs.
    const bucket = new MemoryBucket();
    const pad = 'x'.repeat(100);
    const rows = Array.from({ length: 40_000 }, (_, i) => row(i, { ts: T0 + Math.floor((i * H) / 40_000), attrs: JSON.stringify({ pad, i }) }));
    const key = batchObjectKey(partitionOf('acme', T0), SHARD, rows[0]!._seq, rows.at(-1)!._seq);
    await bucket.put(key, encodeArchiveTable(tableFromRows(rows), { codec: UNCOMPRESSED, rowGroupRows: 2_000 }));
    const size = bucket.objects.get(key)!.length;
    const reader = new ArchivePartitionReader(bucket, UNCOMPRESSED);

    // Act
    const res = await listEvents('acme', { from: String(T0 + 30 * 60_000), to: String(T0 + 33 * 60_000), limit: '1000' }, reader, NOW);

    // Assess
    const page = JSON.parse(res.body) as Page;
    expect(page.events).toHaveLength(1000);
    expect(page.events[0]!.ts).toBeLessThan(T0 + 33 * 60_000);
    expect(reader.stats.rowGroupsRead).toBeLessThanOrEqual(2);
    expect(reader.stats.rowGroupsSkipped).toBeGreaterThanOrEqual(18);
    expect(size).toBeGreaterThan(WHOLE_FILE_BYTES);
    expect(reader.stats.bytes).toBeLessThan(size / 4);
  });

  it('lists the partition again when a listed file vanished (compaction replaced it)', async () => {
    // Prepare
    const { bucket } = archive();
    const victim = bucket.keys('events/tenant=acme/dt=2026-11-28/hour=10/').find((k) => !k.includes('compacted'))!;
    let gone = false;
    const flaky = {
      list: (p: string) => bucket.list(p),
      getRange: async (k: string, s: number, e: number) => {
        if (k === victim && !gone) {
          gone = true;
          bucket.objects.delete(k);
          return undefined;
        }
        return bucket.getRange(k, s, e);
      },
    };
    const reader = new ArchivePartitionReader(flaky, UNCOMPRESSED);

    // Act
    const res = await listEvents('acme', { from: String(T0 + H), to: String(T0 + 2 * H), limit: '1000' }, reader, NOW);

    // Assess
    expect(res.statusCode).toBe(200);
    expect(reader.stats.lists).toBe(2);
  });
});

describe('Function: parseEventsParams', () => {
  it('defaults to the last hour and 100 events', () => {
    expect(parseEventsParams({}, NOW)).toEqual({ from: NOW - H, to: NOW, filter: [], limit: 100 });
    expect(partitionsOf('acme', T0 + 10, T0 + 2 * H).map((p) => p.hour)).toEqual([10, 9]);
  });

  it('round-trips a cursor and refuses a forged one', () => {
    const c = { ts: T0, shard: SHARD, seq: seq(5), sub: 3 };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    const forged = Buffer.from(JSON.stringify([1, T0, '../globex', '1', 0])).toString('base64url');
    expect(error400(() => decodeCursor(forged))).toBe('cursor: invalid; pass the nextCursor of the previous page unchanged');
    expect(error400(() => decodeCursor('a/b'))).toBe('cursor: invalid; pass the nextCursor of the previous page unchanged');
  });

  it.each([
    [{ limit: '0' }, 'limit: must be an integer from 1 to 1000, got "0"'],
    [{ limit: '5000' }, 'limit: must be an integer from 1 to 1000, got "5000"'],
    [{ from: String(T0 - 8 * 86_400_000) }, 'range too large: 196 hours, more than 168 (7 days) for /v1/events; narrow from/to'],
    [{ name: '../globex' }, 'name: ".." path segment at position 0 is not allowed (a name must be a safe path)'],
    [{ name: 'a%2Fb' }, 'name: invalid character "%" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
    [{ filter: 'env:a\\x' }, 'filter: "\\" at position 5 must be followed by "," or "\\" (write \\, for a comma and \\\\ for a backslash in a tag value)'],
    [{ tenant: 'globex' }, 'unknown parameter "tenant" (allowed: from, to, name, filter, limit, cursor)'],
  ])('refuses %j', (q, message) => {
    expect(error400(() => parseEventsParams(q, NOW))).toBe(message);
  });
});
