/**
 * Adapter: the archive bucket (bucket.ts) through the AWS SDK, for the archive function (put),
 * compaction (list, get, put, delete) and the query (list, ranged get). Turns SDK errors into
 * `ObjectWriteError` with the retryable flag of the one AWS error classifier (shared/aws-errors.ts).
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { classifyAwsError, isRetryableCode } from '../aws-errors.ts';
import { ObjectWriteError, type ArchiveBucket, type ObjectInfo } from './bucket.ts';

/** Classifies any error thrown by an S3 call (shared/aws-errors.ts). */
export function classifyS3Error(err: unknown, what: string): ObjectWriteError {
  if (err instanceof ObjectWriteError) return err;
  const { code, status, message, retryable } = classifyAwsError(err);
  return new ObjectWriteError(`${what}: ${code}${status ? ` (HTTP ${status})` : ''}: ${message}`, { code, retryable, cause: err });
}

export class S3ArchiveBucket implements ArchiveBucket {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array, contentType: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (err) {
      throw classifyS3Error(err, `PutObject ${key}`);
    }
  }

  async list(prefix: string, opts: { delimiter?: string } = {}): Promise<{ objects: ObjectInfo[]; prefixes: string[] }> {
    const out = await this.listPages(prefix, opts.delimiter);
    if (opts.delimiter !== undefined && out.objects.length === 0 && out.prefixes.length === 0) {
      // s3rver 3.x leaves out common prefixes more than one level above a key. List without the
      // delimiter and group here: on S3 this happens only for an empty prefix, so it costs one
      // extra LIST that returns nothing.
      const all = await this.listPages(prefix);
      if (all.objects.length > 0) {
        const prefixes = new Set<string>();
        const objects: ObjectInfo[] = [];
        for (const o of all.objects) {
          const i = o.key.indexOf(opts.delimiter, prefix.length);
          if (i >= 0) prefixes.add(o.key.slice(0, i + opts.delimiter.length));
          else objects.push(o);
        }
        return { objects, prefixes: [...prefixes].sort() };
      }
    }
    return out;
  }

  private async listPages(prefix: string, delimiter?: string): Promise<{ objects: ObjectInfo[]; prefixes: string[] }> {
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            ...(delimiter !== undefined && { Delimiter: delimiter }),
          }),
        );
      } catch (err) {
        throw classifyS3Error(err, `ListObjectsV2 ${prefix}`);
      }
      for (const o of out.Contents ?? []) if (o.Key !== undefined) objects.push({ key: o.Key, size: o.Size ?? 0 });
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix !== undefined) prefixes.push(p.Prefix);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
    return { objects, prefixes };
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.getObject(key);
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined> {
    if (end <= start) return Promise.resolve(new Uint8Array(0));
    return this.getObject(key, `bytes=${start}-${end - 1}`);
  }

  private async getObject(key: string, range?: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range !== undefined && { Range: range }) }));
      if (out.Body === undefined) return new Uint8Array(0);
      return await out.Body.transformToByteArray();
    } catch (err) {
      const { code, status } = classifyAwsError(err);
      if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return undefined;
      throw classifyS3Error(err, `GetObject ${key}`);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      let out;
      try {
        out = await this.s3.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }),
        );
      } catch (err) {
        throw classifyS3Error(err, `DeleteObjects (${chunk.length} keys)`);
      }
      const errors = out.Errors ?? [];
      if (errors.length > 0) {
        const first = errors[0]!;
        const code = first.Code ?? 'DeleteFailed';
        throw new ObjectWriteError(
          `DeleteObjects: ${errors.length} of ${chunk.length} keys failed, first ${first.Key}: ${first.Code} ${first.Message ?? ''}`,
          { code, retryable: isRetryableCode(code) },
        );
      }
    }
  }
}
