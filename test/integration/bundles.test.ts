/**
 * The bundled handlers run: what `cdk deploy` would upload (the esbuild bundles in the cloud
 * assembly, not the TypeScript sources) is invoked in a separate `node` process, with the
 * environment the template gives the function (resource names resolved against the embedded
 * stack) and nothing from this process, against the embedded emulators.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, KinesisStreamEvent, KinesisStreamRecord, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../bin/streamfold.ts';
import { dynamoClient, s3Client } from '../../functions/shared/clients.ts';
import { encodeRecords } from '../../functions/shared/codec.ts';
import type { StreamEvent } from '../../functions/shared/event.ts';
import { FUNCTIONS, type FunctionDef } from '../../lib/functions.ts';
import { BUCKETS, DEFAULT_PREFIX, STREAM, TABLES } from '../../lib/resources.ts';
import { startStack, type RunningStack } from '../../local/index.ts';
import { recordingConsumer } from './support/recorder.ts';

const KEY = 'key-bundles-0001';
const REGION = 'us-east-1';
const HOUR_MS = 3_600_000;

/**
 * Events of one closed hour (three hours ago, past compaction's grace period), each in its own
 * record, the records spread over two shards: the archive writes one file per shard into the same
 * partition-hour, which compaction then has reason to merge.
 */
function streamEvents(): StreamEvent[] {
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 3 * HOUR_MS;
  return [0, 1, 2, 3].map((i) => ({
    tenant: 'acme',
    name: 'bundle.stream',
    ts: hour + i * 60_000 + 1_000,
    value: i + 1,
    type: 'count' as const,
    tags: { via: 'bundle', shard: String(i % 2) },
  }));
}

/** A Kinesis batch as Lambda delivers it: base64 data, eventID `shardId:sequenceNumber`. */
function kinesisEvent(events: readonly StreamEvent[]): KinesisStreamEvent {
  const arrival = Date.now() / 1000;
  const Records = events.map((event, i): KinesisStreamRecord => {
    const [record] = encodeRecords([event]);
    const shardId = `shardId-00000000000${i % 2}`;
    const sequenceNumber = `4960000000000000000000000000000000000000000000${String(i + 1).padStart(10, '0')}`;
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record!.partitionKey,
        sequenceNumber,
        data: Buffer.from(record!.data).toString('base64'),
        approximateArrivalTimestamp: arrival,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/bundles-test',
      awsRegion: REGION,
      eventSourceARN: `arn:aws:kinesis:${REGION}:000000000000:stream/${DEFAULT_PREFIX}-events`,
    };
  });
  return { Records };
}

/** Variables that name a resource: a function gets one only if the template gives it one. */
const RESOURCE_VARS = new Set<string>([
  STREAM.envVar,
  ...Object.values(TABLES).map((t) => t.envVar),
  ...Object.values(BUCKETS).map((b) => b.envVar),
]);

/** Runs in the child: imports the bundle, invokes the handler once, writes the result to a file. */
const RUNNER = `
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [bundle, exportName, eventFile, resultFile, functionName, timeoutMs] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundle).href);
const deadline = Date.now() + Number(timeoutMs);
const context = {
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:' + process.env.AWS_REGION + ':000000000000:function:' + functionName,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  awsRequestId: 'bundles-test-request',
  logGroupName: '/aws/lambda/' + functionName,
  logStreamName: 'bundles-test',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done() {}, fail() {}, succeed() {},
};
const result = await mod[exportName](JSON.parse(readFileSync(eventFile, 'utf8')), context);
writeFileSync(resultFile, JSON.stringify(result ?? null));
process.exit(0);
`;

interface DeployedFunction {
  /** Absolute path of the bundle's entry module. */
  readonly bundle: string;
  readonly exportName: string;
  readonly assetDir: string;
  /** Environment.Variables of the template: literals, or `{ Ref: … }` for resource names. */
  readonly variables: Readonly<Record<string, unknown>>;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
}

interface BundleCase {
  readonly def: FunctionDef;
  readonly event: () => unknown;
  readonly assess: (result: unknown) => Promise<void>;
}

