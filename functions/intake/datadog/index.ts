/**
 * The Datadog metric routes, answered as Datadog answers (so its agent and client libraries report
 * them properly): `POST /api/v2/series` (JSON, or the agent's protobuf MetricPayload) → 202
 * `{"errors": []}`; `POST /api/v1/series` and `POST /api/v1/distribution_points` → 202
 * `{"status": "ok"}`; `GET /api/v1/validate` → 200 `{"valid": true}`. The key comes in
 * `DD-API-KEY`; a missing, unknown or read-only key is 403 `{"errors": ["Forbidden: …"]}`.
 * Bodies may be gzip, deflate (the agent's default) or zstd; limits in ../encoding.ts (at least
 * Datadog's 512,000 bytes compressed and 5,242,880 decompressed). Points refused by the mapping or
 * the validator are listed in `errors`: beside a 202 when others were accepted, a 400 when none was.
 */
import { HttpError, json, requireKey, type HttpResponse } from '../../shared/http.ts';
import { retryAfterHeader, submitEvents, type IntakeDeps, type IntakeItem, type IntakeRequest } from '../core.ts';
import { DROPIN_LIMITS, inflateBody } from '../encoding.ts';
import { seriesPoint, seriesTags, v1Type, type DecodedSeries } from './mapping.ts';
import { DatadogDecodeError, decodeMetricPayload, type V2Series } from './proto.ts';

/** Refusals listed in an answer's errors, at most. */
export const MAX_LISTED_ERRORS = 10;

type Route = 'v2-series' | 'v1-series' | 'distribution-points';

const errors = (statusCode: number, list: string[], headers: Record<string, string> = {}) => json(statusCode, { errors: list }, headers);

/** Authenticates as Datadog does: anything wrong with the key is a 403. */
async function tenantOf(req: IntakeRequest, deps: IntakeDeps): Promise<string> {
  try {
    return (await requireKey(req.headers, deps.auth, 'write')).tenant;
  } catch (err) {
    if (err instanceof HttpError && (err.statusCode === 401 || err.statusCode === 403)) {
      throw new HttpError(403, `Forbidden: ${err.message.replace('x-api-key header', 'DD-API-KEY header')}`);
    }
    throw err;
  }
}

export async function validateKey(req: IntakeRequest, deps: IntakeDeps): Promise<HttpResponse> {
  try {
    await tenantOf(req, deps);
    return json(200, { valid: true });
  } catch (err) {
    if (err instanceof HttpError) return errors(err.statusCode, [err.message], err.headers);
    throw err;
  }
}

export async function ingestDatadog(route: Route, req: IntakeRequest, deps: IntakeDeps): Promise<HttpResponse> {
  try {
    const tenant = await tenantOf(req, deps);
    const body = await inflateBody(req.body, req.headers['content-encoding']);
    const decoded = decode(route, body, (req.headers['content-type'] ?? '').toLowerCase());
    const r = await submitEvents(decoded.items, tenant, req, deps, MAX_LISTED_ERRORS);
    if (r.refusal !== undefined) return errors(r.refusal.statusCode, [r.refusal.message], retryAfterHeader(r.refusal.retryAfterS));
    const listed = r.errors.map((e) => `${decoded.metrics[e.index] ?? ''}: ${e.reason}`);
    if (r.rejected > r.errors.length) listed.push(`and ${r.rejected - r.errors.length} more points refused`);
    if (r.accepted === 0 && r.rejected > 0) return errors(400, listed);
    if (route === 'v2-series') return errors(202, listed);
    return json(202, listed.length === 0 ? { status: 'ok' } : { status: 'ok', errors: listed });
  } catch (err) {
    if (err instanceof HttpError) return errors(err.statusCode, [err.message], err.headers);
    throw err;
  }
}

