/**
 * A bucket item of the rollups table as stored (`StoredBucket`; keys.ts documents every
 * attribute) and its one DynamoDB attribute codec. The rollup function writes items with
 * `bucketToItem` and reads them back with `bucketFromItem` (functions/rollup/store.ts); the query
 * function reads projected items with `bucketMeasuresFromItem` (functions/query/rollup-reader.ts).
 *
 * Numbers are written as JavaScript prints them (shortest round-trip form, which DynamoDB stores
 * exactly within its 38 digits) and read back with `Number`, so no value goes through the
 * document client's safe-integer checks.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { EventType } from '../event.ts';
import type { ItemKey } from './keys.ts';

/** A bucket item as stored (keys.ts documents every attribute). */
export interface StoredBucket {
  readonly name: string;
  readonly type: EventType;
  /**
   * The series' tags, on items the first layout wrote; items folded from the log leave them out
   * (the series index holds them, and no reader takes them from here).
   */
  readonly tags?: Readonly<Record<string, string>>;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly last?: number;
  readonly lastTs?: number;
  /** `<shardId>/<seq>:<sub>` of the event behind `last` (lineage.ts). */
  readonly lastLin?: string;
  /** sketch.ts stored form. */
  readonly sketch?: Uint8Array;
  /** 1 h items of count and gauge series: minutes.ts stored form. */
  readonly mins?: Uint8Array;
  /**
   * Cumulative histogram series (`_sf_start`): the bucket's latest point, by (cumTs, cumLin) as a
   * gauge's `last`: its count, sum and buckets (sketch.ts stored form) since its start.
   */
  readonly cumCount?: number;
  readonly cumSum?: number;
  readonly cumTs?: number;
  /** `<shardId>/<seq>:<sub>`, as lastLin. */
  readonly cumLin?: string;
  readonly cumSketch?: Uint8Array;
  /** Epoch seconds. */
  readonly ttl: number;
  /** shardId -> `<seq>:<sub>` of the last event applied from that shard (lineage.ts). */
  readonly wm: Readonly<Record<string, string>>;
  readonly ver: number;
}

/** What readers aggregate of a bucket item. */
export type BucketMeasures = Pick<StoredBucket, 'count' | 'sum' | 'min' | 'max' | 'last' | 'lastTs' | 'lastLin' | 'sketch' | 'cumCount' | 'cumSum' | 'cumTs' | 'cumLin' | 'cumSketch'>;

/** Whether a bucket holds a cumulative histogram point (all five attributes). */
export const hasCum = (b: BucketMeasures): b is BucketMeasures & Required<Pick<BucketMeasures, 'cumCount' | 'cumSum' | 'cumTs' | 'cumLin' | 'cumSketch'>> =>
  b.cumCount !== undefined && b.cumSum !== undefined && b.cumTs !== undefined && b.cumLin !== undefined && b.cumSketch !== undefined;

export function bucketToItem(key: ItemKey, b: StoredBucket): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    pk: { S: key.pk },
    sk: { S: key.sk },
    name: { S: b.name },
    type: { S: b.type },
    count: numberAttribute(b.count),
    sum: numberAttribute(b.sum),
    min: numberAttribute(b.min),
    max: numberAttribute(b.max),
    ttl: numberAttribute(b.ttl),
    wm: { M: stringMapAttribute(b.wm) },
    ver: numberAttribute(b.ver),
  };
  if (b.tags !== undefined) item.tags = { M: stringMapAttribute(b.tags) };
  if (b.last !== undefined && b.lastTs !== undefined && b.lastLin !== undefined) {
    item.last = numberAttribute(b.last);
    item.lastTs = numberAttribute(b.lastTs);
    item.lastLin = { S: b.lastLin };
  }
  if (b.sketch !== undefined) item.sketch = { B: b.sketch };
  if (b.mins !== undefined) item.mins = { B: b.mins };
  if (hasCum(b)) {
    item.cumCount = numberAttribute(b.cumCount);
    item.cumSum = numberAttribute(b.cumSum);
    item.cumTs = numberAttribute(b.cumTs);
    item.cumLin = { S: b.cumLin };
    item.cumSketch = { B: b.cumSketch };
  }
  return item;
}

/**
 * The measures of a bucket item, whole or projected: an absent count, sum, min or max reads as 0;
 * the last point only when all three of its attributes are there; the sketch as the SDK's bytes
 * (a view, not a copy).
 */
export function bucketMeasuresFromItem(av: Record<string, AttributeValue>): BucketMeasures {
  const m: { -readonly [K in keyof BucketMeasures]: BucketMeasures[K] } = {
    count: numberOf(av.count),
    sum: numberOf(av.sum),
    min: numberOf(av.min),
    max: numberOf(av.max),
  };
  if (av.last?.N !== undefined && av.lastTs?.N !== undefined && av.lastLin?.S !== undefined) {
    m.last = Number(av.last.N);
    m.lastTs = Number(av.lastTs.N);
    m.lastLin = av.lastLin.S;
  }
  if (av.sketch?.B !== undefined) m.sketch = av.sketch.B;
  if (av.cumCount?.N !== undefined && av.cumSum?.N !== undefined && av.cumTs?.N !== undefined && av.cumLin?.S !== undefined && av.cumSketch?.B !== undefined) {
    m.cumCount = Number(av.cumCount.N);
    m.cumSum = Number(av.cumSum.N);
    m.cumTs = Number(av.cumTs.N);
    m.cumLin = av.cumLin.S;
    m.cumSketch = av.cumSketch.B;
  }
  return m;
}

/** A whole bucket item, its bytes copied. */
export function bucketFromItem(av: Record<string, AttributeValue>): StoredBucket {
  const { sketch, cumSketch, ...measures } = bucketMeasuresFromItem(av);
  return {
    name: av.name?.S ?? '',
    type: (av.type?.S ?? 'count') as EventType,
    ...(av.tags?.M !== undefined ? { tags: stringMapOf(av.tags) } : {}),
    ...measures,
    // Copies: the SDK's bytes may be views into a shared pool, which a remembered item
    // (functions/rollup/core.ts RollupCache) would keep alive whole.
    ...(sketch !== undefined ? { sketch: new Uint8Array(sketch) } : {}),
    ...(av.mins?.B !== undefined ? { mins: new Uint8Array(av.mins.B) } : {}),
    ...(cumSketch !== undefined ? { cumSketch: new Uint8Array(cumSketch) } : {}),
    ttl: numberOf(av.ttl),
    wm: stringMapOf(av.wm),
    ver: numberOf(av.ver),
  };
}

export function numberAttribute(v: number): AttributeValue {
  if (!Number.isFinite(v)) throw new RangeError(`cannot store ${v} as a DynamoDB number`);
  return { N: String(v) };
}

export function stringMapAttribute(m: Readonly<Record<string, string>>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const k in m) out[k] = { S: m[k]! };
  return out;
}

/** A number attribute's value; 0 when absent. */
export const numberOf = (av: AttributeValue | undefined): number => (av?.N === undefined ? 0 : Number(av.N));

/** The string entries of a map attribute (others are left out); {} when absent. */
export function stringMapOf(av: AttributeValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const m = av?.M;
  if (m === undefined) return out;
  for (const k in m) {
    const s = m[k]?.S;
    if (s !== undefined) out[k] = s;
  }
  return out;
}
