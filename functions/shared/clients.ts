/**
 * One AWS SDK client per service per container, configured only by the standard AWS settings:
 * `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY` (or any other source of the default credential chain), and the shared
 * config file. Nothing here knows whether it talks to the embedded emulators, LocalStack or AWS.
 *
 * With no argument, the SDK resolves endpoint, region and credentials itself: SDK v3 reads
 * `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL` and the config file's `endpoint_url`
 * (@smithy/core `getEndpointUrlConfig`). Tests pass an environment object instead, because the SDK
 * only reads `process.env`: its endpoint, region and keys are passed explicitly, and the endpoints
 * configured in `process.env` or the config file are ignored (region and credentials it lacks
 * still come from the SDK's default chains).
 *
 * S3 uses path-style addressing whenever an endpoint is set by variable. An S3 endpoint set only
 * in the config file gets virtual-host addressing (fine for LocalStack's
 * `s3.localhost.localstack.cloud`, not for the embedded emulator).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export type ClientEnv = Readonly<Record<string, string | undefined>>;

/** The part of every SDK client config that the environment decides. */
interface CommonConfig {
  region?: string;
  endpoint?: string;
  ignoreConfiguredEndpointUrls?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

type ServiceId = 'KINESIS' | 'DYNAMODB' | 'S3';

/** The endpoint a service is configured with, by the same precedence as the SDK. */
export function configuredEndpoint(service: ServiceId, env: ClientEnv = process.env): string | undefined {
  return nonEmpty(env[`AWS_ENDPOINT_URL_${service}`]) ?? nonEmpty(env.AWS_ENDPOINT_URL);
}

function commonConfig(service: ServiceId, env: ClientEnv | undefined): CommonConfig {
  if (env === undefined) return {};
  const config: CommonConfig = { ignoreConfiguredEndpointUrls: true };
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (region !== undefined) config.region = region;
  const endpoint = configuredEndpoint(service, env);
  if (endpoint !== undefined) config.endpoint = endpoint;
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
    config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  return config;
}

/**
 * Memoizes one client per environment object: the default (`process.env`, resolved by the SDK)
 * once per container, and one per object a test passes. `build` returns the client and the
 * function that releases its sockets.
 */
function memoized<T>(
  build: (env: ClientEnv | undefined) => readonly [T, () => void],
): { get(env?: ClientEnv): T; clear(): void } {
  let forProcess: T | undefined;
  let forObjects = new WeakMap<object, T>();
  const disposers = new Set<() => void>();
  const create = (env: ClientEnv | undefined): T => {
    const [client, dispose] = build(env);
    disposers.add(dispose);
    return client;
  };
  return {
    get(env?: ClientEnv): T {
      if (env === undefined || env === process.env) return (forProcess ??= create(undefined));
      let client = forObjects.get(env);
      if (client === undefined) forObjects.set(env, (client = create(env)));
      return client;
    },
    clear(): void {
      for (const dispose of disposers) dispose();
      disposers.clear();
      forProcess = undefined;
      forObjects = new WeakMap();
    },
  };
}

const kinesis = memoized((env) => {
  const client = new KinesisClient({
    ...commonConfig('KINESIS', env),
    // The SDK's Kinesis default is HTTP/2, which kinesalite and kinesis-local do not speak.
    // HTTP/1.1 serves every API used here (all but SubscribeToShard) on AWS too.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000 }),
  });
  return [client, () => client.destroy()] as const;
});

const dynamo = memoized((env) => {
  const base = new DynamoDBClient(commonConfig('DYNAMODB', env));
  const doc = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
  // The document client's own destroy() is a no-op: release the client it wraps.
  return [doc, () => base.destroy()] as const;
});

const s3 = memoized((env) => {
  const client = new S3Client({
    ...commonConfig('S3', env),
    // Emulators serve buckets by path, not by virtual host.
    forcePathStyle: configuredEndpoint('S3', env ?? process.env) !== undefined,
  });
  return [client, () => client.destroy()] as const;
});

export function kinesisClient(env?: ClientEnv): KinesisClient {
  return kinesis.get(env);
}

/** A document client that drops `undefined` attributes instead of failing on them. */
export function dynamoClient(env?: ClientEnv): DynamoDBDocumentClient {
  return dynamo.get(env);
}

export function s3Client(env?: ClientEnv): S3Client {
  return s3.get(env);
}

/** Destroys every client built so far (their sockets included); the next call builds new ones. */
export function resetClients(): void {
  kinesis.clear();
  dynamo.clear();
  s3.clear();
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
