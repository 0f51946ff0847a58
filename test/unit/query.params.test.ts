import { describe, expect, it } from 'vitest';
import { error400 } from './support/query.ts';
import {
  autoInterval,
  parseFilter,
  parseGroupBy,
  parseMetricName,
  parseQueryParams,
  parseTime,
  pointCount,
  unsafeReason,
} from '../../functions/query/params.ts';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);


describe('Function: parseTime', () => {
  it('reads epoch ms and RFC 3339 with offsets and fractions', () => {
    // Act & Assess
    expect(parseTime('from', '1795867200000')).toBe(1795867200000);
    expect(parseTime('from', '2026-11-28T12:00:00Z')).toBe(NOW);
    expect(parseTime('from', '2026-11-28T13:30:00.250+01:30')).toBe(NOW + 250);
    expect(parseTime('to', '2026-11-28 12:00:00z')).toBe(NOW);
  });

  it.each([
    ['yesterday', 'from: "yesterday" is neither epoch milliseconds nor an RFC 3339 date-time (e.g. 2026-11-28T01:02:03Z)'],
    ['1795867200', 'from: 1795867200 is before 2000-01-01T00:00:00Z; give epoch milliseconds (not seconds) or RFC 3339'],
    ['2026-02-30T00:00:00Z', 'from: "2026-02-30T00:00:00Z" is not a valid date-time'],
    ['-5', 'from: "-5" is neither epoch milliseconds nor an RFC 3339 date-time (e.g. 2026-11-28T01:02:03Z)'],
    ['9999999999999999', 'from: 9999999999999999 is out of range'],
  ])('refuses %s', (raw, message) => {
    expect(error400(() => parseTime('from', raw))).toBe(message);
  });
});

describe('Function: unsafeReason / parseMetricName', () => {
  it.each([
    ['../other#metrics', '"#" is not allowed'],
    ['a/../b', '"." and ".." path segments are not allowed'],
    ['a%2Fb', 'percent-escapes (e.g. "%2F") are not allowed'],
    ['a\u0000b', 'control character U+0000 at position 1'],
    ['a\u0085', 'control character U+0085 at position 1'],
  ])('flags %j', (s, reason) => {
    expect(unsafeReason(s)).toBe(reason);
  });

  it('names the parameter and the event contract rule', () => {
    expect(error400(() => parseMetricName('metric', undefined))).toBe('metric: required (a metric name)');
    expect(error400(() => parseMetricName('metric', '../x'))).toBe('metric: "." and ".." path segments are not allowed');
    expect(error400(() => parseMetricName('name', 'cpu#idx'))).toBe('name: "#" is not allowed');
    expect(error400(() => parseMetricName('metric', 'lätenz'))).toBe('metric: invalid character "ä" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)');
    expect(parseMetricName('metric', 'http.server/requests:total')).toBe('http.server/requests:total');
  });
});

describe('Function: parseFilter / parseGroupBy', () => {
  it('splits key:value pairs on the first colon', () => {
    expect(parseFilter('env:prod,url:http://x')).toEqual([
      { key: 'env', value: 'prod' },
      { key: 'url', value: 'http://x' },
    ]);
    expect(parseFilter(undefined)).toEqual([]);
  });

  it.each([
    ['env', 'filter: "env" is not key:value (e.g. filter=env:prod,service:api)'],
    ['env:', 'filter: empty tag value'],
    [':prod', 'filter: empty tag key'],
    ['env:a#b', 'filter: tag value "a#b": "#" is not allowed'],
    ['env:a,env:b', 'filter: tag key "env" given twice'],
    ['env:%2e%2e', 'filter: tag value "%2e%2e": percent-escapes (e.g. "%2F") are not allowed'],
  ])('refuses %j', (raw, message) => {
    expect(error400(() => parseFilter(raw))).toBe(message);
  });

  it('checks group-by keys', () => {
    expect(parseGroupBy('host,region')).toEqual(['host', 'region']);
    expect(error400(() => parseGroupBy('host,host'))).toBe('by: a tag key is given twice');
    expect(error400(() => parseGroupBy('a,b,c,d,e'))).toBe('by: more than 4 tag keys');
    expect(error400(() => parseGroupBy('h\nx'))).toBe(`by: tag key ${JSON.stringify('h\nx')}: control character U+000A at position 1`);
  });
});

describe('Function: parseQueryParams', () => {
  it('applies defaults: last hour, avg, finest interval', () => {
    // Act
    const p = parseQueryParams({ metric: 'cpu' }, NOW);

    // Assess
    expect(p).toEqual({ metric: 'cpu', from: NOW - 3_600_000, to: NOW, agg: 'avg', interval: 60, filter: [], by: [] });
  });

  it('chooses the interval from the range (at most 1500 points)', () => {
    expect(autoInterval(NOW - 1500 * 60_000, NOW)).toBe(60);
    expect(autoInterval(NOW - 1501 * 60_000, NOW)).toBe(3600);
    expect(autoInterval(NOW - 60 * 86_400_000, NOW)).toBe(3600);
    expect(autoInterval(NOW - 63 * 86_400_000, NOW)).toBe(86400);
    expect(pointCount(NOW + 30_000, NOW + 90_000, 60)).toBe(2);
  });

  it.each([
    [{ metric: 'cpu', agg: 'median' }, 'agg: must be one of sum, avg, min, max, count, last, p50, p90, p95, p99, got "median"'],
    [{ metric: 'cpu', interval: '300' }, 'interval: must be 60, 3600 or 86400 (seconds), got "300"'],
    [{ metric: 'cpu', interval: '60', from: String(NOW - 2 * 86_400_000) }, 'interval: 60 s over this range is 2880 points, more than 1500; use a larger interval or a shorter range'],
    [{ metric: 'cpu', from: '2000-01-01T00:00:00Z' }, 'range too large: 9829 days is more than 1500 points even at interval=86400; narrow from/to'],
    [{ metric: 'cpu', from: String(NOW), to: String(NOW) }, 'from must be before to (from=2026-11-28T12:00:00.000Z, to=2026-11-28T12:00:00.000Z)'],
    [{ metric: 'cpu', tenant: 'globex' }, 'unknown parameter "tenant" (allowed: metric, from, to, agg, interval, filter, by)'],
    [{}, 'metric: required (a metric name)'],
  ])('refuses %j', (q, message) => {
    expect(error400(() => parseQueryParams(q as Record<string, string>, NOW))).toBe(message);
  });
});
