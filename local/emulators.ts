/**
 * Embedded AWS emulators for `npm start` and the integration tests: Kinesis (kinesalite),
 * DynamoDB (dynalite) and S3 (s3rver), all in this process (kinesalite and dynalite each on a
 * worker thread of its own), each on 127.0.0.1 with a port chosen at run time. State lives under `dataDir` (LevelDB for Kinesis and DynamoDB, plain files for S3),
 * so a stop and a start on the same directory keep streams, records, tables, items and objects.
 *
 * Nothing else in the project knows about this module: functions find the emulators through the
 * standard `AWS_ENDPOINT_URL_*` variables, which `Emulators.env` holds.
 *
 * Known limits of the emulators (see also local/provision.ts):
 * - dynalite has no TransactWriteItems and no UpdateTimeToLive (items never expire);
 * - kinesalite has no enhanced fan-out (SubscribeToShard), no on-demand mode, and a stream created
 *   just before a stop stays CREATING for ever (its ACTIVE flip is a timer that dies with the process).
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { StreamfoldError } from '../functions/shared/errors.ts';
import { LOCAL_ACCOUNT } from './provision.ts';
import { nameThread } from './threads.ts';

/** The account id the emulators put in ARNs (LocalStack uses the same one). */
export const EMULATOR_ACCOUNT = LOCAL_ACCOUNT;
export const DEFAULT_EMULATOR_REGION = 'us-east-1';
/**
 * s3rver only accepts its built-in key pair; kinesalite and dynalite only check that a request is
 * signed, so all three share it.
 */
export const EMULATOR_CREDENTIALS = Object.freeze({
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
});

export interface EmulatorOptions {
  /** Directory holding every emulator's state; created when missing. */
  readonly dataDir: string;
  /** Region the emulators report in ARNs. @default 'us-east-1' */
  readonly region?: string;
  /**
   * Keep Kinesis and DynamoDB state in memory instead of LevelDB (S3 still writes under
   * `dataDir`): nothing survives a stop. For benchmarks. @default false
   */
  readonly memory?: boolean;
}

