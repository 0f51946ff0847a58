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
  splitList,
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

describe('Function: parseMetricName', () => {
  it.each([
    ['../other', 'metric: ".." path segment at position 0 is not allowed (a name must be a safe path)'],
    ['a/../b', 'metric: ".." path segment at position 2 is not allowed (a name must be a safe path)'],
    ['a/.', 'metric: "." path segment at position 2 is not allowed (a name must be a safe path)'],
    ['/a', 'metric: empty path segment at position 0 (a leading, trailing or doubled "/" is not allowed)'],
    ['a%2Fb', 'metric: invalid character "%" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
    ['cpu#idx', 'metric: invalid character "#" at position 3 (allowed: A-Z a-z 0-9 _ . : / -)'],
    ['a\u0000b', 'metric: invalid character "\\u0000" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
    ['lätenz', 'metric: invalid character "ä" at position 1 (allowed: A-Z a-z 0-9 _ . : / -)'],
  ])('refuses %j with the event contract rule', (raw, message) => {
    expect(error400(() => parseMetricName('metric', raw))).toBe(message);
  });

  it('accepts every name the intake accepts, "/" and dotted segments included', () => {
    expect(error400(() => parseMetricName('metric', undefined))).toBe('metric: required (a metric name)');
    for (const name of ['http.server/requests:total', 'a/b/c', '.hidden/x', 'x..y', 'a.../b', '-_.:']) expect(parseMetricName('metric', name)).toBe(name);
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

  it('finds every tag value the intake accepts: "#", ":", "%XX", "/", spaces, unicode, an empty value, and "," and "\\" escaped', () => {
    // Act & Assess (the query string is percent-decoded before this: %2C is a "," here, not an escape)
    expect(parseFilter('id:a#b,url:http://x:8080/p?q=1,pct:%2e%2e%2F,path:../..,sp:a b,uni:ｓ€😀,empty:')).toEqual([
      { key: 'id', value: 'a#b' },
      { key: 'url', value: 'http://x:8080/p?q=1' },
      { key: 'pct', value: '%2e%2e%2F' },
      { key: 'path', value: '../..' },
      { key: 'sp', value: 'a b' },
      { key: 'uni', value: 'ｓ€😀' },
      { key: 'empty', value: '' },
    ]);
    // filter=list:a\,b\,c,back:C:\\temp\\,both:\\\,
    expect(parseFilter('list:a\\,b\\,c,back:C:\\\\temp\\\\,both:\\\\\\,')).toEqual([
      { key: 'list', value: 'a,b,c' },
      { key: 'back', value: 'C:\\temp\\' },
      { key: 'both', value: '\\,' },
    ]);
    expect(parseFilter('k#1:v,k.2/x:v,ключ:v')).toEqual([
      { key: 'k#1', value: 'v' },
      { key: 'k.2/x', value: 'v' },
      { key: 'ключ', value: 'v' },
    ]);
  });

  it.each([
    ['env', 'filter: "env" is not key:value (e.g. filter=env:prod,service:api)'],
    [':prod', 'filter: empty tag key'],
    ['env:a,env:b', 'filter: tag key "env" given twice'],
    ['env:a\u0007b', 'filter: tag value "a\\u0007b" contains control character U+0007 at position 1'],
    ['env:a\u0085', 'filter: tag value "a\\u0085" contains control character U+0085 at position 1'],
    ['e\nv:a', 'filter: tag key "e\\nv" contains control character U+000A at position 1'],
    ['env:\ud800', 'filter: tag value "\\ud800" contains an unpaired surrogate U+D800 at position 0'],
    ['env:a\\b', 'filter: "\\" at position 5 must be followed by "," or "\\" (write \\, for a comma and \\\\ for a backslash in a tag value)'],
    ['env:a\\', 'filter: "\\" at position 5 must be followed by "," or "\\" (write \\, for a comma and \\\\ for a backslash in a tag value)'],
    [`env:${'v'.repeat(201)}`, `filter: tag value "${'v'.repeat(40)}…" longer than 200 chars`],
  ])('refuses %j', (raw, message) => {
    expect(error400(() => parseFilter(raw))).toBe(message);
  });

  it('splits lists on unescaped commas only', () => {
    expect(splitList('filter', 'a\\,b,c\\\\,d')).toEqual(['a,b', 'c\\', 'd']);
    expect(splitList('by', '')).toEqual(['']);
  });

  it('checks group-by keys by the intake rule', () => {
    expect(parseGroupBy('host,region')).toEqual(['host', 'region']);
    expect(parseGroupBy('k#1,dir\\\\x')).toEqual(['k#1', 'dir\\x']);
    expect(error400(() => parseGroupBy('host,host'))).toBe('by: a tag key is given twice');
    expect(error400(() => parseGroupBy('a,b,c,d,e'))).toBe('by: more than 4 tag keys');
    expect(error400(() => parseGroupBy('host,'))).toBe('by: empty tag key');
    expect(error400(() => parseGroupBy('h\nx'))).toBe('by: tag key "h\\nx" contains control character U+000A at position 1');
    expect(error400(() => parseGroupBy('a:b'))).toBe('by: tag key "a:b" contains ":" (not allowed in a tag key: it ends the key in filter=key:value)');
    expect(error400(() => parseGroupBy('a\\,b'))).toBe('by: tag key "a,b" contains "," (not allowed in a tag key: it separates the items of filter and by)');
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
