/**
 * The HTTP API's routes, defined once: the CDK stack creates them on API Gateway and the embedded
 * HTTP front serves them, so the two cannot drift. Pure data.
 */

export type RouteTarget = 'intake' | 'query';

export interface RouteDef {
  readonly method: 'GET' | 'POST';
  /** API Gateway path syntax: `{name}` is a path parameter. */
  readonly path: string;
  readonly target: RouteTarget;
}

export const ROUTES: readonly RouteDef[] = [
  { method: 'POST', path: '/v1/events', target: 'intake' },
  { method: 'GET', path: '/v1/events', target: 'query' },
  { method: 'GET', path: '/v1/metrics', target: 'query' },
  { method: 'GET', path: '/v1/metrics/{name}/series', target: 'query' },
  { method: 'GET', path: '/v1/query', target: 'query' },
  { method: 'GET', path: '/', target: 'query' },
];

export function routeKey(r: Pick<RouteDef, 'method' | 'path'>): string {
  return `${r.method} ${r.path}`;
}
