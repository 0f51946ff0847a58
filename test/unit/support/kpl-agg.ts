/**
 * Test helper: builds KPL-aggregated records with aws-kinesis-agg, an independent producer
 * (CommonJS, protobufjs-based), so the hand-written reader in functions/shared/kpl.ts is checked
 * against someone else's writer.
 */
import { createRequire } from 'node:module';

interface AggUserRecord {
  partitionKey: string;
  data: Buffer;
  explicitHashKey?: string;
}

interface AggModule {
  RecordAggregator: new () => {
    addUserRecord(record: AggUserRecord): void;
    build(): { partitionKey: string; data: Buffer } | undefined;
  };
  deaggregateSync(
    kinesisRecord: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    cb: (err: Error | null | undefined, records?: Array<{ partitionKey: string; data: string }>) => void,
  ): void;
}

const require = createRequire(import.meta.url);
const agg = require('aws-kinesis-agg') as AggModule;

export interface UserRecordInput {
  readonly partitionKey?: string;
  readonly data: Uint8Array | string;
  readonly explicitHashKey?: string;
}

/** One aggregated record (magic + protobuf + MD5) holding `users` in order. */
export function kplAggregate(users: readonly UserRecordInput[]): Buffer {
  const a = new agg.RecordAggregator();
  for (const [i, u] of users.entries()) {
    const rec: AggUserRecord = {
      partitionKey: u.partitionKey ?? `pk-${i % 3}`,
      data: Buffer.from(typeof u.data === 'string' ? Buffer.from(u.data, 'utf8') : u.data),
    };
    if (u.explicitHashKey !== undefined) rec.explicitHashKey = u.explicitHashKey;
    a.addUserRecord(rec);
  }
  const built = a.build();
  if (built === undefined) throw new Error('aws-kinesis-agg built nothing (no user records?)');
  return built.data;
}

/** User records as aws-kinesis-agg's own de-aggregator sees them (checksums verified). */
export function kplDeaggregate(data: Uint8Array): Array<{ partitionKey: string; data: Buffer }> {
  const result: { out?: Array<{ partitionKey: string; data: Buffer }>; error?: Error } = {};
  agg.deaggregateSync(
    { data: Buffer.from(data).toString('base64'), partitionKey: 'outer', sequenceNumber: '1' },
    true,
    (err, recs) => {
      if (err) result.error = err;
      else result.out = (recs ?? []).map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data, 'base64') }));
    },
  );
  if (result.error !== undefined) throw result.error;
  if (result.out === undefined) throw new Error('deaggregateSync did not call back synchronously');
  return result.out;
}
