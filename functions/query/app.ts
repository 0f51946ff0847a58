/**
 * Wiring of the query function: adapters built once per container from an environment, then a
 * thin API Gateway (HTTP API, payload 2.0) handler over the pure core. `handler.ts` binds it to
 * `process.env` for Lambda; the embedded stack binds it to the stack's environment.
 *
 * Environment: ROLLUPS_TABLE_NAME, TENANTS_TABLE_NAME, ARCHIVE_BUCKET_NAME (required; the bucket
 * is read only by GET /v1/events, the zstd codec is loaded on its first call);
 * the settings of SETTINGS.query in lib/settings.ts (read concurrency, series cap, index cache
 * lifetime, Powertools service name and log level).
 *
 * Routes (lib/routes.ts, target `query`): GET /v1/metrics, /v1/metrics/{name}/series, /v1/query
 * (core.ts, rollups), GET /v1/events (events.ts, archive), GET / (dashboard/page.ts, no key).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { SETTINGS } from '../../lib/settings.ts';
import { S3ArchiveBucket } from '../shared/archive/s3-store.ts';
import { loadZstd } from '../shared/archive/zstd.ts';
import { dynamoClient, s3Client } from '../shared/clients.ts';
import { bucketName, readSettings, tableName, type Env } from '../shared/config.ts';
import { CachedAuthenticator, errorResponse } from '../shared/http.ts';
import { createLogger } from '../shared/logger.ts';
import { TenantStore } from '../shared/tenants.ts';
import { handleQueryRequest, type QueryDeps } from './core.ts';
import { dashboardResponse } from './dashboard/page.ts';
import { CachedSeriesIndex } from './index-cache.ts';
import { ArchivePartitionReader, type PartitionReader } from './events-reader.ts';
import { listEvents } from './events.ts';
import { DynamoRollupReader, type QuerySender } from './rollup-reader.ts';

export type QueryHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export const INTERNAL_ERROR = 'internal error; retry later';

export interface QueryOverrides extends Partial<QueryDeps> {
  /** The archive's partition reader (GET /v1/events). @default S3 + zstd, built on first use */
  readonly partitions?: PartitionReader;
}

export function createQueryHandler(env: Env, overrides: QueryOverrides = {}): QueryHandler {
  const { partitions: partitionsOverride, ...depOverrides } = overrides;
  const settings = readSettings(env, SETTINGS.query);
  const clientEnv = env === process.env ? undefined : env;
  const db = dynamoClient(clientEnv);
  const archive = partitionsOverride ? undefined : bucketName(env, 'archive');
  let partitions: Promise<PartitionReader> | undefined = partitionsOverride ? Promise.resolve(partitionsOverride) : undefined;
  const partitionReader = async (): Promise<PartitionReader> => {
    partitions ??= loadZstd().then((codec) => new ArchivePartitionReader(new S3ArchiveBucket(s3Client(clientEnv), archive!), codec));
    try {
      return await partitions;
    } catch (err) {
      partitions = undefined; // a failed codec load is tried again on the next request
      throw err;
    }
  };
  const now = depOverrides.now ?? Date.now;
  const reader =
    depOverrides.rollups ??
    new DynamoRollupReader(db as unknown as QuerySender, tableName(env, 'rollups'), settings.readConcurrency);
  const indexCacheMs = settings.indexCacheMs;
  const deps: QueryDeps = {
    publicRoutes: { 'GET /': async () => dashboardResponse() },
    extraRoutes: {
      'GET /v1/events': async (req, tenant) => listEvents(tenant, req.query, await partitionReader(), now()),
    },
    auth: depOverrides.auth ?? new CachedAuthenticator(new TenantStore(db, tableName(env, 'tenants'))),
    maxSeries: settings.maxSeries,
    ...depOverrides,
    // Overrides are wrapped too: the cache is part of the function, not of the DynamoDB adapter.
    rollups: indexCacheMs > 0 ? new CachedSeriesIndex(reader, { ttlMs: indexCacheMs }) : reader,
  };
  const logger = createLogger(settings);

  return async (event) => {
    try {
      return await handleQueryRequest(
        {
          routeKey: event.routeKey ?? `${event.requestContext?.http?.method ?? 'GET'} ${event.rawPath}`,
          rawPath: event.rawPath ?? '/',
          pathParameters: event.pathParameters ?? {},
          query: event.queryStringParameters ?? {},
          headers: lowerCase(event.headers ?? {}),
        },
        deps,
      );
    } catch (err) {
      logger.error('query failed', { error: err as Error, requestId: event.requestContext?.requestId, routeKey: event.routeKey });
      return errorResponse(500, INTERNAL_ERROR);
    }
  };
}

function lowerCase(h: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k in h) out[k.toLowerCase()] = h[k];
  return out;
}
