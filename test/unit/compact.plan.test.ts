import { describe, expect, it } from 'vitest';
import { compactedObjectKey, partitionPrefix } from '../../functions/shared/archive/keys.ts';
import {
  isNoop,
  isPartitionClosed,
  needsCompaction,
  planCompaction,
  selectSurvivors,
  type FileKeys,
} from '../../functions/compact/plan.ts';

const P = { tenant: 'acme', dt: '2026-11-28', hour: 10 };
const prefix = partitionPrefix(P);
const raw = (name: string) => `${prefix}shardId-000000000001-${name}.parquet`;
const compacted = (name: string) => `${prefix}compacted-${name}.parquet`;

/** A file whose rows are lineage strings like "s1/12/0". */
function file(key: string, rows: string[], size = 1000): FileKeys {
  const parsed = rows.map((r) => {
    const [shard, seq, sub] = r.split('/');
    return { shard: shard!, seq: seq!, sub: Number(sub) };
  });
  return {
    key,
    size,
    compacted: key.includes('/compacted-'),
    length: rows.length,
    _shard: parsed.map((p) => p.shard),
    _seq: parsed.map((p) => p.seq),
    _sub: parsed.map((p) => p.sub),
  };
}

/** The rows each file keeps, as strings. */
function kept(sel: ReturnType<typeof selectSurvivors>): Record<string, string[]> {
  return Object.fromEntries(
    sel.files.map((f, i) => [
      f.key,
      Array.from({ length: f.length }, (_, r) => r)
        .filter((r) => sel.chosen[i]![r] === 1)
        .map((r) => `${f._shard[r]}/${f._seq[r]}/${f._sub[r]}`),
    ]),
  );
}

describe('Function: isPartitionClosed', () => {
  it('closes a partition-hour once its hour has ended and the grace period has passed', () => {
    const end = Date.parse('2026-11-28T11:00:00Z');
    expect(isPartitionClosed(P, end + 10 * 60_000 - 1)).toBe(false);
    expect(isPartitionClosed(P, end + 10 * 60_000)).toBe(true);
    expect(isPartitionClosed(P, end, 0)).toBe(true);
  });
});

describe('Function: needsCompaction', () => {
  it('asks for work when a batch file is present or two compacted files fit together', () => {
    expect(needsCompaction([{ key: raw('1-2'), size: 10 }])).toBe(true);
    expect(needsCompaction([{ key: compacted('a'), size: 10 }])).toBe(false);
    expect(needsCompaction([{ key: compacted('a'), size: 60 }, { key: compacted('b'), size: 50 }], 100)).toBe(false);
    expect(needsCompaction([{ key: compacted('a'), size: 60 }, { key: compacted('b'), size: 40 }], 100)).toBe(true);
    expect(needsCompaction([])).toBe(false);
  });
});

describe('Function: selectSurvivors', () => {
  it('keeps one copy per lineage, preferring compacted files, then key order', () => {
    // Prepare
    const files = [
      file(raw('b'), ['s1/2/0', 's1/3/0']),
      file(raw('a'), ['s1/1/0', 's1/2/0']),
      file(compacted('z'), ['s1/3/0']),
    ];
    // Act
    const sel = selectSurvivors(files);
    // Assess
    expect(sel.files.map((f) => f.key)).toEqual([compacted('z'), raw('a'), raw('b')]);
    expect(kept(sel)).toEqual({ [compacted('z')]: ['s1/3/0'], [raw('a')]: ['s1/1/0', 's1/2/0'], [raw('b')]: [] });
    expect(sel).toMatchObject({ rows: 5, survivors: 3, lineageDuplicates: 2 });
  });

  it('keeps every other lineage: only copies of one lineage are dropped', () => {
    // Prepare: "10" and "9" are different sequence numbers, s1/9/4 and s1/9/5 different events.
    const files = [
      file(raw('a'), ['s1/10/0', 's1/9/4', 's1/9/5', 's2/1/0', 's1/1/0']),
      file(raw('b'), ['s1/9/4', 's0/50/0', 's1/2/0']),
    ];
    // Act
    const sel = selectSurvivors(files);
    // Assess
    expect(kept(sel)).toEqual({ [raw('a')]: ['s1/10/0', 's1/9/4', 's1/9/5', 's2/1/0', 's1/1/0'], [raw('b')]: ['s0/50/0', 's1/2/0'] });
    expect(sel).toMatchObject({ rows: 8, survivors: 7, lineageDuplicates: 1 });
  });

  it('is the same whatever order the files are listed in', () => {
    const files = [file(raw('a'), ['s1/1/0', 's1/2/0']), file(raw('b'), ['s1/2/0', 's1/0/0']), file(compacted('c'), ['s1/2/0'])];
    expect(kept(selectSurvivors(files))).toEqual(kept(selectSurvivors([...files].reverse())));
  });
});

