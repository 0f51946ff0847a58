/**
 * `POST /v1/metrics`: OTLP/HTTP metrics (protobuf or JSON, gzip'd or not) → events → the one
 * validator, record encoder and PutRecords path (../core.ts submitEvents). The answer is OTLP's
 * own (response.ts): 200 with `partial_success.rejected_data_points` and an `error_message`
 * naming what was refused; 400 for a body that does not decode; 401/403 for the key (x-api-key,
 * as OTEL_EXPORTER_OTLP_HEADERS sends it); 429/503 with Retry-After when the stream throttles.
 */
import { HttpError, requireKey, type HttpResponse } from '../../shared/http.ts';
import { retryAfterHeader, submitEvents, type IntakeDeps, type IntakeRequest } from '../core.ts';
import { DROPIN_LIMITS, inflateBody } from '../encoding.ts';
import { decodeOtlpJson } from './json.ts';
import { OtlpDecodeError, OtlpTooManyPointsError, decodeOtlpProto } from './proto.ts';
import { exportResponse, statusResponse, type OtlpFormat } from './response.ts';
import type { DecodedRequest } from './mapping.ts';

/** Refusals named in a partial success's error_message, at most. */
export const MAX_NAMED_REFUSALS = 10;

export function otlpFormat(contentType: string | undefined): OtlpFormat | undefined {
  const t = (contentType ?? '').toLowerCase();
  if (t.includes('protobuf')) return 'protobuf';
  if (t.includes('json')) return 'json';
  return undefined;
}

export async function ingestOtlp(req: IntakeRequest, deps: IntakeDeps): Promise<HttpResponse> {
  const format = otlpFormat(req.headers['content-type']);
  if (format === undefined) {
    return statusResponse('json', 415, `Content-Type "${req.headers['content-type'] ?? ''}" is not OTLP: send application/x-protobuf or application/json`);
  }
  try {
    const key = await requireKey(req.headers, deps.auth, 'write');
    const body = await inflateBody(req.body, req.headers['content-encoding']);
    let decoded: DecodedRequest;
    try {
      decoded = format === 'protobuf' ? decodeOtlpProto(body, DROPIN_LIMITS.pointsPerRequest) : decodeOtlpJson(utf8Text(body), DROPIN_LIMITS.pointsPerRequest);
    } catch (err) {
      if (err instanceof OtlpTooManyPointsError) throw new HttpError(413, err.message);
      if (err instanceof OtlpDecodeError) throw new HttpError(400, `body is not an ExportMetricsServiceRequest: ${err.message}`);
      throw err;
    }
    const r = await submitEvents(decoded.items, key.tenant, req, deps, MAX_NAMED_REFUSALS);
    if (r.refusal !== undefined) return statusResponse(format, r.refusal.statusCode, r.refusal.message, retryAfterHeader(r.refusal.retryAfterS));
    return exportResponse(format, r.rejected, refusalMessage(r.rejected, r.errors, decoded.metrics));
  } catch (err) {
    if (err instanceof HttpError) return statusResponse(format, err.statusCode, err.message, err.headers);
    throw err;
  }
}

/** `2 data points rejected: metric "a": <reason>; metric "b": <reason>`, the first few named. */
export function refusalMessage(rejected: number, errors: ReadonlyArray<{ index: number; reason: string }>, metrics: readonly string[]): string {
  if (rejected === 0) return '';
  const named = errors.map((e) => `metric ${JSON.stringify(metrics[e.index] ?? '')}: ${e.reason}`);
  const more = rejected > errors.length ? `; and ${rejected - errors.length} more` : '';
  return `${rejected} data point${rejected === 1 ? '' : 's'} rejected: ${named.join('; ')}${more}`;
}

function utf8Text(b: Buffer): string {
  const text = b.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
