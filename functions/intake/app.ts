/**
 * Wiring of the intake function: adapters built once per container from an environment, then a
 * thin API Gateway (HTTP API, payload 2.0) handler over the pure core. `handler.ts` binds it to
 * `process.env` for Lambda; the embedded stack binds it to the stack's environment.
 *
 * Environment: EVENTS_STREAM_NAME, TENANTS_TABLE_NAME, IDEMPOTENCY_TABLE_NAME (required); the
 * settings of SETTINGS.intake in lib/settings.ts (partition keys per metric, the rollups' 1 h
 * retention, Powertools service name and log level).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { SETTINGS } from '../../lib/settings.ts';
import { dynamoClient, kinesisClient } from '../shared/clients.ts';
import { readSettings, streamName, tableName, type Env } from '../shared/config.ts';
import { CachedAuthenticator, errorResponse, type HttpResponse } from '../shared/http.ts';
import { KinesisRecordSink } from '../shared/kinesis-sink.ts';
import { HotKeys } from '../shared/put-records.ts';
import { createLogger, logPort } from '../shared/logger.ts';
import { TenantStore } from '../shared/tenants.ts';
import { daysToMs } from '../shared/rollups/keys.ts';
import { ingest, type IntakeDeps, type IntakeRequest } from './core.ts';
import { ingestDatadog, validateKey } from './datadog/index.ts';
import { ingestOtlp } from './otlp/index.ts';
import { DynamoIdempotencyStore } from './idempotency.ts';
import { CachedLimits, TenantLimiter, type TenantLimits } from './limits.ts';

/** The defaults of every tenant's limits, from the intake's settings (LIMIT_*). */
function limitDefaults(s: ReturnType<typeof readSettings<typeof SETTINGS.intake>>): TenantLimits {
  return { eventsPerSecond: s.limitEventsPerSecond, bytesPerSecond: s.limitBytesPerSecond, newSeriesPerMinute: s.limitNewSeriesPerMinute, seriesPerMetric: s.limitSeriesPerMetric, seriesPerTenant: s.limitSeriesPerTenant };
}

/**
 * The intake's routes (lib/routes.ts): our JSON events, and the drop-in formats in front of the
 * same validator and record encoder.
 */
export function route(routeKey: string, req: IntakeRequest, deps: IntakeDeps): Promise<HttpResponse> {
  switch (routeKey) {
    case 'POST /v1/metrics':
      return ingestOtlp(req, deps);
    case 'POST /api/v2/series':
      return ingestDatadog('v2-series', req, deps);
    case 'POST /api/v1/series':
      return ingestDatadog('v1-series', req, deps);
    case 'POST /api/v1/distribution_points':
      return ingestDatadog('distribution-points', req, deps);
    case 'GET /api/v1/validate':
      return validateKey(req, deps);
    default:
      return ingest(req, deps);
  }
}

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export function createIntakeHandler(env: Env, overrides: Partial<IntakeDeps> = {}): ApiHandler {
  const settings = readSettings(env, SETTINGS.intake);
  const logger = createLogger(settings);
  const clientEnv = env === process.env ? undefined : env;
  const db = dynamoClient(clientEnv);
  const tenants = new TenantStore(db, tableName(env, 'tenants'));
  const deps: IntakeDeps = {
    auth: new CachedAuthenticator(tenants),
    limits: { limiter: new TenantLimiter(), source: new CachedLimits({ limitsFor: (t) => tenants.getLimits(t) }, limitDefaults(settings)) },
    sink: new KinesisRecordSink(kinesisClient(clientEnv), streamName(env)),
    idempotency: new DynamoIdempotencyStore(db, tableName(env, 'idempotency')),
    spread: settings.spread,
    partitionBuckets: settings.partitionBuckets,
    maxAgeMs: daysToMs(settings.rollupTtl1hDays),
    logger: logPort(logger),
    hotKeys: new HotKeys(),
    ...overrides,
  };

  return async (event, context) => {
    const body = event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    try {
      const res = await route(event.routeKey, { headers: event.headers ?? {}, body, remainingMs: () => context.getRemainingTimeInMillis() }, deps);
      if (res.statusCode >= 500 || res.statusCode === 429) {
        logger.warn('intake refused a request', { statusCode: res.statusCode, requestId: event.requestContext?.requestId });
      }
      return res;
    } catch (err) {
      // Auth or idempotency storage failed: nothing was reported as accepted; the caller retries.
      logger.error('intake failed', { error: err as Error, requestId: event.requestContext?.requestId });
      return errorResponse(500, 'internal error; retry later');
    }
  };
}
