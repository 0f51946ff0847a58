/**
 * Packed minutes (functions/shared/rollups/minutes.ts): the stored form, and how fold.ts folds a commit's
 * minutes into a 1 h item above its watermarks.
 */
import { describe, expect, it, vi } from 'vitest';
import { aggregateBatch } from '../../functions/rollup/aggregate.ts';
import { daysToMs } from '../../functions/shared/rollups/keys.ts';
import { segmentEntry } from '../../functions/rollup/commit.ts';
import { foldItem } from '../../functions/shared/rollups/fold.ts';
import { decodeMinutes, emptyMinutes, encodeMinutes, mergeMinutes, MinutesFormatError, type MinuteAdd, type Minutes } from '../../functions/shared/rollups/minutes.ts';
import type { StoredBucket } from '../../functions/shared/rollups/item.ts';
import type { LineagedEvent } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { foldEvents, seqNo } from './support/rollup.ts';

const HOUR = Date.parse('2026-11-28T11:00:00Z');
const NOW = HOUR + 3_600_000;
const TTL = { '1m': daysToMs(15), '1h': daysToMs(400) };
const S0 = 'shardId-000000000000';
const S1 = 'shardId-000000000001';

function ev(partial: Partial<StreamEvent> & { value: number; ts: number }, shardId = S0, seq = 1, sub = 0): LineagedEvent {
  return {
    event: { tenant: 'acme', name: 'cpu', type: 'gauge', tags: { host: 'a' }, ...partial },
    lineage: { shardId, sequenceNumber: seqNo(seq), subIndex: sub },
  };
}

