/**
 * The columns of one archive batch file (the Parquet schema of shared/archive/parquet.ts), built
 * from a group of decoded events with their lineage and arrival time, in file order.
 */
import { canonicalTagsJson, type ArchiveTable } from '../shared/archive/parquet.ts';
import { compareSeq } from '../shared/batch.ts';
import type { LineagedEvent } from '../shared/codec.ts';
import { clientTags } from '../shared/event.ts';

/**
 * Columns of a batch file, already in file order (ts, then lineage), so the encoder finds them
 * sorted and copies nothing.
 */
export function tableOf(items: ReadonlyArray<{ e: LineagedEvent; arrivalMs: number }>): ArchiveTable {
  const n0 = items.length;
  const ts = new Float64Array(n0);
  for (let i = 0; i < n0; i++) ts[i] = items[i]!.e.event.ts;
  const lineageCmp = (a: number, b: number): number => {
    const x = items[a]!.e.lineage;
    const y = items[b]!.e.lineage;
    if (x.shardId !== y.shardId) return x.shardId < y.shardId ? -1 : 1;
    return compareSeq(x.sequenceNumber, y.sequenceNumber) || x.subIndex - y.subIndex;
  };
  const cmp = (a: number, b: number): number => ts[a]! - ts[b]! || lineageCmp(a, b);
  let order: Int32Array | null = null;
  for (let i = 1; i < n0; i++) {
    if (cmp(i - 1, i) > 0) {
      order = new Int32Array(n0);
      for (let j = 0; j < n0; j++) order[j] = j;
      order.sort(cmp);
      break;
    }
  }
  const n = items.length;
  const t: ArchiveTable = {
    length: n,
    name: new Array<string>(n),
    ts: new Array<number>(n),
    type: new Array<string>(n),
    value: new Array<number>(n),
    tags: new Array<string>(n),
    id: new Array<string | null>(n),
    attrs: new Array<string | null>(n),
    _shard: new Array<string>(n),
    _seq: new Array<string>(n),
    _sub: new Array<number>(n),
    _ingested_at: new Array<number>(n),
    start: new Array<number | null>(n),
    agg: new Array<string | null>(n),
  };
  // One string per tag set, shared by its rows: fresh per-row strings would survive into the old
  // generation with the column arrays and make garbage collection most of the cost.
  const tagStrings = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const { e, arrivalMs } = items[order === null ? i : order[i]!]!;
    const ev = e.event;
    t.name[i] = ev.name;
    t.ts[i] = ev.ts;
    t.type[i] = ev.type;
    t.value[i] = ev.value;
    const raw = JSON.stringify(ev.tags);
    let tags = tagStrings.get(raw);
    // A cumulative point's reserved `_sf_start` tag is its `start` column.
    if (tags === undefined) tagStrings.set(raw, (tags = canonicalTagsJson(ev.start === undefined ? ev.tags : clientTags(ev.tags))));
    t.tags[i] = tags;
    t.id[i] = ev.id ?? null;
    t.attrs[i] = ev.attrs === undefined ? null : JSON.stringify(ev.attrs);
    t._shard[i] = e.lineage.shardId;
    t._seq[i] = e.lineage.sequenceNumber;
    t._sub[i] = e.lineage.subIndex;
    t._ingested_at[i] = arrivalMs;
    t.start[i] = ev.start ?? null;
    t.agg[i] = ev.agg === undefined ? null : JSON.stringify(ev.agg);
  }
  return t;
}
