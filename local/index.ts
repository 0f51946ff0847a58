/**
 * The embedded stack: the whole system on one machine, no AWS account, no Docker.
 *
 *   emulators (Kinesis, DynamoDB, S3 on 127.0.0.1)  ← resources from lib/resources.ts
 *   poller per Kinesis consumer (Lambda's ESM semantics, settings from lib/functions.ts)
 *   HTTP front (API Gateway HTTP API events, routes from lib/routes.ts)
 *
 * Functions get `env`, exactly the environment a deployed function gets: resource names, the
 * standard AWS_ENDPOINT_URL_* variables, region and credentials. Integration tests use
 * `startStack()`; nothing else reaches into emulator internals.
 *
 * With the standard endpoint settings in the environment (AWS_ENDPOINT_URL=http://localhost.localstack.cloud:4566,
 * say) no emulator starts: the stack provisions its resources there, under a prefix of its own,
 * and runs the same pollers and HTTP front against them. That is how the integration suite runs
 * against LocalStack.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ResourceLimits } from 'node:worker_threads';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { createArchiveHandler } from '../functions/archive/app.ts';
import { createIntakeHandler } from '../functions/intake/app.ts';
import { KinesisRecordSink } from '../functions/shared/kinesis-sink.ts';
import { CachedAuthenticator } from '../functions/shared/http.ts';
import { createQueryHandler } from '../functions/query/app.ts';
import { createRollupHandler, createSweepHandler } from '../functions/rollup/app.ts';
import { configuredEndpoint, dynamoClient, kinesisClient, resetClients } from '../functions/shared/clients.ts';
import { parseTenantSpec, TenantStore, generateApiKey, type Scope } from '../functions/shared/tenants.ts';
import { FUNCTIONS, type ConsumerSettings, type FunctionDef } from '../lib/functions.ts';
import { DEFAULT_PREFIX, resourceEnv, STREAM, TABLES } from '../lib/resources.ts';
import { POWERTOOLS } from '../lib/settings.ts';
import { startEmulators, type Emulators } from './emulators.ts';
import { startHttpFront, type HttpFront } from './http-front.ts';
import { FunctionThread, resourceLimitsOf, type ThreadSpec } from './function-thread.ts';
import { EventLedger, stackStatus, type StackStatus } from './lag.ts';
import { countingKinesis, generateOperatorKey, statusRoute } from './status.ts';
import { FileCheckpointStore, FileOnFailureDestination, KinesisShardSource, Poller, consoleLogger, type PollerLogger } from './poller/index.ts';
import { LOCAL_ACCOUNT, provisionResources } from './provision.ts';

export type StackEnv = Readonly<Record<string, string>>;

export type ConsumerHandler = (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse | void>;

/** A Kinesis consumer run by the embedded stack's poller. */
export interface LocalConsumer {
  readonly name: string;
  /** Built once, with the stack's environment, in the stack's thread. */
  readonly create: (env: StackEnv) => ConsumerHandler;
  /**
   * The same handler, built in a worker thread of its own instead (local/function-thread.ts), when
   * the stack runs functions in threads.
   * @default none: always in the stack's thread
   */
  readonly thread?: ThreadSpec & { readonly resourceLimits?: ResourceLimits };
  readonly settings: ConsumerSettings;
  readonly timeoutSeconds: number;
  /** Settings this consumer gets besides the stack's environment (FunctionDef.local). */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface StartStackOptions {
  /** HTTP port; 0 picks a free one. @default PORT or 8787 */
  readonly port?: number;
  /** State directory, kept across restarts. @default STREAMFOLD_DATA_DIR or .streamfold */
  readonly dataDir?: string;
  /** tenant → API key (scopes write and read). @default from STREAMFOLD_TENANTS, else a `demo` tenant */
  readonly tenants?: Record<string, string>;
  /** Consumers to run besides the product's own (tests register recording handlers here). */
  readonly consumers?: readonly LocalConsumer[];
  /** Run only `consumers`, not the product's own. @default false */
  readonly onlyGivenConsumers?: boolean;
  /**
   * Overrides every consumer's batching window (tests use 0 so a drain never waits for a window).
   * @default each consumer's own setting (lib/functions.ts)
   */
  readonly batchingWindowSeconds?: number;
  /** Shards of the stream, when the stack creates it. @default STREAM.localShards (2) */
  readonly shards?: number;
  /** Settings every function gets (lib/settings.ts variables), over the local defaults. @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Run the product's functions (rollup, archive, sweeper) each on a worker thread of its own, as
   * Lambda runs each in its own container; false runs them in this thread (one heap, one CPU
   * profile). Consumers given in `consumers` run where their definition says.
   * @default true
   */
  readonly functionThreads?: boolean;
  /** Where progress and warnings go. @default console */
  readonly log?: (line: string) => void;
  readonly pollerLogger?: PollerLogger;
}

export interface RunningStack {
  /** Base URL of the HTTP front, e.g. http://127.0.0.1:8787 */
  readonly url: string;
  readonly env: StackEnv;
  readonly dataDir: string;
  /** The key created for the `demo` tenant on first start, when no tenants were given. */
  readonly demoKey?: string;
  /** The key of GET /v1/status, new at every start; also in the data directory's running.json. */
  readonly operatorKey: string;
  /**
   * Per consumer and shard: events behind the intake, records done and pending, the age of the
   * oldest unprocessed record (local/lag.ts). GET /v1/status answers the same.
   */
  status(): StackStatus;
  /** Resolves once every consumer has caught up with the stream tip and nothing is in flight. */
  drain(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The product's own Kinesis consumers, with the settings the CDK stack deploys, but for what
 * `FunctionDef.local` says the embedded stack runs differently (lib/functions.ts).
 */
export const PRODUCT_CONSUMERS: readonly LocalConsumer[] = [
  localConsumer('rollup', FUNCTIONS.rollup, (env) => createRollupHandler(env), { module: new URL('../functions/rollup/app.ts', import.meta.url).href, export: 'createRollupHandler' }),
  localConsumer('archive', FUNCTIONS.archive, (env) => createArchiveHandler(env), { module: new URL('../functions/archive/app.ts', import.meta.url).href, export: 'createArchiveHandler' }),
];

/** The sweeper, on its schedule (FUNCTIONS.sweep.local). */
const SWEEPER: ThreadSpec = { module: new URL('../functions/rollup/app.ts', import.meta.url).href, export: 'createSweepHandler' };

function localConsumer(name: string, def: FunctionDef, create: (env: StackEnv) => ConsumerHandler, thread: ThreadSpec): LocalConsumer {
  const local = def.local;
  return {
    name,
    create,
    thread: { ...thread, resourceLimits: resourceLimitsOf(def.nodeOptions) },
    settings: { ...def.consumer!, ...(local?.maxBatchingWindowSeconds !== undefined ? { maxBatchingWindowSeconds: local.maxBatchingWindowSeconds } : {}) },
    timeoutSeconds: def.timeoutSeconds,
    ...(local?.environment !== undefined ? { environment: local.environment } : {}),
  };
}

const REGION = 'us-east-1';
/** Written in the data directory while a stack runs: `{ pid, url, env, operatorKey }` (mode 0600). */
export const RUN_FILE = 'running.json';

export async function startStack(opts: StartStackOptions = {}): Promise<RunningStack> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const dataDir = resolve(opts.dataDir ?? process.env.STREAMFOLD_DATA_DIR ?? '.streamfold');
  await mkdir(dataDir, { recursive: true });

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    // Last started, first stopped: front, pollers, clients, then the emulators under them.
    for (const stop of stops.splice(0).reverse()) await stop();
  };

