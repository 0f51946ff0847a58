/**
 * The rollup log's formats (functions/shared/rollups/segment.ts, head.ts): round trips over many
 * generated entries, parts under the item limit, and exact messages for corrupt input; and the
 * reader's view (view.ts): only committed attempts count, each above the item's watermark.
 */
import { describe, expect, it } from 'vitest';
import { decodeCommits, encodeCommits, headFromItem, headToItem, type Commit, type ShardHead } from '../../functions/shared/rollups/head.ts';
import { emptyMinutes, encodeMinutes } from '../../functions/shared/rollups/minutes.ts';
import {
  decodeManifest,
  decodeSegment,
  encodeManifest,
  encodeSegment,
  splitManifest,
  splitSegment,
  SegmentFormatError,
  type SegmentEntry,
} from '../../functions/shared/rollups/segment.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';
import { partsByItem, viewItem } from '../../functions/shared/rollups/view.ts';
import { bucketPk, bucketSk, itemId } from '../../functions/shared/rollups/keys.ts';
import { seqNo } from './support/rollup.ts';
import { Rng } from '../../local/fixtures.ts';
import { aggregateBatch } from '../../functions/rollup/aggregate.ts';
import { segmentEntry } from '../../functions/rollup/commit.ts';
import { daysToMs } from '../../functions/shared/rollups/keys.ts';
import type { LineagedEvent } from '../../functions/shared/codec.ts';

const HOUR = Date.parse('2026-11-28T11:00:00Z');
const SHARD = 'shardId-000000000002';

