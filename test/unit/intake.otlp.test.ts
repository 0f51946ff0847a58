import { gzipSync } from 'node:zlib';
import { ValueType } from '@opentelemetry/api';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { IntakeDeps } from '../../functions/intake/core.ts';
import { route } from '../../functions/intake/app.ts';
import { decodeOtlpJson } from '../../functions/intake/otlp/json.ts';
import { decodeOtlpProto } from '../../functions/intake/otlp/proto.ts';
import { decodeEvents } from '../../functions/shared/codec.ts';
import { ProtoReader, ProtoWriter } from '../../functions/shared/protobuf.ts';
import type { PutRecord, PutResult, RecordSink } from '../../functions/shared/put-records.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';

const T = Date.parse('2026-11-28T12:00:00Z');
/** HrTime of `ms` plus `extraNs` nanoseconds (which the ms conversion floors away). */
const hr = (ms: number, extraNs = 0): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1e6 + extraNs];
const START = T - 60_000;
const RESOURCE = { 'service.name': 'checkout', 'host.name': 'h1', pid: 42, debug: false };
const TAGS = { 'service.name': 'checkout', 'host.name': 'h1', pid: '42', debug: 'false' };

const md = (name: string, valueType = ValueType.DOUBLE) => ({ name, description: '', unit: '', valueType });

/** One ResourceMetrics of every kind the SDK makes, at fixed times, in `temporality`. */
function resourceMetrics(temporality: AggregationTemporality): ResourceMetrics {
  const p = <V>(value: V, attributes: Record<string, string | number | boolean> = {}) => ({ startTime: hr(START, 999), endTime: hr(T, 999_999), attributes, value });
  return {
    resource: resourceFromAttributes(RESOURCE),
    scopeMetrics: [
      {
        scope: { name: 'test', version: '1' },
        metrics: [
          { descriptor: md('requests', ValueType.INT), aggregationTemporality: temporality, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: [p(5, { route: '/a' }), p(1, { route: '/b', ok: true })] },
          { descriptor: md('queue.depth'), aggregationTemporality: temporality, dataPointType: DataPointType.SUM, isMonotonic: false, dataPoints: [p(-3.5)] },
          { descriptor: md('temperature'), aggregationTemporality: temporality, dataPointType: DataPointType.GAUGE, dataPoints: [p(21.25, { room: 'lab' })] },
          {
            descriptor: md('latency'),
            aggregationTemporality: temporality,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: [p({ buckets: { boundaries: [10, 100], counts: [1, 2, 0] }, sum: 95, count: 3, min: 5, max: 60 }, { route: '/a' })],
          },
          {
            descriptor: md('size'),
            aggregationTemporality: temporality,
            dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
            dataPoints: [p({ count: 4, sum: 30, scale: 2, zeroCount: 1, positive: { offset: 8, bucketCounts: [2, 0, 1] }, negative: { offset: 0, bucketCounts: [] }, min: 0, max: 12 })],
          },
        ],
      },
    ],
  };
}

/** The events the mapping must give for resourceMetrics(temporality), before validation. */
function expected(cumulative: boolean): unknown[] {
  const start = cumulative ? { start: START } : {};
  return [
    { name: 'requests', ts: T, value: 5, type: 'count', tags: { ...TAGS, route: '/a' }, ...start },
    { name: 'requests', ts: T, value: 1, type: 'count', tags: { ...TAGS, route: '/b', ok: 'true' }, ...start },
    { name: 'queue.depth', ts: T, value: -3.5, type: 'gauge', tags: TAGS },
    { name: 'temperature', ts: T, value: 21.25, type: 'gauge', tags: { ...TAGS, room: 'lab' } },
    { name: 'latency', ts: T, type: 'distribution', tags: { ...TAGS, route: '/a' }, ...start, agg: { count: 3, sum: 95, min: 5, max: 60, buckets: { bounds: [10, 100], counts: [1, 2, 0] } } },
    { name: 'size', ts: T, type: 'distribution', tags: TAGS, ...start, agg: { count: 4, sum: 30, min: 0, max: 12, buckets: { scale: 2, zeroCount: 1, positive: { offset: 8, counts: [2, 0, 1] } } } },
  ];
}

const values = (items: ReadonlyArray<{ value?: unknown; parseError?: string }>) => items.map((i) => ('value' in i ? i.value : i));

