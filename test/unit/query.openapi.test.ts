/** openapi.yaml: well-formed (in the YAML subset it is written in), complete for every route, refs resolve. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../lib/routes.ts';
import { parseYamlSubset, resolveRef, responseSchema, validate, type Schema } from './support/query-openapi.ts';

const doc = parseYamlSubset(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;

function refs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => refs(x, out));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refs(x, out);
    }
  }
  return out;
}

describe('Document: openapi.yaml', () => {
  it('is OpenAPI 3.1 and documents every API route', () => {
    // Assess
    expect(doc.openapi).toBe('3.1.0');
    const paths = doc.paths as Record<string, Record<string, unknown>>;
    for (const r of ROUTES.filter((x) => x.path !== '/')) {
      const path = r.documentedPath ?? r.path;
      expect(paths[path]?.[r.method.toLowerCase()], `${r.method} ${path}`).toBeDefined();
    }
  });

  it('resolves every $ref', () => {
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(20);
    for (const r of all) expect(() => resolveRef(doc as never, r)).not.toThrow();
  });

  it('documents the error shape of every 4xx and 500 (the drop-in routes answer in their protocol\'s shape)', () => {
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const shape = path.startsWith('/api/') ? { errors: ['x'] } : path === '/v1/metrics' && method === 'post' ? { code: 3, message: 'x' } : { error: 'x' };
        for (const status of Object.keys(op.responses).filter((s) => s >= '400' && s !== '500')) {
          expect(validate(doc as never, responseSchema(doc as never, path, method, Number(status)), shape), `${method} ${path} ${status}`).toEqual([]);
        }
        if (op.responses['500'] !== undefined) expect(validate(doc as never, responseSchema(doc as never, path, method, 500), { error: 'x' })).toEqual([]);
      }
    }
  });

  it('validates query results as documented', () => {
    // Prepare
    const schema = responseSchema(doc as never, '/v1/query', 'GET', 200);

    // Act & Assess
    expect(validate(doc as never, schema, { series: [{ tags: { host: 'a' }, points: [[1, 2.5]] }], interval: 60 })).toEqual([]);
    expect(validate(doc as never, schema, { series: [{ tags: {}, points: [[1.5, 2]] }], interval: 61, extra: 1 })).toEqual([
      '$.series[0].points[0][0]: expected integer, got number',
      '$.interval: 61 not in enum',
      '$: unexpected property extra',
    ]);
  });
});

describe('Function: parseYamlSubset', () => {
  it('reads the subset and refuses what is outside it', () => {
    expect(parseYamlSubset("a:\n  b: [x, 'y z', 3]\n  c:\n    - d: 1\n      e: >-\n        two\n        lines\n    - plain\n'200': null\n")).toEqual({
      a: { b: ['x', 'y z', 3], c: [{ d: 1, e: 'two lines' }, 'plain'] },
      '200': null,
    });
    expect(() => parseYamlSubset('a: &anchor 1\n')).toThrow(SyntaxError);
    expect(() => parseYamlSubset('a: 1\na: 2\n')).toThrow('duplicate key a');
    expect((validate({}, { type: ['string', 'null'] } as Schema, null))).toEqual([]);
  });
});
