import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeEvents } from '../../functions/shared/codec.ts';
import { ingest, MAX_REPORTED_ERRORS, type IntakeDeps } from '../../functions/intake/core.ts';
import type { Claim, IdempotencyStore, Progress, StoredResponse } from '../../functions/intake/idempotency.ts';
import type { PutRecord, PutResult, RecordSink } from '../../functions/shared/put-records.ts';
import type { ApiKeyRecord } from '../../functions/shared/tenants.ts';
import { HotKeys, putAllRecords } from '../../functions/shared/put-records.ts';

const NOW = Date.parse('2026-11-28T12:00:00Z');

const KEYS: Record<string, ApiKeyRecord> = {
  'key-acme-rw': { tenant: 'acme', keyId: 'k1', scopes: ['write', 'read'], createdAt: '' },
  'key-acme-ro': { tenant: 'acme', keyId: 'k2', scopes: ['read'], createdAt: '' },
  'key-globex': { tenant: 'globex', keyId: 'k3', scopes: ['write'], createdAt: '' },
};

/** A sink that fails chosen calls' records by a script, and keeps what it stored. */
class ScriptedSink implements RecordSink {
  readonly stored: PutRecord[] = [];
  calls = 0;
  constructor(private readonly script: (record: PutRecord, call: number) => PutResult = () => ({ ok: true })) {}
  async putRecords(records: readonly PutRecord[]): Promise<PutResult[]> {
    const call = this.calls++;
    return records.map((r) => {
      const res = this.script(r, call);
      if (res.ok) this.stored.push(r);
      return res;
    });
  }
}

class MemoryIdempotency implements IdempotencyStore {
  readonly items = new Map<string, { bodyHash: string; status: string; lockUntil: number; response?: StoredResponse; progress?: Progress }>();
  async claim(tenant: string, key: string, bodyHash: string, now: number, lockMs: number): Promise<Claim> {
    const k = `${tenant}#${key}`;
    const item = this.items.get(k);
    if (item) {
      if (item.bodyHash !== bodyHash) return { kind: 'mismatch' };
      if (item.status === 'done') return { kind: 'replay', response: item.response! };
      if (item.status === 'in_progress' && item.lockUntil >= now) return { kind: 'in_progress' };
    }
    this.items.set(k, { bodyHash, status: 'in_progress', lockUntil: now + lockMs, ...(item?.progress ? { progress: item.progress } : {}) });
    return item?.progress ? { kind: 'claimed', progress: item.progress } : { kind: 'claimed' };
  }
  async complete(tenant: string, key: string, bodyHash: string, response: StoredResponse): Promise<void> {
    this.items.set(`${tenant}#${key}`, { bodyHash, status: 'done', lockUntil: 0, response });
  }
  async fail(tenant: string, key: string, bodyHash: string, progress: Progress): Promise<void> {
    this.items.set(`${tenant}#${key}`, { bodyHash, status: 'failed', lockUntil: 0, progress });
  }
}

/** The memory store whose next `complete` and `fail` calls throw, as a lost DynamoDB write would. */
class FlakyIdempotency extends MemoryIdempotency {
  constructor(
    private completeFailures: number,
    private failFailures: number,
  ) {
    super();
  }
  override async complete(tenant: string, key: string, bodyHash: string, response: StoredResponse): Promise<void> {
    if (this.completeFailures-- > 0) throw new Error('InternalServerError: the answer was not stored');
    return super.complete(tenant, key, bodyHash, response);
  }
  override async fail(tenant: string, key: string, bodyHash: string, progress: Progress): Promise<void> {
    if (this.failFailures-- > 0) throw new Error('InternalServerError: the progress was not stored');
    return super.fail(tenant, key, bodyHash, progress);
  }
}

function deps(sink: RecordSink = new ScriptedSink(), idempotency: IdempotencyStore = new MemoryIdempotency()): IntakeDeps {
  return {
    auth: { authenticate: async (k) => KEYS[k] },
    sink,
    idempotency,
    now: () => NOW,
    sleep: async () => undefined,
    random: () => 0.5,
  };
}

