import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { startStack, type RunningStack } from '../../local/index.ts';
import { recordingConsumer } from './support/recorder.ts';

const KEYS = { acme: 'acme-key-0001', globex: 'globex-key-0001' };
const READ_ONLY = 'acme-readonly-01';

describe('Intake on the embedded stack', () => {
  let dataDir: string;
  let stack: RunningStack;
  const seen: StreamEvent[] = [];
  const recorder = recordingConsumer((events) => seen.push(...events.map((e) => e.event)));

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-intake-'));
    stack = await startStack({ port: 0, dataDir, tenants: KEYS, consumers: [recorder], onlyGivenConsumers: true, log: () => {} });
    const { TenantStore } = await import('../../functions/shared/tenants.ts');
    const { dynamoClient } = await import('../../functions/shared/clients.ts');
    await new TenantStore(dynamoClient(stack.env), stack.env.TENANTS_TABLE_NAME!).putKey('acme', READ_ONLY, ['read']);
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEYS.acme, 'content-type': 'application/json', ...headers }, body });

  const ev = (name: string, value = 1) => ({ name, ts: Date.now(), value, tags: { env: 'test' } });

  it.each([
    ['no key', {}, 401, 'missing API key: send it in the x-api-key header'],
    ['unknown key', { 'x-api-key': 'not-a-key-at-all' }, 401, 'invalid API key'],
    ['read-only key', { 'x-api-key': READ_ONLY }, 403, 'this API key lacks the "write" scope'],
  ])('refuses %s', async (_label, headers, status, error) => {
    const res = await fetch(`${stack.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify([ev('refused')]) });
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ error });
  });

  it('answers 400 for an unparseable body and 415 for an unknown encoding', async () => {
    const a = await post('[{"name":');
    expect(a.status).toBe(400);
    expect(((await a.json()) as { error: string }).error).toMatch(/^body is not valid JSON: /);
    const b = await post('[]', { 'content-encoding': 'br' });
    expect(b.status).toBe(415);
    expect(await b.json()).toEqual({ error: 'Content-Encoding "br" is not supported; use gzip or none' });
  });

  it('stops a gzip bomb while inflating (413) and stays up', async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20)); // 200 MiB of spaces, ~200 KB gzip'd
    const before = process.memoryUsage().rss;
    const res = await post(bomb, { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'decompressed body exceeds 26214400 bytes (25 MiB)' });
    // Inflating stops at 25 MiB: the process never holds the 200 MiB.
    expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
    expect((await fetch(`${stack.url}/health`)).status).toBe(200);
  });

  it('answers 413 for more than 10,000 events', async () => {
    const res = await post(JSON.stringify(Array.from({ length: 10_001 }, () => ev('many'))));
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'request has more than 10000 events; split it into several requests' });
  });

  it('ingests a retried Idempotency-Key request once and answers 422 for another body', async () => {
    const body = JSON.stringify([ev('idem.metric', 1), ev('idem.metric', 2)]);
    const first = await post(body, { 'idempotency-key': 'retry-1' });
    const second = await post(body, { 'idempotency-key': 'retry-1' });
    const other = await post(JSON.stringify([ev('idem.metric', 3)]), { 'idempotency-key': 'retry-1' });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toEqual({ accepted: 2, rejected: 0, errors: [] });
    expect(other.status).toBe(422);
    await stack.drain();
    expect(seen.filter((e) => e.name === 'idem.metric').map((e) => e.value)).toEqual([1, 2]);
  });

  it("stamps each event with its key's tenant, whatever the body says", async () => {
    const a = await post(JSON.stringify([{ ...ev('tenant.check', 10), tenant: 'globex' }]));
    const b = await post(JSON.stringify([{ ...ev('tenant.check', 20), tenant: 'acme' }]), { 'x-api-key': KEYS.globex });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    await stack.drain();
    const got = seen.filter((e) => e.name === 'tenant.check').map((e) => [e.tenant, e.value]);
    expect(got.sort()).toEqual([
      ['acme', 10],
      ['globex', 20],
    ]);
  });
});
