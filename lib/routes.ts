/**
 * The HTTP API's routes, defined once: the CDK stack creates them on API Gateway and the embedded
 * HTTP front serves them, so the two cannot drift. Pure data.
 */

export type RouteTarget = 'intake' | 'query';

export interface RouteDef {
  readonly method: 'GET' | 'POST';
  /**
   * API Gateway path syntax: `{name}` is a path parameter (one segment), `{name+}` a greedy one
   * (the rest of the path, `/`s included; last in the path only).
   */
  readonly path: string;
  readonly target: RouteTarget;
  /** The path as openapi.yaml documents it, where it differs from `path`. @default path */
  readonly documentedPath?: string;
}

export const ROUTES: readonly RouteDef[] = [
  { method: 'POST', path: '/v1/events', target: 'intake' },
  // Drop-in intake (functions/intake/otlp, functions/intake/datadog): the emitters' own formats.
  { method: 'POST', path: '/v1/metrics', target: 'intake' },
  { method: 'POST', path: '/api/v2/series', target: 'intake' },
  { method: 'POST', path: '/api/v1/series', target: 'intake' },
  { method: 'POST', path: '/api/v1/distribution_points', target: 'intake' },
  { method: 'GET', path: '/api/v1/validate', target: 'intake' },
  { method: 'GET', path: '/v1/events', target: 'query' },
  { method: 'GET', path: '/v1/metrics', target: 'query' },
  // A metric name may hold `/`, and API Gateway decodes %2F before it routes: the greedy variable
  // takes `<name>/series` whole, and the query function takes `/series` off its end.
  { method: 'GET', path: '/v1/metrics/{name+}', target: 'query', documentedPath: '/v1/metrics/{name}/series' },
  { method: 'GET', path: '/v1/query', target: 'query' },
  { method: 'GET', path: '/', target: 'query' },
];

export function routeKey(r: Pick<RouteDef, 'method' | 'path'>): string {
  return `${r.method} ${r.path}`;
}
