/**
 * Issue 18's reproductions on the embedded stack (startStack on port 0, a temp data dir, the
 * product's rollup and archive consumers): what the intake accepts is in `/v1/query` and in
 * `/v1/events`, before and after compaction, and the two agree.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCompactHandler } from '../../functions/compact/app.ts';
import { bucketStart } from '../../functions/shared/rollups/keys.ts';
import { partitionOf, partitionPrefix } from '../../functions/shared/archive/keys.ts';
import { S3ArchiveBucket } from '../../functions/shared/archive/s3-store.ts';
import { s3Client } from '../../functions/shared/clients.ts';
import { startStack, type RunningStack } from '../../local/index.ts';

const KEY = 'acme-integrity-key-1';
const H = 3_600_000;
/** An hour long closed (its partition may be compacted), five minutes in. */
const T = bucketStart(Date.now() - 3 * H, '1h') + 5 * 60_000;

interface EventOut {
  name: string;
  ts: number;
  value: number;
  tags: Record<string, string>;
  id?: string;
}

describe('Integrity on the embedded stack', () => {
  let dataDir: string;
  let stack: RunningStack;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-integrity-'));
    stack = await startStack({ port: 0, dataDir, tenants: { acme: KEY }, batchingWindowSeconds: 0, log: () => {} });
  });

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function post(events: unknown[]): Promise<{ status: number; body: { accepted: number; rejected: number; errors: Array<{ index: number; reason: string }> } }> {
    const res = await fetch(`${stack.url}/v1/events`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    return { status: res.status, body: (await res.json()) as never };
  }

  async function get<T>(path: string, query: Record<string, string>): Promise<{ status: number; body: T }> {
    const qs = new URLSearchParams(query).toString();
    const res = await fetch(`${stack.url}${path}${qs ? `?${qs}` : ''}`, { headers: { 'x-api-key': KEY } });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** Every event of [from, to), all pages. */
  async function allEvents(query: Record<string, string>): Promise<EventOut[]> {
    const out: EventOut[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 50; page++) {
      const res: { status: number; body: { events: EventOut[]; nextCursor: string | null } } = await get('/v1/events', { ...query, limit: '1000', ...(cursor ? { cursor } : {}) });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      out.push(...res.body.events);
      cursor = res.body.nextCursor;
      if (cursor === null) return out;
    }
    throw new Error('more than 50 pages');
  }

  /** The count of `metric` over [from, to) in one point per hour. */
  async function counted(metric: string, from: number, to: number, extra: Record<string, string> = {}): Promise<{ status: number; total: number }> {
    const res = await get<{ series: Array<{ points: Array<[number, number]> }> }>('/v1/query', {
      metric, from: String(from), to: String(to), agg: 'count', interval: '3600', ...extra,
    });
    if (res.status !== 200) return { status: res.status, total: 0 };
    return { status: 200, total: res.body.series.reduce((n, s) => n + s.points.reduce((m, p) => m + p[1], 0), 0) };
  }

  describe('defect 2: accepted means rolled up', () => {
    it('refuses, per event with its reason, what the rollups cannot hold, and every accepted event is in /v1/query and /v1/events', async () => {
      // Prepare: the issue's values and an event older than the rollups' 1 h retention (400 days),
      // beside accepted events at the edges of what the rollups hold.
      const now = Date.now();
      const day = 86_400_000;
      const ancient = now - 401 * day;
      const events = [
        { name: 'd2.huge', ts: now, value: 1e200 },
        { name: 'd2.tiny', ts: now, value: 1e-200 },
        { name: 'd2.ancient', ts: ancient },
        { name: 'd2.max', ts: now, value: 1e100 },
        { name: 'd2.min', ts: now, value: -1e-100 },
        { name: 'd2.zero', ts: now, value: 0 },
        { name: 'd2.aged', ts: now - 30 * day, value: 7 },
      ];

      // Act
      const res = await post(events);
      await stack.drain(60_000);

      // Assess: the intake tells the truth, per event.
      expect(res.status).toBe(202);
      expect(res.body).toEqual({
        accepted: 4,
        rejected: 3,
        errors: [
          { index: 0, reason: 'value: 1e+200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)' },
          { index: 1, reason: 'value: 1e-200 is outside what rollups hold (0, or 1e-100 to 1e100 in magnitude)' },
          { index: 2, reason: expect.stringMatching(new RegExp(`^ts: ${new Date(ancient).toISOString()} is more than 400 days old, past the rollups' retention \\(receiver clock \\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z\\)$`)) },
        ],
      });
      // Every accepted event is counted and summed by /v1/query, and returned by /v1/events.
      for (const e of events.slice(3)) {
        const range = { metric: e.name, from: String(e.ts - H), to: String(e.ts + H), interval: '3600' };
        const sum = await get<{ series: Array<{ points: Array<[number, number]> }> }>('/v1/query', { ...range, agg: 'sum' });
        expect(sum.status, e.name).toBe(200);
        expect(sum.body.series.flatMap((x) => x.points.map((p) => p[1])), e.name).toEqual([e.value]);
        expect(await counted(e.name, e.ts - H, e.ts + H), e.name).toEqual({ status: 200, total: 1 });
        const archived = await allEvents({ name: e.name, from: String(e.ts - 1000), to: String(e.ts + 1000) });
        expect(archived.map((a) => [a.name, a.ts, a.value]), e.name).toEqual([[e.name, e.ts, e.value]]);
      }
      // What was refused is in neither.
      for (const e of events.slice(0, 3)) {
        expect((await counted(e.name, now - 2 * H, now + H)).status, e.name).toBe(404);
        expect(await allEvents({ name: e.name, from: String(now - 2 * H), to: String(now + H) }), e.name).toEqual([]);
      }
    });
  });

  describe('defect 3: one rule for names and tags, and every query route finds what the intake accepted', () => {
    /** A `filter` value as the API documents it: `\` escapes `,` and `\` (URLSearchParams percent-encodes the rest). */
    const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
    const VALUES = ['a#b', 'a,b', '%41', '%2F%00', 'x:y:z', 'C:\\tmp\\', ' sp ace ', 'ünï/代码 😀', '', 'a\\,b', '+plus+', '?q=1&r=2', '../..'];

    it('refuses at the intake, with a reason, what no query could ask for', async () => {
      // Act
      const res = await post([
        { name: 'd3/../x', ts: Date.now() },
        { name: 'd3/', ts: Date.now() },
        { name: 'd3.bad', ts: Date.now(), tags: { 'a:b': 'v' } },
        { name: 'd3.bad', ts: Date.now(), tags: { 'a,b': 'v' } },
        { name: 'd3.bad', ts: Date.now(), tags: { k: 'bell\u0007' } },
      ]);
      // Assess
      expect(res).toEqual({
        status: 202,
        body: {
          accepted: 0,
          rejected: 5,
          errors: [
            { index: 0, reason: 'name: ".." path segment at position 3 is not allowed (a name must be a safe path)' },
            { index: 1, reason: 'name: empty path segment at position 3 (a leading, trailing or doubled "/" is not allowed)' },
            { index: 2, reason: 'tags: key "a:b" contains ":" (not allowed in a tag key: it ends the key in filter=key:value)' },
            { index: 3, reason: 'tags: key "a,b" contains "," (not allowed in a tag key: it separates the items of filter and by)' },
            { index: 4, reason: 'tags.k: value contains control character U+0007 at position 4' },
          ],
        },
      });
    });

    it('finds each accepted tag value and key with filter and by, and a name holding "/" on every route', async () => {
      // Prepare
      const now = Date.now();
      const events = [
        ...VALUES.map((v, i) => ({ name: 'd3.tags', ts: now, value: i + 1, tags: { k: v } })),
        { name: 'd3.keys', ts: now, value: 5, tags: { 'k#1': 'v', 'dotted.key/x': 'w', 'x\\y': 'z' } },
        { name: 'd3.keys', ts: now, value: 6, tags: { 'k#1': 'other' } },
        { name: 'd3/http/requests', ts: now, value: 2, tags: { route: '/a/b' } },
      ];
      const range = { from: String(now - H), to: String(now + 60_000) };

      // Act
      const res = await post(events);
      await stack.drain(60_000);

      // Assess: every value and key is found, exactly.
      expect(res.body).toEqual({ accepted: events.length, rejected: 0, errors: [] });
      for (const [i, v] of VALUES.entries()) {
        const filter = `k:${esc(v)}`;
        const q = await get<{ series: Array<{ tags: Record<string, string>; points: Array<[number, number]> }> }>('/v1/query', { metric: 'd3.tags', agg: 'sum', interval: '3600', filter, ...range });
        expect(q.status, `${JSON.stringify(v)}: ${JSON.stringify(q.body)}`).toBe(200);
        expect(q.body.series.flatMap((x) => x.points.map((p) => p[1])), JSON.stringify(v)).toEqual([i + 1]);
        expect((await allEvents({ name: 'd3.tags', filter, ...range })).map((e) => e.tags), JSON.stringify(v)).toEqual([{ k: v }]);
        const s = await get<{ series: Array<{ tags: Record<string, string> }> }>('/v1/metrics/d3.tags/series', { filter });
        expect(s.body.series.map((x) => x.tags), JSON.stringify(v)).toEqual([{ k: v }]);
      }
      const keys = 'k#1:v,dotted.key/x:w,x\\\\y:z';
      expect(await counted('d3.keys', now - H, now + 60_000, { filter: keys })).toEqual({ status: 200, total: 1 });
      expect((await allEvents({ name: 'd3.keys', filter: keys, ...range })).map((e) => e.value)).toEqual([5]);
      const by = await get<{ series: Array<{ tags: Record<string, string>; points: Array<[number, number]> }> }>('/v1/query', { metric: 'd3.keys', agg: 'sum', interval: '3600', by: 'k#1', ...range });
      expect(by.body.series.map((x) => [x.tags, x.points.map((p) => p[1])])).toEqual([[{ 'k#1': 'other' }, [6]], [{ 'k#1': 'v' }, [5]]]);

      // A name with "/": /v1/query, /v1/events, and /v1/metrics/{name}/series sent as is and with %2F.
      expect(await counted('d3/http/requests', now - H, now + 60_000)).toEqual({ status: 200, total: 1 });
      expect((await allEvents({ name: 'd3/http/requests', ...range })).map((e) => e.name)).toEqual(['d3/http/requests']);
      for (const path of ['/v1/metrics/d3/http/requests/series', '/v1/metrics/d3%2Fhttp%2Frequests/series']) {
        const s = await get<{ metric: string; series: Array<{ tags: Record<string, string> }> }>(path, { filter: 'route:/a/b' });
        expect([s.status, s.body.metric, s.body.series.map((x) => x.tags)], path).toEqual([200, 'd3/http/requests', [{ route: '/a/b' }]]);
      }
      expect((await get<{ metrics: Array<{ name: string }> }>('/v1/metrics', {})).body.metrics.map((m) => m.name)).toEqual(
        expect.arrayContaining(['d3.keys', 'd3.tags', 'd3/http/requests']),
      );
    });
  });

  describe('defect 1: events sharing an id', () => {
    it('keeps all three events of three metrics sharing id "req-42" in /v1/query and /v1/events, before and after compaction', async () => {
      // Prepare: the issue's request.
      const events = [
        { name: 'req.latency', ts: T, value: 120, id: 'req-42' },
        { name: 'req.bytes', ts: T, value: 5, id: 'req-42' },
        { name: 'req.count', ts: T, id: 'req-42' },
      ];
      const range = { from: String(T - 1000), to: String(T + 1000) };
      const ids = (evs: EventOut[]) => evs.filter((e) => e.id === 'req-42').map((e) => [e.name, e.value]).sort();
      const want = [['req.bytes', 5], ['req.count', 1], ['req.latency', 120]];

      // Act
      const res = await post(events);
      await stack.drain(60_000);

      // Assess: the rollups count each, the archive returns each.
      expect(res).toEqual({ status: 202, body: { accepted: 3, rejected: 0, errors: [] } });
      for (const name of ['req.latency', 'req.bytes', 'req.count']) expect(await counted(name, T - H, T + H)).toEqual({ status: 200, total: 1 });
      expect(ids(await allEvents(range))).toEqual(want);

      // Act: compact the partition-hour (the compaction function on the stack's bucket).
      const p = partitionOf('acme', T);
      const summary = await createCompactHandler(stack.env)({ tenant: 'acme', dt: p.dt, hour: p.hour });

      // Assess: one compacted file holding the three rows; all three still returned and counted.
      expect(summary).toMatchObject({ compacted: 1, duplicatesDropped: 0, failed: [] });
      const listed = await new S3ArchiveBucket(s3Client(stack.env), stack.env.ARCHIVE_BUCKET_NAME!).list(partitionPrefix(p));
      expect(listed.objects.map((o) => o.key)).toEqual([expect.stringMatching(/\/compacted-[0-9a-f]{32}\.parquet$/)]);
      expect(ids(await allEvents(range))).toEqual(want);
      for (const name of ['req.latency', 'req.bytes', 'req.count']) expect(await counted(name, T - H, T + H)).toEqual({ status: 200, total: 1 });
    });
  });
});
