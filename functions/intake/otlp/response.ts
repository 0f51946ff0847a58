/**
 * OTLP/HTTP answers, in the request's content type: ExportMetricsServiceResponse (200, with
 * `partial_success` when points were refused) and google.rpc.Status for errors (4xx/5xx), as the
 * OTLP specification's "OTLP/HTTP Response" says. Exporters retry on 429, 502, 503 and 504, with
 * Retry-After.
 */
import { ProtoWriter } from '../../shared/protobuf.ts';
import type { HttpResponse } from '../../shared/http.ts';

export type OtlpFormat = 'protobuf' | 'json';

const CONTENT_TYPE: Readonly<Record<OtlpFormat, string>> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/** google.rpc.Code of an HTTP status (the codes the OTLP spec pairs with them). */
function rpcCode(status: number): number {
  switch (status) {
    case 400:
    case 415:
      return 3; // INVALID_ARGUMENT
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 413:
    case 429:
      return 8; // RESOURCE_EXHAUSTED
    case 503:
      return 14; // UNAVAILABLE
    default:
      return 13; // INTERNAL
  }
}

function binary(statusCode: number, bytes: Uint8Array, headers: Record<string, string>): HttpResponse {
  return { statusCode, headers: { 'content-type': CONTENT_TYPE.protobuf, ...headers }, body: Buffer.from(bytes).toString('base64'), isBase64Encoded: true };
}

/** 200: every point accepted (`rejected` 0), or a partial success naming what was refused. */
export function exportResponse(format: OtlpFormat, rejected: number, message: string): HttpResponse {
  if (format === 'json') {
    const body = rejected === 0 ? {} : { partialSuccess: { rejectedDataPoints: String(rejected), errorMessage: message } };
    return { statusCode: 200, headers: { 'content-type': CONTENT_TYPE.json }, body: JSON.stringify(body) };
  }
  const w = new ProtoWriter();
  if (rejected > 0) {
    const inner = new ProtoWriter();
    inner.varint((1 << 3) | 0);
    inner.varint(rejected);
    inner.varint((2 << 3) | 2);
    inner.string(message);
    const bytes = inner.finish();
    w.varint((1 << 3) | 2);
    w.varint(bytes.length);
    w.raw(bytes);
  }
  return binary(200, w.finish(), {});
}

/** An error as google.rpc.Status { code, message }. */
export function statusResponse(format: OtlpFormat, statusCode: number, message: string, headers: Record<string, string> = {}): HttpResponse {
  if (format === 'json') return { statusCode, headers: { 'content-type': CONTENT_TYPE.json, ...headers }, body: JSON.stringify({ code: rpcCode(statusCode), message }) };
  const w = new ProtoWriter();
  w.varint((1 << 3) | 0);
  w.varint(rpcCode(statusCode));
  w.varint((2 << 3) | 2);
  w.string(message);
  return binary(statusCode, w.finish(), headers);
}