  try {
    // Functions run in this process, and Powertools Metrics reads its switch from process.env only:
    // EMF lines are CloudWatch's business and would flood a terminal.
    process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
    const backend = await startBackend(dataDir);
    stops.push(() => backend.stop());
    stops.push(async () => resetClients());

    // On a shared endpoint (LocalStack) every stack gets its own resources, so parallel test files
    // never read each other's records.
    const prefix = backend.external ? (process.env.STREAMFOLD_PREFIX ?? `${DEFAULT_PREFIX}-${randomBytes(4).toString('hex')}`) : DEFAULT_PREFIX;
    const provisioned = await provisionResources(backend.env, { prefix, account: backend.account, ...(opts.shards !== undefined ? { shards: opts.shards } : {}) });
    const env: StackEnv = Object.freeze({
      ...backend.env,
      ...resourceEnv(provisioned.names),
      AWS_DEFAULT_REGION: backend.region,
      [POWERTOOLS.metricsNamespace.envVar]: POWERTOOLS.metricsNamespace.default,
      // EMF metrics are CloudWatch's business; locally they would only flood the terminal.
      POWERTOOLS_METRICS_DISABLED: 'true',
      [POWERTOOLS.logLevel.envVar]: 'WARN',
      ...opts.environment,
    });
    const envOf = (extra: Readonly<Record<string, string>> | undefined): StackEnv => (extra === undefined ? env : Object.freeze({ ...extra, ...env }));

    const demoKey = await seedTenants(env, opts.tenants, log);

    const consumers = [...(opts.onlyGivenConsumers ? [] : PRODUCT_CONSUMERS), ...(opts.consumers ?? [])];
    // What the intake wrote, against what each consumer is done with (GET /v1/status).
    const ledger = new EventLedger(consumers.map((c) => c.name));
    const threads = opts.functionThreads ?? true;
    // Each function's thread is stopped after its poller (stops run last first).
    const handlerOf = async <H,>(name: string, thread: LocalConsumer['thread'], create: () => H, environment: StackEnv): Promise<H> => {
      if (!threads || thread === undefined) return create();
      const { resourceLimits, ...spec } = thread;
      const t = new FunctionThread(name, spec, environment, resourceLimits);
      stops.push(() => t.stop());
      await t.start();
      return t.handler as H;
    };
    const handlers = await Promise.all(consumers.map((c) => handlerOf(c.name, c.thread, () => c.create(envOf(c.environment)), envOf(c.environment))));
    const pollers: Poller[] = [];
    const streamArn = `arn:aws:kinesis:${backend.region}:${backend.account}:stream/${provisioned.names.stream}`;
    for (const [i, c] of consumers.entries()) {
      const s = c.settings;
      const poller = new Poller({
        source: new KinesisShardSource({ client: kinesisClient(env), stream: provisioned.names.stream }),
        streamArn,
        functionName: `${prefix}-${c.name}`,
        region: backend.region,
        handler: handlers[i]!,
        startingPosition: 'TRIM_HORIZON',
        batchSize: s.batchSize,
        maximumBatchingWindowInSeconds: opts.batchingWindowSeconds ?? s.maxBatchingWindowSeconds,
        parallelizationFactor: s.parallelizationFactor,
        reportBatchItemFailures: s.reportBatchItemFailures,
        bisectBatchOnFunctionError: s.bisectBatchOnError,
        maximumRetryAttempts: s.retryAttempts,
        maximumRecordAgeInSeconds: s.maxRecordAgeSeconds,
        functionTimeoutMs: c.timeoutSeconds * 1000,
        checkpoints: new FileCheckpointStore(join(dataDir, 'checkpoints')),
        onFailure: new FileOnFailureDestination(join(dataDir, 'on-failure', c.name)),
        logger: opts.pollerLogger ?? consoleLogger,
        // drain() waits for one discovery after it is called: keep it short locally.
        shardDiscoveryIntervalMs: 1000,
        onRecordsDone: (shardId, records, outcome) => {
          for (const r of records) ledger.done(c.name, shardId, r.sequenceNumber, outcome);
        },
      });
      pollers.push(poller);
    }

    const status = (): StackStatus => stackStatus(Date.now(), ledger, consumers.map((c, i) => ({ name: c.name, shards: pollers[i]!.status() })));
    const operatorKey = generateOperatorKey();
    const tenantKeys = new CachedAuthenticator(new TenantStore(dynamoClient(env), env[TABLES.tenants.envVar]!));

    let ready = false;
    const front: HttpFront = await startHttpFront({
      port: opts.port ?? (process.env.PORT ? Number(process.env.PORT) : 8787),
      handlers: {
        // The intake's own sink over a client that registers what it writes in the ledger.
        intake: createIntakeHandler(env, { sink: new KinesisRecordSink(countingKinesis(kinesisClient(env), ledger), env[STREAM.envVar]!) }),
        query: createQueryHandler(env),
      },
      localRoutes: [
        {
          method: 'GET',
          path: '/v1/status',
          handler: statusRoute({ operatorKey, status, classify: async (key) => ((await tenantKeys.authenticate(key)) === undefined ? 'unknown' : 'tenant') }),
        },
      ],
      ready: () => ready,
      onError: (err) => log(`http front: ${(err as Error).stack ?? String(err)}`),
    });
    stops.push(() => front.close());

    for (const p of pollers) p.start();
    stops.push(async () => {
      await Promise.all(pollers.map((p) => p.stop()));
    });

    // The rollup sweeper, on its local schedule (lib/functions.ts FUNCTIONS.sweep.local).
    if (!opts.onlyGivenConsumers) {
      const sweepEnv = envOf(FUNCTIONS.sweep.local?.environment);
      const sweep = await handlerOf('sweep', { ...SWEEPER, resourceLimits: resourceLimitsOf((FUNCTIONS.sweep as FunctionDef).nodeOptions) }, () => createSweepHandler(sweepEnv), sweepEnv);
      stops.push(startSchedule(FUNCTIONS.sweep, sweep, log));
    }

    // Tells other local tools (the tenants CLI) where this running stack's endpoints are.
    const runFile = join(dataDir, RUN_FILE);
    // The operator key is a secret: the file is the owner's only.
    await writeFile(runFile, JSON.stringify({ pid: process.pid, url: front.url, env, operatorKey }, null, 2), { mode: 0o600 });
    await chmod(runFile, 0o600); // a file left by a stack that crashed keeps its mode otherwise
    stops.push(() => rm(runFile, { force: true }));
    ready = true;

    let stopped: Promise<void> | undefined;
    return {
      url: front.url,
      env,
      dataDir,
      ...(demoKey ? { demoKey } : {}),
      operatorKey,
      status,
      drain: async (timeoutMs = 30_000) => {
        await Promise.all(pollers.map((p) => p.drain({ timeoutMs })));
      },
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

interface Backend {
  readonly env: Readonly<Record<string, string>>;
  readonly region: string;
  readonly account: string;
  /** True when the services are someone else's (LocalStack), found through endpoint settings. */
  readonly external: boolean;
  stop(): Promise<void>;
}

/**
 * The AWS services under the stack: the embedded emulators, or, when the standard endpoint
 * settings name them (`AWS_ENDPOINT_URL`, or `AWS_ENDPOINT_URL_KINESIS`, `_DYNAMODB` and `_S3`),
 * those endpoints — LocalStack, say. Nothing else changes between the two.
 */
async function startBackend(dataDir: string): Promise<Backend> {
  const e = process.env;
  const services = ['KINESIS', 'DYNAMODB', 'S3'] as const;
  const endpoints = services.map((svc) => configuredEndpoint(svc, e));
  if (endpoints.every((u) => u !== undefined)) {
    const region = e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? REGION;
    const env: Record<string, string> = {
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: e.AWS_ACCESS_KEY_ID ?? 'test',
      AWS_SECRET_ACCESS_KEY: e.AWS_SECRET_ACCESS_KEY ?? 'test',
    };
    services.forEach((svc, i) => (env[`AWS_ENDPOINT_URL_${svc}`] = endpoints[i]!));
    return { env, region, account: e.STREAMFOLD_ACCOUNT ?? LOCAL_ACCOUNT, external: true, stop: async () => undefined };
  }
  const emulators: Emulators = await startEmulators({ dataDir: join(dataDir, 'emulators'), region: REGION });
  return { env: emulators.env, region: emulators.region, account: emulators.account, external: false, stop: () => emulators.stop() };
}

/**
 * Tenants for local use: the given ones (kept across restarts: the key's hash is the item key), or
 * a `demo` tenant whose key is created and printed once.
 */
async function seedTenants(env: StackEnv, given: Record<string, string> | undefined, log: (line: string) => void): Promise<string | undefined> {
  const store = new TenantStore(dynamoClient(env), env[TABLES.tenants.envVar]!);
  const spec: Array<{ tenant: string; key: string; scopes: Scope[] }> = given
    ? parseTenantSpec(Object.entries(given).map(([t, k]) => `${t}:${k}`).join(','))
    : process.env.STREAMFOLD_TENANTS
      ? parseTenantSpec(process.env.STREAMFOLD_TENANTS)
      : [];
  for (const t of spec) {
    if ((await store.authenticate(t.key)) === undefined) await store.putKey(t.tenant, t.key, t.scopes);
  }
  if (spec.length > 0) return undefined;
  if ((await store.list('demo')).some((k) => k.revokedAt === undefined)) return undefined;
  const { key, keyId } = generateApiKey();
  await store.putKey('demo', key, ['write', 'read'], keyId);
  log(`Created tenant "demo" with API key ${key}\n(shown once; it is stored only as a hash — keep it, or create another with npm run tenants -- create demo)`);
  return key;
}


/**
 * Runs a scheduled function every `local.scheduleSeconds` (else `scheduleSeconds`), one run at a
 * time, as EventBridge would with reserved concurrency 1; a failed run is logged and the next one
 * goes ahead. Returns its stop.
 */
function startSchedule(def: FunctionDef, handler: (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<unknown>, log: (line: string) => void): () => Promise<void> {
  const everyMs = (def.local?.scheduleSeconds ?? def.scheduleSeconds ?? 300) * 1000;
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running !== undefined) return;
    const deadline = Date.now() + def.timeoutSeconds * 1000;
    running = handler({ 'detail-type': 'Scheduled Event' }, { getRemainingTimeInMillis: () => deadline - Date.now() })
      .then(
        () => undefined,
        (err: unknown) => log(`${def.id}: ${(err as Error).message ?? String(err)}`),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
