/**
 * Local HTTP front: turns plain HTTP requests into API Gateway HTTP API (payload format 2.0)
 * events, calls the same handlers the deployed API calls, and writes their results back.
 * Routes come from lib/routes.ts, the list the CDK stack deploys.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { ROUTES, routeKey, type RouteDef, type RouteTarget } from '../lib/routes.ts';

export type HttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;

/** A route only the embedded stack serves (not deployed on API Gateway), e.g. GET /v1/status. */
export interface LocalRoute {
  readonly method: RouteDef['method'];
  /** API Gateway path syntax, as in lib/routes.ts. */
  readonly path: string;
  readonly handler: HttpHandler;
}

export interface HttpFrontOptions {
  /** @default 8787; 0 picks a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  readonly handlers: Partial<Record<RouteTarget, HttpHandler>>;
  /** Served besides lib/routes.ts ROUTES (and matched before them). @default none */
  readonly localRoutes?: readonly LocalRoute[];
  /** Answers GET /health: 200 when it resolves true. */
  readonly ready?: () => boolean;
  /** API Gateway's request payload limit. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /** Handler time budget, as the function's timeout. @default 29 s (API Gateway's integration limit) */
  readonly timeoutMs?: number;
  readonly onError?: (err: unknown) => void;
}

export interface HttpFront {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface CompiledRoute {
  readonly def: Pick<RouteDef, 'method' | 'path'>;
  readonly re: RegExp;
  readonly params: string[];
  readonly handler: HttpHandler | undefined;
  /** The function name the handler runs as. */
  readonly functionName: string;
}

/** `{name}` matches one segment, `{name+}` (greedy, last) the rest of the path, as API Gateway does. */
function compile(def: Pick<RouteDef, 'method' | 'path'>, handler: HttpHandler | undefined, functionName: string): CompiledRoute {
  const params: string[] = [];
  const pattern = def.path
    .split(/(\{\w+\+?\})/)
    .map((part) => {
      const m = /^\{(\w+)(\+?)\}$/.exec(part);
      if (m === null) return part.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
      params.push(m[1]!);
      return m[2] === '+' ? '(.+)' : '([^/]+)';
    })
    .join('');
  return { def, re: new RegExp(`^${pattern}$`), params, handler, functionName };
}

const TEXT_TYPES = /^(text\/|application\/(json|x-ndjson|xml|javascript|x-www-form-urlencoded)|[^;]*\+json)/i;

export async function startHttpFront(opts: HttpFrontOptions): Promise<HttpFront> {
  const routes = [
    ...(opts.localRoutes ?? []).map((r) => compile(r, r.handler, 'streamfold-local')),
    ...ROUTES.map((r) => compile(r, opts.handlers[r.target], `streamfold-${r.target}`)),
  ];
  const maxBody = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const timeoutMs = opts.timeoutMs ?? 29_000;
  const sockets = new Set<import('node:net').Socket>();

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      opts.onError?.(err);
      if (!res.headersSent) send(res, 500, { 'content-type': 'application/json' }, '{"message":"Internal Server Error"}');
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname === '/health' && method === 'GET') {
      const ok = opts.ready?.() ?? true;
      send(res, ok ? 200 : 503, { 'content-type': 'application/json' }, JSON.stringify({ status: ok ? 'ok' : 'starting' }));
      return;
    }
    // API Gateway (HTTP API) decodes the path before it routes, and passes it decoded (rawPath
    // and path parameters): a %2F is a "/" by then, so a name holding one needs a greedy variable.
    const path = safeDecode(url.pathname);
    let matched: { route: CompiledRoute; params: Record<string, string> } | undefined;
    for (const route of routes) {
      if (route.def.method !== method) continue;
      const m = route.re.exec(path);
      if (m === null) continue;
      const params: Record<string, string> = {};
      route.params.forEach((p, i) => (params[p] = m[i + 1]!));
      matched = { route, params };
      break;
    }
    const handler = matched?.route.handler;
    if (matched === undefined || handler === undefined) {
      await drain(req);
      send(res, 404, { 'content-type': 'application/json' }, '{"message":"Not Found"}');
      return;
    }

    const body = await readBody(req, maxBody);
    if (body === 'too-large') {
      send(res, 413, { 'content-type': 'application/json' }, '{"message":"Request Entity Too Large"}');
      req.destroy();
      return;
    }
    const event = toEvent(req, url, method, matched.route.def, matched.params, body);
    const started = Date.now();
    const context = lambdaContext(matched.route.functionName, started, timeoutMs);
    const result = await withTimeout(handler(event, context), timeoutMs);
    if (result === TIMEOUT) {
      send(res, 503, { 'content-type': 'application/json' }, '{"message":"Service Unavailable"}');
      return;
    }
    writeResult(res, result);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8787, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        for (const s of sockets) s.destroy();
      }),
  };
}

function toEvent(
  req: IncomingMessage,
  url: URL,
  method: string,
  def: Pick<RouteDef, 'method' | 'path'>,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    const v = req.rawHeaders[i + 1]!;
    if (k === 'cookie') {
      cookies.push(...v.split(';').map((c) => c.trim()).filter(Boolean));
      continue;
    }
    headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = new Date();
  const contentType = headers['content-type'] ?? '';
  const isText = body.length > 0 && headers['content-encoding'] === undefined && TEXT_TYPES.test(contentType);
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: routeKey(def),
    rawPath: url.pathname,
    rawQueryString: url.search.startsWith('?') ? url.search.slice(1) : url.search,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: routeKey(def),
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: body.length > 0 && !isText,
  };
  if (cookies.length > 0) event.cookies = cookies;
  if (Object.keys(query).length > 0) event.queryStringParameters = query;
  if (Object.keys(pathParameters).length > 0) event.pathParameters = pathParameters;
  if (body.length > 0) event.body = isText ? body.toString('utf8') : body.toString('base64');
  return event;
}

function writeResult(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  // Payload format 2.0: a result without statusCode is a 200 JSON body (API Gateway infers it).
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    send(res, 200, { 'content-type': 'application/json' }, typeof result === 'string' ? result : JSON.stringify(result));
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k.toLowerCase()] = String(v);
  if (result.cookies && result.cookies.length > 0) headers['set-cookie'] = result.cookies;
  const body = result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
  send(res, result.statusCode ?? 200, headers, body);
}

function send(res: ServerResponse, status: number, headers: Record<string, string | string[]>, body: string | Buffer): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return 'too-large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req as AsyncIterable<Buffer>) {
    // discard
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const TIMEOUT = Symbol('timeout');
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<typeof TIMEOUT>((r) => (timer = setTimeout(() => r(TIMEOUT), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A Lambda `Context` for one local invocation. */
export function lambdaContext(functionName: string, startedAt: number, timeoutMs: number): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, startedAt + timeoutMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
