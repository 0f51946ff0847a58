import { describe, expect, it } from 'vitest';
import { decodeEvents, serializeEvent } from '../../functions/shared/codec.ts';
import { clientTags, LIMITS, START_TAG, validateEvent, type StreamEvent, type ValidateOptions } from '../../functions/shared/event.ts';
import { addAggToSketch, aggMinMax, explicitRepresentative } from '../../functions/shared/rollups/histogram.ts';
import { Sketch } from '../../functions/shared/rollups/sketch.ts';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
const STAMPED: ValidateOptions = { now: NOW, tenant: 'acme' };

type Row = [label: string, input: Record<string, unknown>, reason: string];

const dist = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'http.duration', ts: NOW, type: 'distribution', ...over });

function reasonOf(input: unknown): string {
  const r = validateEvent(input, STAMPED);
  if (r.ok) throw new Error(`expected a rejection, got ${JSON.stringify(r.event)}`);
  return r.reason;
}

function accepted(input: unknown): StreamEvent {
  const r = validateEvent(input, STAMPED);
  if (!r.ok) throw new Error(`expected acceptance, got: ${r.reason}`);
  return r.event;
}

describe('Function: validateEvent (agg and start)', () => {
  it('accepts a pre-aggregated point with explicit buckets; its value is its sum', () => {
    // Prepare
    const input = dist({ agg: { count: 3, sum: 12.5, min: 1, max: 9, buckets: { bounds: [1, 5], counts: [1, 1, 1] } } });

    // Act
    const e = accepted(input);

    // Assess
    expect(e).toEqual({ tenant: 'acme', name: 'http.duration', ts: NOW, value: 12.5, type: 'distribution', tags: {}, agg: { count: 3, sum: 12.5, min: 1, max: 9, buckets: { bounds: [1, 5], counts: [1, 1, 1] } } });
  });

  it('accepts exponential buckets and an agg of no buckets', () => {
    // Prepare, Act
    const exp = accepted(dist({ agg: { count: 4, sum: 10, buckets: { scale: 2, zeroCount: 1, positive: { offset: -1, counts: [1, 2] } } } }));
    const bare = accepted(dist({ agg: { count: 2, sum: 7 } }));

    // Assess
    expect(exp.agg).toEqual({ count: 4, sum: 10, buckets: { scale: 2, zeroCount: 1, positive: { offset: -1, counts: [1, 2] } } });
    expect(bare.agg).toEqual({ count: 2, sum: 7 });
  });

  it.each<Row>([
    ['agg on a count', { name: 'x', ts: NOW, agg: { count: 1, sum: 1 } }, 'agg: only for type distribution (this event is a count)'],
    ['agg beside a value', dist({ value: 3, agg: { count: 1, sum: 1 } }), "value: must be absent when agg is given (the point's sum is agg.sum)"],
    ['agg not an object', dist({ agg: [1] }), 'agg: expected an object { count, sum, min?, max?, buckets? }, got array'],
    ['unknown agg field', dist({ agg: { count: 1, sum: 1, avg: 1 } }), 'agg.avg: unknown field (allowed: count, sum, min, max, buckets)'],
    ['count missing', dist({ agg: { sum: 1 } }), 'agg.count: required'],
    ['count fractional', dist({ agg: { count: 1.5, sum: 1 } }), 'agg.count: must be an integer >= 0, got 1.5'],
    ['count too large', dist({ agg: { count: 2e12, sum: 1 } }), `agg.count: 2000000000000 is more than ${LIMITS.aggCountMax}`],
    ['sum missing', dist({ agg: { count: 1 } }), 'agg.sum: required'],
    ['sum out of range', dist({ agg: { count: 1, sum: 1e200 } }), 'agg.sum: 1e+200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)'],
    ['min above max', dist({ agg: { count: 2, sum: 3, min: 5, max: 1 } }), 'agg: min 5 is greater than max 1'],
    ['empty with a sum', dist({ agg: { count: 0, sum: 3 } }), 'agg.sum: 3 with count 0 (an empty point sums to 0)'],
    ['bounds descending', dist({ agg: { count: 1, sum: 1, buckets: { bounds: [5, 1], counts: [0, 1, 0] } } }), 'agg.buckets.bounds[1]: 1 is not greater than the bound before it (bounds must ascend)'],
    ['counts one short', dist({ agg: { count: 1, sum: 1, buckets: { bounds: [1, 5], counts: [0, 1] } } }), 'agg.buckets.counts: 2 counts for 2 bounds (expected 3: one more than bounds)'],
    ['counts not summing to count', dist({ agg: { count: 5, sum: 1, buckets: { bounds: [1], counts: [1, 1] } } }), 'agg.buckets.counts: they sum to 2, but agg.count is 5'],
    ['a negative count', dist({ agg: { count: 1, sum: 1, buckets: { bounds: [1], counts: [2, -1] } } }), 'agg.buckets.counts[1]: must be an integer >= 0, got -1'],
    ['too many bounds', dist({ agg: { count: 0, sum: 0, buckets: { bounds: Array.from({ length: 257 }, (_, i) => i), counts: new Array(258).fill(0) } } }), 'agg.buckets.bounds: 257 bounds, more than 256'],
    ['scale out of range', dist({ agg: { count: 1, sum: 1, buckets: { scale: 21, zeroCount: 1 } } }), 'agg.buckets.scale: must be an integer from -10 to 20, got 21'],
    ['exponential not summing', dist({ agg: { count: 3, sum: 1, buckets: { scale: 0, zeroCount: 1, positive: { offset: 0, counts: [1] } } } }), 'agg.buckets: zeroCount and the bucket counts sum to 2, but agg.count is 3'],
    ['exponential bucket out of range', dist({ agg: { count: 1, sum: 1, buckets: { scale: 0, zeroCount: 0, positive: { offset: 400, counts: [1] } } } }), 'agg.buckets.positive.counts[0]: bucket (2.5822498780869086e+120, 5.164499756173817e+120] is outside what rollups hold (1e-100 to 1e100 in magnitude)'],
    ['start on a gauge', { name: 'x', ts: NOW, type: 'gauge', value: 1, start: NOW - 1000 }, 'start: a gauge has no start (only cumulative count and distribution points do)'],
    ['start on a plain distribution', dist({ value: 1, start: NOW - 1000 }), 'start: a cumulative distribution point needs agg (its histogram since start)'],
    ['start after ts', { name: 'x', ts: NOW, value: 1, start: NOW + 1 }, 'start: 2026-11-28T12:00:00.001Z is after ts 2026-11-28T12:00:00.000Z'],
    ['start in seconds', { name: 'x', ts: NOW, value: 1, start: 1_700_000_000 }, 'start: 1700000000 is before 2000-01-01T00:00:00Z; ts is epoch milliseconds (was it sent in seconds?)'],
    ['a negative total', { name: 'x', ts: NOW, value: -1, start: NOW - 1000 }, 'value: a cumulative count (with start) is a total, never negative, got -1'],
    ['a reserved tag', { name: 'x', ts: NOW, tags: { _sf_start: '1' } }, 'tags: key "_sf_start" is reserved (keys starting with _sf_ are set by streamfold; a cumulative point\'s start goes in start)'],
  ])('refuses %s', (_label, input, reason) => {
    // Act, Assess
    expect(reasonOf(input)).toBe(reason);
  });

  it('puts a cumulative point\'s start in the reserved tag, as epoch ms; RFC 3339 accepted', () => {
    // Prepare
    const input = { name: 'requests', ts: NOW, value: 42, start: '2026-11-28T11:00:00Z', tags: { host: 'a' } };

    // Act
    const e = accepted(input);

    // Assess
    expect(e.start).toBe(NOW - 3_600_000);
    expect(e.tags).toEqual({ host: 'a', [START_TAG]: String(NOW - 3_600_000) });
    expect(clientTags(e.tags)).toEqual({ host: 'a' });
  });

  it('round-trips through the stream: the line carries start and agg, no value and no reserved tag', () => {
    // Prepare
    const e = accepted(dist({ start: NOW - 60_000, agg: { count: 2, sum: 3, buckets: { bounds: [1], counts: [1, 1] } }, tags: { host: 'a' } }));

    // Act
    const line = serializeEvent(e);
    const back = decodeEvents(Buffer.from(line), { shardId: 's', sequenceNumber: '1' }, { now: NOW });

    // Assess
    expect(JSON.parse(line)).toEqual({ tenant: 'acme', name: 'http.duration', ts: NOW, type: 'distribution', tags: { host: 'a' }, start: NOW - 60_000, agg: { count: 2, sum: 3, buckets: { bounds: [1], counts: [1, 1] } } });
    expect(back.rejected).toEqual([]);
    expect(back.events[0]!.event).toEqual(e);
  });
});

