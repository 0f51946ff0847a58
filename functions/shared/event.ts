/**
 * The event contract (DESIGN.md, "Event contract") and its validator.
 *
 * The validator is on the hot path of every function: it is hand-written, allocates only the
 * normalized event, and never throws for bad input. Every rejection names the field and says what
 * to change, e.g. `tags.env: value longer than 200 chars`.
 */

export const EVENT_TYPES = ['count', 'gauge', 'distribution'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A validated, normalized event. */
export interface StreamEvent {
  readonly tenant: string;
  readonly name: string;
  /** Epoch milliseconds, UTC. */
  readonly ts: number;
  readonly value: number;
  readonly type: EventType;
  readonly tags: Readonly<Record<string, string>>;
  readonly id?: string;
  readonly attrs?: Readonly<Record<string, unknown>>;
  /**
   * A cumulative point (count, or distribution with `agg`): the total since this time, epoch ms.
   * The validator also puts it in the reserved tag `_sf_start` (START_TAG), so each start is its
   * own series.
   */
  readonly start?: number;
  /** A pre-aggregated distribution point (then `value` is its sum; the stream omits `value`). */
  readonly agg?: DistributionAgg;
}

/** A pre-aggregated distribution point (`agg`): OTLP's histogram shapes. */
export interface DistributionAgg {
  /** Observations, an integer 0..LIMITS.aggCountMax. */
  readonly count: number;
  readonly sum: number;
  readonly min?: number;
  readonly max?: number;
  readonly buckets?: ExplicitBuckets | ExponentialBuckets;
}

/** `counts[i]` observations in (bounds[i-1], bounds[i]]; the first bucket is (-inf, bounds[0]], the last (bounds[n-1], +inf). */
export interface ExplicitBuckets {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
}

/** OTLP's exponential buckets: base = 2^(2^-scale); `counts[k]` of index offset+k covers (base^i, base^(i+1)] (negative: the mirror). */
export interface ExponentialBuckets {
  readonly scale: number;
  readonly zeroCount: number;
  readonly positive?: { readonly offset: number; readonly counts: readonly number[] };
  readonly negative?: { readonly offset: number; readonly counts: readonly number[] };
}

/** The reserved tag holding a cumulative point's start (epoch ms, decimal). */
export const START_TAG = '_sf_start';
/** Tag keys with this prefix are reserved: the validator sets them, clients may not. */
export const RESERVED_TAG_PREFIX = '_sf_';

export const LIMITS = {
  nameMaxChars: 200,
  tagsMax: 32,
  tagKeyMaxChars: 100,
  tagValueMaxChars: 200,
  idMaxChars: 64,
  attrsMaxBytes: 16 * 1024,
  attrsMaxDepth: 32,
  tenantMaxChars: 64,
  /** Events may be at most this far ahead of the receiver's clock. */
  maxFutureMs: 10 * 60 * 1000,
  /** Earliest accepted timestamp (2000-01-01T00:00:00Z): anything older is almost surely epoch seconds. */
  minTs: 946_684_800_000,
  /**
   * Values the rollups hold: 0, or 1e-100 <= |v| <= 1e100. DynamoDB numbers hold 1e-130..9.99e125
   * in magnitude, and within these bounds no sum of accepted values leaves that range
   * (functions/rollup/aggregate.ts); the sketch covers the same range (shared/rollups/sketch.ts).
   */
  valueMinAbs: 1e-100,
  valueMaxAbs: 1e100,
  /**
   * Added by the consumers to the oldest age the intake accepts (`maxAgeMs`). The archive judges
   * age at the record's arrival in the stream (the rollup at its own clock, later still), and an
   * event the intake accepted arrives within one intake invocation (a Lambda runs at most 15 min),
   * so the archive never refuses what the intake accepted.
   */
  arrivalSlackMs: 15 * 60 * 1000,
  /** Largest `agg.count` (a bucket sums up to ~9,000 such points before leaving the safe integers). */
  aggCountMax: 1e12,
  /** Most explicit bucket bounds (`agg.buckets.bounds`). */
  aggBoundsMax: 256,
  /** Most counts on each side of exponential buckets. */
  aggExpCountsMax: 1024,
  /** Exponential scales accepted (OTLP's range). */
  aggScaleMin: -10,
  aggScaleMax: 20,
} as const;

export type ValidationResult = { ok: true; event: StreamEvent } | { ok: false; reason: string };

export interface ValidateOptions {
  /** Receiver's clock, epoch ms (a consumer passes the record's arrival in the stream). */
  readonly now: number;
  /**
   * Oldest accepted event, ms before `now`: the rollups' 1 h retention (ROLLUP_TTL_1H_DAYS), so
   * that nothing is accepted that the rollups cannot hold. The consumers add
   * `LIMITS.arrivalSlackMs` (consumerMaxAgeMs).
   * @default - no limit
   */
  readonly maxAgeMs?: number;
  /**
   * Tenant stamped by the intake from the API key; a `tenant` field in the body is then ignored.
   * When absent (trusted direct Kinesis producers), the event must carry a valid `tenant`.
   */
  readonly tenant?: string;
}

const FIELDS = new Set(['tenant', 'name', 'ts', 'value', 'type', 'tags', 'id', 'attrs', 'start', 'agg']);
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const TENANT_RE = /^[a-z0-9][a-z0-9_-]*$/;
/** Largest epoch ms a JavaScript Date can hold (ECMA-262 §21.4.1.1). */
const MAX_DATE_MS = 8.64e15;

/**
 * Validates one parsed JSON value against the event contract. On success the value itself is
 * normalized in place (tenant stamped, defaults filled) and returned as the event: pass a value you
 * own, such as the result of JSON.parse.
 */
export function validateEvent(input: unknown, opts: ValidateOptions): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail(`event: expected a JSON object, got ${describe(input)}`);
  }
  const o = input as Record<string, unknown>;
  for (const k in o) {
    if (!FIELDS.has(k)) {
      return fail(`${printable(k)}: unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)`);
    }
  }

  let tenant: string;
  if (opts.tenant !== undefined) {
    tenant = opts.tenant;
  } else {
    const t = o.tenant;
    if (t === undefined) return fail('tenant: required for events written directly to the stream');
    if (typeof t !== 'string') return fail(`tenant: expected a string, got ${describe(t)}`);
    const r = checkTenant(t);
    if (r !== undefined) return fail(`tenant: ${r}`);
    tenant = t;
  }

  const name = o.name;
  if (name === undefined) return fail('name: required');
  if (typeof name !== 'string') return fail(`name: expected a string, got ${describe(name)}`);
  const nameProblem = checkName(name);
  if (nameProblem !== undefined) return fail(`name: ${nameProblem}`);

  const tsResult = parseTs(o.ts, opts.now, opts.maxAgeMs);
  if (typeof tsResult === 'string') return fail(`ts: ${tsResult}`);

  let value = 1;
  if (o.value !== undefined) {
    if (typeof o.value !== 'number') return fail(`value: expected a number, got ${describe(o.value)}`);
    if (!Number.isFinite(o.value)) return fail(`value: must be a finite number, got ${String(o.value)}`);
    if (!inRollupRange(o.value)) return fail(`value: ${String(o.value)} is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)`);
    value = o.value;
  }

  let type: EventType = 'count';
  if (o.type !== undefined) {
    if (o.type !== 'count' && o.type !== 'gauge' && o.type !== 'distribution') {
      return fail(
        typeof o.type === 'string'
          ? `type: must be one of count, gauge, distribution, got ${JSON.stringify(clip(o.type))}`
          : `type: expected a string, got ${describe(o.type)}`,
      );
    }
    type = o.type;
  }

  let tags: Record<string, string> = EMPTY_TAGS;
  if (o.tags !== undefined) {
    const t = validateTags(o.tags);
    if (typeof t === 'string') return fail(t);
    tags = t;
  }

  let agg: DistributionAgg | undefined;
  if (o.agg !== undefined) {
    if (type !== 'distribution') return fail(`agg: only for type distribution (this event is a ${type})`);
    if (o.value !== undefined) return fail('value: must be absent when agg is given (the point\'s sum is agg.sum)');
    const a = validateAgg(o.agg);
    if (typeof a === 'string') return fail(a);
    agg = a;
    value = a.sum;
  }

  let start: number | undefined;
  if (o.start !== undefined) {
    if (type === 'gauge') return fail('start: a gauge has no start (only cumulative count and distribution points do)');
    if (type === 'distribution' && agg === undefined) return fail('start: a cumulative distribution point needs agg (its histogram since start)');
    const st = parseTs(o.start, opts.now);
    if (typeof st === 'string') return fail(`start: ${st}`);
    if (st > tsResult) return fail(`start: ${new Date(st).toISOString()} is after ts ${new Date(tsResult).toISOString()}`);
    if (type === 'count' && value < 0) return fail(`value: a cumulative count (with start) is a total, never negative, got ${value}`);
    start = st;
    tags = { ...tags, [START_TAG]: String(st) };
  }

  if (o.id !== undefined) {
    if (typeof o.id !== 'string') return fail(`id: expected a string, got ${describe(o.id)}`);
    if (o.id.length === 0) return fail('id: empty; omit it or send 1-64 chars');
    if (tooLong(o.id, LIMITS.idMaxChars)) return fail(`id: longer than ${LIMITS.idMaxChars} chars`);
  }

  if (o.attrs !== undefined) {
    const a = o.attrs;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) {
      return fail(`attrs: expected a JSON object, got ${describe(a)}`);
    }
    const problem = checkAttrs(a as Record<string, unknown>);
    if (problem !== undefined) return fail(problem);
  }

  // Normalize in place: every own key of `o` has been checked above and `o` comes from JSON.parse,
  // owned by the caller's decoder. Building a copy costs ~30 % of validation (measured: bench/codec).
  o.tenant = tenant;
  o.ts = tsResult;
  o.value = value;
  o.type = type;
  o.tags = tags;
  if (start !== undefined) o.start = start;
  if (agg !== undefined) o.agg = agg;
  return { ok: true, event: o as unknown as StreamEvent };
}