function request(body: string | Uint8Array, headers: Record<string, string> = {}) {
  return {
    headers: { 'x-api-key': 'key-acme-rw', 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? Buffer.from(body) : body,
    remainingMs: () => 10_000,
  };
}

function storedEvents(sink: ScriptedSink) {
  return sink.stored.flatMap((r, i) => decodeEvents(r.data, { shardId: 's', sequenceNumber: String(i) }, { now: NOW }).events.map((e) => e.event));
}

const ev = (i: number) => ({ name: `m.${i % 3}`, ts: NOW - i, value: i, tags: { i: String(i) } });

describe('Function: ingest', () => {
  it('accepts a JSON array, stamps the tenant from the key and ignores a tenant in the body', async () => {
    // Prepare
    const sink = new ScriptedSink();
    const body = JSON.stringify([{ ...ev(1), tenant: 'globex' }, ev(2)]);
    // Act
    const res = await ingest(request(body), deps(sink));
    // Assess
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body)).toEqual({ accepted: 2, rejected: 0, errors: [] });
    const events = storedEvents(sink);
    expect(events.map((e) => [e.tenant, e.name, e.value])).toEqual(
      expect.arrayContaining([
        ['acme', 'm.1', 1],
        ['acme', 'm.2', 2],
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it('accepts {"events": [...]}, NDJSON and gzip, and reports invalid events by index', async () => {
    // Prepare
    const sink = new ScriptedSink();
    const ndjson = [JSON.stringify(ev(1)), '{"name":"bad name","ts":1}', 'not json', JSON.stringify(ev(2))].join('\n');
    // Act
    const a = await ingest(request(JSON.stringify({ events: [ev(1)] })), deps(sink));
    const b = await ingest(request(gzipSync(ndjson), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' }), deps(sink));
    // Assess
    expect(JSON.parse(a.body)).toEqual({ accepted: 1, rejected: 0, errors: [] });
    expect(b.statusCode).toBe(202);
    expect(JSON.parse(b.body)).toEqual({
      accepted: 2,
      rejected: 2,
      errors: [
        { index: 1, reason: 'name: invalid character " " at position 3 (allowed: A-Z a-z 0-9 _ . : / -)' },
        { index: 2, reason: expect.stringMatching(/^invalid JSON: /) },
      ],
    });
    expect(storedEvents(sink)).toHaveLength(3);
  });

  it('refuses, per event with its reason, what the rollups cannot hold: values out of range, events older than their 1 h retention', async () => {
    // Prepare: the retention as the stack sets it (ROLLUP_TTL_1H_DAYS = 30 here).
    const sink = new ScriptedSink();
    const day = 86_400_000;
    const body = JSON.stringify([
      { name: 'big', ts: NOW, value: 1e200 },
      { name: 'tiny', ts: NOW, value: 1e-200 },
      { name: 'old', ts: NOW - 30 * day - 1 },
      { name: 'edge', ts: NOW - 30 * day, value: -1e100 },
      { name: 'zero', ts: NOW, value: 0 },
      { name: 'small', ts: NOW, value: 1e-100 },
    ]);
    // Act
    const res = await ingest(request(body), { ...deps(sink), maxAgeMs: 30 * day });
    // Assess: 202, the three refused named by index, the three others in the stream.
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body)).toEqual({
      accepted: 3,
      rejected: 3,
      errors: [
        { index: 0, reason: 'value: 1e+200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)' },
        { index: 1, reason: 'value: 1e-200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)' },
        { index: 2, reason: "ts: 2026-10-29T11:59:59.999Z is more than 30 days old, past the rollups' retention (receiver clock 2026-11-28T12:00:00.000Z)" },
      ],
    });
    expect(storedEvents(sink).map((e) => [e.name, e.value]).sort()).toEqual([['edge', -1e100], ['small', 1e-100], ['zero', 0]]);
  });

  it("refuses events older than the rollups' default 1 h retention (400 days) when not told otherwise", async () => {
    // Act
    const res = await ingest(request(JSON.stringify([{ name: 'old', ts: NOW - 400 * 86_400_000 - 1 }, { name: 'ok', ts: NOW - 400 * 86_400_000 }])), deps());
    // Assess
    expect(JSON.parse(res.body)).toEqual({
      accepted: 1,
      rejected: 1,
      errors: [{ index: 0, reason: "ts: 2025-10-24T11:59:59.999Z is more than 400 days old, past the rollups' retention (receiver clock 2026-11-28T12:00:00.000Z)" }],
    });
  });

  it('caps the listed reasons and counts the rest', async () => {
    const body = JSON.stringify(Array.from({ length: 150 }, () => ({ ts: NOW })));
    const res = await ingest(request(body), deps());
    const parsed = JSON.parse(res.body);
    expect(parsed.accepted).toBe(0);
    expect(parsed.rejected).toBe(150);
    expect(parsed.errors).toHaveLength(MAX_REPORTED_ERRORS);
    expect(parsed.errors[0]).toEqual({ index: 0, reason: 'name: required' });
    expect(parsed.errorsOmitted).toBe(50);
  });

  it.each([
    [{}, 401, 'missing API key: send it in the x-api-key header'],
    [{ 'x-api-key': 'nope' }, 401, 'invalid API key'],
    [{ 'x-api-key': 'key-acme-ro' }, 403, 'this API key lacks the "write" scope'],
  ])('refuses headers %j with %i', async (headers, status, message) => {
    const sink = new ScriptedSink();
    const req = request(JSON.stringify([ev(1)]));
    const res = await ingest({ ...req, headers: { 'content-type': 'application/json', ...headers } }, deps(sink));
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.body)).toEqual({ error: message });
    expect(sink.stored).toHaveLength(0);
  });

  it("accepts Datadog's DD-API-KEY header", async () => {
    const req = request(JSON.stringify([ev(1)]));
    const res = await ingest({ ...req, headers: { 'dd-api-key': 'key-globex' } }, deps());
    expect(res.statusCode).toBe(202);
  });

  it.each([
    ['{"events": 3}', 400, '"events" must be an array of events'],
    ['', 400, 'body is empty; send a JSON array of events, {"events": [...]}, or NDJSON'],
    ['[1,', 400, expect.stringMatching(/^body is not valid JSON: /)],
    ['hello', 400, 'body must be a JSON array of events, {"events": [...]}, or NDJSON (one event per line)'],
  ])('answers %j with %i', async (body, status, message) => {
    const res = await ingest(request(body), deps());
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.body)).toEqual({ error: message });
  });

  it('refuses more than 10,000 events, a body over 5 MiB and a gzip bomb with 413', async () => {
    const many = JSON.stringify(Array.from({ length: 10_001 }, () => ev(1)));
    const big = Buffer.alloc(5 * 1024 * 1024 + 1, 32);
    const bomb = gzipSync(Buffer.alloc(30 * 1024 * 1024, 32));
    expect(JSON.parse((await ingest(request(many), deps())).body)).toEqual({
      error: 'request has more than 10000 events; split it into several requests',
    });
    const r2 = await ingest(request(big), deps());
    expect(r2.statusCode).toBe(413);
    expect(JSON.parse(r2.body)).toEqual({ error: 'request body is 5242881 bytes; the limit is 5242880 bytes (5 MiB)' });
    const r3 = await ingest(request(bomb, { 'content-encoding': 'gzip' }), deps());
    expect(r3.statusCode).toBe(413);
    expect(JSON.parse(r3.body)).toEqual({ error: 'decompressed body exceeds 26214400 bytes (25 MiB)' });
  });

  it('retries only the records PutRecords failed until all are written', async () => {
    // Prepare: the first call fails every other record, later calls succeed.
    let n = 0;
    const sink = new ScriptedSink((_r, call) => (call === 0 && n++ % 2 === 0 ? { ok: false, code: 'ProvisionedThroughputExceededException', message: 'slow down' } : { ok: true }));
    const body = JSON.stringify(Array.from({ length: 600 }, (_, i) => ({ ...ev(i), name: `metric.${i}` })));
    // Act
    const res = await ingest(request(body), deps(sink));
    // Assess
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body).accepted).toBe(600);
    const events = storedEvents(sink);
    expect(events).toHaveLength(600);
    expect(new Set(events.map((e) => e.name)).size).toBe(600);
  });

  it('answers 429 when Kinesis keeps throttling, and reports nothing as accepted', async () => {
    const sink = new ScriptedSink(() => ({ ok: false, code: 'ProvisionedThroughputExceededException', message: 'slow down' }));
    let t = NOW;
    const res = await ingest(request(JSON.stringify([ev(1)])), { ...deps(sink), now: () => (t += 500) });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body)).toEqual({
      error: 'the event stream is throttling writes; retry with backoff (send an Idempotency-Key so a retry does not write twice what was already written)',
    });
    expect(sink.stored).toHaveLength(0);
  });

  it('answers 503 when the stream fails for another reason', async () => {
    const sink: RecordSink = { putRecords: async () => Promise.reject(Object.assign(new Error('boom'), { name: 'InternalFailure' })) };
    let t = NOW;
    const res = await ingest(request(JSON.stringify([ev(1)])), { ...deps(sink), now: () => (t += 500) });
    expect(res.statusCode).toBe(503);
  });

  describe('Idempotency-Key', () => {
    it('answers a retry with the first answer and writes nothing again', async () => {
      const sink = new ScriptedSink();
      const store = new MemoryIdempotency();
      const body = JSON.stringify([ev(1), ev(2)]);
      const first = await ingest(request(body, { 'idempotency-key': 'abc' }), deps(sink, store));
      const second = await ingest(request(body, { 'idempotency-key': 'abc' }), deps(sink, store));
      expect(first.statusCode).toBe(202);
      expect(second.statusCode).toBe(202);
      expect(second.body).toBe(first.body);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(storedEvents(sink)).toHaveLength(2);
    });

    it('answers 422 for another body under the same key', async () => {
      const store = new MemoryIdempotency();
      await ingest(request(JSON.stringify([ev(1)]), { 'idempotency-key': 'abc' }), deps(undefined, store));
      const res = await ingest(request(JSON.stringify([ev(2)]), { 'idempotency-key': 'abc' }), deps(undefined, store));
      expect(res.statusCode).toBe(422);
      expect(JSON.parse(res.body)).toEqual({ error: 'Idempotency-Key was already used with a different body; use a new key for a new request' });
    });

    it('keys are per tenant', async () => {
      const sink = new ScriptedSink();
      const store = new MemoryIdempotency();
      const body = JSON.stringify([ev(1)]);
      await ingest(request(body, { 'idempotency-key': 'abc' }), deps(sink, store));
      await ingest(request(body, { 'idempotency-key': 'abc', 'x-api-key': 'key-globex' }), deps(sink, store));
      expect(storedEvents(sink).map((e) => e.tenant).sort()).toEqual(['acme', 'globex']);
    });

    it('after a partial failure, the retry writes only the records not yet written', async () => {
      // Prepare: every call fails records of partition keys ending in an odd digit.
      let failing = true;
      const sink = new ScriptedSink((r) => (failing && /[13579]$/.test(r.partitionKey) ? { ok: false, code: 'ProvisionedThroughputExceededException', message: '' } : { ok: true }));
      const store = new MemoryIdempotency();
      const body = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ ...ev(i), name: `metric.${i}` })));
      let t = NOW;
      // Act
      const first = await ingest(request(body, { 'idempotency-key': 'k' }), { ...deps(sink, store), now: () => (t += 400) });
      const afterFirst = storedEvents(sink).length;
      failing = false;
      const second = await ingest(request(body, { 'idempotency-key': 'k' }), deps(sink, store));
      // Assess
      expect(first.statusCode).toBe(429);
      expect(afterFirst).toBeGreaterThan(0);
      expect(afterFirst).toBeLessThan(200);
      expect(second.statusCode).toBe(202);
      const names = storedEvents(sink).map((e) => e.name);
      expect(names).toHaveLength(200);
      expect(new Set(names).size).toBe(200);
    });

    it('after the answer failed to be stored, the retry neither waits for the lock nor writes again', async () => {
      // Prepare: every record is written, then storing the answer fails once (a lost DynamoDB write).
      const sink = new ScriptedSink();
      const store = new FlakyIdempotency(1, 0);
      const logged: string[] = [];
      const logger = { warn: (m: string) => logged.push(`warn ${m}`), error: (m: string) => logged.push(`error ${m}`) };
      const body = JSON.stringify(Array.from({ length: 120 }, (_, i) => ({ ...ev(i), name: `metric.${i}` })));
      // Act: the retry comes at once, well within the first attempt's lock.
      const first = await ingest(request(body, { 'idempotency-key': 'k' }), { ...deps(sink, store), logger });
      const callsAfterFirst = sink.calls;
      const second = await ingest(request(body, { 'idempotency-key': 'k' }), { ...deps(sink, store), logger });
      const third = await ingest(request(body, { 'idempotency-key': 'k' }), { ...deps(sink, store), logger });
      // Assess: both 202 with the same answer; nothing written twice; the answer stored by the retry.
      expect(first.statusCode).toBe(202);
      expect(JSON.parse(first.body)).toEqual({ accepted: 120, rejected: 0, errors: [] });
      expect([second.statusCode, second.body]).toEqual([202, first.body]);
      expect(sink.calls).toBe(callsAfterFirst);
      expect(storedEvents(sink)).toHaveLength(120);
      expect([third.statusCode, third.body, third.headers['idempotent-replayed']]).toEqual([202, first.body, 'true']);
      expect(logged).toEqual(['warn idempotency answer not stored; storing the progress instead']);
    });

    it('when neither the answer nor the progress can be stored, still answers 202 and says so in the log', async () => {
      // Prepare: the idempotency table fails every write after the claim.
      const sink = new ScriptedSink();
      const store = new FlakyIdempotency(1, 1);
      const logged: string[] = [];
      const logger = { warn: (m: string) => logged.push(`warn ${m}`), error: (m: string) => logged.push(`error ${m}`) };
      const body = JSON.stringify([ev(1), ev(2)]);
      // Act
      const first = await ingest(request(body, { 'idempotency-key': 'k' }), { ...deps(sink, store), logger });
      const retry = await ingest(request(body, { 'idempotency-key': 'k' }), { ...deps(sink, store), logger });
      // Assess: every event is in the stream, so 202; the retry meets the lock, as after a crash.
      expect(JSON.parse(first.body)).toEqual({ accepted: 2, rejected: 0, errors: [] });
      expect(first.statusCode).toBe(202);
      expect(retry.statusCode).toBe(409);
      expect(storedEvents(sink)).toHaveLength(2);
      expect(logged).toEqual([
        'warn idempotency answer not stored; storing the progress instead',
        'error neither the idempotency answer nor the progress was stored: a retry under this key waits for the lock, then writes again',
      ]);
    });

    it('refuses a malformed key', async () => {
      const res = await ingest(request('[]', { 'idempotency-key': 'a b' }), deps());
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ error: 'Idempotency-Key must be 1-255 printable ASCII characters' });
    });
  });
});

