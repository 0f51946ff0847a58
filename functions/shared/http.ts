/**
 * HTTP helpers shared by the API functions: JSON responses, errors a caller can act on, and API
 * key authentication with a short in-function cache.
 */
import type { ApiKeyRecord, Scope } from './tenants.ts';

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The body is base64 of binary bytes (a protobuf answer), as API Gateway's payload 2.0 says. */
  readonly isBase64Encoded?: boolean;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** `{ "error": "..." }`: the message says what to change. */
export function errorResponse(statusCode: number, message: string, headers: Record<string, string> = {}): HttpResponse {
  return json(statusCode, { error: message }, headers);
}

/** A 4xx/5xx the caller should see as is. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Headers a key may come in: ours, and Datadog's intake header for drop-in producers. */
export const API_KEY_HEADERS = ['x-api-key', 'dd-api-key'] as const;

export interface KeyAuthenticator {
  authenticate(key: string): Promise<ApiKeyRecord | undefined>;
}

/**
 * Wraps a key store with a small cache: valid keys for `ttlMs` (so a revocation takes effect
 * within that time), unknown keys for `negativeTtlMs` (so guessing cannot hammer the table).
 */
export class CachedAuthenticator implements KeyAuthenticator {
  private readonly cache = new Map<string, { record: ApiKeyRecord | undefined; until: number }>();

  constructor(
    private readonly inner: KeyAuthenticator,
    private readonly opts: { ttlMs?: number; negativeTtlMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {}

  async authenticate(key: string): Promise<ApiKeyRecord | undefined> {
    const now = (this.opts.now ?? Date.now)();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.until > now) return hit.record;
    const record = await this.inner.authenticate(key);
    if (this.cache.size >= (this.opts.maxEntries ?? 1000)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(key);
    this.cache.set(key, { record, until: now + (record ? (this.opts.ttlMs ?? 60_000) : (this.opts.negativeTtlMs ?? 5_000)) });
    return record;
  }
}

/** Finds the key in the headers (lower-cased names), checks it and its scope. Throws 401/403. */
export async function requireKey(
  headers: Readonly<Record<string, string | undefined>>,
  auth: KeyAuthenticator,
  scope: Scope,
): Promise<ApiKeyRecord> {
  let key: string | undefined;
  for (const h of API_KEY_HEADERS) {
    const v = headers[h]?.trim();
    if (v) {
      key = v;
      break;
    }
  }
  if (key === undefined) throw new HttpError(401, 'missing API key: send it in the x-api-key header');
  if (key.length > 512) throw new HttpError(401, 'invalid API key');
  const record = await auth.authenticate(key);
  if (record === undefined) throw new HttpError(401, 'invalid API key');
  if (!record.scopes.includes(scope)) throw new HttpError(403, `this API key lacks the "${scope}" scope`);
  return record;
}