describe('Function: planCompaction', () => {
  it('merges batch files into bins of at most the target size, by key order', () => {
    // Prepare: four 40-byte files, target 100 → [a, b], [c, d].
    const files = ['a', 'b', 'c', 'd'].map((n, i) => file(raw(n), [`s1/${i}/0`], 40));
    // Act
    const plan = planCompaction(P, selectSurvivors(files), 100);
    // Assess
    expect(plan.merge.map((m) => [m.inputs, m.rows, m.estimatedBytes, m.output])).toEqual([
      [[raw('a'), raw('b')], 2, 80, compactedObjectKey(P, [raw('a'), raw('b')], 0, plan.merge[0]!.digest)],
      [[raw('c'), raw('d')], 2, 80, compactedObjectKey(P, [raw('c'), raw('d')], 0, plan.merge[1]!.digest)],
    ]);
    expect(plan.delete).toEqual([raw('a'), raw('b'), raw('c'), raw('d')]);
    expect(plan.keep).toEqual([]);
  });

  it('also closes a bin at the row cap', () => {
    // Prepare: tiny files, plenty of bytes left, but at most 3 rows per output.
    const files = ['a', 'b', 'c'].map((n, i) => file(raw(n), [`s1/${i}/0`, `s1/${i}/1`], 10));
    // Act
    const plan = planCompaction(P, selectSurvivors(files), 1_000_000, 3);
    // Assess
    expect(plan.merge.map((m) => [m.inputs.length, m.rows])).toEqual([[1, 2], [1, 2], [1, 2]]);
    expect(() => planCompaction(P, selectSurvivors(files), 100, 0)).toThrow(/maxRows/);
  });

  it('weighs each file by the share of its rows that survive', () => {
    // a: 100 bytes, half its rows are copies of b's → weighs 50; a + b = 90 ≤ 100.
    const files = [file(raw('a'), ['s1/1/0', 's1/2/0'], 100), file(raw('b'), ['s1/0/0'], 40), file(compacted('0'), ['s1/2/0'], 10)];
    const plan = planCompaction(P, selectSurvivors(files), 100);
    expect(plan.merge.map((m) => m.inputs)).toEqual([[compacted('0'), raw('a'), raw('b')]]);
    expect(plan.merge[0]!.estimatedBytes).toBe(100);
  });

  it('leaves a compacted partition alone', () => {
    const plan = planCompaction(P, selectSurvivors([file(compacted('a'), ['s1/1/0'], 90), file(compacted('b'), ['s1/2/0'], 90)]), 100);
    expect(isNoop(plan)).toBe(true);
    expect(plan.keep).toEqual([compacted('a'), compacted('b')]);
  });

  it('deletes files holding only copies, compacted or not', () => {
    // Prepare: an earlier run wrote O from [a, b] and crashed before deleting them; O ranks after a
    // compacted file holding the same rows, so a, b and O hold only copies.
    const o = compactedObjectKey(P, [raw('a'), raw('b')], 0, 'x');
    const files = [file(raw('a'), ['s1/1/0']), file(raw('b'), ['s1/2/0']), file(o, ['s1/1/0', 's1/2/0']), file(compacted('0'), ['s1/1/0', 's1/2/0'])];
    // Act
    const plan = planCompaction(P, selectSurvivors(files), 1000);
    // Assess
    expect(plan.keep).toEqual([compacted('0')]);
    expect(plan.dropOnly).toEqual([o, raw('a'), raw('b')].sort());
    expect(plan.merge).toEqual([]);
    expect(plan.delete).toEqual([o, raw('a'), raw('b')].sort());
  });

  it('defers a bin whose output name is already taken, and keeps its inputs', () => {
    // Prepare: a big file named like the output of [a, b] (it cannot be overwritten while it may be read).
    const ab = [file(raw('a'), ['s1/1/0'], 400), file(raw('b'), ['s1/2/0'], 400)];
    const o = planCompaction(P, selectSurvivors(ab), 1000).merge[0]!.output;
    const files = [...ab, file(o, ['s1/9/0'], 5000)];
    // Act
    const plan = planCompaction(P, selectSurvivors(files), 1000);
    // Assess
    expect(plan.keep).toEqual([o]);
    expect(plan.merge).toEqual([]);
    expect(plan.deferred.map((m) => m.inputs)).toEqual([[raw('a'), raw('b')]]);
    expect(plan.delete).toEqual([]);
    expect(isNoop(plan)).toBe(true);
  });
});