describe('The bundled handlers run', () => {
  let workDir: string;
  let stack: RunningStack;
  const deployed = new Map<string, DeployedFunction>();
  const seen: StreamEvent[] = [];
  const recorder = recordingConsumer((events) => seen.push(...events.map((e) => e.event)));

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'streamfold-bundles-'));
    // Synthesize exactly what `cdk synth` does (cdk-nag included) into a fresh cloud assembly.
    const assembly = createApp({ outdir: join(workDir, 'cdk.out'), builtinCloudFormationValidation: false }).synth();
    const artifact = assembly.getStackByName('Streamfold');
    const manifest = JSON.parse(await readFile(join(assembly.directory, `${artifact.stackName}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string; packaging?: string } }>;
    };
    for (const resource of Object.values(artifact.template.Resources as Record<string, { Type: string; Properties: Record<string, any> }>)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const p = resource.Properties;
      const hash = String(p['Code']['S3Key']).replace(/\.zip$/, '');
      const assetDir = join(assembly.directory, manifest.files[hash]!.source.path);
      const [file, exportName] = String(p['Handler']).split('.') as [string, string];
      deployed.set(String(p['FunctionName']), {
        bundle: join(assetDir, `${file}.mjs`),
        exportName,
        assetDir,
        variables: p['Environment']?.['Variables'] ?? {},
        memoryMb: p['MemorySize'],
        timeoutSeconds: p['Timeout'],
      });
    }

    stack = await startStack({
      port: 0,
      dataDir: join(workDir, 'data'),
      tenants: { acme: KEY },
      consumers: [recorder],
      onlyGivenConsumers: true,
      log: () => {},
    });
  });

  afterAll(async () => {
    await stack?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /**
   * The deployed function's environment: its template literals, each `Ref` to a resource replaced
   * by the embedded stack's value for the same variable (both come from lib/resources.ts), the
   * stack's endpoints and credentials, and what the Lambda runtime sets. A resource the template
   * does not give the function is not given here either, so a missing `bind*` fails this test.
   */
  function functionEnv(name: string, fn: DeployedFunction): Record<string, string> {
    const platform = Object.fromEntries(Object.entries(stack.env).filter(([key]) => !RESOURCE_VARS.has(key)));
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      // Nothing from this machine's AWS config may leak in.
      AWS_CONFIG_FILE: join(workDir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'no-aws-credentials'),
      ...platform,
      AWS_LAMBDA_FUNCTION_NAME: name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      LAMBDA_TASK_ROOT: fn.assetDir,
    };
    for (const [key, value] of Object.entries(fn.variables)) {
      if (typeof value === 'string') {
        env[key] = value;
        continue;
      }
      // A resource reference: the embedded stack must provide the same variable.
      const local = stack.env[key];
      expect(local, `${name} is given ${key}, which the embedded stack does not set`).toBeDefined();
      env[key] = local!;
    }
    return env;
  }

  async function invoke(def: FunctionDef, event: unknown, without: readonly string[] = []): Promise<unknown> {
    const name = `${DEFAULT_PREFIX}-${def.id}`;
    const fn = deployed.get(name);
    expect(fn, `no function ${name} in the cloud assembly`).toBeDefined();
    const dir = await mkdtemp(join(workDir, `${def.id}-`));
    const runner = join(dir, 'runner.mjs');
    const eventFile = join(dir, 'event.json');
    const resultFile = join(dir, 'result.json');
    await writeFile(runner, RUNNER);
    await writeFile(eventFile, JSON.stringify(event));
    await promisify(execFile)(
      process.execPath,
      [runner, fn!.bundle, fn!.exportName, eventFile, resultFile, name, String(fn!.timeoutSeconds * 1000)],
      {
        cwd: fn!.assetDir,
        env: Object.fromEntries(Object.entries(functionEnv(name, fn!)).filter(([key]) => !without.includes(key))),
        // The function's own timeout, plus Node start-up; then the child is killed.
        timeout: fn!.timeoutSeconds * 1000 + 15_000,
        killSignal: 'SIGKILL',
        maxBuffer: 10 * 1024 * 1024,
      },
    );
    return JSON.parse(await readFile(resultFile, 'utf8')) as unknown;
  }

  const batch = kinesisEvent(streamEvents());

  /** Keys of the Parquet files of tenant `acme` in the archive bucket. */
  async function archivedFiles(): Promise<string[]> {
    const out = await s3Client(stack.env).send(
      new ListObjectsV2Command({ Bucket: stack.env[BUCKETS.archive.envVar], Prefix: 'events/tenant=acme/' }),
    );
    return (out.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.parquet')).sort();
  }

  const cases: BundleCase[] = [
    {
      def: FUNCTIONS.intake,
      event: (): APIGatewayProxyEventV2 => {
        const now = new Date();
        return {
          version: '2.0',
          routeKey: 'POST /v1/events',
          rawPath: '/v1/events',
          rawQueryString: '',
          headers: { 'content-type': 'application/json', 'x-api-key': KEY, host: 'api.example.com' },
          requestContext: {
            accountId: '000000000000',
            apiId: 'bundles',
            domainName: 'api.example.com',
            domainPrefix: 'api',
            http: { method: 'POST', path: '/v1/events', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bundles-test' },
            requestId: 'bundles-test-request',
            routeKey: 'POST /v1/events',
            stage: '$default',
            time: now.toISOString(),
            timeEpoch: now.getTime(),
          },
          body: JSON.stringify([{ name: 'bundle.smoke', ts: now.getTime(), value: 3, tags: { via: 'bundle' } }]),
          isBase64Encoded: false,
        };
      },
      assess: async (result) => {
        const res = result as { statusCode: number; body: string };
        expect(res.statusCode).toBe(202);
        expect(JSON.parse(res.body)).toEqual({ accepted: 1, rejected: 0, errors: [] });
        // A 202 means the event is in the stream, stamped with the key's tenant.
        await stack.drain();
        expect(seen.filter((e) => e.name === 'bundle.smoke').map((e) => [e.tenant, e.value, e.tags])).toEqual([
          ['acme', 3, { via: 'bundle' }],
        ]);
      },
    },
    {
      def: FUNCTIONS.rollup,
      event: () => batch,
      assess: async (result) => {
        expect(result).toEqual({ batchItemFailures: [] });
        const scan = await dynamoClient(stack.env).send(new ScanCommand({ TableName: stack.env[TABLES.rollups.envVar] }));
        expect(scan.Items?.length ?? 0).toBeGreaterThan(0);
        expect(JSON.stringify(scan.Items)).toContain('bundle.stream');
      },
    },
    {
      def: FUNCTIONS.sweep,
      // What its schedule sends; the rollup case's two commits are younger than the sweep age.
      event: (): ScheduledEvent => ({
        version: '0',
        id: 'bundles-test-sweep',
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '000000000000',
        time: new Date().toISOString(),
        region: REGION,
        resources: [`arn:aws:events:${REGION}:000000000000:rule/bundles-test-sweep`],
        detail: {},
      }),
      assess: async (result) => {
        expect(result).toEqual({ shards: 2, swept: 0, folded: 0, behind: [] });
      },
    },
    {
      def: FUNCTIONS.archive,
      event: () => batch,
      assess: async (result) => {
        expect(result).toEqual({ batchItemFailures: [] });
        // One file per shard in the events' partition-hour, each a Parquet file.
        const keys = await archivedFiles();
        expect(keys).toHaveLength(2);
        for (const key of keys) {
          expect(key).toMatch(/^events\/tenant=acme\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/shardId-00000000000[01]-/);
          const object = await s3Client(stack.env).send(new GetObjectCommand({ Bucket: stack.env[BUCKETS.archive.envVar], Key: key }));
          const bytes = await object.Body!.transformToByteArray();
          expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('PAR1');
        }
      },
    },
    {
      def: FUNCTIONS.compact,
      // What the hourly rule sends (aws-events Rule with a LambdaFunction target).
      event: (): ScheduledEvent => ({
        version: '0',
        id: 'bundles-test-schedule',
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '000000000000',
        time: new Date().toISOString(),
        region: REGION,
        resources: [`arn:aws:events:${REGION}:000000000000:rule/bundles-test`],
        detail: {},
      }),
      assess: async (result) => {
        // The archive case's two files of a closed hour are merged into one.
        expect(result).toMatchObject({ compacted: 1, written: 1, deleted: 2, failed: [] });
        expect(await archivedFiles()).toHaveLength(1);
      },
    },
    {
      def: FUNCTIONS.query,
      // The rollup case wrote `bundle.stream` for tenant acme.
      event: (): APIGatewayProxyEventV2 => {
        const now = new Date();
        return {
          version: '2.0',
          routeKey: 'GET /v1/metrics',
          rawPath: '/v1/metrics',
          rawQueryString: '',
          headers: { 'x-api-key': KEY, host: 'api.example.com' },
          requestContext: {
            accountId: '000000000000',
            apiId: 'bundles',
            domainName: 'api.example.com',
            domainPrefix: 'api',
            http: { method: 'GET', path: '/v1/metrics', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bundles-test' },
            requestId: 'bundles-test-query',
            routeKey: 'GET /v1/metrics',
            stage: '$default',
            time: now.toISOString(),
            timeEpoch: now.getTime(),
          },
          isBase64Encoded: false,
        };
      },
      assess: async (result) => {
        const res = result as { statusCode: number; body: string };
        expect(res.statusCode).toBe(200);
        const names = (JSON.parse(res.body) as { metrics: Array<{ name: string }> }).metrics.map((m) => m.name);
        expect(names).toContain('bundle.stream');
      },
    },
  ];

  it('finds a bundle for every function of lib/functions.ts', () => {
    // Assess
    expect([...deployed.keys()].sort()).toEqual(Object.values(FUNCTIONS).map((d) => `${DEFAULT_PREFIX}-${d.id}`).sort());
    expect(cases.map((c) => c.def.id).sort()).toEqual(Object.values(FUNCTIONS).map((d) => d.id).sort());
  });

  it('fails at load when a variable is missing, naming it and its error class', async () => {
    // Act
    const invocation = invoke(FUNCTIONS.intake, cases[0]!.event(), [TABLES.idempotency.envVar]);

    // Assess: readable error names survive minification
    await expect(invocation).rejects.toThrow(`ConfigError: environment variable ${TABLES.idempotency.envVar} is not set`);
  });

  it.each(cases.map((c) => [c.def.id, c] as const))('%s', async (_id, c) => {
    // Act
    const result = await invoke(c.def, c.event());

    // Assess
    await c.assess(result);
  });
});
