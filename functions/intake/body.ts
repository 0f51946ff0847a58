/**
 * Intake request bodies: a JSON array of events, `{ "events": [...] }`, or NDJSON; gzip'd or not.
 * Pure: bytes and headers in, parsed values or an HTTP error out. A gzip bomb is stopped while
 * inflating, never after.
 */
import { gunzipSync } from 'node:zlib';
import { HttpError } from '../shared/http.ts';

export const INTAKE_LIMITS = {
  compressedBytes: 5 * 1024 * 1024,
  decompressedBytes: 25 * 1024 * 1024,
  eventsPerRequest: 10_000,
} as const;


/** One element of the body: a parsed JSON value, or the reason its NDJSON line did not parse. */
export type BodyItem = { readonly value: unknown } | { readonly parseError: string };

/** Decodes and parses a body. Throws `HttpError` (400, 413, 415) for a body that cannot be used. */
export function parseBody(raw: Uint8Array, contentType: string | undefined, contentEncoding: string | undefined): BodyItem[] {
  if (raw.length > INTAKE_LIMITS.compressedBytes) {
    throw new HttpError(413, `request body is ${raw.length} bytes; the limit is ${INTAKE_LIMITS.compressedBytes} bytes (5 MiB)`);
  }
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  let bytes: Uint8Array = raw;
  const looksGzip = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (encoding === 'gzip' || encoding === 'x-gzip' || (encoding === '' && looksGzip)) {
    try {
      bytes = gunzipSync(raw, { maxOutputLength: INTAKE_LIMITS.decompressedBytes });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new HttpError(413, `decompressed body exceeds ${INTAKE_LIMITS.decompressedBytes} bytes (25 MiB)`);
      }
      throw new HttpError(400, `body is not valid gzip (Content-Encoding: gzip): ${(err as Error).message}`);
    }
  } else if (encoding !== '' && encoding !== 'identity') {
    throw new HttpError(415, `Content-Encoding "${contentEncoding}" is not supported; use gzip or none`);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, 'body is not valid UTF-8 text');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const type = (contentType ?? '').toLowerCase();
  const ndjson = type.includes('ndjson') || type.includes('jsonl') || type.includes('json-seq');
  if (!ndjson) {
    const first = firstNonSpace(text);
    if (first === '') throw new HttpError(400, 'body is empty; send a JSON array of events, {"events": [...]}, or NDJSON');
    if (first === '[' || first === '{') {
      let doc: unknown;
      let error: string | undefined;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        error = (err as Error).message;
      }
      if (error === undefined) return fromDocument(doc);
      // `{...}\n{...}`: NDJSON sent without its content type.
      if (first !== '{' || !text.trim().includes('\n')) throw new HttpError(400, `body is not valid JSON: ${error}`);
    } else {
      throw new HttpError(400, 'body must be a JSON array of events, {"events": [...]}, or NDJSON (one event per line)');
    }
  }
  const items = parseNdjson(text);
  if (items.length > 0 && items.every((i) => 'parseError' in i)) {
    throw new HttpError(400, `body is not valid NDJSON: line 1: ${(items[0] as { parseError: string }).parseError}`);
  }
  return checkCount(items);
}

function fromDocument(doc: unknown): BodyItem[] {
  let list: unknown[];
  if (Array.isArray(doc)) list = doc;
  else if (typeof doc === 'object' && doc !== null && 'events' in doc) {
    const events = (doc as { events: unknown }).events;
    if (!Array.isArray(events)) throw new HttpError(400, '"events" must be an array of events');
    list = events;
  } else list = [doc]; // a single event object
  return checkCount(list.map((value) => ({ value })));
}

function parseNdjson(text: string): BodyItem[] {
  const out: BodyItem[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    if (out.length > INTAKE_LIMITS.eventsPerRequest) break; // checkCount reports it
    try {
      out.push({ value: JSON.parse(line) });
    } catch (err) {
      out.push({ parseError: `invalid JSON: ${(err as Error).message}` });
    }
  }
  return out;
}

function checkCount(items: BodyItem[]): BodyItem[] {
  if (items.length > INTAKE_LIMITS.eventsPerRequest) {
    throw new HttpError(413, `request has more than ${INTAKE_LIMITS.eventsPerRequest} events; split it into several requests`);
  }
  return items;
}

function firstNonSpace(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') return c;
  }
  return '';
}
