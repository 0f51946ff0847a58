/**
 * Datadog metric submissions → the event contract's events (README "Point your emitters at
 * streamfold" has the table). Pure; the events go through the one validator and record encoder
 * (../core.ts submitEvents).
 *
 * | Datadog                                  | event                                                   |
 * |------------------------------------------|---------------------------------------------------------|
 * | count (v2 type 1, v1 "count")            | count, value as sent                                    |
 * | rate (v2 type 2, v1 "rate")              | count, value × interval (Datadog's rate is per second   |
 * |                                          | over the interval: the count is their product)          |
 * | gauge (v2 type 3 or 0, v1 "gauge"/none)  | gauge                                                   |
 * | distribution point [ts, [v1, v2, …]]     | one distribution event per value (exact count and sum,  |
 * |                                          | quantiles within the sketch's 1 %)                       |
 *
 * Tags: `key:value` splits at the first `:`; a tag without one keeps its whole text as the key,
 * with an empty value (`filter=mytag:` finds it). One key given several values (`role:a`,
 * `role:b`) keeps them all, sorted and joined with `,` (`role` = `a,b`). The host (v2
 * `resources` of type host, v1 `host`) is the tag `host`; another resource type is a tag of that
 * name; v1 `device` is the tag `device`. Timestamps are epoch seconds. A rate without an
 * interval (or of interval 0) is refused: its count is unknown.
 */
import type { IntakeItem } from '../core.ts';

/** v2 MetricIntakeType. */
export const DD_UNSPECIFIED = 0;
export const DD_COUNT = 1;
export const DD_RATE = 2;
export const DD_GAUGE = 3;

/** The decoded items of a request and each one's metric name (for error messages). */
export interface DecodedSeries {
  readonly items: IntakeItem[];
  readonly metrics: string[];
}

/** Tags of a series: its `key:value` list and its resources (type → name), as the header says. */
export function seriesTags(tags: readonly string[], resources: ReadonlyArray<{ type: string; name: string }>): Record<string, string> {
  const values = new Map<string, string[]>();
  const add = (k: string, v: string) => {
    const list = values.get(k);
    if (list === undefined) values.set(k, [v]);
    else if (!list.includes(v)) list.push(v);
  };
  for (const t of tags) {
    const i = t.indexOf(':');
    if (i < 0) add(t, '');
    else add(t.slice(0, i), t.slice(i + 1));
  }
  for (const r of resources) if (r.type !== '' || r.name !== '') add(r.type, r.name);
  const out: Record<string, string> = {};
  for (const [k, vs] of values) out[k] = vs.length === 1 ? vs[0]! : [...vs].sort().join(',');
  return out;
}

/** One series point as an event (or why not). `type` is the v2 number. */
export function seriesPoint(name: string, type: number, interval: number | undefined, tags: Record<string, string>, timestampS: number, value: number): IntakeItem {
  const ts = timestampS * 1000;
  switch (type) {
    case DD_COUNT:
      return { value: { name, ts, value, type: 'count', tags } };
    case DD_RATE:
      if (interval === undefined || !(interval > 0)) return { parseError: 'rate point without an interval (its count is value × interval): send interval' };
      return { value: { name, ts, value: value * interval, type: 'count', tags } };
    case DD_UNSPECIFIED:
    case DD_GAUGE:
      return { value: { name, ts, value, type: 'gauge', tags } };
    default:
      return { parseError: `type ${type} is not one of 0 (unspecified), 1 (count), 2 (rate), 3 (gauge)` };
  }
}

/** v1 type names as v2 numbers (v1's default is gauge). */
export function v1Type(t: unknown): number | string {
  if (t === undefined || t === null || t === 'gauge') return DD_GAUGE;
  if (t === 'count') return DD_COUNT;
  if (t === 'rate') return DD_RATE;
  return `type ${JSON.stringify(t)} is not one of count, rate, gauge`;
}