describe('Function: decodeOtlpProto / decodeOtlpJson (the SDK\'s own serializers)', () => {
  it.each([
    ['cumulative', AggregationTemporality.CUMULATIVE, true],
    ['delta', AggregationTemporality.DELTA, false],
  ] as const)('maps every point kind, %s, to the exact events (protobuf and JSON alike)', (_l, temporality, cumulative) => {
    // Prepare
    const rm = resourceMetrics(temporality);
    const pb = ProtobufMetricsSerializer.serializeRequest(rm)!;
    const js = new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(rm)!);

    // Act
    const fromProto = decodeOtlpProto(pb);
    const fromJson = decodeOtlpJson(js);

    // Assess
    expect(values(fromProto.items)).toEqual(expected(cumulative));
    expect(values(fromJson.items)).toEqual(expected(cumulative));
    expect(fromProto.metrics).toEqual(['requests', 'requests', 'queue.depth', 'temperature', 'latency', 'size']);
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-written bodies for what the SDK never sends (Summary, unspecified temporality, no start)

function message(build: (w: ProtoWriter) => void): Uint8Array {
  const w = new ProtoWriter();
  build(w);
  return w.finish();
}
const field = (w: ProtoWriter, n: number, bytes: Uint8Array) => {
  w.varint((n << 3) | 2);
  w.varint(bytes.length);
  w.raw(bytes);
};
const fixed64 = (w: ProtoWriter, n: number, v: number) => {
  w.varint((n << 3) | 1);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  w.raw(b);
};
const double = (w: ProtoWriter, n: number, v: number) => {
  w.varint((n << 3) | 1);
  w.double(v);
};
const kv = (key: string, value: string) =>
  message((w) => {
    w.varint((1 << 3) | 2);
    w.string(key);
    field(w, 2, message((v) => (v.varint((1 << 3) | 2), v.string(value))));
  });

/** A request of one resource and scope holding `metrics` (each an encoded Metric). */
function request(metrics: Uint8Array[]): Uint8Array {
  const scope = message((w) => metrics.forEach((m) => field(w, 2, m)));
  const rm = message((w) => field(w, 2, scope));
  return message((w) => field(w, 1, rm));
}
const metricOf = (name: string, dataField: number, data: Uint8Array) =>
  message((w) => {
    field(w, dataField, data);
    w.varint((1 << 3) | 2); // the name after the data: the decoder must not care
    w.string(name);
  });
const numberPointMsg = (opts: { start?: number; value: number; attrs?: Uint8Array[] }) =>
  message((w) => {
    if (opts.start !== undefined) fixed64(w, 2, opts.start * 1e6);
    fixed64(w, 3, T * 1e6);
    double(w, 4, opts.value);
    for (const a of opts.attrs ?? []) field(w, 7, a);
  });
const sumMsg = (points: Uint8Array[], temporality: number, monotonic: boolean) =>
  message((w) => {
    points.forEach((p) => field(w, 1, p));
    w.varint((2 << 3) | 0);
    w.varint(temporality);
    w.varint((3 << 3) | 0);
    w.varint(monotonic ? 1 : 0);
  });

const KEYS = { 'key-acme': { tenant: 'acme', keyId: 'k', scopes: ['write', 'read'], createdAt: '' }, 'key-read': { tenant: 'acme', keyId: 'r', scopes: ['read'], createdAt: '' } } as const;

class MemorySink implements RecordSink {
  readonly records: PutRecord[] = [];
  async putRecords(records: readonly PutRecord[]): Promise<PutResult[]> {
    this.records.push(...records);
    return records.map(() => ({ ok: true }));
  }
  events(): StreamEvent[] {
    return this.records.flatMap((r) => decodeEvents(r.data, { shardId: 's', sequenceNumber: '1' }, { now: T }).events.map((e) => e.event));
  }
}

function deps(sink = new MemorySink()): IntakeDeps {
  return { auth: { authenticate: async (k) => KEYS[k as keyof typeof KEYS] as never }, sink, idempotency: undefined as never, now: () => T, sleep: async () => undefined, random: () => 0.5 };
}

const post = (body: Uint8Array | string, headers: Record<string, string>, d = deps()) =>
  route('POST /v1/metrics', { headers: { 'x-api-key': 'key-acme', ...headers }, body: typeof body === 'string' ? Buffer.from(body) : body, remainingMs: () => 10_000 }, d);

/** ExportMetricsServiceResponse's partial_success, read back. */
function partialSuccess(base64: string): { rejected: number; message: string } | undefined {
  const r = new ProtoReader(Buffer.from(base64, 'base64'), (m) => new Error(m));
  let out: { rejected: number; message: string } | undefined;
  while (!r.done) {
    const t = r.tag();
    if (t.field !== 1) r.skip(t.wire);
    else {
      const s = r.sub();
      out = { rejected: 0, message: '' };
      while (!s.done) {
        const u = s.tag();
        if (u.field === 1) out.rejected = s.varint();
        else if (u.field === 2) out.message = s.string();
        else s.skip(u.wire);
      }
    }
  }
  return out;
}

describe('Route: POST /v1/metrics', () => {
  it('writes the accepted points and names each refused one in partial_success (protobuf answer)', async () => {
    // Prepare: a good delta counter, a Summary, an unspecified temporality, a cumulative point
    // without start, and an attribute key the contract refuses.
    const summary = message((w) => field(w, 1, message((p) => fixed64(p, 3, T * 1e6))));
    const body = request([
      metricOf('ok.delta', 7, sumMsg([numberPointMsg({ value: 4 })], 1, true)),
      metricOf('a.summary', 11, summary),
      metricOf('no.temporality', 7, sumMsg([numberPointMsg({ value: 1 })], 0, true)),
      metricOf('no.start', 7, sumMsg([numberPointMsg({ value: 1 })], 2, true)),
      metricOf('bad.key', 5, message((w) => field(w, 1, numberPointMsg({ value: 1, attrs: [kv('a:b', 'x')] })))),
    ]);
    const sink = new MemorySink();

    // Act
    const res = await post(gzipSync(body), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, deps(sink));

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    expect(partialSuccess(res.body)).toEqual({
      rejected: 4,
      message:
        '4 data points rejected: metric "a.summary": Summary is not supported: its quantiles cannot be merged across points or series (export a histogram instead); ' +
        'metric "no.temporality": sum: aggregation_temporality 0 is neither delta (1) nor cumulative (2); ' +
        'metric "no.start": cumulative point without start_time_unix_nano (its start tells a reset from an increase); ' +
        'metric "bad.key": tags: key "a:b" contains ":" (not allowed in a tag key: it ends the key in filter=key:value)',
    });
    expect(sink.events()).toEqual([{ tenant: 'acme', name: 'ok.delta', ts: T, value: 4, type: 'count', tags: {} }]);
  });

  it('answers JSON in JSON: {} when everything is accepted, partialSuccess otherwise', async () => {
    // Prepare
    const ok = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'j', gauge: { dataPoints: [{ timeUnixNano: String(T * 1e6), asInt: '7' }] } }] }] }] });
    const bad = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'j', summary: { dataPoints: [{ timeUnixNano: String(T * 1e6) }] } }] }] }] });

    // Act
    const a = await post(ok, { 'content-type': 'application/json' });
    const b = await post(bad, { 'content-type': 'application/json' });

    // Assess
    expect([a.statusCode, JSON.parse(a.body)]).toEqual([200, {}]);
    expect([b.statusCode, JSON.parse(b.body)]).toEqual([200, { partialSuccess: { rejectedDataPoints: '1', errorMessage: '1 data point rejected: metric "j": Summary is not supported: its quantiles cannot be merged across points or series (export a histogram instead)' } }]);
  });

  it.each([
    ['a body that does not decode', Buffer.from([0x0a, 0x05, 0x01]), { 'content-type': 'application/x-protobuf' }, 400, 3, 'body is not an ExportMetricsServiceRequest: OTLP protobuf: protobuf length 5 runs past the end of the OTLP request'],
    ['JSON that is not a request', '[1]', { 'content-type': 'application/json' }, 400, 3, 'body is not an ExportMetricsServiceRequest: OTLP JSON: body: expected an object, got an array'],
    ['an unknown encoding', 'x', { 'content-type': 'application/json', 'content-encoding': 'br' }, 415, 3, 'Content-Encoding "br" is not supported; use gzip, deflate, zstd or none'],
    ['a read-only key', '{}', { 'content-type': 'application/json', 'x-api-key': 'key-read' }, 403, 7, 'this API key lacks the "write" scope'],
    ['an unknown key', '{}', { 'content-type': 'application/json', 'x-api-key': 'nope' }, 401, 16, 'invalid API key'],
  ] as const)('refuses %s with a google.rpc.Status', async (_l, body, headers, status, code, message) => {
    // Act
    const res = await post(body as Uint8Array | string, headers as Record<string, string>);

    // Assess
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.headers['content-type'] === 'application/json' ? res.body : '{}')).toEqual(res.headers['content-type'] === 'application/json' ? { code, message } : {});
    if (res.headers['content-type'] !== 'application/json') {
      const r = new ProtoReader(Buffer.from(res.body, 'base64'), (m) => new Error(m));
      r.tag();
      expect(r.varint()).toBe(code);
      r.tag();
      expect(r.string()).toBe(message);
    }
  });

  it('answers 429 with Retry-After when the stream throttles', async () => {
    // Prepare
    const sink: RecordSink = { putRecords: async (rs) => rs.map(() => ({ ok: false, code: 'ProvisionedThroughputExceededException', message: 'slow down' })) };
    const body = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'j', gauge: { dataPoints: [{ timeUnixNano: String(T * 1e6), asDouble: 1 }] } }] }] }] });

    // Act
    const res = await route('POST /v1/metrics', { headers: { 'x-api-key': 'key-acme', 'content-type': 'application/json' }, body: Buffer.from(body), remainingMs: () => 1_500 }, { ...deps(), sink });

    // Assess
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body)).toEqual({ code: 8, message: 'the event stream is throttling writes; retry with backoff' });
  });
});
