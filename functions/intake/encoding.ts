/**
 * Request bodies as the drop-in routes receive them (functions/intake/otlp, datadog): identity,
 * gzip, deflate (zlib-wrapped, as the Datadog agent and clients send it, or raw) and zstd (the
 * project's codec, functions/shared/archive/zstd.ts: Node 20's zlib has none). Limits are checked
 * before and while inflating, so a compression bomb is stopped, never held.
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { decompressZstdBounded, ZstdTooLargeError } from '../shared/archive/zstd.ts';
import { HttpError } from '../shared/http.ts';
import { INTAKE_LIMITS } from './body.ts';

/**
 * The drop-in routes' limits: at least Datadog's (series: 512,000 bytes compressed, 5,242,880
 * decompressed); the same bytes as POST /v1/events, and up to 100,000 data points a request.
 */
export const DROPIN_LIMITS = {
  compressedBytes: INTAKE_LIMITS.compressedBytes,
  decompressedBytes: INTAKE_LIMITS.decompressedBytes,
  pointsPerRequest: 100_000,
} as const;

export const SUPPORTED_ENCODINGS = 'gzip, deflate, zstd or none';

/** The body, inflated as its Content-Encoding says. Throws HttpError 413, 415 or 400. */
export async function inflateBody(raw: Uint8Array, contentEncoding: string | undefined): Promise<Buffer> {
  if (raw.length > DROPIN_LIMITS.compressedBytes) {
    throw new HttpError(413, `request body is ${raw.length} bytes; the limit is ${DROPIN_LIMITS.compressedBytes} bytes (5 MiB)`);
  }
  const max = DROPIN_LIMITS.decompressedBytes;
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const tooLarge = () => new HttpError(413, `decompressed body exceeds ${max} bytes (25 MiB)`);
  const zlibBomb = (err: unknown) => (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
  switch (encoding) {
    case '':
    case 'identity':
      return buf;
    case 'gzip':
    case 'x-gzip':
      try {
        return gunzipSync(buf, { maxOutputLength: max });
      } catch (err) {
        if (zlibBomb(err)) throw tooLarge();
        throw new HttpError(400, `body is not valid gzip (Content-Encoding: gzip): ${(err as Error).message}`);
      }
    case 'deflate':
      try {
        // RFC 9110's deflate is the zlib format; some clients send raw deflate.
        return buf.length >= 2 && (buf[0]! & 0x0f) === 8 && ((buf[0]! << 8) | buf[1]!) % 31 === 0 ? inflateSync(buf, { maxOutputLength: max }) : inflateRawSync(buf, { maxOutputLength: max });
      } catch (err) {
        if (zlibBomb(err)) throw tooLarge();
        throw new HttpError(400, `body is not valid deflate (Content-Encoding: deflate): ${(err as Error).message}`);
      }
    case 'zstd':
    case 'zstd1':
      try {
        const out = await decompressZstdBounded(buf, max);
        return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      } catch (err) {
        if (err instanceof ZstdTooLargeError) throw tooLarge();
        throw new HttpError(400, `body is not valid zstd (Content-Encoding: ${encoding}): ${(err as Error).message}`);
      }
    default:
      throw new HttpError(415, `Content-Encoding "${contentEncoding}" is not supported; use ${SUPPORTED_ENCODINGS}`);
  }
}
