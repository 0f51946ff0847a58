/**
 * Test helpers of the archive and compaction tests: Kinesis records in Lambda's event shape, an
 * in-memory bucket with fault injection, and independent Parquet readers (DuckDB, hyparquet with
 * hyparquet-compressors).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ObjectWriteError, type ArchiveBucket, type ObjectInfo } from '../../functions/shared/archive/bucket.ts';
import type { ArchiveRow } from '../../functions/shared/archive/parquet.ts';
import { encodeRecords } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';

export const SHARD = 'shardId-000000000003';

/** A 56-digit sequence number, ordered by `n`. */
export function seq(n: number): string {
  return `4966${String(n).padStart(52, '0')}`;
}

export interface RecordOptions {
  readonly shardId?: string;
  readonly sequenceNumber: string;
  /** Epoch ms. */
  readonly arrivalMs: number;
  readonly partitionKey?: string;
}

/** One Kinesis record as Lambda delivers it. */
export function kinesisRecord(data: Uint8Array | string, o: RecordOptions): KinesisStreamRecord {
  const shardId = o.shardId ?? SHARD;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: o.partitionKey ?? 'pk',
      sequenceNumber: o.sequenceNumber,
      data: bytes.toString('base64'),
      approximateArrivalTimestamp: o.arrivalMs / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${o.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/archive',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/streamfold-events',
  };
}

/**
 * Encodes events the way the intake does (gzip'd NDJSON, one record per partition key and up to
 * `perRecord` events) and numbers the records from `firstSeq` on one shard. Record i arrives at
 * `arrivalMs + i`.
 */
export function recordsFor(
  events: readonly StreamEvent[],
  o: { shardId?: string; firstSeq?: number; arrivalMs: number; perRecord?: number },
): KinesisStreamRecord[] {
  const per = o.perRecord ?? 50;
  const out: KinesisStreamRecord[] = [];
  for (let i = 0; i < events.length; i += per) {
    for (const r of encodeRecords(events.slice(i, i + per))) {
      const n = (o.firstSeq ?? 1) + out.length;
      out.push(kinesisRecord(r.data, { shardId: o.shardId ?? SHARD, sequenceNumber: seq(n), arrivalMs: o.arrivalMs + out.length, partitionKey: r.partitionKey }));
    }
  }
  return out;
}

export function streamEvent(records: KinesisStreamRecord[]): KinesisStreamEvent {
  return { Records: records };
}

/** A Lambda context whose clock never runs out unless told. */
export function context(remainingMs = 60_000): { getRemainingTimeInMillis(): number } {
  return { getRemainingTimeInMillis: () => remainingMs };
}

// ---------------------------------------------------------------------------------------------

export type Fault = ObjectWriteError | Error | undefined;

/** An in-memory bucket. Faults are injected per operation; `ops` records what happened. */
export class MemoryBucket implements ArchiveBucket {
  readonly objects = new Map<string, Uint8Array>();
  readonly ops: string[] = [];
  putAttempts = new Map<string, number>();
  /** Called before each put; a returned error is thrown instead of storing. */
  onPut: (key: string, attempt: number) => Fault = () => undefined;
  /** Called before each delete of a key; a returned error is thrown (earlier keys stay deleted). */
  onDelete: (key: string) => Fault = () => undefined;

