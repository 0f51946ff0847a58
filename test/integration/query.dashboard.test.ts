/**
 * The dashboard in headless Chromium (Debian package `chromium`, driven by `playwright-core`):
 * loads GET /, takes the key typed into the page, and draws a chart with points from the real
 * query function over events posted through the intake and rolled up on the embedded stack.
 * Also checks the query routes through a real HTTP front (path decoding included).
 *
 * The stack's own front does not route to the query function yet, so this test starts a second
 * front (local/http-front.ts) with the query handler bound to the stack's environment.
 *
 * Skips, saying why, where Chromium or playwright-core is absent.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/app.ts';
import { createQueryHandler } from '../../functions/query/app.ts';
import { createRollupHandler } from '../../functions/rollup/app.ts';
import { CONSUMER_DEFAULTS } from '../../lib/functions.ts';
import { startHttpFront, type HttpFront } from '../../local/http-front.ts';
import { startStack, type RunningStack } from '../../local/index.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const KEY = 'acme-dash-key-01';

type Playwright = { chromium: { launch(o: { executablePath: string; headless: boolean; args?: string[] }): Promise<Browser> } };
type Browser = { newPage(): Promise<Page>; close(): Promise<void> };
type Page = {
  goto(url: string): Promise<unknown>;
  fill(sel: string, v: string): Promise<void>;
  click(sel: string): Promise<void>;
  waitForSelector(sel: string, o?: { timeout?: number }): Promise<unknown>;
  locator(sel: string): { count(): Promise<number> };
  url(): string;
  on(ev: 'request', fn: (r: { url(): string }) => void): void;
};

async function loadPlaywright(): Promise<Playwright | string> {
  if (!existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM} (apt-get install chromium)`;
  const name = 'playwright-core';
  try {
    return (await import(name)) as Playwright;
  } catch {
    return 'playwright-core is not installed (devDependency)';
  }
}

const playwright = await loadPlaywright();

describe('Dashboard and query routes through an HTTP front', () => {
  let dataDir: string;
  let stack: RunningStack;
  let front: HttpFront;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streamfold-dash-'));
    stack = await startStack({
      port: 0,
      dataDir,
      tenants: { acme: KEY },
      onlyGivenConsumers: true,
      consumers: [
        {
          name: 'rollup',
          timeoutSeconds: 60,
          settings: { ...CONSUMER_DEFAULTS, maxBatchingWindowSeconds: 0 },
          create: (env) => createRollupHandler(env, { metrics: { add: () => {} }, flushMetrics: () => {} }),
        },
      ],
      log: () => {},
    });
    front = await startHttpFront({ port: 0, handlers: { intake: createIntakeHandler(stack.env), query: createQueryHandler(stack.env) } });
    const now = Date.now();
    const events = Array.from({ length: 240 }, (_, i) => ({ name: 'dash.req', ts: now - i * 60_000, value: (i % 7) + 1, tags: { host: `h${i % 2}` } }));
    const res = await fetch(`${front.url}/v1/events`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(res.status).toBe(202);
    await stack.drain(60_000);
  });

  afterAll(async () => {
    await front?.close();
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the query routes over HTTP, refusing a parent segment in the path (%2F decoded first, as API Gateway does)', async () => {
    const get = (path: string) => fetch(`${front.url}${path}`, { headers: { 'x-api-key': KEY } }).then(async (r) => [r.status, await r.json()] as const);
    expect(await get('/v1/metrics')).toEqual([200, { metrics: [{ name: 'dash.req', type: 'count', lastSeen: expect.any(Number) }] }]);
    const [status, body] = await get('/v1/query?metric=dash.req&agg=sum&by=host');
    expect(status).toBe(200);
    expect((body as { series: unknown[] }).series).toHaveLength(2);
    expect(await get('/v1/metrics/..%2Fdash.req/series')).toEqual([400, { error: 'name: ".." path segment at position 0 is not allowed (a name must be a safe path)' }]);
    expect(await get('/v1/metrics/nope/series')).toEqual([404, { error: 'metric "nope" not found' }]);
    const page = await fetch(`${front.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it.skipIf(typeof playwright === 'string')(`draws a chart in headless Chromium${typeof playwright === 'string' ? ` (skipped: ${playwright})` : ''}`, async () => {
    const browser = await (playwright as Playwright).chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const urls: string[] = [];
      page.on('request', (r) => urls.push(r.url()));
      await page.goto(`${front.url}/`);
      await page.fill('#key', KEY);
      await page.click('#connect-btn');
      await page.waitForSelector('#chart svg circle.point', { timeout: 15_000 });
      expect(await page.locator('#chart svg circle.point').count()).toBeGreaterThan(10);
      expect(urls.every((u) => u.startsWith(front.url))).toBe(true);
      expect(urls.some((u) => u.includes(KEY)) || page.url().includes(KEY)).toBe(false);
    } finally {
      await browser.close();
    }
  });
});
