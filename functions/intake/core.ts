/**
 * The intake: authenticate, parse, validate each event, pack events into gzip'd NDJSON records
 * under the partition-key rule, and write them with PutRecords, retrying only failed records.
 * A 202 means every accepted event is in the stream. Pure over ports (no SDK here).
 */
import { createHash } from 'node:crypto';
import { encodeRecords } from '../shared/codec.ts';
import { validateEvent, type StreamEvent } from '../shared/event.ts';
import { daysToMs } from '../shared/rollups/keys.ts';
import { SETTINGS } from '../../lib/settings.ts';
import { errorResponse, HttpError, json, requireKey, type HttpResponse, type KeyAuthenticator } from '../shared/http.ts';
import { THROTTLING_CODES } from '../shared/aws-errors.ts';
import { putAllRecords, type HotKeys, type RecordSink } from '../shared/put-records.ts';
import type { LogPort } from '../shared/logger.ts';
import { parseBody } from './body.ts';
import { serializeEvent } from '../shared/codec.ts';
import { seriesKey } from '../shared/rollups/keys.ts';
import type { CachedLimits, TenantLimiter } from './limits.ts';
import { hashBody, IDEMPOTENCY_KEY_MAX_CHARS, type IdempotencyStore, type Progress } from './idempotency.ts';

/** Per-event reasons returned in a 202, at most. */
export const MAX_REPORTED_ERRORS = 100;
/** Time kept back from the function's budget to answer after the last PutRecords attempt. */
const ANSWER_MARGIN_MS = 1_000;

export interface IntakeRequest {
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Uint8Array;
  /** Milliseconds left in the function's time budget. */
  readonly remainingMs: () => number;
}

export interface IntakeDeps {
  readonly auth: KeyAuthenticator;
  readonly sink: RecordSink;
  readonly idempotency: IdempotencyStore;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Partition keys per metric (codec.ts encodeRecords). @default 1 */
  readonly spread?: number;
  /** Partition-key buckets per tenant (codec.ts encodeRecords). @default 64 */
  readonly partitionBuckets?: number;
  /** Keys Kinesis throttled lately, salted on the next sends (put-records.ts). @default none */
  readonly hotKeys?: HotKeys;
  /**
   * Oldest event accepted, ms: the rollups' 1 h retention (ROLLUP_TTL_1H_DAYS), so nothing is
   * accepted that the rollups cannot hold.
   * @default the setting's default, 400 days
   */
  readonly maxAgeMs?: number;
  /** Per-tenant limits (limits.ts): the container's limiter and the tenants' limits. @default no limits */
  readonly limits?: { readonly limiter: TenantLimiter; readonly source: CachedLimits };
  /** Where a lost idempotency answer is reported (see storeAnswer). @default none */
  readonly logger?: Pick<LogPort, 'warn' | 'error'>;
}

export interface IntakeResult {
  readonly accepted: number;
  readonly rejected: number;
  readonly errors: Array<{ index: number; reason: string }>;
  /** Reasons not listed because of the cap. */
  readonly errorsOmitted?: number;
}

export async function ingest(req: IntakeRequest, deps: IntakeDeps): Promise<HttpResponse> {
  try {
    return await ingestOrThrow(req, deps);
  } catch (err) {
    if (err instanceof HttpError) return errorResponse(err.statusCode, err.message, err.headers);
    throw err;
  }
}

