import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createArchiveHandler, readArchiveConfig } from '../../functions/archive/app.ts';
import type { ArchiveStats } from '../../functions/archive/core.ts';
import { classifyS3Error, S3ArchiveBucket } from '../../functions/shared/archive/s3-store.ts';
import { ObjectWriteError } from '../../functions/shared/archive/bucket.ts';
import { loadZstd, type BlockCodec } from '../../functions/shared/archive/zstd.ts';
import { resetClients } from '../../functions/shared/clients.ts';
import { ConfigError } from '../../functions/shared/errors.ts';
import { context, kinesisRecord, seq, SHARD, streamEvent } from './archive.support.ts';

const s3 = mockClient(S3Client);
let codec: BlockCodec;
beforeAll(async () => {
  codec = await loadZstd();
});
beforeEach(() => s3.reset());
afterEach(() => resetClients());

const ENV = {
  ARCHIVE_BUCKET_NAME: 'streamfold-archive-123456789012-us-east-1',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  ARCHIVE_TIME_MARGIN_MS: '1000',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
};
const H = Date.parse('2026-11-28T10:00:00Z');
const ARRIVAL = H + 60_000;

const sdkError = (name: string, status: number): S3ServiceException =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} from the mock` });

/** Records 1-3 of acme, 4-5 of globex, 6 undecodable. */
function event() {
  const e = (tenant: string, i: number) => JSON.stringify({ tenant, name: 'm', ts: H + i, value: i });
  const data = [e('acme', 1), e('acme', 2), e('acme', 3), e('globex', 4), e('globex', 5), '{'];
  return streamEvent(data.map((d, i) => kinesisRecord(d, { sequenceNumber: seq(i + 1), arrivalMs: ARRIVAL })));
}
const ACME = `events/tenant=acme/dt=2026-11-28/hour=10/${SHARD}-${seq(1)}-${seq(6)}.parquet`;
const GLOBEX = `events/tenant=globex/dt=2026-11-28/hour=10/${SHARD}-${seq(1)}-${seq(6)}.parquet`;
const QUARANTINE = `quarantine/dt=2026-11-28/${SHARD}-${seq(6)}.ndjson`;

function handler(stats: ArchiveStats[] = []) {
  return createArchiveHandler(ENV, { codec, onStats: (s) => stats.push(s), sleep: async () => undefined });
}

const putKeys = () => s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);

describe('Function: archive handler (aws-sdk-client-mock)', () => {
  it('puts every object in the configured bucket with its content type, and reports no failures', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const stats: ArchiveStats[] = [];
    // Act
    const res = await handler(stats)(event(), context());
    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    const calls = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => [c.Bucket, c.Key, c.ContentType]).sort()).toEqual(
      [
        [ENV.ARCHIVE_BUCKET_NAME, ACME, 'application/vnd.apache.parquet'],
        [ENV.ARCHIVE_BUCKET_NAME, GLOBEX, 'application/vnd.apache.parquet'],
        [ENV.ARCHIVE_BUCKET_NAME, QUARANTINE, 'application/x-ndjson'],
      ].sort(),
    );
    expect(stats).toEqual([expect.objectContaining({ events: 5, rejected: 1, eventFiles: 2, quarantineObjects: 1, failedObjects: 0 })]);
  });

  it('retries SlowDown (503) and InternalError (500) until the put succeeds', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    s3.on(PutObjectCommand, { Key: GLOBEX })
      .rejectsOnce(sdkError('SlowDown', 503))
      .rejectsOnce(sdkError('InternalError', 500))
      .resolves({});
    // Act
    const res = await handler()(event(), context());
    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    expect(putKeys().filter((k) => k === GLOBEX)).toHaveLength(3);
  });

  it('reports the first globex record when its file keeps being throttled past the time budget', async () => {
    // Prepare: 1.5 s left, 1 s margin; the fake sleep does not advance time, so the budget ends by the clock.
    s3.on(PutObjectCommand).resolves({});
    s3.on(PutObjectCommand, { Key: GLOBEX }).rejects(sdkError('SlowDown', 503));
    let t = ARRIVAL;
    const h = createArchiveHandler(ENV, { codec, onStats: () => {}, now: () => t, sleep: async (ms) => void (t += ms + 50) });
    // Act
    const res = await h(event(), context(1_500));
    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seq(4) }] });
    expect(putKeys().filter((k) => k === GLOBEX).length).toBeGreaterThan(1);
  });

  it('does not retry AccessDenied (403) and reports the lowest record of the unwritten objects', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    s3.on(PutObjectCommand, { Key: QUARANTINE }).rejects(sdkError('AccessDenied', 403));
    s3.on(PutObjectCommand, { Key: GLOBEX }).rejects(sdkError('AccessDenied', 403));
    // Act
    const res = await handler()(event(), context());
    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seq(4) }] });
    expect(putKeys().filter((k) => k === QUARANTINE)).toHaveLength(1);
  });

  it('reports record 1 when the acme file fails, whatever else fails', async () => {
    s3.on(PutObjectCommand).rejects(sdkError('NoSuchBucket', 404));
    const res = await handler()(event(), context());
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: seq(1) }] });
  });

  it('retries network errors (connection reset) as well', async () => {
    s3.on(PutObjectCommand).resolves({});
    s3.on(PutObjectCommand, { Key: ACME }).rejectsOnce(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).resolves({});
    const res = await handler()(event(), context());
    expect(res).toEqual({ batchItemFailures: [] });
  });
});

describe('Function: readArchiveConfig', () => {
  it('names a missing or malformed variable', () => {
    expect(() => readArchiveConfig({})).toThrow(ConfigError);
    expect(() => readArchiveConfig({})).toThrow(/ARCHIVE_BUCKET_NAME/);
    expect(() => readArchiveConfig({ ...ENV, ARCHIVE_ZSTD_LEVEL: '30' })).toThrow(/ARCHIVE_ZSTD_LEVEL/);
    expect(readArchiveConfig(ENV)).toMatchObject({ zstdLevel: 3, rowGroupRows: 100_000, concurrency: 8, marginMs: 1000 });
  });
});

describe('Function: classifyS3Error', () => {
  it.each([
    ['SlowDown', 503, true],
    ['InternalError', 500, true],
    ['ServiceUnavailable', 503, true],
    ['RequestTimeout', 400, true],
    ['Whatever', 502, true],
    ['TooManyRequests', 429, true],
    ['AccessDenied', 403, false],
    ['NoSuchBucket', 404, false],
    ['InvalidRequest', 400, false],
  ])('%s (HTTP %i) is retryable: %s', (name, status, retryable) => {
    const e = classifyS3Error(sdkError(name, status), 'PutObject k');
    expect(e.retryable).toBe(retryable);
    expect(e.code).toBe(name);
    expect(e.message).toContain(`HTTP ${status}`);
  });

  it('treats timeouts and aborted attempts as retryable', () => {
    expect(classifyS3Error(Object.assign(new Error('aborted'), { name: 'AbortError' }), 'x').retryable).toBe(true);
    expect(classifyS3Error(Object.assign(new Error('t'), { name: 'TimeoutError' }), 'x').retryable).toBe(true);
  });
});

describe('Class: S3ArchiveBucket', () => {
  const client = () => new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

  it('lists every page, with common prefixes', async () => {
    // Prepare
    s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: [{ Key: 'p/a', Size: 1 }], IsTruncated: true, NextContinuationToken: 't1' });
    s3.on(ListObjectsV2Command, { ContinuationToken: 't1' }).resolves({ Contents: [{ Key: 'p/b', Size: 2 }], CommonPrefixes: [{ Prefix: 'p/c/' }], IsTruncated: false });
    // Act
    const out = await new S3ArchiveBucket(client(), 'bkt').list('p/', { delimiter: '/' });
    // Assess
    expect(out).toEqual({ objects: [{ key: 'p/a', size: 1 }, { key: 'p/b', size: 2 }], prefixes: ['p/c/'] });
    expect(s3.commandCalls(ListObjectsV2Command)[0]!.args[0].input).toMatchObject({ Bucket: 'bkt', Prefix: 'p/', Delimiter: '/' });
  });

  it('groups a full listing itself when an emulator returns no common prefixes for nested keys', async () => {
    // Prepare: s3rver 3.x answers a delimited listing of deep keys with nothing.
    s3.on(ListObjectsV2Command, { Delimiter: '/' }).resolves({ IsTruncated: false });
    s3.on(ListObjectsV2Command, { Delimiter: undefined }).resolves({
      Contents: [{ Key: 'events/tenant=a/dt=x/hour=01/f.parquet', Size: 1 }, { Key: 'events/tenant=b/dt=x/hour=02/f.parquet', Size: 1 }],
      IsTruncated: false,
    });
    // Act
    const out = await new S3ArchiveBucket(client(), 'bkt').list('events/', { delimiter: '/' });
    // Assess
    expect(out).toEqual({ objects: [], prefixes: ['events/tenant=a/', 'events/tenant=b/'] });
  });

  it('reads whole objects and byte ranges, and reports a missing key as undefined', async () => {
    // Prepare
    // Only the slice of the SDK's stream mixin the adapter uses.
    const body = (text: string) => ({ transformToByteArray: async () => Buffer.from(text) }) as never;
    s3.on(GetObjectCommand, { Key: 'k', Range: undefined }).resolves({ Body: body('0123456789') });
    s3.on(GetObjectCommand, { Key: 'k', Range: 'bytes=2-4' }).resolves({ Body: body('234') });
    s3.on(GetObjectCommand, { Key: 'gone' }).rejects(sdkError('NoSuchKey', 404));
    s3.on(GetObjectCommand, { Key: 'slow' }).rejects(sdkError('SlowDown', 503));
    const bucket = new S3ArchiveBucket(client(), 'bkt');
    // Act / Assess
    expect(Buffer.from((await bucket.get('k'))!).toString()).toBe('0123456789');
    expect(Buffer.from((await bucket.getRange('k', 2, 5))!).toString()).toBe('234');
    expect(await bucket.get('gone')).toBeUndefined();
    await expect(bucket.get('slow')).rejects.toMatchObject({ code: 'SlowDown', retryable: true });
  });

  it('deletes in chunks of 1000 and fails loudly on per-key errors', async () => {
    // Prepare
    s3.on(DeleteObjectsCommand).resolves({});
    const bucket = new S3ArchiveBucket(client(), 'bkt');
    const keys = Array.from({ length: 2500 }, (_, i) => `events/k${i}`);
    // Act
    await bucket.delete(keys);
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'events/k1', Code: 'AccessDenied', Message: 'no' }] });
    const failed = bucket.delete(['events/k1']);
    // Assess
    expect(s3.commandCalls(DeleteObjectsCommand).slice(0, 3).map((c) => c.args[0].input.Delete!.Objects!.length)).toEqual([1000, 1000, 500]);
    await expect(failed).rejects.toBeInstanceOf(ObjectWriteError);
    await expect(bucket.delete(['events/k1'])).rejects.toThrow(/1 of 1 keys failed, first events\/k1: AccessDenied/);
  });
});