function decode(route: Route, body: Buffer, contentType: string): DecodedSeries {
  const out: DecodedSeries = { items: [], metrics: [] };
  const push = (item: IntakeItem, name: string) => {
    if (out.items.length >= DROPIN_LIMITS.pointsPerRequest) throw new HttpError(413, `Payload too large: more than ${DROPIN_LIMITS.pointsPerRequest} points in one request; send smaller batches`);
    out.items.push(item);
    out.metrics.push(name);
  };
  if (route === 'v2-series' && contentType.includes('protobuf')) {
    let series: V2Series[];
    try {
      series = decodeMetricPayload(body);
    } catch (err) {
      if (err instanceof DatadogDecodeError) throw new HttpError(400, err.message);
      throw err;
    }
    for (const s of series) addV2(s, push);
    return out;
  }
  const doc = parseJson(body);
  const list = seriesList(doc);
  list.forEach((raw, i) => {
    const where = `series[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HttpError(400, `${where}: expected an object`);
    const s = raw as Record<string, unknown>;
    const metric = typeof s.metric === 'string' ? s.metric : '';
    if (route === 'v2-series') {
      addV2(
        {
          metric,
          type: s.type === undefined ? 0 : typeof s.type === 'number' ? s.type : -1,
          interval: typeof s.interval === 'number' ? s.interval : undefined,
          tags: stringList(s.tags, `${where}.tags`),
          resources: Array.isArray(s.resources) ? s.resources.map((x) => ({ type: String((x as Record<string, unknown>)?.type ?? ''), name: String((x as Record<string, unknown>)?.name ?? '') })) : [],
          points: pointList(s.points, `${where}.points`).map((p) => {
            const o = p as Record<string, unknown>;
            return { timestamp: Number(o?.timestamp), value: o?.value as number };
          }),
        },
        push,
      );
      return;
    }
    const tags = seriesTags([...stringList(s.tags, `${where}.tags`), ...(typeof s.host === 'string' && s.host !== '' ? [`host:${s.host}`] : []), ...(typeof s.device === 'string' && s.device !== '' ? [`device:${s.device}`] : [])], []);
    const points = pointList(s.points, `${where}.points`);
    if (route === 'v1-series') {
      const type = v1Type(s.type);
      const interval = typeof s.interval === 'number' ? s.interval : undefined;
      points.forEach((p, k) => {
        if (!Array.isArray(p) || p.length !== 2) return push({ parseError: `${where}.points[${k}]: expected [timestamp, value]` }, metric);
        if (p[1] === null) return; // Datadog's "no value"
        push(typeof type === 'string' ? { parseError: type } : numberItem(metric, type, interval, tags, p[0], p[1]), metric);
      });
      return;
    }
    points.forEach((p, k) => {
      if (!Array.isArray(p) || p.length !== 2 || !Array.isArray(p[1])) return push({ parseError: `${where}.points[${k}]: expected [timestamp, [values…]]` }, metric);
      const ts = p[0];
      if (typeof ts !== 'number') return push({ parseError: `${where}.points[${k}]: timestamp must be a number (epoch seconds)` }, metric);
      for (const v of p[1] as unknown[]) push({ value: { name: metric, ts: ts * 1000, value: v, type: 'distribution', tags } }, metric);
    });
  });
  return out;
}

function addV2(s: V2Series, push: (item: IntakeItem, name: string) => void): void {
  const tags = seriesTags(s.tags, s.resources);
  for (const p of s.points) push(numberItem(s.metric, s.type, s.interval, tags, p.timestamp, p.value), s.metric);
}

function numberItem(metric: string, type: number, interval: number | undefined, tags: Record<string, string>, ts: unknown, value: unknown): IntakeItem {
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return { parseError: 'timestamp must be a number (epoch seconds)' };
  if (typeof value !== 'number') return { parseError: `value: expected a number, got ${value === null ? 'null' : typeof value}` };
  return seriesPoint(metric, type, interval, tags, ts, value);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}

function seriesList(doc: unknown): unknown[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Array.isArray((doc as { series?: unknown }).series)) {
    throw new HttpError(400, 'body must be {"series": [...]}');
  }
  return (doc as { series: unknown[] }).series;
}

function stringList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((t) => typeof t !== 'string')) throw new HttpError(400, `${where}: expected an array of "key:value" strings`);
  return v as string[];
}

function pointList(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new HttpError(400, `${where}: expected an array`);
  return v;
}