async function ingestOrThrow(req: IntakeRequest, deps: IntakeDeps): Promise<HttpResponse> {
  const now = deps.now ?? Date.now;
  const key = await requireKey(req.headers, deps.auth, 'write');
  const tenant = key.tenant;

  const idemKey = req.headers['idempotency-key']?.trim();
  if (idemKey !== undefined && (idemKey.length === 0 || idemKey.length > IDEMPOTENCY_KEY_MAX_CHARS || !/^[\x21-\x7e]+$/.test(idemKey))) {
    throw new HttpError(400, `Idempotency-Key must be 1-${IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters`);
  }

  // Parse before claiming the key: a malformed body never holds an Idempotency-Key.
  const items = parseBody(req.body, req.headers['content-type'], req.headers['content-encoding']);
  const { events, lines, rejected, errors, limited } = await admitItems(items, tenant, now(), deps);
  if (limited !== undefined && events.length === 0) {
    return json(429, { error: limited.message, accepted: 0, rejected, errors, ...(rejected > errors.length ? { errorsOmitted: rejected - errors.length } : {}) }, retryAfterHeader(limited.retryAfterS));
  }
  const result: IntakeResult = {
    accepted: events.length,
    rejected,
    errors,
    ...(rejected > errors.length ? { errorsOmitted: rejected - errors.length } : {}),
  };

  const bodyHash = idemKey === undefined ? '' : hashBody(req.body);
  let skip: ReadonlySet<number> = new Set();
  const records = encodeFor(events, lines, deps);
  const recordsHash = idemKey === undefined ? '' : hashRecords(records);
  if (idemKey !== undefined) {
    const claim = await deps.idempotency.claim(tenant, idemKey, bodyHash, now(), req.remainingMs());
    switch (claim.kind) {
      case 'replay':
        return { statusCode: claim.response.statusCode, headers: { 'content-type': 'application/json', 'idempotent-replayed': 'true' }, body: claim.response.body };
      case 'mismatch':
        throw new HttpError(422, 'Idempotency-Key was already used with a different body; use a new key for a new request');
      case 'in_progress':
        throw new HttpError(409, 'a request with this Idempotency-Key is still being processed; retry later', { 'retry-after': '1' });
      case 'claimed':
        if (claim.progress?.recordsHash === recordsHash) skip = new Set(claim.progress.written);
    }
  }

  const pending = records.map((r, i) => ({ r, i })).filter(({ i }) => !skip.has(i));
  const outcome = await putFor(
    pending.map(({ r }) => r),
    req,
    deps,
  );

  if (outcome.written.every(Boolean)) {
    const response = json(202, result);
    if (idemKey !== undefined) await storeAnswer(deps, tenant, idemKey, bodyHash, response.body, { recordsHash, written: records.map((_, i) => i) }, now);
    return response;
  }

  // Some records are not in the stream: nothing is reported as accepted.
  const written = new Set(skip);
  outcome.written.forEach((ok, j) => ok && written.add(pending[j]!.i));
  if (idemKey !== undefined) {
    await deps.idempotency.fail(tenant, idemKey, bodyHash, { recordsHash, written: [...written].sort((a, b) => a - b) }, now());
  }
  const throttled = [...outcome.failures.values()].some((c) => THROTTLING_CODES.has(c));
  const retryHint = idemKey === undefined
    ? ' (send an Idempotency-Key so a retry does not write twice what was already written)'
    : ' (retry with the same Idempotency-Key: records already written are not written again)';
  return throttled
    ? errorResponse(429, `the event stream is throttling writes; retry with backoff${retryHint}`, { 'retry-after': '1' })
    : errorResponse(503, `the event stream is unavailable; retry later${retryHint}`, { 'retry-after': '1' });
}

/** One item of a body: a value to validate as an event, or what made its adapter refuse it. */
export type IntakeItem = { readonly value: unknown } | { readonly parseError: string };

/**
 * Validates each item as an event of `tenant` (the one validator): the accepted events in order,
 * and the refused ones counted, the first MAX_REPORTED_ERRORS with their index and reason.
 */
export function validateItems(items: readonly IntakeItem[], tenant: string, now: number, deps: Pick<IntakeDeps, 'maxAgeMs'>, maxReported = MAX_REPORTED_ERRORS): { events: StreamEvent[]; indexes: number[]; rejected: number; errors: Array<{ index: number; reason: string }> } {
  const maxAgeMs = deps.maxAgeMs ?? daysToMs(SETTINGS.intake.rollupTtl1hDays.default);
  const events: StreamEvent[] = [];
  const indexes: number[] = [];
  const errors: Array<{ index: number; reason: string }> = [];
  let rejected = 0;
  for (let index = 0; index < items.length; index++) {
    const item = items[index]!;
    const r = 'parseError' in item ? { ok: false as const, reason: item.parseError } : validateEvent(item.value, { now, tenant, maxAgeMs });
    if (r.ok) {
      events.push(r.event);
      indexes.push(index);
    } else {
      rejected++;
      if (errors.length < maxReported) errors.push({ index, reason: r.reason });
    }
  }
  return { events, indexes, rejected, errors };
}

/** `Retry-After` for a refusal that frees up with time; none for one that does not (a series total). */
export function retryAfterHeader(s: number): Record<string, string> {
  return s > 0 ? { 'retry-after': String(s) } : {};
}

/** A request refused by a tenant limit: what a 429 says, and when to retry. */
export interface LimitRefusal {
  readonly message: string;
  readonly retryAfterS: number;
}

/**
 * The one validator, then the tenant's limits (limits.ts) over the valid events: an event over a
 * limit is refused like an invalid one (its index and a reason naming the limit), the others are
 * taken. `limited` is set when a limit refused any event.
 */
export async function admitItems(items: readonly IntakeItem[], tenant: string, now: number, deps: Pick<IntakeDeps, 'maxAgeMs' | 'limits'>, maxReported = MAX_REPORTED_ERRORS): Promise<{ events: StreamEvent[]; lines?: string[]; rejected: number; errors: Array<{ index: number; reason: string }>; limited?: LimitRefusal }> {
  const v = validateItems(items, tenant, now, deps, maxReported);
  if (deps.limits === undefined || v.events.length === 0) return v;
  const limits = await deps.limits.source.limitsFor(tenant, now);
  // The bytes limit counts each event's record line; the lines go on to the encoder, made once.
  const lines = v.events.map(serializeEvent);
  const costs = v.events.map((e, i) => ({ metric: e.name, series: seriesKey(e.tenant, e.name, e.tags), bytes: lines[i]!.length }));
  const r = deps.limits.limiter.admit(tenant, limits, costs, now);
  if (r.refusals.length === 0) return { ...v, lines };
  const events = v.events.filter((_, i) => r.admitted[i]);
  const errors = [...v.errors, ...r.refusals.map((f) => ({ index: v.indexes[f.index]!, reason: f.reason }))].sort((a, b) => a.index - b.index).slice(0, maxReported);
  return { events, lines: lines.filter((_, i) => r.admitted[i]), rejected: v.rejected + r.refusals.length, errors, limited: { message: r.message!, retryAfterS: r.retryAfterS } };
}

