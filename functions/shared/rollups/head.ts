/**
 * The head of a shard's rollup log (docs/ROLLUPS.md): the one item whose conditional write
 * commits a batch. Written by the rollup function (commit, then prune after a fold) and by the
 * sweeper (prune); read by both and by the query's reader, which counts a segment only if its
 * `(n, attempt)` is one of the head's unfolded commits.
 *
 * Head item, pk `!head#<shardId>`, sk `-` (keys.ts):
 *   n N      number of the last commit (commits are numbered 1, 2, … per shard)
 *   wm S     `<seq>:<sub>` of the last committed event (absent before the first commit)
 *   c B      the unfolded commits, oldest first, in the form below
 *   ver N    +1 per write; every write is conditional on the version read
 *
 * Commits, version 1: 0x01, varint count, then per commit: varint n, string attempt, string lo,
 * string to (`<seq>:<sub>` of its first and last event), varint at (epoch ms of the commit),
 * varint parts (manifest items).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ProtoReader, ProtoWriter } from '../protobuf.ts';
import { SegmentFormatError } from './segment.ts';
import { HEAD_SK, headPk } from './keys.ts';
import { formatWatermark, parseWatermark, type Watermark } from './lineage.ts';

/** One committed batch of one shard. */
export interface Commit {
  readonly n: number;
  /** Random id of the attempt whose segments count (keys.ts logSk). */
  readonly attempt: string;
  /** First and last event of the commit (lineages in the shard). */
  readonly lo: Watermark;
  readonly to: Watermark;
  /** Epoch ms at which it was committed. */
  readonly at: number;
  /** Items its manifest was written in. */
  readonly manifestParts: number;
}

export interface ShardHead {
  readonly shardId: string;
  /** Last commit number (0: none). */
  readonly n: number;
  /** Last committed event; undefined before the first commit. */
  readonly wm: Watermark | undefined;
  /** Commits not folded yet, ascending n (the last one is `n` unless all are folded). */
  readonly commits: readonly Commit[];
  /** 0: the head does not exist yet. */
  readonly ver: number;
}

export const emptyHead = (shardId: string): ShardHead => ({ shardId, n: 0, wm: undefined, commits: [], ver: 0 });

const VERSION = 1;
const writer = new ProtoWriter();

export function encodeCommits(commits: readonly Commit[]): Uint8Array {
  const w = writer;
  w.len = 0;
  w.byte(VERSION);
  w.varint(commits.length);
  for (const c of commits) {
    w.varint(c.n);
    w.string(c.attempt);
    w.string(formatWatermark(c.lo));
    w.string(formatWatermark(c.to));
    w.varint(c.at);
    w.varint(c.manifestParts);
  }
  return w.finish();
}

export function decodeCommits(bytes: Uint8Array): Commit[] {
  const fail = (reason: string) => new SegmentFormatError(`rollup head: ${reason}`);
  const r = new ProtoReader(bytes, fail, 'rollup head');
  if (r.done) throw fail('empty commit list');
  const version = r.varint();
  if (version !== VERSION) throw fail(`unknown version ${version}`);
  const count = r.varint();
  if (count > bytes.length) throw fail(`${count} commits in ${bytes.length} bytes`);
  const out: Commit[] = [];
  for (let k = 0; k < count; k++) {
    const n = r.varint();
    if (k > 0 && n <= out[k - 1]!.n) throw fail(`commit ${n} after commit ${out[k - 1]!.n}`);
    const attempt = r.string();
    const lo = parseWatermark(r.string());
    const to = parseWatermark(r.string());
    const at = r.varint();
    const manifestParts = r.varint();
    if (manifestParts < 1) throw fail(`commit ${n}: 0 manifest parts`);
    out.push({ n, attempt, lo, to, at, manifestParts });
  }
  if (!r.done) throw fail(`${bytes.length - r.pos} bytes after the last commit`);
  return out;
}

/** The head item's attributes (keys.ts), for the writer's PutItem. */
export function headToItem(head: ShardHead): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    pk: { S: headPk(head.shardId) },
    sk: { S: HEAD_SK },
    n: { N: String(head.n) },
    c: { B: encodeCommits(head.commits) },
    ver: { N: String(head.ver) },
  };
  if (head.wm !== undefined) item.wm = { S: formatWatermark(head.wm) };
  return item;
}

/** A head item read back (the writer's consistent read, a reader's BatchGetItem). */
export function headFromItem(shardId: string, av: Record<string, AttributeValue>): ShardHead {
  return {
    shardId,
    n: Number(av.n?.N ?? 0),
    wm: av.wm?.S !== undefined ? parseWatermark(av.wm.S) : undefined,
    commits: av.c?.B !== undefined ? decodeCommits(av.c.B) : [],
    ver: Number(av.ver?.N ?? 0),
  };
}
