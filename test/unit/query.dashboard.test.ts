import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { handleQueryRequest } from '../../functions/query/core.ts';
import { DASHBOARD_CSP, DASHBOARD_HTML, dashboardResponse } from '../../functions/query/dashboard/page.ts';
import { MemoryRollupReader } from './support/query.ts';

describe('Function: dashboardResponse', () => {
  it('is served at GET / without a key, with a strict CSP', async () => {
    // Act
    const res = await handleQueryRequest(
      { routeKey: 'GET /', rawPath: '/', pathParameters: {}, query: {}, headers: {} },
      { auth: { authenticate: async () => undefined }, rollups: new MemoryRollupReader([]), publicRoutes: { 'GET /': async () => dashboardResponse() } },
    );

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'none'");
    expect(DASHBOARD_CSP).toContain("connect-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
  });

  it('loads nothing from elsewhere and keeps the key out of URLs and storage', () => {
    // Assess
    expect(DASHBOARD_HTML).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(DASHBOARD_HTML).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(DASHBOARD_HTML).not.toMatch(/localStorage|sessionStorage|document\.cookie|location\.(search|hash)/);
    expect(DASHBOARD_HTML).toContain('<input id="key" type="password"');
    expect(DASHBOARD_HTML).toContain("headers: { 'x-api-key': apiKey }");
  });

  it('carries a script that parses', () => {
    const src = /<script>([\s\S]*)<\/script>/.exec(DASHBOARD_HTML)![1]!;
    expect(() => new Script(src)).not.toThrow();
  });
});