/** A tiny deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('Function: encodeMinutes / decodeMinutes', () => {
  it('round-trips every minute exactly: integers, floats, extremes, negative zero as zero, and last with its shard', () => {
    // Prepare: 300 random hours mixing the number encodings.
    const next = rng(7);
    const values = [0, -0, 1, -1, 2 ** 52, -(2 ** 52), 2 ** 52 + 2, 0.1, -37.25, 1e100, -1e-100, 123456789.125];
    const pick = () => (next() < 0.5 ? values[Math.floor(next() * values.length)]! : (next() - 0.5) * 10 ** Math.floor(next() * 12));
    for (let c = 0; c < 300; c++) {
      const minutes = emptyMinutes();
      for (let i = 0; i < 60; i++) {
        if (next() < 0.4) continue;
        const lastTs = HOUR + i * 60_000 + Math.floor(next() * 60_000);
        minutes[i] = {
          count: 1 + Math.floor(next() * 1e6),
          sum: pick(),
          min: pick(),
          max: pick(),
          ...(next() < 0.5 ? { last: { value: pick(), ts: lastTs, shardId: `shardId-00000000000${Math.floor(next() * 3)}` } } : {}),
        };
      }

      // Act
      const back = decodeMinutes(encodeMinutes(minutes, HOUR), HOUR);

      // Assess (-0 comes back as 0, as DynamoDB numbers do)
      const norm = (m: Minutes) => JSON.parse(JSON.stringify(m)) as unknown;
      expect(norm(back)).toEqual(norm(minutes));
      back.forEach((m, i) => {
        expect(m?.sum).toBe(minutes[i]?.sum === 0 ? 0 : minutes[i]?.sum);
        expect(m?.last?.value).toBe(minutes[i]?.last?.value === 0 ? 0 : minutes[i]?.last?.value);
      });
    }
  });

  it('merges a batch into stored minutes as decode and adding one by one would, over 300 cases', () => {
    // Prepare
    const next = rng(11);
    const shard = () => `shardId-00000000000${Math.floor(next() * 3)}`;
    const num = () => (next() < 0.5 ? Math.floor(next() * 100) : Math.round(next() * 1e4) / 100);
    const entry = (i: number, withLast: boolean) => {
      const a = num();
      const b = num();
      const ts = HOUR + i * 60_000 + Math.floor(next() * 4) * 1_000; // few distinct ms: ties happen
      return { count: 1 + Math.floor(next() * 50), sum: a + b, min: Math.min(a, b), max: Math.max(a, b), last: withLast ? { value: num(), ts, shardId: shard() } : undefined };
    };
    for (let c = 0; c < 300; c++) {
      const gauge = next() < 0.7;
      const stored = emptyMinutes();
      for (let i = 0; i < 60; i++) if (next() < 0.5) stored[i] = (({ last, ...rest }) => (last ? { ...rest, last } : rest))(entry(i, gauge));
      const adds = Array.from({ length: 1 + Math.floor(next() * 2) }, (_, k) => {
        const sid = `shardId-00000000000${k}`;
        const add: Array<MinuteAdd | undefined> = new Array(60).fill(undefined);
        for (let i = 0; i < 60; i++) {
          if (next() >= 0.1) continue;
          const e = entry(i, gauge);
          add[i] = { ...e, last: e.last && { value: e.last.value, ts: e.last.ts, lineage: { shardId: sid } } };
        }
        return add;
      });
      const bytes = next() < 0.1 ? undefined : encodeMinutes(stored, HOUR);

      // Act
      const merged = mergeMinutes(bytes, HOUR, adds);

      // Assess: the slow path, one add after the other.
      const want = bytes === undefined ? emptyMinutes() : decodeMinutes(bytes, HOUR);
      for (const add of adds) {
        add.forEach((m, i) => {
          if (m === undefined) return;
          const cur = want[i];
          let last = cur?.last;
          const l = m.last && { value: m.last.value, ts: m.last.ts, shardId: m.last.lineage.shardId };
          if (l && (!last || l.ts > last.ts || (l.ts === last.ts && l.shardId >= last.shardId))) last = l;
          want[i] = {
            count: (cur?.count ?? 0) + m.count,
            sum: (cur?.sum ?? 0) + m.sum,
            min: Math.min(cur?.min ?? Infinity, m.min),
            max: Math.max(cur?.max ?? -Infinity, m.max),
            ...(last ? { last } : {}),
          };
        });
      }
      expect(decodeMinutes(merged, HOUR)).toEqual(want);
    }
  });

  it('merges into a stored form without shards first thing in a fresh module (its header cache starts empty)', async () => {
    // Prepare: a fresh copy of the module, so nothing has been read through its cache yet.
    vi.resetModules();
    const fresh = await import('../../functions/shared/rollups/minutes.ts');
    const counter = Uint8Array.from([1, 0, 7, 0x15, 1, 0x24, 0x24, 0x24]); // minute 7: count 1, value 18

    // Act
    const merged = fresh.mergeMinutes(counter, HOUR, [[...new Array(8).fill(undefined), { count: 2, sum: 4, min: 1, max: 3, last: undefined }]]);

    // Assess
    expect(fresh.decodeMinutes(merged, HOUR).flatMap((m, i) => (m ? [[i, m]] : []))).toEqual([
      [7, { count: 1, sum: 18, min: 18, max: 18 }],
      [8, { count: 2, sum: 4, min: 1, max: 3 }],
    ]);
  });

  it('rebuilds the shard list instead of storing more shards than the reader takes', () => {
    // Prepare: minute 0's last moves to a new shard 61 times; the list only grows while under 60.
    let bytes: Uint8Array | undefined;
    for (let k = 0; k < 61; k++) {
      const add: Array<MinuteAdd | undefined> = new Array(60).fill(undefined);
      add[0] = { count: 1, sum: k, min: k, max: k, last: { value: k, ts: HOUR + k, lineage: { shardId: `shard-${String(k).padStart(3, '0')}` } } };
      // Act
      bytes = mergeMinutes(bytes, HOUR, [add]);
    }

    // Assess
    expect(decodeMinutes(bytes!, HOUR)[0]).toEqual({ count: 61, sum: 1830, min: 0, max: 60, last: { value: 60, ts: HOUR + 60, shardId: 'shard-060' } });
    expect(bytes!.length).toBeLessThan(40);
  });

  it('keeps a counter minute to a few bytes and a float gauge minute under 45 bytes', () => {
    // Prepare
    const counter = emptyMinutes();
    const gauge = emptyMinutes();
    for (let i = 0; i < 60; i++) {
      counter[i] = { count: 60, sum: 60, min: 1, max: 1 };
      gauge[i] = { count: 60, sum: 2_471.3, min: 12.5, max: 97.25, last: { value: 41.7, ts: HOUR + i * 60_000 + 59_999, shardId: S0 } };
    }

    // Act
    const c = encodeMinutes(counter, HOUR);
    const g = encodeMinutes(gauge, HOUR);

    // Assess: header 2 bytes, then 6 bytes a counter minute; a gauge adds its shard id once.
    expect(c.length).toBe(2 + 60 * 6);
    expect(g.length).toBeLessThan(2 + 21 + 60 * 45);
  });

  it('refuses what it cannot store: a count below 1, a non-finite number, a last outside its minute', () => {
    const m = emptyMinutes();
    m[3] = { count: 0, sum: 0, min: 0, max: 0 };
    expect(() => encodeMinutes(m, HOUR)).toThrow('minute 3: count 0 is not a positive integer');
    m[3] = { count: 1, sum: Infinity, min: 0, max: 0 };
    expect(() => encodeMinutes(m, HOUR)).toThrow('cannot pack Infinity');
    m[3] = { count: 1, sum: 1, min: 1, max: 1, last: { value: 1, ts: HOUR + 4 * 60_000, shardId: S0 } };
    expect(() => encodeMinutes(m, HOUR)).toThrow(`minute 3: last event time ${HOUR + 240_000} is outside the minute starting ${HOUR + 180_000}`);
  });

  it('names what is wrong with a corrupt stored form', () => {
    const good = (() => {
      const m = emptyMinutes();
      m[5] = { count: 2, sum: 3, min: 1, max: 2, last: { value: 2, ts: HOUR + 5 * 60_000 + 7, shardId: S0 } };
      m[9] = { count: 1, sum: 0.5, min: 0.5, max: 0.5 };
      return encodeMinutes(m, HOUR);
    })();
    const bad = (bytes: number[] | Uint8Array) => () => decodeMinutes(Uint8Array.from(bytes), HOUR);
    expect(bad([])).toThrow(new MinutesFormatError('packed minutes: empty'));
    expect(bad([2, 0])).toThrow('packed minutes: unknown version 2');
    expect(bad(good.subarray(0, good.length - 3))).toThrow('packed minutes: truncated protobuf field');
    // flags 0x15: sum, min and max as integers; 0x55: last too (a varint of two bytes)
    expect(bad([1, 0, 70, 0x15, 1, 2, 2, 2])).toThrow('packed minutes: minute 70 after minute -1');
    expect(bad([1, 0, 5, 0x15, 1, 2, 2, 2, 5, 0x15, 1, 2, 2, 2])).toThrow('packed minutes: minute 5 after minute 5');
    expect(bad([1, 0, 5, 0x15, 0, 2, 2, 2])).toThrow('packed minutes: minute 5: count 0');
    expect(bad([1, 0, 5, 0x14, 1, 2, 2, 2])).toThrow('packed minutes: minute 5: number encoding 0');
    expect(bad([1, 0, 5, 0x17, 1, 2, 2, 2])).toThrow('packed minutes: minute 5: number encoding 3');
    expect(bad([1, 0, 5, 0xd5, 0x01, 1, 2, 2, 2, 2, 7, 0])).toThrow('packed minutes: minute 5: number encoding 3');
    expect(bad([1, 0, 5, 0xd5, 0x02, 1, 2, 2, 2, 2, 7, 0])).toThrow('packed minutes: minute 5: flags 341');
    expect(bad([1, 0, 5, 0x55, 1, 2, 2, 2, 2, 7, 0])).toThrow('packed minutes: minute 5: shard 0 of 0');
    expect(bad([1, 1, 2, 0x41, 0x42, 5, 0x55, 1, 2, 2, 2, 2, 0xe0, 0xd4, 0x03, 0])).toThrow('packed minutes: minute 5: last event 60000 ms after the minute');
    expect(decodeMinutes(Uint8Array.from([1, 1, 2, 0x41, 0x42, 5, 0x55, 1, 2, 2, 2, 2, 7, 0]), HOUR)[5]).toEqual({ count: 1, sum: 1, min: 1, max: 1, last: { value: 1, ts: HOUR + 300_007, shardId: 'AB' } });
  });
});

describe('Function: foldItem (packed minutes)', () => {
  // Each call is the next commit of the events' shard.
  const commits = new Map<string, number>();
  const write = (stored: StoredBucket | undefined, events: LineagedEvent[]): StoredBucket => {
    const shard = events[0]!.lineage.shardId;
    const n = (commits.get(shard) ?? 0) + 1;
    commits.set(shard, n);
    const r = foldEvents(stored, events, n, { now: NOW, ttlMs: TTL });
    if (r.kind !== 'write') throw new Error('expected a write');
    return r.item;
  };
  const minutesOf = (item: StoredBucket) => decodeMinutes(item.mins!, HOUR);

  it('adds each minute of a later batch to the stored minutes, beside the hour totals', () => {
    // Prepare
    const first = write(undefined, [ev({ value: 3, ts: HOUR + 61_000 }, S0, 1), ev({ value: 5, ts: HOUR + 62_000 }, S0, 2)]);

    // Act
    const second = write(first, [ev({ value: 1, ts: HOUR + 60_500 }, S0, 3), ev({ value: 8, ts: HOUR + 59 * 60_000 }, S0, 4)]);

    // Assess
    expect(second).toMatchObject({ count: 4, sum: 17, min: 1, max: 8, last: 8 });
    const m = minutesOf(second);
    expect(m[1]).toEqual({ count: 3, sum: 9, min: 1, max: 5, last: { value: 5, ts: HOUR + 62_000, shardId: S0 } });
    expect(m[59]).toEqual({ count: 1, sum: 8, min: 8, max: 8, last: { value: 8, ts: HOUR + 59 * 60_000, shardId: S0 } });
    expect(m.filter((x) => x !== undefined)).toHaveLength(2);
  });

  it("orders a minute's last by (ts, shard), and a later event of the same shard at the same ms wins", () => {
    // Prepare
    const t = HOUR + 120_000;
    const first = write(undefined, [ev({ value: 1, ts: t }, S1, 1)]);

    // Act: S0 at the same ms sorts below S1; S1 again (above its watermark) wins the tie.
    const fromS0 = write(first, [ev({ value: 2, ts: t }, S0, 1)]);
    const againS1 = write(fromS0, [ev({ value: 3, ts: t }, S1, 2)]);

    // Assess
    expect(minutesOf(fromS0)[2]!.last).toEqual({ value: 1, ts: t, shardId: S1 });
    expect(minutesOf(againS1)[2]!.last).toEqual({ value: 3, ts: t, shardId: S1 });
    expect(minutesOf(againS1)[2]).toMatchObject({ count: 3, sum: 6 });
  });

  it('applies a commit to the minutes once: a replayed fold of it is covered', () => {
    // Prepare
    const first = [ev({ value: 1, ts: HOUR + 1_000 }, S0, 1), ev({ value: 2, ts: HOUR + 2_000 }, S0, 2)];
    const second = [ev({ value: 4, ts: HOUR + 61_000 }, S0, 3)];
    const applied = write(undefined, first);

    // Act
    const r = write(applied, second);

    // Assess
    expect(minutesOf(r)[0]).toMatchObject({ count: 2, sum: 3 });
    expect(minutesOf(r)[1]).toMatchObject({ count: 1, sum: 4 });
    expect(foldEvents(r, second, 2, { now: NOW, ttlMs: TTL })).toEqual({ kind: 'covered' });
    expect(foldEvents(r, first, 1, { now: NOW, ttlMs: TTL })).toEqual({ kind: 'covered' });
  });

  it('packs no minute for distributions (they keep 1 m items) nor for events past the 1 m retention', () => {
    // Prepare
    const old = NOW - daysToMs(20);
    const oldHour = old - (old % 3_600_000);
    const events = [
      ev({ name: 'lat', type: 'distribution', value: 5, ts: HOUR + 5_000 }, S0, 1),
      ev({ name: 'req', type: 'count', value: 1, ts: old }, S0, 2),
    ];

    // Act
    const items = aggregateBatch(events, NOW, { ttlMs: TTL }).items;

    // Assess
    expect(items.map((i) => `${i.name}/${i.res}`).sort()).toEqual(['lat/1h', 'lat/1m', 'req/1h']);
    const commit = { shardId: S0, n: 1, lo: events[0]!.lineage, to: events[1]!.lineage };
    for (const i of items) {
      const r = foldItem(undefined, [{ commit, entry: segmentEntry(i) }], { name: i.name, ttl: i.ttl });
      expect(r.kind === 'write' && r.item.mins).toBe(undefined);
    }
    expect(items.find((i) => i.name === 'req')!.start).toBe(oldHour);
  });
});