export interface Emulators {
  readonly endpoints: { readonly kinesis: string; readonly dynamodb: string; readonly s3: string };
  readonly region: string;
  readonly account: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * The standard variables that point an AWS SDK at these emulators: `AWS_ENDPOINT_URL_KINESIS`,
   * `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
   * `AWS_SECRET_ACCESS_KEY`.
   */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Closes every server, connection and LevelDB handle; the same `dataDir` can be reopened as soon
   * as it resolves. Stop pollers and clients first: a request still being served when its
   * emulator's database closes can crash its worker (kinesalite rethrows storage errors).
   * Idempotent.
   */
  stop(): Promise<void>;
}

/** An emulator failed to start or to stop. */
export class EmulatorError extends StreamfoldError {}

// The three packages are CommonJS without type declarations: load them through `require` and
// describe only the slice used here.
const require = createRequire(import.meta.url);

interface KinesaliteOptions {
  path?: string;
  createStreamMs?: number;
  deleteStreamMs?: number;
  updateStreamMs?: number;
  shardLimit?: number;
}
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  verbose?: boolean;
  debug?: boolean;
}
interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  resetOnClose?: boolean;
  vhostBuckets?: boolean;
  configureBuckets?: unknown[];
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}

const S3rver = require('s3rver') as new (options: S3rverOptions) => S3rverInstance;

/** The LevelDB bindings kinesalite (leveldown) and dynalite (level → classic-level) open. */
interface LevelDown {
  open(cb: (error?: Error | null) => void): void;
  close(cb: (error?: Error | null) => void): void;
}
const leveldown = createRequire(require.resolve('kinesalite'))('leveldown') as (path: string) => LevelDown;
const { Level } = createRequire(require.resolve('dynalite'))('level') as {
  Level: new (path: string) => { open(): Promise<void>; close(): Promise<void> };
};

/** Data directories of the emulators running in this process. */
const inUse = new Set<string>();

/** Fast enough that provisioning never waits, slow enough to exercise the CREATING state. */
const STATUS_CHANGE_MS = 10;
/** kinesalite's per-account shard limit (its default, 10, is too few for resharding tests). */
const SHARD_LIMIT = 1000;
const HOST = '127.0.0.1';

interface Running {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startEmulators(opts: EmulatorOptions): Promise<Emulators> {
  const region = opts.region ?? DEFAULT_EMULATOR_REGION;
  const dataDir = resolve(opts.dataDir);
  const dirs = {
    kinesis: join(dataDir, 'kinesis'),
    dynamodb: join(dataDir, 'dynamodb'),
    s3: join(dataDir, 's3'),
  };
  if (inUse.has(dataDir)) {
    throw new EmulatorError(`Emulators are already running on ${dataDir} in this process`);
  }
  await Promise.all(Object.values(dirs).map((dir) => mkdir(dir, { recursive: true })));
  if (!opts.memory) await assertUnlocked(dirs.kinesis, dirs.dynamodb);
  // Checked again: another start on the same directory may have begun while this one awaited.
  if (inUse.has(dataDir)) {
    throw new EmulatorError(`Emulators are already running on ${dataDir} in this process`);
  }
  inUse.add(dataDir);

  const started: Running[] = [];
  try {
    const kinesisOptions: KinesaliteOptions = {
      ...(opts.memory ? {} : { path: dirs.kinesis }),
      createStreamMs: STATUS_CHANGE_MS,
      deleteStreamMs: STATUS_CHANGE_MS,
      updateStreamMs: STATUS_CHANGE_MS,
      shardLimit: SHARD_LIMIT,
    };
    started.push(await startEmulatorWorker('kinesalite', kinesisOptions, region));

    const dynamoOptions: DynaliteOptions = {
      ...(opts.memory ? {} : { path: dirs.dynamodb }),
      createTableMs: STATUS_CHANGE_MS,
      deleteTableMs: STATUS_CHANGE_MS,
      updateTableMs: STATUS_CHANGE_MS,
    };
    started.push(await startEmulatorWorker('dynalite', dynamoOptions, region));

    started.push(await startS3(dirs.s3));
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop()));
    inUse.delete(dataDir);
    throw new EmulatorError(`Could not start the emulators in ${dataDir}`, { cause: error });
  }

  const [kinesis, dynamodb, s3] = started as [Running, Running, Running];
  const endpoints = { kinesis: kinesis.endpoint, dynamodb: dynamodb.endpoint, s3: s3.endpoint };
  const env = {
    AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const results = await Promise.allSettled(started.map((s) => s.stop()));
      inUse.delete(dataDir);
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      if (errors.length > 0) {
        throw new EmulatorError(`Could not stop ${errors.length} emulator(s) cleanly`, {
          cause: new AggregateError(errors),
        });
      }
    })();
    return stopping;
  };

  return {
    endpoints,
    region,
    account: EMULATOR_ACCOUNT,
    credentials: { ...EMULATOR_CREDENTIALS },
    env: Object.freeze(env),
    stop,
  };
}

/** How long a stopping emulator worker may take before it is terminated. */
const WORKER_STOP_MS = 10_000;

/**
 * An emulator on a worker thread (local/emulator-worker.cjs). dynalite: every rollup write is a
 * DynamoDB call, and in the functions' own thread dynalite took a third of the embedded stack's
 * CPU (end to end +40 % on 2 cores on its own thread, bench/e2e.ts). kinesalite: every record is
 * put once and read once per consumer, and its LevelDB, sequence-number arithmetic (bignumber.js)
 * and JSON took ~12 % of the main thread at 10,000 events/s. Each collects its garbage in its own
 * heap; its LevelDB is opened and closed in the worker.
 */
async function startEmulatorWorker(emulator: 'dynalite' | 'kinesalite', options: DynaliteOptions | KinesaliteOptions, region: string): Promise<Running> {
  const worker = new Worker(new URL('./emulator-worker.cjs', import.meta.url), {
    workerData: { emulator, options, region, account: EMULATOR_ACCOUNT, host: HOST },
  });
  let exited = false;
  const exit = new Promise<void>((resolveExit) => worker.once('exit', () => ((exited = true), resolveExit())));
  const port = await new Promise<number>((resolvePort, reject) => {
    const onMessage = (m: { port?: number; tid?: number; error?: string }) => {
      if (m.port !== undefined) {
        nameThread(emulator, m.tid);
        resolvePort(m.port);
      }
      else reject(new EmulatorError(`${emulator} could not start: ${m.error ?? 'unknown error'}`));
    };
    worker.once('message', onMessage);
    worker.once('error', reject);
    void exit.then(() => reject(new EmulatorError(`the ${emulator} worker exited before it listened`)));
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  // An error thrown on the worker (kinesalite rethrows storage errors) ends the worker, not this
  // process: calls to the emulator fail from then on, and stop() reports it.
  let crashed: unknown;
  worker.on('error', (error) => (crashed ??= error));
  return {
    endpoint: `http://${HOST}:${port}`,
    stop: async () => {
      if (exited) {
        if (crashed !== undefined) throw new EmulatorError(`${emulator} had crashed`, { cause: crashed });
        return;
      }
      const stopped = new Promise<{ error?: string }>((resolveStop) => {
        worker.on('message', (m: { stopped?: boolean; error?: string }) => m.stopped && resolveStop(m));
        void exit.then(() => resolveStop({}));
      });
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        stopped,
        new Promise<{ error: string }>((resolveTimeout) => {
          timer = setTimeout(() => resolveTimeout({ error: `${emulator} did not stop within ${WORKER_STOP_MS} ms` }), WORKER_STOP_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!exited) await worker.terminate();
      await exit;
      if (outcome.error !== undefined) throw new EmulatorError(`Could not stop ${emulator} cleanly: ${outcome.error}`);
    },
  };
}

async function startS3(directory: string): Promise<Running> {
  const s3 = new S3rver({
    address: HOST,
    port: 0,
    directory,
    silent: true,
    // Path-style only: clients send `forcePathStyle`, and a stray Host header must not turn into a
    // bucket name.
    vhostBuckets: false,
  });
  await s3.run();
  const server = s3.httpServer;
  if (!server) throw new EmulatorError('s3rver started without an HTTP server');
  return { endpoint: endpointOf(server, 's3'), stop: () => closeServer(server) };
}

function endpointOf(server: Server, name: string): string {
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new EmulatorError(`The ${name} emulator is not listening on a TCP port`);
  }
  return `http://${HOST}:${address.port}`;
}