  /** Content type of each stored object. */
  readonly contentTypes = new Map<string, string>();

  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream', _signal?: AbortSignal): Promise<void> {
    const attempt = (this.putAttempts.get(key) ?? 0) + 1;
    this.putAttempts.set(key, attempt);
    const fault = this.onPut(key, attempt);
    this.ops.push(`put ${key}${fault ? ` FAILED ${fault.name}` : ''}`);
    if (fault) throw fault;
    this.objects.set(key, Uint8Array.from(body));
    this.contentTypes.set(key, contentType);
  }

  async list(prefix: string, opts: { delimiter?: string } = {}): Promise<{ objects: ObjectInfo[]; prefixes: string[] }> {
    const objects: ObjectInfo[] = [];
    const prefixes = new Set<string>();
    for (const [key, body] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!key.startsWith(prefix)) continue;
      if (opts.delimiter !== undefined) {
        const i = key.indexOf(opts.delimiter, prefix.length);
        if (i >= 0) {
          prefixes.add(key.slice(0, i + opts.delimiter.length));
          continue;
        }
      }
      objects.push({ key, size: body.length });
    }
    return { objects, prefixes: [...prefixes] };
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key);
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined> {
    return this.objects.get(key)?.slice(start, end);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const fault = this.onDelete(key);
      this.ops.push(`delete ${key}${fault ? ` FAILED ${fault.name}` : ''}`);
      if (fault) throw fault;
      this.objects.delete(key);
    }
  }

  keys(prefix = ''): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  clone(): MemoryBucket {
    const b = new MemoryBucket();
    for (const [k, v] of this.objects) b.objects.set(k, v);
    return b;
  }
}

export const throttled = (): ObjectWriteError => new ObjectWriteError('SlowDown: reduce your request rate', { code: 'SlowDown', retryable: true });
export const denied = (): ObjectWriteError => new ObjectWriteError('AccessDenied', { code: 'AccessDenied', retryable: false });

// ---------------------------------------------------------------------------------------------
// Independent readers

/** Rows as hyparquet reads them with its own decompressors, timestamps as epoch ms. */
export async function readWithHyparquet(bytes: Uint8Array): Promise<ArchiveRow[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({ file, compressors })) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    name: r.name as string,
    ts: (r.ts as Date).getTime(),
    type: r.type as string,
    value: r.value as number,
    tags: r.tags as string,
    id: (r.id as string | null | undefined) ?? null,
    attrs: (r.attrs as string | null | undefined) ?? null,
    _shard: r._shard as string,
    _seq: r._seq as string,
    _sub: r._sub as number,
    _ingested_at: (r._ingested_at as Date).getTime(),
    ...(r.start != null ? { start: (r.start as Date).getTime() } : {}),
    ...(r.agg != null ? { agg: r.agg as string } : {}),
  }));
}

/** One DuckDB in-memory database per test file, and a scratch directory for Parquet files. */
export class Duck {
  private constructor(
    readonly conn: DuckDBConnection,
    private readonly dir: string,
    private n = 0,
  ) {}

  static async open(): Promise<Duck> {
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    return new Duck(await db.connect(), mkdtempSync(join(tmpdir(), 'archive-duck-')));
  }

  /** Writes bytes to a temp file and returns its path (SQL-quoted-safe). */
  file(bytes: Uint8Array): string {
    const path = join(this.dir, `f${this.n++}.parquet`);
    writeFileSync(path, bytes);
    return path;
  }

  async rows(sql: string): Promise<Array<Record<string, unknown>>> {
    const r = await this.conn.runAndReadAll(sql);
    return r.getRowObjectsJS() as Array<Record<string, unknown>>;
  }

  /** Rows of a file as archive rows, ts as epoch ms (via epoch_ms, so DuckDB's own decoding). */
  async readRows(path: string): Promise<ArchiveRow[]> {
    const rows = await this.rows(
      `SELECT name, epoch_ms(ts) AS ts, type, value, tags, id, attrs, _shard, _seq, _sub, epoch_ms(_ingested_at) AS _ingested_at, epoch_ms(start) AS start, agg
       FROM read_parquet('${path}')`,
    );
    return rows.map((r) => ({
      name: r.name as string,
      ts: Number(r.ts),
      type: r.type as string,
      value: r.value as number,
      tags: r.tags as string,
      id: (r.id as string | null) ?? null,
      attrs: (r.attrs as string | null) ?? null,
      _shard: r._shard as string,
      _seq: r._seq as string,
      _sub: r._sub as number,
      _ingested_at: Number(r._ingested_at),
      ...(r.start != null ? { start: Number(r.start) } : {}),
      ...(r.agg != null ? { agg: r.agg as string } : {}),
    }));
  }

  close(): void {
    this.conn.closeSync();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