/** Whether the rollups hold `v`: 0, or 1e-100 <= |v| <= 1e100 (LIMITS). */
export function inRollupRange(v: number): boolean {
  if (v === 0) return true;
  const a = v < 0 ? -v : v;
  return a >= LIMITS.valueMinAbs && a <= LIMITS.valueMaxAbs;
}

/** The `maxAgeMs` a consumer validates with, judging by arrival: the intake's plus LIMITS.arrivalSlackMs. */
export function consumerMaxAgeMs(intakeMaxAgeMs: number): number {
  return intakeMaxAgeMs + LIMITS.arrivalSlackMs;
}

/** Tenant ids appear in object keys and item keys: lower-case letters, digits, `_` and `-`. */
export function checkTenant(t: string): string | undefined {
  if (t.length === 0) return 'empty';
  if (t.length > LIMITS.tenantMaxChars) return `longer than ${LIMITS.tenantMaxChars} chars`;
  if (!TENANT_RE.test(t)) {
    return 'must be lower-case letters, digits, "_" or "-", starting with a letter or digit';
  }
  return undefined;
}

/**
 * Names, tag keys and tag values: the one rule, applied by the intake (validateEvent) and accepted
 * by every query route (functions/query/params.ts), so whatever is accepted can be queried.
 *
 * - A metric name is 1-200 chars of `[A-Za-z0-9_.:/-]` with no empty, `.` or `..` segment between
 *   `/`s: it is a safe path (an object key, an item key, a URL path), and no HTTP client or proxy
 *   normalizes it into another one.
 * - A tag key is 1-100 printable characters (no control character: C0, DEL, C1; no unpaired
 *   surrogate) other than `:` and `,`. `:` ends the key in `filter=key:value` and in the
 *   `key:value` tag notation of Datadog and others; `,` separates the items of `filter` and `by`.
 *   Keys without them are written in those lists as they are.
 * - A tag value is at most 200 printable characters, any others included (`#`, `,`, `:`, `%`,
 *   `/`, spaces, any script); `filter` escapes `,` and `\` in it (params.ts).
 */