/** The records of `events` (with their `lines`, if made already) under the partition-key rule (the one record encoder). */
function encodeFor(events: readonly StreamEvent[], lines: readonly string[] | undefined, deps: IntakeDeps) {
  return encodeRecords(events, { spread: deps.spread ?? 1, ...(deps.partitionBuckets !== undefined ? { buckets: deps.partitionBuckets } : {}), ...(lines !== undefined ? { lines } : {}) });
}

/** PutRecords of `records`, failed ones retried until the request's budget (less the answer's margin) runs out. */
function putFor(records: ReadonlyArray<{ partitionKey: string; data: Uint8Array }>, req: Pick<IntakeRequest, 'remainingMs'>, deps: IntakeDeps) {
  const now = deps.now ?? Date.now;
  return putAllRecords(deps.sink, records, {
    deadline: now() + req.remainingMs() - ANSWER_MARGIN_MS,
    now,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.hotKeys ? { hotKeys: deps.hotKeys } : {}),
  });
}

/** What `submitEvents` did: every accepted event is in the stream (`written`), or none is reported so. */
export interface SubmitResult {
  readonly accepted: number;
  readonly rejected: number;
  /** The first refusals, with the index of their item. */
  readonly errors: ReadonlyArray<{ index: number; reason: string }>;
  readonly stream: 'written' | 'throttled' | 'unavailable' | 'limited';
  /** What refused a request that took nothing: its status, message and Retry-After (s); set unless written. */
  readonly refusal?: { readonly statusCode: 429 | 503; readonly message: string; readonly retryAfterS: number };
}

/**
 * The path every drop-in format shares (functions/intake/otlp, datadog): the items an adapter
 * made of a body, validated by the one validator, encoded by the one record encoder and written
 * with PutRecords, as `POST /v1/events` does (no Idempotency-Key: those clients send none).
 */
export async function submitEvents(items: readonly IntakeItem[], tenant: string, req: Pick<IntakeRequest, 'remainingMs'>, deps: IntakeDeps, maxReported = MAX_REPORTED_ERRORS): Promise<SubmitResult> {
  const now = deps.now ?? Date.now;
  const { events, lines, rejected, errors, limited } = await admitItems(items, tenant, now(), deps, maxReported);
  if (events.length === 0) {
    return limited === undefined
      ? { accepted: 0, rejected, errors, stream: 'written' }
      : { accepted: 0, rejected, errors, stream: 'limited', refusal: { statusCode: 429, message: limited.message, retryAfterS: limited.retryAfterS } };
  }
  const outcome = await putFor(encodeFor(events, lines, deps), req, deps);
  if (outcome.written.every(Boolean)) return { accepted: events.length, rejected, errors, stream: 'written' };
  const throttled = [...outcome.failures.values()].some((c) => THROTTLING_CODES.has(c));
  return throttled
    ? { accepted: 0, rejected, errors, stream: 'throttled', refusal: { statusCode: 429, message: 'the event stream is throttling writes; retry with backoff', retryAfterS: 1 } }
    : { accepted: 0, rejected, errors, stream: 'unavailable', refusal: { statusCode: 503, message: 'the event stream is unavailable; retry later', retryAfterS: 1 } };
}

/**
 * Stores the answer under the key once every record is in the stream. If that write fails, the
 * progress is stored instead, as after a partial failure (status failed, every record index
 * written): the retry under the key then claims it at once (no 409 until the lock expires),
 * writes nothing again and answers 202. If neither can be stored, the 202 still tells the truth
 * (every accepted event is in the stream) and the error is logged: a retry then waits out the
 * lock (409) and writes again, as after a crash.
 */
async function storeAnswer(
  deps: IntakeDeps,
  tenant: string,
  key: string,
  bodyHash: string,
  body: string,
  progress: Progress,
  now: () => number,
): Promise<void> {
  try {
    await deps.idempotency.complete(tenant, key, bodyHash, { statusCode: 202, body }, now());
    return;
  } catch (err) {
    deps.logger?.warn('idempotency answer not stored; storing the progress instead', { tenant, error: err as Error });
  }
  try {
    await deps.idempotency.fail(tenant, key, bodyHash, progress, now());
  } catch (err) {
    deps.logger?.error('neither the idempotency answer nor the progress was stored: a retry under this key waits for the lock, then writes again', { tenant, error: err as Error });
  }
}

function hashRecords(records: ReadonlyArray<{ partitionKey: string; data: Uint8Array }>): string {
  const h = createHash('sha256');
  for (const r of records) h.update(r.partitionKey).update('\0').update(r.data);
  return h.digest('hex');
}