/** A seeded generator in [0, 1) (local/fixtures.ts). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function entryOf(r: () => number, i: number): SegmentEntry {
  const id = Array.from({ length: 22 }, () => ID_CHARS[Math.floor(r() * 64)]).join('');
  const type = (['count', 'gauge', 'distribution'] as const)[i % 3]!;
  const res = type === 'distribution' && r() < 0.5 ? '1m' : '1h';
  const start = res === '1h' ? HOUR - Math.floor(r() * 3) * 3_600_000 : HOUR + Math.floor(r() * 60) * 60_000;
  const v = () => (r() < 0.5 ? Math.floor(r() * 1000) - 500 : (r() - 0.5) * 1e6);
  const [a, b] = [v(), v()];
  const e: { -readonly [K in keyof SegmentEntry]: SegmentEntry[K] } = { seriesId: id, res, start, type, count: 1 + Math.floor(r() * 1000), sum: a + b, min: Math.min(a, b), max: Math.max(a, b) };
  if (type === 'gauge') e.last = { value: v(), ts: start + Math.floor(r() * (res === '1h' ? 3_600_000 : 60_000)) };
  if (type === 'distribution') {
    const s = new Sketch();
    for (let k = 0; k < 20; k++) s.add(v());
    e.sketch = s.encode();
  }
  if (res === '1h' && type !== 'distribution') {
    const m = emptyMinutes();
    const k = Math.floor(r() * 60);
    m[k] = { count: 2, sum: 3, min: 1, max: 2, ...(type === 'gauge' ? { last: { value: 2, ts: start + 60_000 * k + 5, shardId: '' } } : {}) };
    e.minutes = encodeMinutes(m, start);
  }
  return e;
}

describe('Module: segment', () => {
  it('round-trips every entry exactly, over 2,000 generated entries', () => {
    // Prepare
    const r = rng(7);
    const entries = Array.from({ length: 2000 }, (_, i) => entryOf(r, i));

    // Act
    const back = decodeSegment(encodeSegment(entries));

    // Assess
    expect(back).toEqual(entries);
  });

  it("round-trips a real batch's entries, 1 h entries derived from their minutes and 1 m entries", () => {
    // Prepare: counts, gauges and distributions over 30 series, some events older than the 1 m retention.
    const now = HOUR + 3_600_000;
    const r = new Rng(5);
    const events: LineagedEvent[] = Array.from({ length: 600 }, (_, i) => {
      const type = (['count', 'gauge', 'distribution'] as const)[i % 3]!;
      const ts = i % 50 === 0 ? now - daysToMs(20) : HOUR + r.int(3_600_000);
      return {
        event: { tenant: 'acme', name: `m.${type}`, ts, type, value: type === 'count' ? 1 + r.int(5) : Math.round(r.next() * 1e4) / 100, tags: { host: `h${i % 10}` } },
        lineage: { shardId: SHARD, sequenceNumber: seqNo(i), subIndex: 0 },
      };
    });
    const items = aggregateBatch(events, now, { ttlMs: { '1m': daysToMs(15), '1h': daysToMs(400) } }).items;
    const entries = items.map(segmentEntry).sort((a, b) => (a.seriesId < b.seriesId ? -1 : a.seriesId > b.seriesId ? 1 : a.start - b.start));

    // Act
    const bytes = encodeSegment(entries);
    const back = decodeSegment(bytes);

    // Assess: equal, sums up to the order they are added in.
    expect(back).toHaveLength(entries.length);
    back.forEach((b, k) => {
      const e = entries[k]!;
      expect({ ...b, sum: 0, sketch: undefined }).toEqual({ ...e, sum: 0, sketch: undefined });
      expect(b.sum).toBeCloseTo(e.sum, 6);
      if (e.sketch !== undefined) expect(Sketch.decode(b.sketch!).quantile(0.5)).toBe(Sketch.decode(e.sketch).quantile(0.5));
    });
    // A counter's hour entry with one minute is its id, a few flags and that minute: under 32 bytes.
    const oneMinute = Array.from({ length: 100 }, (_, i): LineagedEvent => ({
      event: { tenant: 'acme', name: 'req', ts: HOUR + 60_000 + i, type: 'count', value: 1, tags: { host: `h${i}` } },
      lineage: { shardId: SHARD, sequenceNumber: seqNo(i), subIndex: 0 },
    }));
    const counters = aggregateBatch(oneMinute, now, { ttlMs: { '1m': daysToMs(15), '1h': daysToMs(400) } }).items.map(segmentEntry);
    expect(encodeSegment(counters).length / counters.length).toBeLessThan(32);
  });

  it('cuts a large segment into parts under the limit that hold every entry once, in order', () => {
    // Prepare
    const r = rng(11);
    const entries = Array.from({ length: 3000 }, (_, i) => entryOf(r, i));

    // Act
    const parts = splitSegment(entries, 20_000);

    // Assess
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(20_000);
    expect(parts.flatMap((p) => decodeSegment(p))).toEqual(entries);
    expect(splitSegment(entries.slice(0, 10))).toHaveLength(1);
  });

  it('refuses what it cannot store, and names what is wrong in a corrupt payload', () => {
    const e = entryOf(rng(3), 0);
    expect(() => encodeSegment([{ ...e, seriesId: 'short' }])).toThrow('series id "short" is not 22 base64url characters');
    expect(() => encodeSegment([{ ...e, count: 0 }])).toThrow('count 0 is not a positive integer');
    expect(() => encodeSegment([{ ...e, start: HOUR + 1 }])).toThrow('is not on a minute');
    const bytes = encodeSegment([e]);
    expect(() => decodeSegment(new Uint8Array(0))).toThrow(new SegmentFormatError('rollup segment: empty'));
    expect(() => decodeSegment(Uint8Array.of(9))).toThrow('rollup segment: unknown version 9');
    expect(() => decodeSegment(bytes.subarray(0, 10))).toThrow('rollup segment: entry 0: truncated series id');
    expect(() => decodeSegment(Uint8Array.from([...bytes, 0]))).toThrow('rollup segment: 1 bytes after the last entry');
    expect(() => decodeSegment(Uint8Array.of(2, 0xff, 0xff))).toThrow(/^rollup segment: deflated payload does not inflate/);
  });

  it('deflates a payload that compresses, and reads it back', () => {
    const entries = Array.from({ length: 300 }, (_, i) => ({ ...entryOf(rng(i), 0), count: 7, sum: 7, min: 1, max: 1 }));
    const bytes = encodeSegment(entries);
    expect(bytes[0]).toBe(2);
    expect(decodeSegment(bytes)).toEqual(entries);
  });

  it('round-trips manifests, cut into parts when long', () => {
    const entries = Array.from({ length: 500 }, (_, i) => ({ tenant: `t${i % 7}`, name: `metric.${i}`, parts: 1 + (i % 3) }));
    expect(decodeManifest(encodeManifest(entries))).toEqual(entries);
    const parts = splitManifest(entries, 2_000);
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2_000);
    expect(parts.flatMap((p) => decodeManifest(p))).toEqual(entries);
    expect(() => decodeManifest(Uint8Array.of(1, 1, 1, 0x61, 1, 0x62, 0))).toThrow('rollup manifest: entry 0: 0 parts');
  });
});

describe('Module: head', () => {
  it('round-trips the unfolded commits and the head item', () => {
    // Prepare
    const commits: Commit[] = [
      { n: 4, attempt: '0123456789ab', lo: { sequenceNumber: seqNo(10), subIndex: 0 }, to: { sequenceNumber: seqNo(12), subIndex: 3 }, at: HOUR, manifestParts: 1 },
      { n: 5, attempt: 'ffffffffffff', lo: { sequenceNumber: seqNo(13), subIndex: 0 }, to: { sequenceNumber: seqNo(20), subIndex: 0 }, at: HOUR + 5_000, manifestParts: 2 },
    ];
    const head: ShardHead = { shardId: SHARD, n: 5, wm: commits[1]!.to, commits, ver: 9 };

    // Act, Assess
    expect(decodeCommits(encodeCommits(commits))).toEqual(commits);
    expect(headFromItem(SHARD, headToItem(head))).toEqual(head);
    expect(headToItem(head)).toMatchObject({ pk: { S: `!head#${SHARD}` }, sk: { S: '-' }, n: { N: '5' }, wm: { S: `${seqNo(20)}:0` }, ver: { N: '9' } });
    expect(() => decodeCommits(encodeCommits([commits[1]!, commits[0]!]))).toThrow('rollup head: commit 4 after commit 5');
  });
});

describe('Function: partsByItem and viewItem', () => {
  it('counts only segments of committed attempts, and each commit only above the item watermark', () => {
    // Prepare: commit 1 (attempt a) is folded into the item; commit 2's attempt b counts, c never committed.
    const e = (count: number): SegmentEntry => ({ seriesId: 'A'.repeat(22), res: '1h', start: HOUR, type: 'count', count, sum: count, min: 1, max: 1 });
    const c1 = { n: 1, attempt: 'a'.repeat(12), lo: { sequenceNumber: seqNo(1), subIndex: 0 }, to: { sequenceNumber: seqNo(2), subIndex: 0 }, at: 0, manifestParts: 1 };
    const c2 = { n: 2, attempt: 'b'.repeat(12), lo: { sequenceNumber: seqNo(3), subIndex: 0 }, to: { sequenceNumber: seqNo(4), subIndex: 0 }, at: 0, manifestParts: 1 };
    const heads = new Map([[SHARD, { shardId: SHARD, n: 2, wm: c2.to, commits: [c1, c2], ver: 2 }]]);
    const seg = (n: number, attempt: string, count: number) => ({ tenant: 'acme', name: 'm', shardId: SHARD, n, attempt, entries: [e(count)] });
    const folded = { name: 'm', type: 'count' as const, count: 5, sum: 5, min: 1, max: 1, ttl: 1, wm: { [SHARD]: `${seqNo(2)}:0` }, ver: 3 };

    // Act
    const parts = partsByItem(heads, [seg(1, c1.attempt, 5), seg(2, c2.attempt, 7), seg(2, 'c'.repeat(12), 100)]);
    const id = itemId({ pk: bucketPk('acme', 'A'.repeat(22), '1h'), sk: bucketSk(HOUR) });

    // Assess
    expect(parts.get(id)!.parts.map((p) => p.commit.n)).toEqual([1, 2]);
    expect(viewItem(folded, parts.get(id))).toMatchObject({ count: 12, wm: { [SHARD]: `${seqNo(4)}:0` } });
    expect(viewItem(undefined, parts.get(id))).toMatchObject({ count: 12, name: 'm', type: 'count' });
    // A first-layout watermark inside commit 2: a reader shows the folded item as it is.
    expect(viewItem({ ...folded, wm: { [SHARD]: `${seqNo(3)}:5` } }, parts.get(id))).toMatchObject({ count: 5 });
  });
});