/** Metric names: 1-200 chars of `[A-Za-z0-9_.:/-]`, no empty, `.` or `..` path segment. */
export function checkName(name: string): string | undefined {
  const n = name.length;
  if (n === 0) return 'empty';
  if (n > LIMITS.nameMaxChars) return `longer than ${LIMITS.nameMaxChars} chars`;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    // A-Z a-z 0-9 _ . : / -
    if (
      (c >= 97 && c <= 122) ||
      (c >= 65 && c <= 90) ||
      (c >= 48 && c <= 58) || // 0-9 and ':'
      c === 95 ||
      c === 46 ||
      c === 47 ||
      c === 45
    ) {
      continue;
    }
    const ch = String.fromCodePoint(name.codePointAt(i)!);
    return `invalid character ${JSON.stringify(ch)} at position ${i} (allowed: A-Z a-z 0-9 _ . : / -)`;
  }
  let start = 0;
  for (let i = 0; i <= n; i++) {
    if (i < n && name.charCodeAt(i) !== 47) continue;
    const len = i - start;
    if (len === 0) return `empty path segment at position ${start} (a leading, trailing or doubled "/" is not allowed)`;
    if ((len === 1 || len === 2) && name.charCodeAt(start) === 46 && (len === 1 || name.charCodeAt(start + 1) === 46)) {
      return `"${name.slice(start, i)}" path segment at position ${start} is not allowed (a name must be a safe path)`;
    }
    start = i + 1;
  }
  return undefined;
}

