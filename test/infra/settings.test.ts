import { Template } from 'aws-cdk-lib/assertions';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resetClients } from '../../functions/shared/clients.ts';
import { StreamfoldApi } from '../../lib/constructs/api.ts';
import { Archive, type ArchiveProps } from '../../lib/constructs/archive.ts';
import { EventStream } from '../../lib/constructs/event-stream.ts';
import type { PowertoolsLogLevel } from '../../lib/constructs/function.ts';
import { Intake, type IntakeProps } from '../../lib/constructs/intake.ts';
import { Query } from '../../lib/constructs/query.ts';
import { Rollup, type RollupProps } from '../../lib/constructs/rollup.ts';
import { Storage } from '../../lib/constructs/storage.ts';
import { FUNCTIONS, type FunctionKey } from '../../lib/functions.ts';
import { LOG_LEVELS, POWERTOOLS } from '../../lib/settings.ts';
import { APPS, BASE_ENV, logLines } from '../unit/support/functions.ts';
import { testStack } from './fixtures/cdk.ts';

/** No test here looks at a bundle: skip esbuild. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

afterEach(() => resetClients());

interface FlowProps {
  readonly logLevel?: PowertoolsLogLevel;
  readonly intake?: Partial<IntakeProps>;
  readonly rollup?: Partial<RollupProps>;
  readonly archive?: Partial<ArchiveProps>;
}

/** Every flow, so every function, in one stack. */
function flows(props: FlowProps = {}) {
  const stack = testStack('Test', NO_BUNDLING);
  const stream = new EventStream(stack, 'Events');
  const storage = new Storage(stack, 'Storage');
  const api = new StreamfoldApi(stack, 'Api');
  const logLevel = props.logLevel;
  new Intake(stack, 'Intake', { stream, storage, api, logLevel, ...props.intake });
  new Query(stack, 'Query', { storage, api, logLevel });
  new Rollup(stack, 'Rollup', { stream, storage, logLevel, ...props.rollup });
  new Archive(stack, 'Archive', { stream, storage, logLevel, ...props.archive });
  return stack;
}

/**
 * A function's environment as deployed: the template's literals, each resource reference replaced
 * by a name for the same variable (lib/resources.ts), and a region and keys.
 */
function deployedEnv(template: Template, fn: FunctionKey): Record<string, string> {
  const [resource] = Object.values(
    template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `streamfold-${FUNCTIONS[fn].id}` } }),
  );
  const variables = resource!['Properties']['Environment']['Variables'] as Record<string, unknown>;
  const env: Record<string, string> = { AWS_REGION: BASE_ENV['AWS_REGION']!, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' };
  for (const [key, value] of Object.entries(variables)) {
    if (typeof value === 'string') env[key] = value;
    else {
      expect(BASE_ENV[key], `${fn}: ${key} is a reference to no resource of lib/resources.ts`).toBeDefined();
      env[key] = BASE_ENV[key]!;
    }
  }
  return env;
}

const KEYS = Object.keys(FUNCTIONS) as FunctionKey[];

describe("Settings: a construct's logLevel reaches each function", () => {
  let debug: Template;
  let info: Template;

  beforeAll(() => {
    debug = Template.fromStack(flows({ logLevel: 'DEBUG' }));
    info = Template.fromStack(flows());
  });

  it.each(KEYS)('%s: the synthesized environment carries it, and the app built from it logs at it', (fn) => {
    // Prepare
    const env = deployedEnv(debug, fn);

    // Act
    const lines = logLines(() => APPS[fn](env));

    // Assess
    expect(env[POWERTOOLS.logLevel.envVar]).toBe('DEBUG');
    expect(lines.filter((l) => l['level'] === 'DEBUG').map((l) => [l['message'], l['service']])).toEqual([['settings', FUNCTIONS[fn].id]]);
  });

  it.each(KEYS)('%s: at the default, INFO, no debug lines', (fn) => {
    // Prepare
    const env = deployedEnv(info, fn);

    // Act
    const lines = logLines(() => APPS[fn](env));

    // Assess
    expect(env[POWERTOOLS.logLevel.envVar]).toBe('INFO');
    expect(lines.filter((l) => l['level'] === 'DEBUG')).toEqual([]);
  });
});

describe('Settings: the constructs check their props against the settings table at synth', () => {
  it.each([
    [{ rollup: { ttl1hDays: 4000 } }, 'Rollup: ttl1hDays must be a whole number of days in 1..3650, got 4000'],
    [{ archive: { rowGroupRows: 999 } }, 'Archive: rowGroupRows must be a whole number in 1000..10000000, got 999'],
    [{ archive: { zstdLevel: 0 } }, 'Archive: zstdLevel must be a whole number in 1..22, got 0'],
    [{ archive: { compaction: { maxRows: 1.5 } } }, 'Archive: compaction.maxRows must be a whole number in 1000..100000000, got 1.5'],
    [{ archive: { compaction: { graceMinutes: 1441 } } }, 'Archive: compaction.graceMinutes must be a whole number in 0..1440, got 1441'],
    [{ logLevel: 'LOUD' as PowertoolsLogLevel }, `StreamfoldFunction (intake): logLevel must be one of ${LOG_LEVELS.join(', ')}, got LOUD`],
  ] satisfies Array<[FlowProps, string]>)('rejects %o', (props, message) => {
    // Act + Assess
    expect(() => flows(props)).toThrow(message);
  });

  it('accepts the ends of each range and sets them', () => {
    // Act
    const template = Template.fromStack(
      flows({ rollup: { ttl1mDays: 3650, ttl1hDays: 3650 }, archive: { zstdLevel: 22, rowGroupRows: 1000, compaction: { graceMinutes: 0 } } }),
    );

    // Assess
    expect(deployedEnv(template, 'rollup')).toMatchObject({ ROLLUP_TTL_1M_DAYS: '3650', ROLLUP_TTL_1H_DAYS: '3650' });
    for (const fn of ['archive', 'compact'] as const) {
      expect(deployedEnv(template, fn)).toMatchObject({ ARCHIVE_ZSTD_LEVEL: '22', ARCHIVE_ROW_GROUP_ROWS: '1000' });
    }
    expect(deployedEnv(template, 'compact')).toMatchObject({ COMPACT_GRACE_MINUTES: '0' });
  });
});
