/**
 * The one implementation of the reader rule (keys.ts, "Reader rule") over the files of one
 * partition-hour: which rows survive. Readers apply it with `survivorsByFile` (reader.ts, and the
 * query's ranged reader, functions/query/events-reader.ts), compaction with `selectSurvivors`
 * (functions/compact/), so all keep exactly the same rows.
 *
 * Files are ranked — compacted files first, then by key — and every row is a copy of a lineage
 * `(_shard, _seq, _sub)`. The *chosen* copy of a lineage is its first copy in rank order, and
 * exactly the chosen rows survive: one row per event. Nothing else is dropped: a client `id` is
 * not a dedupe key (the rollups count every accepted event, and the archive keeps every one they
 * count; a client retries a request under an Idempotency-Key instead). Pure.
 */
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
}

/** Applies the reader rule across all files of one partition-hour. */
export function selectSurvivors(input: readonly FileKeys[]): Selection {
  const files = [...input].sort(compareFiles);
  // Lineages seen. Keyed per record (shard + seq), then by sub-index: records hold many events,
  // so this keeps one string key per record, not per row.
  const seen = new Map<string, Set<number>>();
  const chosen = files.map((f) => new Uint8Array(f.length));
  let lineageDuplicates = 0;
  for (let fi = 0; fi < files.length; fi++) {
    const f = files[fi]!;
    for (let r = 0; r < f.length; r++) {
      const rk = `${f._shard[r]!}\u0000${f._seq[r]!}`;
      let subs = seen.get(rk);
      if (subs === undefined) seen.set(rk, (subs = new Set()));
      const sub = f._sub[r]!;
      if (subs.has(sub)) {
        lineageDuplicates++;
        continue;
      }
      subs.add(sub);
      chosen[fi]![r] = 1;
    }
  }

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
  };
}

/** The key columns of one file as read (an `ArchiveTable` has them). */
export type KeyColumns = Pick<FileKeys, 'length' | '_shard' | '_seq' | '_sub'>;

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