/**
 * Closes a server and drops its connections at once: SDK clients keep sockets alive, and a server
 * waits for every socket before it calls back. kinesalite's `close` closes its LevelDB too (the
 * dynalite worker does the same for its own server); s3rver keeps no open files.
 */
function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    server.close((error?: Error) => (error ? reject(error) : resolve()));
    // kinesalite closes its database before the HTTP server: without this the keep-alive sockets
    // would hold the server open until the clients let go of them.
    server.closeAllConnections();
  });
}

/**
 * Fails when another process holds either LevelDB. kinesalite opens its database in the
 * background and throws the lock error out of an event handler, which would crash this process
 * after `startEmulators` had returned; opening (and closing) both databases first turns that into
 * an error here.
 */
async function assertUnlocked(kinesisDir: string, dynamoDir: string): Promise<void> {
  const describe = (dir: string, error: unknown): EmulatorError =>
    new EmulatorError(`Cannot open the LevelDB in ${dir}: is another streamfold running on it?`, {
      cause: error,
    });
  const kinesisDb = leveldown(kinesisDir);
  await new Promise<void>((ok, fail) =>
    kinesisDb.open((error) => (error ? fail(describe(kinesisDir, error)) : kinesisDb.close(() => ok()))),
  );
  const dynamoDb = new Level(dynamoDir);
  try {
    await dynamoDb.open();
  } catch (error) {
    throw describe(dynamoDir, error);
  }
  await dynamoDb.close();
}
