import { beforeAll, describe, expect, it } from 'vitest';
import { archiveBatch } from '../../functions/archive/core.ts';
import { partitionPrefix } from '../../functions/shared/archive/keys.ts';
import { tableRows } from '../../functions/shared/archive/parquet.ts';
import { PartitionUnstableError, readPartition } from '../../functions/shared/archive/reader.ts';
import { loadZstd, type BlockCodec } from '../../functions/shared/archive/zstd.ts';
import { compactPartition } from '../../functions/compact/core.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { MemoryBucket, recordsFor } from './archive.support.ts';

let codec: BlockCodec;
beforeAll(async () => {
  codec = await loadZstd();
});

const H = Date.parse('2026-11-28T10:00:00Z');
const P = { tenant: 'acme', dt: '2026-11-28', hour: 10 };
const events: StreamEvent[] = Array.from({ length: 120 }, (_, i) => ({
  tenant: 'acme', name: 'm', ts: H + i * 1000, value: i, type: 'count', tags: {}, ...(i % 5 === 0 ? { id: `c-${i % 10}` } : {}),
}));

async function filled(): Promise<MemoryBucket> {
  const bucket = new MemoryBucket();
  const records = recordsFor(events, { arrivalMs: H + 3_600_000, perRecord: 10 });
  for (const [a, b] of [[0, 8], [4, 12]]) {
    await archiveBatch({ records: records.slice(a, b), remainingMs: () => 60_000 }, { store: bucket, codec });
  }
  return bucket;
}

describe('Function: readPartition', () => {
  it('returns one row per event, sorted by ts, dropping copies of a lineage only (not repeated ids)', async () => {
    // Prepare: overlapping files; ids c-0 and c-5 repeat (every 5th event, ids cycle over 2 values).
    const bucket = await filled();
    // Act
    const rows = tableRows(await readPartition(bucket, P, codec));
    // Assess: all 120 events, the 24 carriers of c-0 and c-5 included.
    expect(rows).toHaveLength(120);
    expect(rows.map((r) => r.value)).toEqual(events.map((e) => e.value));
    expect(rows.filter((r) => r.id !== null).map((r) => [r.id, r.value])).toEqual(
      events.filter((e) => e.id !== undefined).map((e) => [e.id, e.value]),
    );
    expect(rows.filter((r) => r.id !== null)).toHaveLength(24);
  });

  it('lists again when a listed file disappears (compaction replaced it) and sees the same rows', async () => {
    // Prepare: compaction runs between the reader's LIST and its first GET.
    const bucket = await filled();
    const expected = tableRows(await readPartition(bucket, P, codec));
    const get = bucket.get.bind(bucket);
    let compacted = false;
    bucket.get = async (key) => {
      if (!compacted) {
        compacted = true;
        await compactPartition(P, { bucket, codec, now: () => H + 10 * 3_600_000 });
      }
      return get(key);
    };
    // Act
    const rows = tableRows(await readPartition(bucket, P, codec));
    // Assess
    expect(rows).toEqual(expected);
    expect(bucket.keys(partitionPrefix(P))).toHaveLength(1);
  });

  it('gives up, saying so, if the partition never stays still', async () => {
    const bucket = await filled();
    bucket.get = async () => undefined;
    await expect(readPartition(bucket, P, codec, { maxAttempts: 3 })).rejects.toBeInstanceOf(PartitionUnstableError);
  });
});
