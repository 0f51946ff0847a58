import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { StreamfoldFunction, zstdWasmFile } from '../../lib/constructs/function.ts';
import type { FunctionDef } from '../../lib/functions.ts';
import { actionsOf, fixtureDef, logicalIdOf, nagFindings, roleStatements, testStack } from './fixtures/cdk.ts';

describe('Construct: StreamfoldFunction', () => {
  // One synth (with a real esbuild bundle) for the whole file.
  let stack: Stack;
  let fn: StreamfoldFunction;
  let template: Template;

  beforeAll(() => {
    stack = testStack();
    fn = new StreamfoldFunction(stack, 'Fixture', {
      definition: fixtureDef('fixture', { memoryMb: 512, timeoutSeconds: 30 }),
      prefix: 'sf-test',
    });
    template = Template.fromStack(stack);
  });

  it('runs the bundle on the newest Node.js runtime, arm64, with its definition and Powertools settings', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'sf-test-fixture',
      Description: 'fixture fixture',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
      Timeout: 30,
      LoggingConfig: { LogGroup: { Ref: logicalIdOf(fn.logGroup) } },
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'fixture',
          POWERTOOLS_METRICS_NAMESPACE: 'sf-test',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('may write to its own log group and nothing else', () => {
    // Prepare
    const statements = roleStatements(template, logicalIdOf(fn.role));

    // Assess
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logicalIdOf(fn.logGroup), 'Arn'] },
      },
    ]);
    expect(actionsOf(statements).filter((a) => a.includes('*'))).toEqual([]);
    // No AWSLambdaBasicExecutionRole, which may write to every log group.
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Act + Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it('produces an ES module bundle that runs outside the repo', async () => {
    // Prepare: the bundle is the stack's only file asset, staged in the cloud assembly.
    const assembly = (stack.node.root as App).synth();
    const bundles = readdirSync(assembly.directory)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => path.join(assembly.directory, name, 'index.mjs'))
      .filter((file) => existsSync(file));
    expect(bundles).toHaveLength(1);
    const bundle = bundles[0]!;
    const script =
      `const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});` +
      "process.stdout.write(JSON.stringify(await handler({ Records: [{ kinesis: { data: 'e30=' } }] })));";

    // Act
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assembly.directory,
      env: { PATH: process.env['PATH'], POWERTOOLS_LOG_LEVEL: 'ERROR' },
    });

    // Assess
    expect(JSON.parse(stdout)).toEqual({ batchItemFailures: [] });
  });

  describe('rejects an invalid definition at synth', () => {
    it.each([
      ['an id with capitals', { id: 'Intake' }, 'id must be 1-40 lower-case letters, digits or "-", starting with a letter'],
      ['memory under 128 MiB', { memoryMb: 100 }, 'memoryMb must be a whole number in 128..10240, got 100'],
      ['a timeout over 15 min', { timeoutSeconds: 960 }, 'timeoutSeconds must be a whole number in 1..900, got 960'],
      ['a missing entry', { entry: 'functions/nope/handler.ts' }, 'entry functions/nope/handler.ts does not exist'],
      ['two flags in one node option', { nodeOptions: ['--max-semi-space-size=64 --inspect'] }, 'nodeOptions: "--max-semi-space-size=64 --inspect" is not one Node.js flag (--name or --name=value)'],
    ] satisfies Array<[string, Partial<FunctionDef>, string]>)('%s', (_label, overrides, message) => {
      // Prepare
      const other = testStack();
      const definition = fixtureDef('bad', overrides);

      // Act + Assess
      expect(() => new StreamfoldFunction(other, 'Bad', { definition })).toThrow(
        `StreamfoldFunction (${definition.id}): ${message}`,
      );
    });

    it('a function name over 64 characters', () => {
      // Prepare
      const other = testStack();

      // Act + Assess
      expect(
        () => new StreamfoldFunction(other, 'Long', { definition: fixtureDef('intake'), prefix: 'p'.repeat(60) }),
      ).toThrow(`StreamfoldFunction (intake): function name ${'p'.repeat(60)}-intake is longer than 64 characters`);
    });

    it('a bundled file that does not exist', () => {
      // Prepare
      const other = testStack();
      const missing = path.join(path.sep, 'nope', 'zstd.wasm');

      // Act + Assess
      expect(
        () => new StreamfoldFunction(other, 'Files', { definition: fixtureDef('files'), bundledFiles: [missing] }),
      ).toThrow(`StreamfoldFunction (files): bundledFiles: ${missing} is not an existing absolute path`);
    });
  });

  it('finds the zstd .wasm it ships beside the archive bundles', () => {
    // Assess: the archive and compaction bundles copy it (test/integration/bundles.test.ts runs them)
    expect(existsSync(zstdWasmFile())).toBe(true);
  });
});