describe('Function: addAggToSketch', () => {
  it('puts each explicit bucket at the middle of the bucket clamped to [min, max]', () => {
    // Prepare
    const bounds = [10, 20, 40];

    // Act, Assess
    expect(explicitRepresentative(bounds, 0, 4, 100)).toBe(7); // (4, 10]
    expect(explicitRepresentative(bounds, 1, 4, 100)).toBe(15); // (10, 20]
    expect(explicitRepresentative(bounds, 2, 4, 30)).toBe(25); // (20, 30] after clamping to max
    expect(explicitRepresentative(bounds, 3, 4, 100)).toBe(70); // (40, 100]
  });

  it('min and max: the point\'s, else the outermost bounds of the non-empty buckets', () => {
    // Act, Assess
    expect(aggMinMax({ count: 2, sum: 30, buckets: { bounds: [10, 20, 40], counts: [0, 1, 1, 0] } })).toEqual({ min: 10, max: 40 });
    expect(aggMinMax({ count: 2, sum: 90, buckets: { bounds: [10, 20, 40], counts: [1, 0, 0, 1] } })).toEqual({ min: 10, max: 40 });
    expect(aggMinMax({ count: 2, sum: 30, min: 12, buckets: { bounds: [10, 20, 40], counts: [0, 1, 1, 0] } })).toEqual({ min: 12, max: 40 });
    expect(aggMinMax({ count: 4, sum: 10 })).toEqual({ min: 2.5, max: 2.5 });
    expect(aggMinMax({ count: 3, sum: 6, buckets: { scale: 0, zeroCount: 1, positive: { offset: 1, counts: [2] } } })).toEqual({ min: 0, max: 4 });
    expect(aggMinMax({ count: 0, sum: 0 })).toBeUndefined();
  });

  it('quantiles of explicit buckets fall inside their bucket; exponential ones within the bound', () => {
    // Prepare: 100 observations in (10, 20], 100 in (20, 40]; exponential at scale 3.
    const explicit = new Sketch();
    const exponential = new Sketch();

    // Act
    addAggToSketch(explicit, { count: 200, sum: 5000, min: 11, max: 39, buckets: { bounds: [10, 20, 40], counts: [0, 100, 100, 0] } });
    addAggToSketch(exponential, { count: 10, sum: 50, buckets: { scale: 3, zeroCount: 0, positive: { offset: 16, counts: [10] } } });

    // Assess
    expect(explicit.count).toBe(200);
    expect(explicit.quantile(0.25)).toBeGreaterThan(10);
    expect(explicit.quantile(0.25)).toBeLessThanOrEqual(20 * 1.01);
    expect(explicit.quantile(0.75)).toBeGreaterThan(20 * 0.99);
    expect(explicit.quantile(0.75)).toBeLessThanOrEqual(40);
    // Bucket 16 at scale 3 is (2^2, 2^2.125]: any value in it is within max(1 %, 2^0.125 - 1 = 9 %).
    const p50 = exponential.quantile(0.5);
    expect(p50 / 4).toBeGreaterThan(1 - 0.01);
    expect(p50 / 2 ** 2.125).toBeLessThan(1 + 0.01);
  });
});
