import { describe, expect, it } from 'vitest';
import { LIMITS, validateEvent, type ValidateOptions } from '../../functions/shared/event.ts';

/** Receiver clock for every test: 2026-11-28T12:00:00.000Z. */
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
const NOW_ISO = '2026-11-28T12:00:00.000Z';
const STAMPED: ValidateOptions = { now: NOW, tenant: 'acme' };
const DIRECT: ValidateOptions = { now: NOW };
const ALLOWED = '(allowed: A-Z a-z 0-9 _ . : / -)';
const EMOJI = '\u{1F600}'; // two UTF-16 code units, one code point

/** A table row: label, input, expected reason. */
type Row = [label: string, input: unknown, reason: string];

/** A minimal valid body, with overrides. */
function ev(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'api.requests', ts: NOW, ...over };
}

function reasonOf(input: unknown, opts: ValidateOptions = STAMPED): string {
  const r = validateEvent(input, opts);
  if (r.ok) throw new Error(`expected a rejection, got ${JSON.stringify(r.event)}`);
  return r.reason;
}

function accepted(input: unknown, opts: ValidateOptions = STAMPED) {
  const r = validateEvent(input, opts);
  if (!r.ok) throw new Error(`expected acceptance, got: ${r.reason}`);
  return r.event;
}

function nestAttrs(levels: number): Record<string, unknown> {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v as Record<string, unknown>;
}

