import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { FunctionThread, FunctionThreadError, resourceLimitsOf } from '../../local/function-thread.ts';

const MODULE = new URL('./support/thread-fixture.ts', import.meta.url).href;
const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs, awsRequestId: 'req-1', functionName: 'streamfold-echo' });

describe('Class: FunctionThread', () => {
  const threads: FunctionThread[] = [];
  const make = (exportName: string) => {
    const t = new FunctionThread('echo', { module: MODULE, export: exportName }, { GREETING: 'hello' }, { maxYoungGenerationSizeMb: 48 });
    threads.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((t) => t.stop()));
  });

  it('builds the handler once in a thread of its own and answers with the context it was given', async () => {
    // Prepare
    const t = make('createEcho');
    await t.start();

    // Act
    const [a, b] = (await Promise.all([t.handler({ op: 'echo' }, context(5_000)), t.handler({ op: 'echo' }, context(5_000))])) as Array<Record<string, unknown>>;

    // Assess
    expect(a).toMatchObject({ greeting: 'hello', requestId: 'req-1', functionName: 'streamfold-echo' });
    expect(a!.threadId).not.toBe(threadId);
    expect(b!.threadId).toBe(a!.threadId);
    expect(a!.remainingMs).toBeGreaterThan(4_000);
    expect(a!.remainingMs).toBeLessThanOrEqual(5_000);
  });

  it('rejects with the handler\'s error, by name and message', async () => {
    // Prepare
    const t = make('createEcho');

    // Act & Assess
    await expect(t.handler({ op: 'fail' }, context(1_000))).rejects.toMatchObject({ name: 'NoSuchThingError', message: 'no such thing' });
  });

  it('fails to start when the handler cannot be built', async () => {
    // Act & Assess
    await expect(make('createBroken').start()).rejects.toThrow(new FunctionThreadError('function echo failed at init: missing setting X'));
    await expect(make('nothing').start()).rejects.toThrow(/has no function export nothing/);
  });

  it('fails the invocations of a thread that crashed, and starts a new one for the next', async () => {
    // Prepare
    const t = make('createEcho');
    const before = (await t.handler({ op: 'echo' }, context(1_000))) as { threadId: number };

    // Act
    const crashed = t.handler({ op: 'crash' }, context(1_000));

    // Assess
    await expect(crashed).rejects.toThrow(/thread ended during the invocation/);
    const after = (await t.handler({ op: 'echo' }, context(1_000))) as { threadId: number };
    expect(after.threadId).not.toBe(before.threadId);
  });
});

describe('Function: resourceLimitsOf', () => {
  it('sizes the young generation as three semi-spaces', () => {
    expect(resourceLimitsOf(['--max-semi-space-size=64'])).toEqual({ maxYoungGenerationSizeMb: 192 });
    expect(resourceLimitsOf(undefined)).toEqual({});
    expect(resourceLimitsOf(['--enable-source-maps'])).toEqual({});
  });
});
