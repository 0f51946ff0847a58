import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { route } from '../../functions/intake/app.ts';
import type { IntakeDeps } from '../../functions/intake/core.ts';
import { seriesTags } from '../../functions/intake/datadog/mapping.ts';
import { loadZstd } from '../../functions/shared/archive/zstd.ts';
import { decodeEvents } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { ProtoWriter } from '../../functions/shared/protobuf.ts';
import type { PutRecord, PutResult, RecordSink } from '../../functions/shared/put-records.ts';

const T = Date.parse('2026-11-28T12:00:00Z');
const S = T / 1000;
const KEYS = { 'dd-key': { tenant: 'acme', keyId: 'k', scopes: ['write'], createdAt: '' }, 'dd-read': { tenant: 'acme', keyId: 'r', scopes: ['read'], createdAt: '' } } as const;

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

function call(routeKey: string, body: Uint8Array | string, headers: Record<string, string> = {}, sink = new MemorySink()) {
  const deps: IntakeDeps = { auth: { authenticate: async (k) => KEYS[k as keyof typeof KEYS] as never }, sink, idempotency: undefined as never, now: () => T, sleep: async () => undefined, random: () => 0.5 };
  return route(routeKey, { headers: { 'dd-api-key': 'dd-key', 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? Buffer.from(body) : body, remainingMs: () => 10_000 }, deps);
}

const v2Body = {
  series: [
    { metric: 'app.hits', type: 1, points: [{ timestamp: S - 10, value: 5 }], resources: [{ name: 'web-1', type: 'host' }], tags: ['env:prod', 'role:a', 'role:b', 'canary', 'url:http://x/y'] },
    { metric: 'app.rate', type: 2, interval: 10, points: [{ timestamp: S - 10, value: 1.5 }] },
    { metric: 'app.load', type: 3, points: [{ timestamp: S - 10, value: 0.5 }], resources: [{ name: 'web-1', type: 'host' }] },
    { metric: 'app.unspecified', points: [{ timestamp: S - 10, value: 2 }] },
  ],
};
const V2_EVENTS = [
  { tenant: 'acme', name: 'app.hits', ts: T - 10_000, value: 5, type: 'count', tags: { env: 'prod', role: 'a,b', canary: '', url: 'http://x/y', host: 'web-1' } },
  { tenant: 'acme', name: 'app.rate', ts: T - 10_000, value: 15, type: 'count', tags: {} },
  { tenant: 'acme', name: 'app.load', ts: T - 10_000, value: 0.5, type: 'gauge', tags: { host: 'web-1' } },
  { tenant: 'acme', name: 'app.unspecified', ts: T - 10_000, value: 2, type: 'gauge', tags: {} },
];

/** The agent's protobuf MetricPayload of v2Body. */
function v2Proto(): Uint8Array {
  const msg = (build: (w: ProtoWriter) => void) => {
    const w = new ProtoWriter();
    build(w);
    return w.finish();
  };
  const field = (w: ProtoWriter, n: number, b: Uint8Array) => (w.varint((n << 3) | 2), w.varint(b.length), w.raw(b));
  const str = (w: ProtoWriter, n: number, s: string) => (w.varint((n << 3) | 2), w.string(s));
  return msg((w) => {
    for (const s of v2Body.series) {
      field(
        w,
        1,
        msg((m) => {
          for (const r of s.resources ?? []) field(m, 1, msg((x) => (str(x, 1, r.type), str(x, 2, r.name))));
          str(m, 2, s.metric);
          for (const t of s.tags ?? []) str(m, 3, t);
          for (const p of s.points) field(m, 4, msg((x) => (x.varint((1 << 3) | 1), x.double(p.value), x.varint((2 << 3) | 0), x.varint(p.timestamp))));
          if (s.type !== undefined) (m.varint((5 << 3) | 0), m.varint(s.type));
          if (s.interval !== undefined) (m.varint((8 << 3) | 0), m.varint(s.interval));
        }),
      );
    }
  });
}

describe('Function: seriesTags', () => {
  it('splits at the first colon, keeps a bare tag as a key, joins the values of one key, adds resources', () => {
    // Act, Assess
    expect(seriesTags(['a:1', 'b', 'c:x:y', 'a:0', 'a:1'], [{ type: 'host', name: 'h' }])).toEqual({ a: '0,1', b: '', c: 'x:y', host: 'h' });
  });
});

describe('Route: POST /api/v2/series', () => {
  it.each([
    ['JSON', JSON.stringify(v2Body), {}],
    ['JSON, deflate (the agent\'s default)', deflateSync(JSON.stringify(v2Body)), { 'content-encoding': 'deflate' }],
    ['JSON, gzip', gzipSync(JSON.stringify(v2Body)), { 'content-encoding': 'gzip' }],
    ['the agent\'s protobuf', v2Proto(), { 'content-type': 'application/x-protobuf' }],
  ] as const)('maps counts, rates (value × interval), gauges and tags, from %s', async (_l, body, headers) => {
    // Prepare
    const sink = new MemorySink();

    // Act
    const res = await call('POST /api/v2/series', body as Uint8Array | string, headers, sink);

    // Assess
    expect([res.statusCode, JSON.parse(res.body)]).toEqual([202, { errors: [] }]);
    expect(sink.events()).toEqual(V2_EVENTS);
  });

  it('reads zstd (the project\'s codec on Node 20)', async () => {
    // Prepare
    const zstd = await loadZstd();
    const sink = new MemorySink();

    // Act
    const res = await call('POST /api/v2/series', zstd.compress(Buffer.from(JSON.stringify(v2Body))), { 'content-encoding': 'zstd' }, sink);

    // Assess
    expect(res.statusCode).toBe(202);
    expect(sink.events()).toEqual(V2_EVENTS);
  });

  it('lists refused points beside a 202, and answers 400 when none was accepted', async () => {
    // Prepare
    const some = { series: [{ metric: 'ok', type: 1, points: [{ timestamp: S, value: 1 }] }, { metric: 'bad rate', type: 2, points: [{ timestamp: S, value: 1 }] }] };
    const none = { series: [{ metric: 'x', type: 9, points: [{ timestamp: S, value: 1 }] }] };

    // Act
    const a = await call('POST /api/v2/series', JSON.stringify(some));
    const b = await call('POST /api/v2/series', JSON.stringify(none));

    // Assess
    expect([a.statusCode, JSON.parse(a.body)]).toEqual([202, { errors: ['bad rate: rate point without an interval (its count is value × interval): send interval'] }]);
    expect([b.statusCode, JSON.parse(b.body)]).toEqual([400, { errors: ['x: type 9 is not one of 0 (unspecified), 1 (count), 2 (rate), 3 (gauge)'] }]);
  });

  it.each([
    ['an unknown key', { 'dd-api-key': 'nope' }, 403, 'Forbidden: invalid API key'],
    ['no key', { 'dd-api-key': '' }, 403, 'Forbidden: missing API key: send it in the DD-API-KEY header'],
    ['a read-only key', { 'dd-api-key': 'dd-read' }, 403, 'Forbidden: this API key lacks the "write" scope'],
  ])('refuses %s with a Datadog-shaped 403', async (_l, headers, status, error) => {
    // Act
    const res = await call('POST /api/v2/series', JSON.stringify(v2Body), headers);

    // Assess
    expect([res.statusCode, JSON.parse(res.body)]).toEqual([status, { errors: [error] }]);
  });

  it('refuses a deflate bomb with 413, and a body that is not a payload with 400', async () => {
    // Prepare
    const bomb = deflateSync(Buffer.alloc(30 * 1024 * 1024, 0x20));

    // Act
    const big = await call('POST /api/v2/series', bomb, { 'content-encoding': 'deflate' });
    const bad = await call('POST /api/v2/series', '{"metrics": []}');

    // Assess
    expect([big.statusCode, JSON.parse(big.body)]).toEqual([413, { errors: ['decompressed body exceeds 26214400 bytes (25 MiB)'] }]);
    expect([bad.statusCode, JSON.parse(bad.body)]).toEqual([400, { errors: ['body must be {"series": [...]}'] }]);
  });
});

describe('Route: POST /api/v1/series and /api/v1/distribution_points', () => {
  it('maps v1 points: type names, host and device as tags, null values skipped', async () => {
    // Prepare
    const sink = new MemorySink();
    const body = {
      series: [
        { metric: 'v1.c', type: 'count', points: [[S - 5, 3], [S - 4, null]], host: 'h', device: 'sda', tags: ['env:dev'] },
        { metric: 'v1.r', type: 'rate', interval: 20, points: [[S - 5, 0.5]] },
        { metric: 'v1.g', points: [[S - 5, 7]], host: 'h' },
      ],
    };

    // Act
    const res = await call('POST /api/v1/series', JSON.stringify(body), {}, sink);

    // Assess
    expect([res.statusCode, JSON.parse(res.body)]).toEqual([202, { status: 'ok' }]);
    expect(sink.events()).toEqual([
      { tenant: 'acme', name: 'v1.c', ts: T - 5000, value: 3, type: 'count', tags: { env: 'dev', host: 'h', device: 'sda' } },
      { tenant: 'acme', name: 'v1.r', ts: T - 5000, value: 10, type: 'count', tags: {} },
      { tenant: 'acme', name: 'v1.g', ts: T - 5000, value: 7, type: 'gauge', tags: { host: 'h' } },
    ]);
  });

  it('makes one distribution event per value', async () => {
    // Prepare
    const sink = new MemorySink();

    // Act
    const res = await call('POST /api/v1/distribution_points', JSON.stringify({ series: [{ metric: 'd', points: [[S - 1, [1, 2.5, 4]]], host: 'h' }] }), {}, sink);

    // Assess
    expect([res.statusCode, JSON.parse(res.body)]).toEqual([202, { status: 'ok' }]);
    expect(sink.events()).toEqual([1, 2.5, 4].map((value) => ({ tenant: 'acme', name: 'd', ts: T - 1000, value, type: 'distribution', tags: { host: 'h' } })));
  });
});

describe('Route: GET /api/v1/validate', () => {
  it('answers {"valid": true} for a write key, 403 otherwise', async () => {
    // Act
    const ok = await call('GET /api/v1/validate', '');
    const bad = await call('GET /api/v1/validate', '', { 'dd-api-key': 'nope' });

    // Assess
    expect([ok.statusCode, JSON.parse(ok.body)]).toEqual([200, { valid: true }]);
    expect([bad.statusCode, JSON.parse(bad.body)]).toEqual([403, { errors: ['Forbidden: invalid API key'] }]);
  });
});