/**
 * A tag key's problem, or undefined: what follows `key "<k>" ` in a message ("contains ...",
 * "longer than ..."). Empty and forbidden keys are reported by the callers.
 */
export function checkTagKey(k: string): string | undefined {
  if (tooLong(k, LIMITS.tagKeyMaxChars)) return `longer than ${LIMITS.tagKeyMaxChars} chars`;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c === 58) return 'contains ":" (not allowed in a tag key: it ends the key in filter=key:value)';
    if (c === 44) return 'contains "," (not allowed in a tag key: it separates the items of filter and by)';
  }
  return unprintable(k);
}

/** A tag value's problem, or undefined: what follows `value ` in a message. */
export function checkTagValue(v: string): string | undefined {
  if (tooLong(v, LIMITS.tagValueMaxChars)) return `longer than ${LIMITS.tagValueMaxChars} chars`;
  return unprintable(v);
}

/** A control character (C0, DEL, C1) or an unpaired surrogate in `s`, described; or undefined. */
function unprintable(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return `contains control character ${uPlus(c)} at position ${i}`;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return `contains an unpaired surrogate ${uPlus(c)} at position ${i}`;
    }
  }
  return undefined;
}

const uPlus = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;

const EMPTY_TAGS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function validateTags(input: unknown): Record<string, string> | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return `tags: expected an object of string to string, got ${describe(input)}`;
  }
  const src = input as Record<string, unknown>;
  let n = 0;
  for (const k in src) {
    n++;
    if (n > LIMITS.tagsMax) return `tags: more than ${LIMITS.tagsMax} tags`;
    if (k.length === 0) return 'tags: empty key';
    if (FORBIDDEN_KEYS.has(k)) return `tags: key ${JSON.stringify(k)} is not allowed`;
    if (k.startsWith(RESERVED_TAG_PREFIX)) return `tags: key ${quoted(k)} is reserved (keys starting with ${RESERVED_TAG_PREFIX} are set by streamfold; a cumulative point's start goes in start)`;
    const keyProblem = checkTagKey(k);
    if (keyProblem !== undefined) return `tags: key ${quoted(k)} ${keyProblem}`;
    const v = src[k];
    if (typeof v !== 'string') return `tags.${printable(k)}: expected a string, got ${describe(v)}`;
    const valueProblem = checkTagValue(v);
    if (valueProblem !== undefined) return `tags.${printable(k)}: value ${valueProblem}`;
  }
  if (n === 0) return EMPTY_TAGS;
  // JSON.parse yields plain objects whose own keys we have just checked; keep it as is.
  return src as Record<string, string>;
}

/**
 * The client's tags of an event: without the reserved `_sf_*` tags the validator adds (the stream
 * and the archive carry `start` instead; every response hides them).
 */
export function clientTags(tags: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let reserved = false;
  for (const k in tags) {
    if (k.startsWith(RESERVED_TAG_PREFIX)) {
      reserved = true;
      break;
    }
  }
  if (!reserved) return tags;
  const out: Record<string, string> = {};
  for (const k in tags) if (!k.startsWith(RESERVED_TAG_PREFIX)) out[k] = tags[k]!;
  return out;
}

const AGG_FIELDS = new Set(['count', 'sum', 'min', 'max', 'buckets']);
const EXPLICIT_FIELDS = new Set(['bounds', 'counts']);
const EXPONENTIAL_FIELDS = new Set(['scale', 'zeroCount', 'positive', 'negative']);
const SIDE_FIELDS = new Set(['offset', 'counts']);

