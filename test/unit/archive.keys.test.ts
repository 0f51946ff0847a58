import { describe, expect, it } from 'vitest';
import {
  batchObjectKey,
  compactedObjectKey,
  parseEventsKey,
  partitionEnd,
  partitionOf,
  partitionPrefix,
  partitionStart,
  quarantineKey,
} from '../../functions/shared/archive/keys.ts';
import { seq } from './archive.support.ts';

describe('Function: batchObjectKey', () => {
  it('is exactly events/tenant=<t>/dt=<YYYY-MM-DD>/hour=<HH>/<shardId>-<firstSeq>-<lastSeq>.parquet', () => {
    // Prepare
    const p = partitionOf('acme', Date.parse('2026-03-09T07:59:59.999Z'));
    // Act
    const key = batchObjectKey(p, 'shardId-000000000004', seq(10), seq(12));
    // Assess
    expect(key).toBe(`events/tenant=acme/dt=2026-03-09/hour=07/shardId-000000000004-${seq(10)}-${seq(12)}.parquet`);
  });

  it('puts an event in the UTC hour of its ts, at both ends of the hour', () => {
    expect(partitionOf('t', Date.parse('2026-12-31T23:59:59.999Z'))).toEqual({ tenant: 't', dt: '2026-12-31', hour: 23 });
    expect(partitionOf('t', Date.parse('2027-01-01T00:00:00.000Z'))).toEqual({ tenant: 't', dt: '2027-01-01', hour: 0 });
    expect(partitionOf('t', Date.parse('2026-11-28T12:30:00+05:30'))).toEqual({ tenant: 't', dt: '2026-11-28', hour: 7 });
  });

  it('gives the hour bounds of a partition', () => {
    const p = { tenant: 't', dt: '2024-02-29', hour: 5 };
    expect(new Date(partitionStart(p)).toISOString()).toBe('2024-02-29T05:00:00.000Z');
    expect(new Date(partitionEnd(p)).toISOString()).toBe('2024-02-29T06:00:00.000Z');
    expect(partitionPrefix(p)).toBe('events/tenant=t/dt=2024-02-29/hour=05/');
  });
});

describe('Function: quarantineKey', () => {
  it('is quarantine/dt=<arrival date>/<shardId>-<seq>.ndjson', () => {
    expect(quarantineKey(Date.parse('2026-11-28T23:59:59Z'), 'shardId-000000000001', seq(7))).toBe(
      `quarantine/dt=2026-11-28/shardId-000000000001-${seq(7)}.ndjson`,
    );
  });
});

describe('Function: compactedObjectKey', () => {
  const p = { tenant: 'acme', dt: '2026-11-28', hour: 12 };

  it('depends only on the set of inputs and the part number', () => {
    // Act
    const a = compactedObjectKey(p, ['k2', 'k1'], 0);
    const b = compactedObjectKey(p, ['k1', 'k2'], 0);
    // Assess
    expect(a).toBe(b);
    expect(a).toMatch(/^events\/tenant=acme\/dt=2026-11-28\/hour=12\/compacted-[0-9a-f]{32}\.parquet$/);
    expect(compactedObjectKey(p, ['k1', 'k2'], 1)).not.toBe(a);
    expect(compactedObjectKey(p, ['k1'], 0)).not.toBe(a);
  });
});

describe('Function: parseEventsKey', () => {
  it('parses batch and compacted keys, and refuses anything else', () => {
    const batch = batchObjectKey({ tenant: 'a-b_c', dt: '2026-01-02', hour: 3 }, 'shardId-1', '1', '2');
    expect(parseEventsKey(batch)).toEqual({ partition: { tenant: 'a-b_c', dt: '2026-01-02', hour: 3 }, file: 'shardId-1-1-2.parquet', compacted: false });
    const compacted = compactedObjectKey({ tenant: 'a', dt: '2026-01-02', hour: 23 }, ['x'], 0);
    expect(parseEventsKey(compacted)?.compacted).toBe(true);
    for (const bad of [
      'events/tenant=a/dt=2026-01-02/hour=24/x.parquet',
      'events/tenant=a/dt=2026-02-30/hour=01/x.parquet',
      'events/tenant=A/dt=2026-01-02/hour=01/x.parquet',
      'events/tenant=a/dt=2026-01-02/hour=01/x.json',
      'events/tenant=a/dt=2026-01-02/hour=01/sub/x.parquet',
      'quarantine/dt=2026-01-02/x.ndjson',
    ]) {
      expect(parseEventsKey(bad), bad).toBeUndefined();
    }
  });
});
