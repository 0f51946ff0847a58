/**
 * The one implementation of the reader rule (keys.ts, "Reader rule") over the files of one
 * partition-hour: which rows survive. Readers apply it with `survivorsByFile` (reader.ts, and the
 * query's ranged reader, functions/query/events-reader.ts), compaction with `selectSurvivors`
 * (functions/compact/), so all keep exactly the same rows.
 *
 * Files are ranked — compacted files first, then by key — and every row is a copy of a lineage.
 * The *chosen* copy of a lineage is its first copy in rank order; of chosen copies sharing an
 * `id`, only the smallest lineage survives. Every surviving lineage has exactly one chosen copy,
 * so keeping exactly the chosen rows leaves one row per event. Pure.
 */
import { compareSeq } from '../batch.ts';
import { parseEventsKey } from './keys.ts';

/** The key columns of one file, and its listing. */
export interface FileKeys {
  readonly key: string;
  readonly size: number;
  readonly compacted: boolean;
  readonly length: number;
  readonly _shard: readonly string[];
  readonly _seq: readonly string[];
  readonly _sub: readonly number[];
  readonly id: ReadonlyArray<string | null>;
}

/** Rank order: compacted files first, then by key. */
export function compareFiles(a: Pick<FileKeys, 'key' | 'compacted'>, b: Pick<FileKeys, 'key' | 'compacted'>): number {
  if (a.compacted !== b.compacted) return a.compacted ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

export interface Selection {
  /** Files in rank order. */
  readonly files: readonly FileKeys[];
  /** Per file (same order), 1 where the row is kept. */
  readonly chosen: readonly Uint8Array[];
  readonly chosenCount: readonly number[];
  readonly rows: number;
  readonly survivors: number;
  /** Rows dropped as copies of a lineage seen in a higher-ranked file or earlier row. */
  readonly lineageDuplicates: number;
  /** Rows dropped because a smaller lineage carries the same `id`. */
  readonly idDuplicates: number;
}

/** Applies the reader rule across all files of one partition-hour. */
export function selectSurvivors(input: readonly FileKeys[]): Selection {
  const files = [...input].sort(compareFiles);
  // Lineage → first copy. Keyed per record (shard + seq), then by sub-index: records hold many
  // events, so this keeps one string key per record, not per row.
  const firstCopy = new Map<string, Map<number, number>>();
  const chosen = files.map((f) => new Uint8Array(f.length));
  let lineageDuplicates = 0;
  // Refs pack (file index, row index) into one safe integer.
  const ROW_BITS = 2 ** 26;
  files.forEach((f, fi) => {
    if (f.length >= ROW_BITS) throw new RangeError(`${f.key}: ${f.length} rows is more than compaction handles in one file`);
    for (let r = 0; r < f.length; r++) {
      const rk = `${f._shard[r]!}\u0000${f._seq[r]!}`;
      let subs = firstCopy.get(rk);
      if (subs === undefined) firstCopy.set(rk, (subs = new Map()));
      const sub = f._sub[r]!;
      if (subs.has(sub)) {
        lineageDuplicates++;
        continue;
      }
      subs.set(sub, fi * ROW_BITS + r);
      chosen[fi]![r] = 1;
    }
  });

  // Of first copies sharing an id, keep the smallest lineage.
  const byId = new Map<string, number>();
  const lineageOf = (ref: number) => {
    const fi = Math.floor(ref / ROW_BITS);
    const r = ref - fi * ROW_BITS;
    const f = files[fi]!;
    return { shard: f._shard[r]!, seq: f._seq[r]!, sub: f._sub[r]! };
  };
  const smaller = (a: number, b: number): boolean => {
    const x = lineageOf(a);
    const y = lineageOf(b);
    if (x.shard !== y.shard) return x.shard < y.shard;
    const c = compareSeq(x.seq, y.seq);
    return c !== 0 ? c < 0 : x.sub < y.sub;
  };
  let idDuplicates = 0;
  files.forEach((f, fi) => {
    const ch = chosen[fi]!;
    for (let r = 0; r < f.length; r++) {
      const id = f.id[r];
      if (ch[r] === 0 || id === null || id === undefined) continue;
      const ref = fi * ROW_BITS + r;
      const best = byId.get(id);
      if (best === undefined) {
        byId.set(id, ref);
      } else if (smaller(ref, best)) {
        byId.set(id, ref);
        const bf = Math.floor(best / ROW_BITS);
        chosen[bf]![best - bf * ROW_BITS] = 0;
        idDuplicates++;
      } else {
        ch[r] = 0;
        idDuplicates++;
      }
    }
  });

  const chosenCount = chosen.map((c) => {
    let n = 0;
    for (let i = 0; i < c.length; i++) n += c[i]!;
    return n;
  });
  const rows = files.reduce((n, f) => n + f.length, 0);
  return {
    files,
    chosen,
    chosenCount,
    rows,
    survivors: chosenCount.reduce((a, b) => a + b, 0),
    lineageDuplicates,
    idDuplicates,
  };
}

/** The key columns of one file as read (an `ArchiveTable` has them). */
export type KeyColumns = Pick<FileKeys, 'length' | '_shard' | '_seq' | '_sub' | 'id'>;

/**
 * The reader rule over files as a reader read them, ranked by their keys (a compacted file's key
 * says so): each file in rank order, with the indexes of its surviving rows, ascending.
 */
export function survivorsByFile<F extends { readonly key: string; readonly size?: number }>(
  files: readonly F[],
  columns: (file: F) => KeyColumns,
): Array<{ readonly file: F; readonly rows: number[] }> {
  const sel = selectSurvivors(
    files.map((f) => {
      const c = columns(f);
      return {
        key: f.key,
        size: f.size ?? 0,
        compacted: parseEventsKey(f.key)?.compacted ?? false,
        length: c.length,
        _shard: c._shard,
        _seq: c._seq,
        _sub: c._sub,
        id: c.id,
      };
    }),
  );
  const byKey = new Map(files.map((f) => [f.key, f]));
  return sel.files.map((f, i) => {
    const mask = sel.chosen[i]!;
    const rows: number[] = [];
    for (let r = 0; r < mask.length; r++) if (mask[r] === 1) rows.push(r);
    return { file: byKey.get(f.key)!, rows };
  });
}
