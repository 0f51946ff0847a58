/**
 * KPL aggregated records: magic `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the MD5 of that
 * protobuf. Format: https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md
 *
 *   message AggregatedRecord {
 *     repeated string partition_key_table     = 1;
 *     repeated string explicit_hash_key_table = 2;
 *     repeated Record records                 = 3;
 *   }
 *   message Record {
 *     required uint64 partition_key_index     = 1;
 *     optional uint64 explicit_hash_key_index = 2;
 *     required bytes  data                    = 3;
 *     repeated Tag    tags                    = 4;
 *   }
 *
 * Only what a consumer needs is decoded: each user record's partition key and data (protobuf.ts
 * reads the wire format).
 */
import { createHash } from 'node:crypto';
import { ProtoReader } from './protobuf.ts';

export const KPL_MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
const MD5_BYTES = 16;

export interface KplUserRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

export function isKplAggregated(data: Uint8Array): boolean {
  return (
    data.length >= 4 &&
    data[0] === KPL_MAGIC[0] &&
    data[1] === KPL_MAGIC[1] &&
    data[2] === KPL_MAGIC[2] &&
    data[3] === KPL_MAGIC[3]
  );
}

/** Thrown only inside this module's callers' try blocks: a reason a person can act on. */
export class KplFormatError extends Error {
  override name = 'KplFormatError';
}

/** Decodes an aggregated record (magic included). Throws `KplFormatError` with a reason. */
export function decodeKpl(data: Uint8Array): KplUserRecord[] {
  if (data.length < KPL_MAGIC.length + MD5_BYTES) {
    throw new KplFormatError(`KPL: ${data.length} bytes is shorter than magic + MD5 (20 bytes)`);
  }
  const body = data.subarray(KPL_MAGIC.length, data.length - MD5_BYTES);
  const digest = data.subarray(data.length - MD5_BYTES);
  const actual = createHash('md5').update(body).digest();
  if (!actual.equals(digest)) throw new KplFormatError('KPL: MD5 checksum mismatch (record corrupt)');

  const keys: string[] = [];
  const raw: Array<{ pk: number; data: Uint8Array }> = [];
  const r = reader(body);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) keys.push(r.string());
    else if (field === 3 && wire === 2) raw.push(readRecord(r.bytes()));
    else r.skip(wire);
  }
  return raw.map((rec, i) => {
    const partitionKey = keys[rec.pk];
    if (partitionKey === undefined) {
      throw new KplFormatError(`KPL: user record ${i} names partition key ${rec.pk} of ${keys.length}`);
    }
    return { partitionKey, data: rec.data };
  });
}

function readRecord(buf: Uint8Array): { pk: number; data: Uint8Array } {
  const r = reader(buf);
  let pk: number | undefined;
  let data: Uint8Array | undefined;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 0) pk = r.varint();
    else if (field === 3 && wire === 2) data = r.bytes();
    else r.skip(wire);
  }
  if (pk === undefined) throw new KplFormatError('KPL: user record without partition_key_index');
  if (data === undefined) throw new KplFormatError('KPL: user record without data');
  return { pk, data };
}

const kplFailure = (reason: string): Error => new KplFormatError(`KPL: ${reason}`);
const reader = (buf: Uint8Array): ProtoReader => new ProtoReader(buf, kplFailure, 'record');