/** An `agg` object checked and normalized (a fresh object), or the reason it is refused. */
function validateAgg(input: unknown): DistributionAgg | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return `agg: expected an object { count, sum, min?, max?, buckets? }, got ${describe(input)}`;
  const a = input as Record<string, unknown>;
  for (const k in a) if (!AGG_FIELDS.has(k)) return `agg.${printable(k)}: unknown field (allowed: count, sum, min, max, buckets)`;
  const count = a.count;
  if (count === undefined) return 'agg.count: required';
  const countProblem = checkCount(count);
  if (countProblem !== undefined) return `agg.count: ${countProblem}`;
  const n = count as number;
  const sum = a.sum;
  if (sum === undefined) return 'agg.sum: required';
  const sumProblem = checkNumber(sum);
  if (sumProblem !== undefined) return `agg.sum: ${sumProblem}`;
  const out: { -readonly [K in keyof DistributionAgg]: DistributionAgg[K] } = { count: n, sum: sum as number };
  for (const k of ['min', 'max'] as const) {
    const v = a[k];
    if (v === undefined) continue;
    const p = checkNumber(v);
    if (p !== undefined) return `agg.${k}: ${p}`;
    out[k] = v as number;
  }
  if (out.min !== undefined && out.max !== undefined && out.min > out.max) return `agg: min ${out.min} is greater than max ${out.max}`;
  if (n === 0 && (sum as number) !== 0) return `agg.sum: ${String(sum)} with count 0 (an empty point sums to 0)`;
  if (a.buckets !== undefined) {
    const b = a.buckets;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return `agg.buckets: expected { bounds, counts } or { scale, zeroCount, positive?, negative? }, got ${describe(b)}`;
    const r = 'bounds' in b || 'counts' in b ? validateExplicit(b as Record<string, unknown>, n) : validateExponential(b as Record<string, unknown>, n);
    if (typeof r === 'string') return r;
    out.buckets = r;
  }
  return out;
}

function validateExplicit(b: Record<string, unknown>, count: number): ExplicitBuckets | string {
  for (const k in b) if (!EXPLICIT_FIELDS.has(k)) return `agg.buckets.${printable(k)}: unknown field (explicit buckets: bounds, counts)`;
  const bounds = b.bounds;
  const counts = b.counts;
  if (!Array.isArray(bounds)) return `agg.buckets.bounds: expected an array of numbers, got ${describe(bounds)}`;
  if (!Array.isArray(counts)) return `agg.buckets.counts: expected an array of integers, got ${describe(counts)}`;
  if (bounds.length > LIMITS.aggBoundsMax) return `agg.buckets.bounds: ${bounds.length} bounds, more than ${LIMITS.aggBoundsMax}`;
  for (let i = 0; i < bounds.length; i++) {
    const p = checkNumber(bounds[i]);
    if (p !== undefined) return `agg.buckets.bounds[${i}]: ${p}`;
    if (i > 0 && !((bounds[i] as number) > (bounds[i - 1] as number))) return `agg.buckets.bounds[${i}]: ${String(bounds[i])} is not greater than the bound before it (bounds must ascend)`;
  }
  if (counts.length !== bounds.length + 1) return `agg.buckets.counts: ${counts.length} counts for ${bounds.length} bounds (expected ${bounds.length + 1}: one more than bounds)`;
  const total = sumCounts(counts, 'agg.buckets.counts');
  if (typeof total === 'string') return total;
  if (total !== count) return `agg.buckets.counts: they sum to ${total}, but agg.count is ${count}`;
  return { bounds: bounds as number[], counts: counts as number[] };
}