describe('Function: validateEvent', () => {
  describe('input shape', () => {
    it.each([
      ['null', null, 'event: expected a JSON object, got null'],
      ['an array', [ev()], 'event: expected a JSON object, got array'],
      ['a string', '{"name":"a"}', 'event: expected a JSON object, got string'],
      ['a number', 42, 'event: expected a JSON object, got number'],
      ['a boolean', true, 'event: expected a JSON object, got boolean'],
      ['undefined', undefined, 'event: expected a JSON object, got undefined'],
    ])('rejects %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });

    it.each([
      ['a simple key', ev({ extra: 1 }), 'extra: unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)'],
      ['a key with spaces', ev({ 'bad key': 1 }), '"bad key": unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)'],
      [
        'a long key, clipped',
        ev({ ['k'.repeat(120)]: 1 }),
        `"${'k'.repeat(40)}…": unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)`,
      ],
      [
        'an own __proto__ key',
        JSON.parse(`{"name":"a","ts":${NOW},"__proto__":{"x":1}}`),
        '__proto__: unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)',
      ],
      ['Name (case matters)', { Name: 'a', ts: NOW }, 'Name: unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)'],
    ])('rejects an unknown top-level field: %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });

    it('rejects an unknown field before checking anything else', () => {
      // Prepare
      const input = { extra: true, name: 42 };
      // Act
      const r = reasonOf(input, DIRECT);
      // Assess
      expect(r).toBe('extra: unknown field (allowed: name, ts, value, type, tags, id, attrs, start, agg)');
    });
  });

  describe('normalized output', () => {
    it('fills defaults and omits id and attrs when absent', () => {
      // Prepare
      const input = { name: 'api.requests', ts: '2026-11-28T11:00:00Z' };
      // Act
      const e = accepted(input);
      // Assess
      expect(e).toStrictEqual({
        tenant: 'acme',
        name: 'api.requests',
        ts: Date.UTC(2026, 10, 28, 11, 0, 0),
        value: 1,
        type: 'count',
        tags: {},
      });
      expect(Object.keys(e).sort()).toEqual(['name', 'tags', 'tenant', 'ts', 'type', 'value']);
      expect('id' in e).toBe(false);
      expect('attrs' in e).toBe(false);
    });

    it('keeps every given field', () => {
      // Prepare
      const input = {
        name: 'db/query:latency_ms',
        ts: NOW - 5,
        value: 12.5,
        type: 'distribution',
        tags: { env: 'prod', region: 'eu-west-1' },
        id: 'evt-1',
        attrs: { sql: 'select 1', rows: [1, 2], ok: true, nothing: null },
      };
      // Act
      const e = accepted(input);
      // Assess
      expect(e).toStrictEqual({ tenant: 'acme', ...input });
    });

    it('does not carry a body tenant into the event when the tenant is stamped', () => {
      // Prepare
      const input = ev({ tenant: 'mallory' });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.tenant).toBe('acme');
    });
  });

  describe('tenant', () => {
    it('takes the stamped tenant over the body tenant', () => {
      // Prepare
      const input = ev({ tenant: 'other-tenant' });
      // Act
      const e = accepted(input, { now: NOW, tenant: 'stamped' });
      // Assess
      expect(e.tenant).toBe('stamped');
    });

    it('ignores an invalid body tenant when the tenant is stamped', () => {
      // Prepare
      const input = ev({ tenant: 42 });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.tenant).toBe('acme');
    });

    it.each(['a', '0', 'acme', 'team_42-prod', 'a'.repeat(LIMITS.tenantMaxChars)])(
      'accepts body tenant %j without a stamped tenant',
      (tenant) => {
        // Prepare
        const input = ev({ tenant });
        // Act
        const e = accepted(input, DIRECT);
        // Assess
        expect(e.tenant).toBe(tenant);
      },
    );

    it.each<Row>([
      ['missing', ev(), 'tenant: required for events written directly to the stream'],
      ['a number', ev({ tenant: 7 }), 'tenant: expected a string, got number'],
      ['null', ev({ tenant: null }), 'tenant: expected a string, got null'],
      ['empty', ev({ tenant: '' }), 'tenant: empty'],
      ['65 chars', ev({ tenant: 'a'.repeat(65) }), 'tenant: longer than 64 chars'],
      ...['Acme', '-acme', '_acme', 'ac me', 'acme#1', 'acmé', 'a/b'].map(
        (t): Row => [
          `charset ${JSON.stringify(t)}`,
          ev({ tenant: t }),
          'tenant: must be lower-case letters, digits, "_" or "-", starting with a letter or digit',
        ],
      ),
    ])('rejects a body tenant that is %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input, DIRECT);
      // Assess
      expect(r).toBe(reason);
    });
  });

  describe('name', () => {
    it.each([
      ['one char', 'a'],
      ['200 chars', 'n'.repeat(200)],
      ['upper case', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'],
      ['lower case', 'abcdefghijklmnopqrstuvwxyz'],
      ['digits', '0123456789'],
      ['underscore', '_'],
      ['dot', 'a.b'],
      ['colon', ':'],
      ['slash', 'a/b'],
      ['hyphen', '-'],
      ['a mix', 'Api.v2/requests:count_total-x'],
      ['segments that start with dots but are not "." or ".."', '.well-known/...x/..y/z..'],
    ])('accepts %s', (_label, name) => {
      // Prepare
      const input = ev({ name });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.name).toBe(name);
    });

    it.each([
      ['missing', { ts: NOW }, 'name: required'],
      ['a number', ev({ name: 1 }), 'name: expected a string, got number'],
      ['null', ev({ name: null }), 'name: expected a string, got null'],
      ['an array', ev({ name: ['a'] }), 'name: expected a string, got array'],
      ['empty', ev({ name: '' }), 'name: empty'],
      ['201 chars', ev({ name: 'n'.repeat(201) }), 'name: longer than 200 chars'],
      ['a space', ev({ name: 'api requests' }), `name: invalid character " " at position 3 ${ALLOWED}`],
      ['"@" (before A)', ev({ name: 'ab@' }), `name: invalid character "@" at position 2 ${ALLOWED}`],
      ['"[" (after Z)', ev({ name: 'Z[' }), `name: invalid character "[" at position 1 ${ALLOWED}`],
      ['"`" (before a)', ev({ name: '`a' }), `name: invalid character "\`" at position 0 ${ALLOWED}`],
      ['"{" (after z)', ev({ name: 'z{' }), `name: invalid character "{" at position 1 ${ALLOWED}`],
      ['";" (after :)', ev({ name: 'a:;' }), `name: invalid character ";" at position 2 ${ALLOWED}`],
      ['"," (before -)', ev({ name: 'a,b' }), `name: invalid character "," at position 1 ${ALLOWED}`],
      ['"#"', ev({ name: 'a#' }), `name: invalid character "#" at position 1 ${ALLOWED}`],
      ['a backslash', ev({ name: 'a\\b' }), `name: invalid character "\\\\" at position 1 ${ALLOWED}`],
      ['a newline', ev({ name: 'a\nb' }), `name: invalid character "\\n" at position 1 ${ALLOWED}`],
      ['a NUL', ev({ name: 'a\u0000' }), `name: invalid character "\\u0000" at position 1 ${ALLOWED}`],
      ['a Latin-1 letter', ev({ name: 'caf\u00e9' }), `name: invalid character "é" at position 3 ${ALLOWED}`],
      ['an emoji', ev({ name: `ok${EMOJI}` }), `name: invalid character "${EMOJI}" at position 2 ${ALLOWED}`],
      ['a lone surrogate', ev({ name: 'x\ud800' }), `name: invalid character "\\ud800" at position 1 ${ALLOWED}`],
      // A name is a safe path: no segment a client, proxy or store would normalize away.
      ['"."', ev({ name: '.' }), 'name: "." path segment at position 0 is not allowed (a name must be a safe path)'],
      ['".."', ev({ name: '..' }), 'name: ".." path segment at position 0 is not allowed (a name must be a safe path)'],
      ['a "." segment', ev({ name: 'a/./b' }), 'name: "." path segment at position 2 is not allowed (a name must be a safe path)'],
      ['a ".." segment', ev({ name: 'a/../b' }), 'name: ".." path segment at position 2 is not allowed (a name must be a safe path)'],
      ['a trailing ".."', ev({ name: 'a/..' }), 'name: ".." path segment at position 2 is not allowed (a name must be a safe path)'],
      ['"/"', ev({ name: '/' }), 'name: empty path segment at position 0 (a leading, trailing or doubled "/" is not allowed)'],
      ['a leading "/"', ev({ name: '/a' }), 'name: empty path segment at position 0 (a leading, trailing or doubled "/" is not allowed)'],
      ['a trailing "/"', ev({ name: 'a/' }), 'name: empty path segment at position 2 (a leading, trailing or doubled "/" is not allowed)'],
      ['a doubled "/"', ev({ name: 'a//b' }), 'name: empty path segment at position 2 (a leading, trailing or doubled "/" is not allowed)'],
    ])('rejects a name that is %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });

    it('reports the first bad character', () => {
      // Prepare
      const input = ev({ name: `${'a'.repeat(150)}!?` });
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(`name: invalid character "!" at position 150 ${ALLOWED}`);
    });
  });

  describe('ts', () => {
    it('refuses, with maxAgeMs, an event older than the rollups keep, and accepts one at the limit', () => {
      // Prepare: the default 1 h retention, 400 days.
      const opts = { ...STAMPED, maxAgeMs: 400 * 86_400_000 };
      const limit = NOW - 400 * 86_400_000;
      // Act & Assess
      expect(accepted(ev({ ts: limit }), opts).ts).toBe(limit);
      expect(reasonOf(ev({ ts: limit - 1 }), opts)).toBe(
        `ts: 2025-10-24T11:59:59.999Z is more than 400 days old, past the rollups' retention (receiver clock ${NOW_ISO})`,
      );
      expect(reasonOf(ev({ ts: '2020-01-01T00:00:00Z' }), { ...opts, maxAgeMs: 400 * 86_400_000 + LIMITS.arrivalSlackMs })).toBe(
        `ts: 2020-01-01T00:00:00.000Z is more than 400 days 15 min old, past the rollups' retention (receiver clock ${NOW_ISO})`,
      );
      expect(reasonOf(ev({ ts: NOW - 86_400_001 }), { ...opts, maxAgeMs: 86_400_000 })).toBe(
        `ts: 2026-11-27T11:59:59.999Z is more than 1 day old, past the rollups' retention (receiver clock ${NOW_ISO})`,
      );
      // Without maxAgeMs, only the 2000-01-01 floor applies.
      expect(accepted(ev({ ts: limit - 1 })).ts).toBe(limit - 1);
    });

    it.each([
      ['epoch ms', NOW - 3_600_000, NOW - 3_600_000],
      ['epoch ms of 2000-01-01 (the earliest)', LIMITS.minTs, LIMITS.minTs],
      ['very late events', LIMITS.minTs + 1, LIMITS.minTs + 1],
      ['exactly 10 min in the future', NOW + 600_000, NOW + 600_000],
      ['RFC 3339 with Z', '2026-11-28T01:02:03Z', Date.UTC(2026, 10, 28, 1, 2, 3)],
      ['RFC 3339 lower-case t and z', '2026-11-28t01:02:03z', Date.UTC(2026, 10, 28, 1, 2, 3)],
      ['RFC 3339 with milliseconds', '2026-11-28T01:02:03.456Z', Date.UTC(2026, 10, 28, 1, 2, 3, 456)],
      ['RFC 3339 with one fractional digit', '2026-11-28T01:02:03.5Z', Date.UTC(2026, 10, 28, 1, 2, 3, 500)],
      ['RFC 3339 with nanoseconds (truncated)', '2026-11-28T01:02:03.123456789Z', Date.UTC(2026, 10, 28, 1, 2, 3, 123)],
      ['RFC 3339 with .999999999', '2026-11-28T01:02:03.999999999Z', Date.UTC(2026, 10, 28, 1, 2, 3, 999)],
      ['RFC 3339 with +05:30', '2026-11-28T06:32:03+05:30', Date.UTC(2026, 10, 28, 1, 2, 3)],
      ['RFC 3339 with -08:00', '2026-11-27T17:02:03-08:00', Date.UTC(2026, 10, 28, 1, 2, 3)],
      ['RFC 3339 with +00:00', '2026-11-28T01:02:03+00:00', Date.UTC(2026, 10, 28, 1, 2, 3)],
      ['RFC 3339 with -00:00', '2026-11-28T01:02:03-00:00', Date.UTC(2026, 10, 28, 1, 2, 3)],
      ['RFC 3339 with a space separator', '2026-11-28 01:02:03.456Z', Date.UTC(2026, 10, 28, 1, 2, 3, 456)],
      ['a leap second (clamped to :59)', '2016-12-31T23:59:60Z', Date.UTC(2016, 11, 31, 23, 59, 59)],
      ['a leap second with a fraction', '2016-12-31T23:59:60.250Z', Date.UTC(2016, 11, 31, 23, 59, 59, 250)],
      ['Feb 29 of a leap year', '2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
      ['Feb 29 of 2000 (divisible by 400)', '2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
      ['RFC 3339 exactly 10 min ahead', '2026-11-28T12:10:00Z', NOW + 600_000],
      ['RFC 3339 of 2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z', LIMITS.minTs],
    ])('accepts %s', (_label, ts, ms) => {
      // Prepare
      const input = ev({ ts });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.ts).toBe(ms);
    });

    it.each<Row>([
      ['missing', { name: 'a' }, 'ts: required'],
      ['null', ev({ ts: null }), 'ts: expected epoch milliseconds or an RFC 3339 string, got null'],
      ['a boolean', ev({ ts: true }), 'ts: expected epoch milliseconds or an RFC 3339 string, got boolean'],
      ['an object', ev({ ts: {} }), 'ts: expected epoch milliseconds or an RFC 3339 string, got object'],
      ['an array', ev({ ts: [NOW] }), 'ts: expected epoch milliseconds or an RFC 3339 string, got array'],
      ['a non-integer', ev({ ts: NOW + 0.5 }), `ts: epoch milliseconds must be an integer, got ${NOW + 0.5}`],
      ['NaN', ev({ ts: Number.NaN }), 'ts: must be a finite number, got NaN'],
      ['Infinity from JSON 1e999', JSON.parse('{"name":"a","ts":1e999}'), 'ts: must be a finite number, got Infinity'],
      ['-Infinity from JSON -1e999', JSON.parse('{"name":"a","ts":-1e999}'), 'ts: must be a finite number, got -Infinity'],
      [
        '10 min + 1 ms in the future',
        ev({ ts: NOW + 600_001 }),
        `ts: 2026-11-28T12:10:00.001Z is more than 10 min in the future (receiver clock ${NOW_ISO})`,
      ],
      [
        'RFC 3339 10 min + 1 ms in the future',
        ev({ ts: '2026-11-28T12:10:00.001Z' }),
        `ts: 2026-11-28T12:10:00.001Z is more than 10 min in the future (receiver clock ${NOW_ISO})`,
      ],
      [
        'RFC 3339 in the future through its offset',
        ev({ ts: '2026-11-28T12:00:00-01:00' }),
        `ts: 2026-11-28T13:00:00.000Z is more than 10 min in the future (receiver clock ${NOW_ISO})`,
      ],
      [
        'epoch seconds',
        ev({ ts: 1_764_331_200 }),
        'ts: 1764331200 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)',
      ],
      [
        '1 ms before 2000',
        ev({ ts: LIMITS.minTs - 1 }),
        'ts: 946684799999 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)',
      ],
      [
        'zero',
        ev({ ts: 0 }),
        'ts: 0 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)',
      ],
      [
        'negative',
        ev({ ts: -5 }),
        'ts: -5 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)',
      ],
      [
        'RFC 3339 before 2000',
        ev({ ts: '1999-12-31T23:59:59Z' }),
        'ts: 946684799000 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)',
      ],
      [
        'Feb 29 of a non-leap year',
        ev({ ts: '2023-02-29T00:00:00Z' }),
        'ts: "2023-02-29T00:00:00Z": day 29 out of range',
      ],
      [
        'Feb 29 of 2100 (divisible by 100)',
        ev({ ts: '2100-02-29T00:00:00Z' }),
        'ts: "2100-02-29T00:00:00Z": day 29 out of range',
      ],
      ['April 31', ev({ ts: '2026-04-31T00:00:00Z' }), 'ts: "2026-04-31T00:00:00Z": day 31 out of range'],
      ['day 0', ev({ ts: '2026-01-00T00:00:00Z' }), 'ts: "2026-01-00T00:00:00Z": day 0 out of range'],
      ['month 13', ev({ ts: '2026-13-01T00:00:00Z' }), 'ts: "2026-13-01T00:00:00Z": month 13 out of range'],
      ['month 0', ev({ ts: '2026-00-10T00:00:00Z' }), 'ts: "2026-00-10T00:00:00Z": month 0 out of range'],
      ['hour 24', ev({ ts: '2026-01-01T24:00:00Z' }), 'ts: "2026-01-01T24:00:00Z": hour 24 out of range'],
      ['minute 60', ev({ ts: '2026-01-01T00:60:00Z' }), 'ts: "2026-01-01T00:60:00Z": minute 60 out of range'],
      ['second 61', ev({ ts: '2026-01-01T00:00:61Z' }), 'ts: "2026-01-01T00:00:61Z": second 61 out of range'],
      ['offset +24:00', ev({ ts: '2026-01-01T00:00:00+24:00' }), 'ts: "2026-01-01T00:00:00+24:00": offset out of range'],
      ['offset +01:60', ev({ ts: '2026-01-01T00:00:00+01:60' }), 'ts: "2026-01-01T00:00:00+01:60": offset out of range'],
      ...[
        'yesterday',
        '',
        '2026-11-28',
        '2026-11-28T01:02:03',
        '2026-11-28T01:02Z',
        '2026-11-28T01:02:03.Z',
        '2026-11-28T01:02:03.1234567890Z',
        '2026-11-28T01:02:03+0100',
        '2026-11-28T01:02:03 Z',
        '26-11-28T01:02:03Z',
        ' 2026-11-28T01:02:03Z',
        '2026-11-28T01:02:03Z\n',
        '1764331200000',
        '２０２６-11-28T01:02:03Z',
      ].map(
        (s): Row => [
          `garbage ${JSON.stringify(s)}`,
          ev({ ts: s }),
          `ts: ${JSON.stringify(s)} is not an RFC 3339 date-time (e.g. 2026-11-28T01:02:03.456Z)`,
        ],
      ),
      [
        'a long garbage string, clipped',
        ev({ ts: 'x'.repeat(100) }),
        `ts: "${'x'.repeat(40)}…" is not an RFC 3339 date-time (e.g. 2026-11-28T01:02:03.456Z)`,
      ],
    ])('rejects ts that is %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });

    it.each([
      [1e20, '100000000000000000000'],
      [8.64e15 + 1, '8640000000000001'],
      [Number.MAX_SAFE_INTEGER, '9007199254740991'],
      [Number.MAX_VALUE, String(Number.MAX_VALUE)],
    ])('rejects a far-future epoch ms %d (beyond the Date range) without throwing', (ts, shown) => {
      // Prepare
      const input = ev({ ts });
      // Act
      const act = () => validateEvent(input, STAMPED);
      // Assess
      expect(act).not.toThrow();
      expect(reasonOf(input)).toBe(
        `ts: ${shown} is more than 10 min in the future (receiver clock ${NOW_ISO})`,
      );
    });
  });

  describe('value', () => {
    it.each([
      ['the default 1 when absent', undefined, 1],
      ['zero', 0, 0],
      ['a negative number', -3.25, -3.25],
      ['the largest the rollups hold, 1e100', 1e100, 1e100],
      ['the smallest nonzero the rollups hold, 1e-100', 1e-100, 1e-100],
      ['-1e100', -1e100, -1e100],
      ['-1e-100', -1e-100, -1e-100],
      ['negative zero', -0, -0],
    ])('accepts %s', (_label, value, expected) => {
      // Prepare
      const input = value === undefined ? ev() : ev({ value });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.value).toBe(expected);
    });

    it.each([
      ['a string', ev({ value: '1' }), 'value: expected a number, got string'],
      ['null', ev({ value: null }), 'value: expected a number, got null'],
      ['a boolean', ev({ value: true }), 'value: expected a number, got boolean'],
      ['an object', ev({ value: {} }), 'value: expected a number, got object'],
      ['NaN', ev({ value: Number.NaN }), 'value: must be a finite number, got NaN'],
      ['Infinity from JSON 1e999', JSON.parse(`{"name":"a","ts":${NOW},"value":1e999}`), 'value: must be a finite number, got Infinity'],
      ['-Infinity', ev({ value: Number.NEGATIVE_INFINITY }), 'value: must be a finite number, got -Infinity'],
      // What the rollups cannot hold is refused here, not accepted and then left out of them.
      ['1e200', ev({ value: 1e200 }), 'value: 1e+200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      ['just above 1e100', ev({ value: 1.0000000000000002e100 }), 'value: 1.0000000000000002e+100 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      ['-1e101', ev({ value: -1e101 }), 'value: -1e+101 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      ['Number.MAX_VALUE', ev({ value: Number.MAX_VALUE }), 'value: 1.7976931348623157e+308 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      ['1e-101', ev({ value: 1e-101 }), 'value: 1e-101 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
      ['-5e-324', ev({ value: -Number.MIN_VALUE }), 'value: -5e-324 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
    ])('rejects a value that is %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });
  });

  describe('type', () => {
    it.each([
      ['the default count when absent', undefined, 'count'],
      ['count', 'count', 'count'],
      ['gauge', 'gauge', 'gauge'],
      ['distribution', 'distribution', 'distribution'],
    ])('accepts %s', (_label, type, expected) => {
      // Prepare
      const input = type === undefined ? ev() : ev({ type });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.type).toBe(expected);
    });

    it.each([
      ['an unknown string', ev({ type: 'histogram' }), 'type: must be one of count, gauge, distribution, got "histogram"'],
      ['wrong case', ev({ type: 'Count' }), 'type: must be one of count, gauge, distribution, got "Count"'],
      ['empty', ev({ type: '' }), 'type: must be one of count, gauge, distribution, got ""'],
      [
        'a long string, clipped',
        ev({ type: 'g'.repeat(50) }),
        `type: must be one of count, gauge, distribution, got "${'g'.repeat(40)}…"`,
      ],
      ['a number', ev({ type: 1 }), 'type: expected a string, got number'],
      ['null', ev({ type: null }), 'type: expected a string, got null'],
      ['an array', ev({ type: ['count'] }), 'type: expected a string, got array'],
    ])('rejects a type that is %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });
  });

  describe('tags', () => {
    function manyTags(n: number): Record<string, string> {
      const t: Record<string, string> = {};
      for (let i = 0; i < n; i++) t[`k${i}`] = `v${i}`;
      return t;
    }

    it.each([
      ['no tags (absent)', undefined, {}],
      ['an empty object', {}, {}],
      ['32 tags', manyTags(32), manyTags(32)],
      ['a 100-char key', { ['k'.repeat(100)]: 'v' }, { ['k'.repeat(100)]: 'v' }],
      ['a 100-emoji key (100 code points)', { [EMOJI.repeat(100)]: 'v' }, { [EMOJI.repeat(100)]: 'v' }],
      ['a 200-char value', { env: 'v'.repeat(200) }, { env: 'v'.repeat(200) }],
      ['a 200-emoji value (200 code points, 400 UTF-16 units)', { env: EMOJI.repeat(200) }, { env: EMOJI.repeat(200) }],
      ['an empty value', { env: '' }, { env: '' }],
      ['unicode keys and values', { 'région': 'Île-de-France', 'ключ': '值' }, { 'région': 'Île-de-France', 'ключ': '值' }],
      // Every one of these can be filtered on (functions/query/params.ts).
      [
        'values with "#", ",", ":", "%XX", "\\", "/", ".." and spaces',
        { a: 'x#y', b: 'a,b', c: 'http://h:1/p', d: '%2F%00', e: 'C:\\tmp', f: '../..', g: ' sp ace ' },
        { a: 'x#y', b: 'a,b', c: 'http://h:1/p', d: '%2F%00', e: 'C:\\tmp', f: '../..', g: ' sp ace ' },
      ],
      ['keys with "#", ".", "/", "%" and "\\"', { 'k#1': 'v', '.': 'v', 'a/b': 'v', '%41': 'v', 'x\\y': 'v' }, { 'k#1': 'v', '.': 'v', 'a/b': 'v', '%41': 'v', 'x\\y': 'v' }],
    ])('accepts %s', (_label, tags, expected) => {
      // Prepare
      const input = tags === undefined ? ev() : ev({ tags });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.tags).toStrictEqual(expected);
    });

    it.each([
      ['33 tags', ev({ tags: manyTags(33) }), 'tags: more than 32 tags'],
      [
        'a 101-char key',
        ev({ tags: { ['k'.repeat(101)]: 'v' } }),
        `tags: key "${'k'.repeat(40)}…" longer than 100 chars`,
      ],
      [
        'a 101-emoji key',
        ev({ tags: { [EMOJI.repeat(101)]: 'v' } }),
        `tags: key "${EMOJI.repeat(20)}…" longer than 100 chars`,
      ],
      ['a 201-char value', ev({ tags: { env: 'v'.repeat(201) } }), 'tags.env: value longer than 200 chars'],
      ['a 201-emoji value', ev({ tags: { env: EMOJI.repeat(201) } }), 'tags.env: value longer than 200 chars'],
      [
        'a 201-char value under a non-simple key',
        ev({ tags: { 'my key': 'v'.repeat(201) } }),
        'tags."my key": value longer than 200 chars',
      ],
      ['an empty key', ev({ tags: { '': 'v' } }), 'tags: empty key'],
      ['a key with ":"', ev({ tags: { 'a:b': 'v' } }), 'tags: key "a:b" contains ":" (not allowed in a tag key: it ends the key in filter=key:value)'],
      ['a key with ","', ev({ tags: { 'a,b': 'v' } }), 'tags: key "a,b" contains "," (not allowed in a tag key: it separates the items of filter and by)'],
      ['a key with a newline', ev({ tags: { 'a\nb': 'v' } }), 'tags: key "a\\nb" contains control character U+000A at position 1'],
      ['a key with DEL', ev({ tags: { 'a\u007f': 'v' } }), 'tags: key "a\\u007f" contains control character U+007F at position 1'],
      ['a key with a lone surrogate', ev({ tags: { '\udc00': 'v' } }), 'tags: key "\\udc00" contains an unpaired surrogate U+DC00 at position 0'],
      ['a value with NUL', ev({ tags: { env: 'a\u0000' } }), 'tags.env: value contains control character U+0000 at position 1'],
      ['a value with a tab', ev({ tags: { env: '\tx' } }), 'tags.env: value contains control character U+0009 at position 0'],
      ['a value with a C1 control', ev({ tags: { env: 'x\u0085' } }), 'tags.env: value contains control character U+0085 at position 1'],
      ['a value with a lone surrogate', ev({ tags: { env: `${EMOJI}\ud800` } }), 'tags.env: value contains an unpaired surrogate U+D800 at position 2'],
      ['a number value', ev({ tags: { env: 1 } }), 'tags.env: expected a string, got number'],
      ['a null value', ev({ tags: { env: null } }), 'tags.env: expected a string, got null'],
      ['an object value', ev({ tags: { env: { a: 'b' } } }), 'tags.env: expected a string, got object'],
      ['an array value', ev({ tags: { env: ['a'] } }), 'tags.env: expected a string, got array'],
      ['an array', ev({ tags: ['env', 'prod'] }), 'tags: expected an object of string to string, got array'],
      ['a string', ev({ tags: 'env:prod' }), 'tags: expected an object of string to string, got string'],
      ['null', ev({ tags: null }), 'tags: expected an object of string to string, got null'],
      [
        'an own __proto__ key',
        JSON.parse(`{"name":"a","ts":${NOW},"tags":{"__proto__":"x"}}`),
        'tags: key "__proto__" is not allowed',
      ],
      [
        'an own __proto__ key with an object value',
        JSON.parse(`{"name":"a","ts":${NOW},"tags":{"env":"prod","__proto__":{"polluted":"yes"}}}`),
        'tags: key "__proto__" is not allowed',
      ],
      [
        'a constructor key',
        JSON.parse(`{"name":"a","ts":${NOW},"tags":{"constructor":"x"}}`),
        'tags: key "constructor" is not allowed',
      ],
      [
        'a prototype key',
        JSON.parse(`{"name":"a","ts":${NOW},"tags":{"prototype":"x"}}`),
        'tags: key "prototype" is not allowed',
      ],
    ])('rejects tags with %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });

    it('leaves Object.prototype untouched by a __proto__ tag', () => {
      // Prepare
      const input = JSON.parse(`{"name":"a","ts":${NOW},"tags":{"__proto__":{"polluted":"yes"}}}`);
      // Act
      validateEvent(input, STAMPED);
      // Assess
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('id', () => {
    it.each([
      ['1 char', 'x'],
      ['64 chars', 'i'.repeat(64)],
      ['64 emoji (64 code points)', EMOJI.repeat(64)],
      ['a UUID', '3f2b8f6e-0c1d-4a53-9d8e-6b7c2f1a0e9d'],
    ])('accepts an id of %s', (_label, id) => {
      // Prepare
      const input = ev({ id });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.id).toBe(id);
    });

    it.each([
      ['65 chars', ev({ id: 'i'.repeat(65) }), 'id: longer than 64 chars'],
      ['65 emoji', ev({ id: EMOJI.repeat(65) }), 'id: longer than 64 chars'],
      ['empty', ev({ id: '' }), 'id: empty; omit it or send 1-64 chars'],
      ['a number', ev({ id: 123 }), 'id: expected a string, got number'],
      ['null', ev({ id: null }), 'id: expected a string, got null'],
      ['an object', ev({ id: { v: 1 } }), 'id: expected a string, got object'],
    ])('rejects an id of %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });
  });

  describe('attrs', () => {
    /** attrs of exactly `bytes` bytes serialized, padded with `pad` (1 or 2 UTF-8 bytes). */
    function attrsOfBytes(bytes: number, pad: 'x' | 'é' = 'x'): Record<string, unknown> {
      const overhead = Buffer.byteLength(JSON.stringify({ s: '' }), 'utf8');
      const room = bytes - overhead;
      const unit = Buffer.byteLength(pad, 'utf8');
      const s = pad.repeat(Math.floor(room / unit)) + 'x'.repeat(room % unit);
      const a = { s };
      expect(Buffer.byteLength(JSON.stringify(a), 'utf8')).toBe(bytes);
      return a;
    }

    it.each([
      ['an empty object', {}],
      ['a nested object', { a: { b: [1, 'two', null, true, { c: 3.5 }] } }],
      ['unicode', { note: `héllo ${EMOJI}`, [EMOJI]: 'key' }],
      ['exactly 16384 bytes serialized', attrsOfBytes(16384)],
      ['exactly 16384 bytes serialized of 2-byte chars', attrsOfBytes(16384, 'é')],
      ['32 levels of nesting', nestAttrs(32)],
    ])('accepts %s', (_label, attrs) => {
      // Prepare
      const input = ev({ attrs });
      // Act
      const e = accepted(input);
      // Assess
      expect(e.attrs).toStrictEqual(attrs);
    });

    it.each([
      [
        '16385 bytes serialized',
        ev({ attrs: attrsOfBytes(16385) }),
        'attrs: 16385 bytes serialized, more than the 16384-byte limit',
      ],
      [
        '16385 bytes serialized of 2-byte chars',
        ev({ attrs: attrsOfBytes(16385, 'é') }),
        'attrs: 16385 bytes serialized, more than the 16384-byte limit',
      ],
      ['an array', ev({ attrs: [1, 2] }), 'attrs: expected a JSON object, got array'],
      ['a string', ev({ attrs: '{}' }), 'attrs: expected a JSON object, got string'],
      ['null', ev({ attrs: null }), 'attrs: expected a JSON object, got null'],
      ['a number', ev({ attrs: 1 }), 'attrs: expected a JSON object, got number'],
      [
        'a top-level __proto__ key',
        JSON.parse(`{"name":"a","ts":${NOW},"attrs":{"__proto__":{"x":1}}}`),
        'attrs: key "__proto__" is not allowed',
      ],
      [
        'a nested __proto__ key',
        JSON.parse(`{"name":"a","ts":${NOW},"attrs":{"a":{"b":[{"__proto__":1}]}}}`),
        'attrs.a.b[0]: key "__proto__" is not allowed',
      ],
      [
        'a nested constructor key',
        JSON.parse(`{"name":"a","ts":${NOW},"attrs":{"a":{"constructor":{"prototype":1}}}}`),
        'attrs.a: key "constructor" is not allowed',
      ],
      [
        'a nested prototype key',
        JSON.parse(`{"name":"a","ts":${NOW},"attrs":{"a":{"prototype":1}}}`),
        'attrs.a: key "prototype" is not allowed',
      ],
      [
        '33 levels of nesting',
        ev({ attrs: nestAttrs(33) }),
        `attrs${'.a'.repeat(33)}: nested deeper than 32 levels`,
      ],
      [
        'Infinity from JSON 1e999',
        JSON.parse(`{"name":"a","ts":${NOW},"attrs":{"x":[1,1e999]}}`),
        'attrs.x[1]: must be a finite number, got Infinity',
      ],
      ['NaN', ev({ attrs: { deep: { n: Number.NaN } } }), 'attrs.deep.n: must be a finite number, got NaN'],
      ['undefined inside', ev({ attrs: { u: undefined } }), 'attrs.u: undefined is not a JSON value'],
      ['a function inside', ev({ attrs: { f: () => 1 } }), 'attrs.f: function is not a JSON value'],
      ['a bigint inside', ev({ attrs: { b: 1n } }), 'attrs.b: bigint is not a JSON value'],
      [
        'a non-simple key path',
        ev({ attrs: { 'a b': { c: Number.POSITIVE_INFINITY } } }),
        'attrs."a b".c: must be a finite number, got Infinity',
      ],
    ])('rejects attrs that are %s', (_label, input, reason) => {
      // Prepare: input from the table
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(reason);
    });

    it('rejects very deep attrs quickly and without a stack overflow', () => {
      // Prepare
      const text = `{"name":"a","ts":${NOW},"attrs":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      const input = JSON.parse(text);
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe(`attrs${'.a'.repeat(33)}: nested deeper than 32 levels`);
    });
  });

  describe('check order', () => {
    it('reports the first failing field in contract order', () => {
      // Prepare
      const input = { name: '', ts: 'bad', value: 'x', type: 1, tags: [], id: '', attrs: [] };
      // Act
      const r = reasonOf(input);
      // Assess
      expect(r).toBe('name: empty');
    });

    it('never throws for any single-field value of any JSON type', () => {
      // Prepare
      const values: unknown[] = [null, true, 0, -1, 1.5, '', 'x', [], {}, [1], { a: 1 }, Number.NaN, 1e300];
      const fields = ['tenant', 'name', 'ts', 'value', 'type', 'tags', 'id', 'attrs'];
      // Act + Assess
      for (const f of fields) {
        for (const v of values) {
          for (const opts of [STAMPED, DIRECT]) {
            const r = validateEvent({ tenant: 'acme', ...ev(), [f]: v }, opts);
            expect(typeof r.ok).toBe('boolean');
          }
        }
      }
    });
  });
});
