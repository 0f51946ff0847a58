import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionDef } from '../functions.ts';
import { DEFAULT_PREFIX } from '../resources.ts';
import { POWERTOOLS, settingsEnvironment, type LogLevel } from '../settings.ts';

/** The newest Node.js runtime this aws-cdk-lib knows; cdk-nag AwsSolutions-L1 checks it. */
export const NODE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** A Powertools log level (POWERTOOLS.logLevel in lib/settings.ts). */
export type PowertoolsLogLevel = LogLevel;

/** The repository root: `FunctionDef.entry` is relative to it, whatever the working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const FUNCTION_ID = /^[a-z][a-z0-9-]{0,39}$/;
const MAX_FUNCTION_NAME = 64;

export interface StreamfoldFunctionProps {
  /** What to deploy: entry, memory, timeout and description, from `FUNCTIONS` in lib/functions.ts. */
  readonly definition: FunctionDef;
  /**
   * Name prefix: the function is named `<prefix>-<definition.id>`, as the embedded stack names it.
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Exported handler function name.
   * @default 'handler'
   */
  readonly handler?: string;
  /**
   * CloudWatch namespace of Powertools metrics (POWERTOOLS_METRICS_NAMESPACE).
   * @default - the prefix
   */
  readonly metricsNamespace?: string;
  /**
   * Powertools log level (POWERTOOLS_LOG_LEVEL), which every function's logger takes
   * (functions/shared/logger.ts).
   * @default POWERTOOLS.logLevel.default ('INFO')
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the function's log group.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Extra environment variables. Resource variables are set by the `bind*` methods of the
   * constructs that own the resources (with their grants), not here.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Files copied beside the bundle's entry module (absolute paths), for code that reads a file
   * next to itself at run time through `__dirname` (the bundle defines it).
   * @default - none
   */
  readonly bundledFiles?: readonly string[];
  /**
   * Reserved concurrency (also its cap); 1 makes runs of a scheduled job never overlap.
   * @default - unreserved, the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
}

const requireFromRepo = createRequire(import.meta.url);

/**
 * `zstd.wasm` of @bokuweb/zstd-wasm, the fallback codec of functions/shared/archive/zstd.ts. The
 * Lambda runtime (nodejs24.x) has zstd in `node:zlib` and never loads it; shipping it (~250 KB)
 * keeps the bundle runnable on Node 20 too (test/integration/bundles.test.ts runs the bundles on
 * this machine).
 */
export function zstdWasmFile(): string {
  return path.join(path.dirname(requireFromRepo.resolve('@bokuweb/zstd-wasm')), 'zstd.wasm');
}

/**
 * How every streamfold function is built: a NodejsFunction bundled by the local esbuild (never
 * Docker) as an ES module for the newest Node.js runtime on arm64, with Powertools settings, its
 * own log group with a retention, and its own role that may write to that log group and nothing
 * else. Grant the rest with the resource owners' `bind*` methods.
 */
export class StreamfoldFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly definition: FunctionDef;

  constructor(scope: Construct, id: string, props: StreamfoldFunctionProps) {
    super(scope, id);
    const def = props.definition;
    const prefix = props.prefix ?? DEFAULT_PREFIX;
    const entry = path.resolve(REPO_ROOT, def.entry);
    validateDefinition(def, prefix, entry);
    // Checked against the settings table here, at synth, not when the function first starts.
    const powertools = settingsEnvironment(`StreamfoldFunction (${def.id})`, POWERTOOLS, {
      serviceName: def.id,
      metricsNamespace: props.metricsNamespace ?? prefix,
      logLevel: props.logLevel ?? POWERTOOLS.logLevel.default,
    });
    const bundledFiles = props.bundledFiles ?? [];
    for (const file of bundledFiles) {
      if (!path.isAbsolute(file) || !existsSync(file)) {
        throw new Error(`StreamfoldFunction (${def.id}): bundledFiles: ${file} is not an existing absolute path`);
      }
    }
    this.definition = def;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    // An explicit role instead of AWSLambdaBasicExecutionRole: it may write to its own log group
    // only, not to every log group in the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${prefix}-${def.id} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      functionName: `${prefix}-${def.id}`,
      description: def.description,
      entry,
      handler: props.handler ?? 'handler',
      // Independent of the working directory `cdk synth` or the tests run in.
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: NODE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: def.memoryMb,
      timeout: Duration.seconds(def.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        ...powertools,
        // Stack traces point into the TypeScript sources (the bundle ships its source map).
        NODE_OPTIONS: ['--enable-source-maps', ...(def.nodeOptions ?? [])].join(' '),
        ...props.environment,
      },
      bundling: {
        // Local esbuild from node_modules; never Docker.
        forceDockerBundling: false,
        minify: true,
        // Minified class names would turn `this.name = new.target.name` (functions/shared/errors.ts)
        // into 'uS' in logs and error answers; keep the names.
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node24',
        // ESM: the repo is "type": "module", handlers can initialise clients and config with
        // top-level await once per container, and the SDK v3's ES builds tree-shake better.
        // Bundled CommonJS dependencies that call require() on Node built-ins need a real
        // `require` in an ES module, hence the banner.
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // So do CommonJS dependencies that read a file beside themselves through `__dirname`
        // (with `bundledFiles`), hence `__filename` and `__dirname` too.
        banner:
          "import { createRequire as __streamfoldCreateRequire } from 'node:module';" +
          "import { fileURLToPath as __streamfoldFileURLToPath } from 'node:url';" +
          "import { dirname as __streamfoldDirname } from 'node:path';" +
          'const require = __streamfoldCreateRequire(import.meta.url);' +
          'const __filename = __streamfoldFileURLToPath(import.meta.url);' +
          'const __dirname = __streamfoldDirname(__filename);',
        // Bundle the SDK too, so the code deployed is the version tested, not the runtime's.
        externalModules: [],
        ...(bundledFiles.length > 0 && {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (_inputDir: string, outputDir: string) =>
              bundledFiles.map((file) => `cp ${shellQuote(file)} ${shellQuote(path.join(outputDir, path.basename(file)))}`),
          },
        }),
      },
    });
  }
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

function validateDefinition(def: FunctionDef, prefix: string, entry: string): void {
  const fail = (message: string): never => {
    throw new Error(`StreamfoldFunction (${def.id}): ${message}`);
  };
  if (!FUNCTION_ID.test(def.id)) {
    fail('id must be 1-40 lower-case letters, digits or "-", starting with a letter');
  }
  const name = `${prefix}-${def.id}`;
  if (name.length > MAX_FUNCTION_NAME) {
    fail(`function name ${name} is longer than ${MAX_FUNCTION_NAME} characters; use a shorter prefix`);
  }
  if (!Number.isInteger(def.memoryMb) || def.memoryMb < 128 || def.memoryMb > 10_240) {
    fail(`memoryMb must be a whole number in 128..10240, got ${def.memoryMb}`);
  }
  if (!Number.isInteger(def.timeoutSeconds) || def.timeoutSeconds < 1 || def.timeoutSeconds > 900) {
    fail(`timeoutSeconds must be a whole number in 1..900, got ${def.timeoutSeconds}`);
  }
  for (const flag of def.nodeOptions ?? []) {
    if (!/^--[a-z0-9-]+(=\S+)?$/.test(flag)) fail(`nodeOptions: ${JSON.stringify(flag)} is not one Node.js flag (--name or --name=value)`);
  }
  if (!existsSync(entry)) {
    fail(`entry ${def.entry} does not exist (resolved to ${entry})`);
  }
}