function validateExponential(b: Record<string, unknown>, count: number): ExponentialBuckets | string {
  for (const k in b) if (!EXPONENTIAL_FIELDS.has(k)) return `agg.buckets.${printable(k)}: unknown field (explicit buckets: bounds, counts; exponential: scale, zeroCount, positive, negative)`;
  const scale = b.scale;
  if (scale === undefined) return 'agg.buckets.scale: required (or give bounds and counts for explicit buckets)';
  if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < LIMITS.aggScaleMin || scale > LIMITS.aggScaleMax) {
    return `agg.buckets.scale: must be an integer from ${LIMITS.aggScaleMin} to ${LIMITS.aggScaleMax}, got ${typeof scale === 'number' ? String(scale) : describe(scale)}`;
  }
  const zeroCount = b.zeroCount ?? 0;
  const zp = checkCount(zeroCount);
  if (zp !== undefined) return `agg.buckets.zeroCount: ${zp}`;
  let total = zeroCount as number;
  const out: { -readonly [K in keyof ExponentialBuckets]: ExponentialBuckets[K] } = { scale, zeroCount: zeroCount as number };
  for (const side of ['positive', 'negative'] as const) {
    const v = b[side];
    if (v === undefined) continue;
    const where = `agg.buckets.${side}`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${where}: expected { offset, counts }, got ${describe(v)}`;
    const o = v as Record<string, unknown>;
    for (const k in o) if (!SIDE_FIELDS.has(k)) return `${where}.${printable(k)}: unknown field (allowed: offset, counts)`;
    const offset = o.offset ?? 0;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) return `${where}.offset: expected an integer, got ${typeof offset === 'number' ? String(offset) : describe(offset)}`;
    const counts = o.counts ?? [];
    if (!Array.isArray(counts)) return `${where}.counts: expected an array of integers, got ${describe(counts)}`;
    if (counts.length > LIMITS.aggExpCountsMax) return `${where}.counts: ${counts.length} buckets, more than ${LIMITS.aggExpCountsMax}`;
    const t = sumCounts(counts, `${where}.counts`);
    if (typeof t === 'string') return t;
    // Every bucket with observations must lie inside what the rollups hold (1e-100..1e100).
    for (let k = 0; k < counts.length; k++) {
      if (counts[k] === 0) continue;
      const lo = exponentialLower(scale, offset + k);
      const hi = exponentialLower(scale, offset + k + 1);
      if (!(lo >= LIMITS.valueMinAbs * 0.99 && hi <= LIMITS.valueMaxAbs * 1.01)) return `${where}.counts[${k}]: bucket (${lo}, ${hi}] is outside what rollups hold (1e-100 to 1e100 in magnitude)`;
    }
    total += t;
    out[side] = { offset, counts: counts as number[] };
  }
  if (total !== count) return `agg.buckets: zeroCount and the bucket counts sum to ${total}, but agg.count is ${count}`;
  return out;
}

/** The lower bound of exponential bucket `index` at `scale`: base^index, base = 2^(2^-scale). */
export function exponentialLower(scale: number, index: number): number {
  return 2 ** (index * 2 ** -scale);
}

function checkCount(v: unknown): string | undefined {
  if (typeof v !== 'number') return `expected an integer, got ${describe(v)}`;
  if (!Number.isInteger(v) || v < 0) return `must be an integer >= 0, got ${String(v)}`;
  if (v > LIMITS.aggCountMax) return `${v} is more than ${LIMITS.aggCountMax}`;
  return undefined;
}

function checkNumber(v: unknown): string | undefined {
  if (typeof v !== 'number') return `expected a number, got ${describe(v)}`;
  if (!Number.isFinite(v)) return `must be a finite number, got ${String(v)}`;
  if (!inRollupRange(v)) return `${String(v)} is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)`;
  return undefined;
}

function sumCounts(counts: readonly unknown[], where: string): number | string {
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const p = checkCount(counts[i]);
    if (p !== undefined) return `${where}[${i}]: ${p}`;
    total += counts[i] as number;
  }
  if (total > LIMITS.aggCountMax) return `${where}: they sum to ${total}, more than ${LIMITS.aggCountMax}`;
  return total;
}

function checkAttrs(attrs: Record<string, unknown>): string | undefined {
  // One walk: forbidden keys, depth, non-finite numbers (JSON.parse turns 1e999 into Infinity) and size.
  const problem = walkAttrs(attrs, 'attrs', 0);
  if (problem !== undefined) return problem;
  const bytes = Buffer.byteLength(JSON.stringify(attrs), 'utf8');
  if (bytes > LIMITS.attrsMaxBytes) {
    return `attrs: ${bytes} bytes serialized, more than the ${LIMITS.attrsMaxBytes}-byte limit`;
  }
  return undefined;
}

function walkAttrs(v: unknown, path: string, depth: number): string | undefined {
  if (depth > LIMITS.attrsMaxDepth) return `${path}: nested deeper than ${LIMITS.attrsMaxDepth} levels`;
  if (typeof v === 'number') {
    return Number.isFinite(v) ? undefined : `${path}: must be a finite number, got ${String(v)}`;
  }
  if (typeof v !== 'object' || v === null) {
    return typeof v === 'string' || typeof v === 'boolean' || v === null
      ? undefined
      : `${path}: ${describe(v)} is not a JSON value`;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = walkAttrs(v[i], `${path}[${i}]`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    if (FORBIDDEN_KEYS.has(k)) return `${path}: key ${JSON.stringify(k)} is not allowed`;
    const p = walkAttrs(o[k], `${path}.${printable(k)}`, depth + 1);
    if (p !== undefined) return p;
  }
  return undefined;
}

// RFC 3339 date-time: 2026-11-28T01:02:03.456Z or with an offset; ' ' accepted for 'T' (RFC 3339 §5.6 note).
const RFC3339_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Returns epoch ms, or a reason (without the `ts: ` prefix). */
export function parseTs(ts: unknown, now: number, maxAgeMs?: number): number | string {
  let ms: number;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) return `must be a finite number, got ${String(ts)}`;
    if (!Number.isInteger(ts)) return `epoch milliseconds must be an integer, got ${ts}`;
    ms = ts;
  } else if (typeof ts === 'string') {
    const parsed = parseRfc3339(ts);
    if (typeof parsed === 'string') return parsed;
    ms = parsed;
  } else if (ts === undefined) {
    return 'required';
  } else {
    return `expected epoch milliseconds or an RFC 3339 string, got ${describe(ts)}`;
  }
  if (ms < LIMITS.minTs) {
    return `${ms} is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)`;
  }
  if (maxAgeMs !== undefined && ms < now - maxAgeMs) {
    return `${new Date(ms).toISOString()} is more than ${duration(maxAgeMs)} old, past the rollups' retention (receiver clock ${new Date(now).toISOString()})`;
  }
  if (ms > now + LIMITS.maxFutureMs) {
    // Beyond ±8.64e15 ms a Date cannot hold the value (toISOString would throw).
    const when = ms <= MAX_DATE_MS ? new Date(ms).toISOString() : String(ms);
    return `${when} is more than 10 min in the future (receiver clock ${new Date(now).toISOString()})`;
  }
  return ms;
}