describe('Function: putAllRecords', () => {
  it('stops at the deadline and says which records are unwritten', async () => {
    let t = 0;
    const sink = new ScriptedSink((r) => (r.partitionKey === 'b' ? { ok: false, code: 'InternalFailure', message: '' } : { ok: true }));
    const out = await putAllRecords(
      sink,
      [
        { partitionKey: 'a', data: Buffer.from('1') },
        { partitionKey: 'b', data: Buffer.from('2') },
      ],
      { deadline: 1000, now: () => (t += 100), sleep: async () => undefined, random: () => 1 },
    );
    expect(out.written).toEqual([true, false]);
    expect(out.failures.get(1)).toBe('InternalFailure');
    expect(sink.stored.map((r) => r.partitionKey)).toEqual(['a']);
    // Retries only record b: one call per attempt after the first.
    expect(out.calls).toBe(out.attempts);
  });

  it('splits 1,200 records into requests of at most 500', async () => {
    const sizes: number[] = [];
    const sink: RecordSink = { putRecords: async (rs) => (sizes.push(rs.length), rs.map(() => ({ ok: true }) as const)) };
    const records = Array.from({ length: 1200 }, (_, i) => ({ partitionKey: String(i), data: Buffer.from('x') }));
    const out = await putAllRecords(sink, records, { deadline: Number.MAX_SAFE_INTEGER });
    expect(sizes).toEqual([500, 500, 200]);
    expect(out.written.every(Boolean)).toBe(true);
  });

  it('sends records of a throttled key under salted keys, so they reach other shards, and stops once the key cools down', async () => {
    // Prepare: the shard of key `hot` takes nothing; any other key gets through.
    let t = 0;
    const sent: string[] = [];
    const sink = new ScriptedSink((r) => (sent.push(r.partitionKey), r.partitionKey === 'hot' ? { ok: false, code: 'ProvisionedThroughputExceededException', message: 'Rate exceeded' } : { ok: true }));
    const hot = new HotKeys(() => t, 60_000);
    const records = [0, 1, 2].map((i) => ({ partitionKey: 'hot', data: Buffer.from(String(i)) }));
    let r = 0;
    const random = () => [0.1, 0.6, 0.9, 0.3][r++ % 4]!;

    // Act
    const out = await putAllRecords(sink, records, { deadline: 10_000, now: () => t, sleep: async (ms) => void (t += ms), random, hotKeys: hot });
    const next = await putAllRecords(sink, [{ partitionKey: 'hot', data: Buffer.from('3') }], { deadline: t + 10_000, now: () => t, sleep: async (ms) => void (t += ms), random, hotKeys: hot });
    t += 60_000;
    const cooled = hot.keyFor('hot', random);

    // Assess
    expect(out.written).toEqual([true, true, true]);
    expect(sent.slice(0, 3)).toEqual(['hot', 'hot', 'hot']);
    expect(sent.slice(3).every((k) => /^hot~[01]$/.test(k))).toBe(true);
    expect(next.written).toEqual([true]);
    expect(next.attempts).toBe(1);
    expect(cooled).toBe('hot');
    expect(hot.level('hot')).toBe(1);
  });

  it('doubles the salt level each time the key is throttled, up to 64', () => {
    const hot = new HotKeys(() => 0);
    const levels = Array.from({ length: 8 }, () => {
      hot.throttled('k');
      return hot.level('k');
    });
    expect(levels).toEqual([2, 4, 8, 16, 32, 64, 64, 64]);
  });
});
