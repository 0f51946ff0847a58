/**
 * Fuzzing of the OTLP protobuf decoder through the route: mutated ExportMetricsServiceRequests
 * (bytes flipped, inserted, deleted, truncated, varints and lengths rewritten, pieces of other
 * bodies spliced in) must each end in a 400 or a 200 (a partial success at worst), never in a
 * throw, a stall, or a record in the stream that a consumer would quarantine (a poison record).
 *
 *   OTLP_FUZZ_BODIES=100000 npx vitest run test/unit/intake.otlp.fuzz.test.ts    more bodies
 */
import { ValueType } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { route } from '../../functions/intake/app.ts';
import type { IntakeDeps } from '../../functions/intake/core.ts';
import { decodeEvents } from '../../functions/shared/codec.ts';
import { consumerMaxAgeMs } from '../../functions/shared/event.ts';
import type { PutRecord, PutResult, RecordSink } from '../../functions/shared/put-records.ts';
import { Rng } from '../../local/fixtures.ts';

const BODIES = Number(process.env.OTLP_FUZZ_BODIES ?? 10_000);
const T = Date.parse('2026-11-28T12:00:00Z');
const MAX_AGE = 400 * 86_400_000;

function seed(temporality: AggregationTemporality, n: number): Uint8Array {
  const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  const p = <V>(value: V, attributes: Record<string, string | number | boolean> = {}) => ({ startTime: hr(T - 60_000), endTime: hr(T - n * 1000), attributes, value });
  const md = (name: string) => ({ name, description: 'd', unit: 'ms', valueType: ValueType.DOUBLE });
  const rm: ResourceMetrics = {
    resource: resourceFromAttributes({ 'service.name': `svc-${n}`, 'host.name': 'h', 'k8s.pod.uid': 'a-b-c', replicas: 3, ratio: 0.5, on: true }),
    scopeMetrics: [
      {
        scope: { name: 'fuzz', version: '1' },
        metrics: [
          { descriptor: md('f.requests'), aggregationTemporality: temporality, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: [p(n + 1, { route: '/a' }), p(2, { route: '/b' })] },
          { descriptor: md('f.gauge'), aggregationTemporality: temporality, dataPointType: DataPointType.GAUGE, dataPoints: [p(-1.25)] },
          { descriptor: md('f.updown'), aggregationTemporality: temporality, dataPointType: DataPointType.SUM, isMonotonic: false, dataPoints: [p(4)] },
          { descriptor: md('f.latency'), aggregationTemporality: temporality, dataPointType: DataPointType.HISTOGRAM, dataPoints: [p({ buckets: { boundaries: [1, 10, 100], counts: [1, 0, 2, 1] }, sum: 250, count: 4, min: 0.5, max: 150 })] },
          { descriptor: md('f.size'), aggregationTemporality: temporality, dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM, dataPoints: [p({ count: 3, sum: 9, scale: 3, zeroCount: 1, positive: { offset: 8, bucketCounts: [1, 1] }, negative: { offset: 0, bucketCounts: [] }, min: 0, max: 5 })] },
        ],
      },
    ],
  };
  return ProtobufMetricsSerializer.serializeRequest(rm)!;
}

function mutate(rng: Rng, body: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  let b = Array.from(body);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(Math.max(1, b.length));
    switch (rng.int(8)) {
      case 0: // flip bits
        b[at] = (b[at]! ^ (1 << rng.int(8))) & 0xff;
        break;
      case 1: // random byte
        b[at] = rng.int(256);
        break;
      case 2: // insert
        b.splice(at, 0, ...Array.from({ length: 1 + rng.int(4) }, () => rng.int(256)));
        break;
      case 3: // delete
        b.splice(at, 1 + rng.int(8));
        break;
      case 4: // truncate
        b = b.slice(0, at);
        break;
      case 5: // a huge or long varint (a length field, say)
        b.splice(at, 1, ...rng.pick([[0xff, 0xff, 0xff, 0xff, 0x0f], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0x00], [0x7f]]));
        break;
      case 6: {
        // splice in a piece of another body
        const o = rng.pick(others);
        const from = rng.int(o.length);
        b.splice(at, 0, ...o.subarray(from, from + 1 + rng.int(40)));
        break;
      }
      default: // duplicate a run (repeated fields, nested copies)
        b.splice(at, 0, ...b.slice(at, at + 1 + rng.int(30)));
    }
  }
  return Uint8Array.from(b);
}

class CheckingSink implements RecordSink {
  poison: string[] = [];
  events = 0;
  async putRecords(records: readonly PutRecord[]): Promise<PutResult[]> {
    for (const r of records) {
      // What the rollup and the archive would make of it.
      const d = decodeEvents(r.data, { shardId: 's', sequenceNumber: '1' }, { now: T, maxAgeMs: consumerMaxAgeMs(MAX_AGE) });
      this.events += d.events.length;
      for (const rej of d.rejected) this.poison.push(rej.message);
    }
    return records.map(() => ({ ok: true }));
  }
}

describe('Fuzz: the OTLP protobuf decoder', () => {
  it(`answers ${BODIES} mutated bodies with 400 or 200, never a throw, a stall or a poison record`, { timeout: Math.max(120_000, BODIES * 20) }, async () => {
    // Prepare
    const rng = new Rng(20261202);
    const seeds = [seed(AggregationTemporality.CUMULATIVE, 1), seed(AggregationTemporality.DELTA, 2), seed(AggregationTemporality.CUMULATIVE, 3)];
    const sink = new CheckingSink();
    const deps: IntakeDeps = { auth: { authenticate: async () => ({ tenant: 'acme', keyId: 'k', scopes: ['write'], createdAt: '' }) }, sink, idempotency: undefined as never, now: () => T, sleep: async () => undefined, random: () => 0.5, maxAgeMs: MAX_AGE };
    const statuses = new Map<number, number>();
    let slowest = 0;
    const failures: string[] = [];

    // Act
    for (let i = 0; i < BODIES; i++) {
      const body = mutate(rng, rng.pick(seeds), seeds);
      const started = performance.now();
      try {
        const res = await route('POST /v1/metrics', { headers: { 'x-api-key': 'k', 'content-type': 'application/x-protobuf' }, body, remainingMs: () => 10_000 }, deps);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode !== 200 && res.statusCode !== 400) failures.push(`body ${i}: status ${res.statusCode} ${res.body}`);
      } catch (err) {
        failures.push(`body ${i}: threw ${(err as Error).stack}`);
      }
      slowest = Math.max(slowest, performance.now() - started);
    }

    // Assess
    expect(failures.slice(0, 5)).toEqual([]);
    expect(sink.poison.slice(0, 5)).toEqual([]);
    expect(slowest).toBeLessThan(1_000);
    // The mutations reached both outcomes, and events did reach the stream.
    expect(statuses.get(200)).toBeGreaterThan(BODIES / 20);
    expect(statuses.get(400)).toBeGreaterThan(BODIES / 20);
    expect(sink.events).toBeGreaterThan(0);
  });
});