function parseRfc3339(s: string): number | string {
  const m = RFC3339_RE.exec(s);
  if (m === null) {
    return `${JSON.stringify(clip(s))} is not an RFC 3339 date-time (e.g. 2026-11-28T01:02:03.456Z)`;
  }
  const year = +m[1]!;
  const month = +m[2]!;
  const day = +m[3]!;
  const hour = +m[4]!;
  const minute = +m[5]!;
  let second = +m[6]!;
  if (month < 1 || month > 12) return `${JSON.stringify(s)}: month ${month} out of range`;
  const dim = daysInMonth(year, month);
  if (day < 1 || day > dim) return `${JSON.stringify(s)}: day ${day} out of range`;
  if (hour > 23) return `${JSON.stringify(s)}: hour ${hour} out of range`;
  if (minute > 59) return `${JSON.stringify(s)}: minute ${minute} out of range`;
  if (second > 60) return `${JSON.stringify(s)}: second ${second} out of range`;
  if (second === 60) second = 59; // leap second: clamp, as most systems do
  const frac = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = +m[10]!;
    const om = +m[11]!;
    if (oh > 23 || om > 59) return `${JSON.stringify(s)}: offset out of range`;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, frac) - offsetMin * 60_000;
}

/** `400 days`, `400 days 15 min`, `90 s`: a duration in the largest whole units that add up to it. */
function duration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [['days', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n} ${unit === 'days' && n === 1 ? 'day' : unit}`);
  }
  return parts.length === 0 ? '0 ms' : parts.join(' ');
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Length in characters (code points), checked cheaply: UTF-16 length is an upper bound. */
function tooLong(s: string, max: number): boolean {
  if (s.length <= max) return false;
  let n = 0;
  for (const _ of s) if (++n > max) return true;
  return false;
}

function fail(reason: string): ValidationResult {
  return { ok: false, reason };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A user-supplied key as it may appear in a reason: bare when simple, else JSON-quoted and clipped. */
function printable(k: string): string {
  return /^[A-Za-z0-9_.:/-]{1,100}$/.test(k) ? k : quoted(k);
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * A user-supplied string as it may appear in a message: clipped, JSON-quoted, and with the
 * control characters JSON leaves as they are (DEL, C1) escaped too, so a message is printable.
 */
export function quoted(s: string): string {
  return JSON.stringify(clip(s)).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
