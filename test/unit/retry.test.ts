import { describe, expect, it } from 'vitest';
import { classifyAwsError, isRetryableCode } from '../../functions/shared/aws-errors.ts';
import { ServiceError } from '../../functions/shared/errors.ts';
import { BudgetExhaustedError, RetryBudget, backoffCap, jitteredDelay, realClock, retryClock, withRetries, type RetryClock } from '../../functions/shared/retry.ts';

/** A virtual clock: sleeping moves time; `random` returns the values given, then 0.5. */
function clockAt(start: number, randoms: number[] = []): RetryClock & { slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    random: () => randoms.shift() ?? 0.5,
  };
}

describe('Function: backoffCap and jitteredDelay', () => {
  it('doubles from the base up to the cap, and jitters uniformly below it', () => {
    // Prepare
    const b = { baseMs: 25, maxMs: 2000 };
    // Act, Assess
    expect([1, 2, 3, 4, 7, 8, 100].map((a) => backoffCap(a, b))).toEqual([25, 50, 100, 200, 1600, 2000, 2000]);
    expect(backoffCap(0, b)).toBe(25);
    expect(jitteredDelay(3, b, () => 0.5)).toBe(50);
    expect(jitteredDelay(3, b, () => 0)).toBe(1);
    expect(jitteredDelay(3, b, () => 0.999)).toBe(99);
  });
});

describe('Class: RetryBudget', () => {
  it('sleeps the jittered delay and refuses a retry that would end past the deadline', async () => {
    // Prepare
    const clock = clockAt(1000, [0.5, 0.5, 0.5]);
    const budget = new RetryBudget(1150, { baseMs: 100, maxMs: 1000 }, clock);
    // Act
    const first = await budget.pause(1); // 50 ms: ends at 1050
    const second = await budget.pause(2); // 100 ms: would end at 1150, the deadline
    // Assess
    expect(first).toBe(true);
    expect(second).toBe(false);
    expect(clock.slept).toEqual([50]);
    expect(budget.retries).toBe(1);
    expect(budget.left()).toBe(100);
  });

  it('tells onWait the delay of a retry that goes ahead, and only of one that does', async () => {
    // Prepare
    const clock = clockAt(1000, [0.5, 0.5]);
    const budget = new RetryBudget(1150, { baseMs: 100, maxMs: 1000 }, clock);
    const heard: number[] = [];
    // Act
    await budget.pause(1, (ms) => heard.push(ms));
    await budget.pause(2, (ms) => heard.push(ms));
    // Assess
    expect(heard).toEqual([50]);
  });
});

describe('Function: retryClock', () => {
  it('takes the parts it is given and the real clock for the rest', () => {
    // Prepare
    const now = () => 42;
    // Act
    const clock = retryClock({ now });
    // Assess
    expect(clock.now).toBe(now);
    expect(clock.sleep).toBe(realClock.sleep);
    expect(clock.random).toBe(realClock.random);
  });
});

describe('Function: withRetries', () => {
  const throttle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
  const retryable = (e: unknown) => classifyAwsError(e).retryable;

  it('retries retryable errors until the call succeeds', async () => {
    // Prepare
    const clock = clockAt(0);
    let calls = 0;
    // Act
    const out = await withRetries(new RetryBudget(10_000, { baseMs: 10, maxMs: 100 }, clock), async () => {
      if (++calls < 3) throw throttle();
      return 'done';
    }, retryable);
    // Assess
    expect(out).toEqual({ ok: true, value: 'done' });
    expect(calls).toBe(3);
    expect(clock.slept).toEqual([5, 10]);
  });

  it('gives up at once on an error that is not retryable, and when the budget ends', async () => {
    // Prepare
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    // Act
    const refused = await withRetries(new RetryBudget(10_000, { baseMs: 10, maxMs: 100 }, clockAt(0)), async () => {
      throw denied;
    }, retryable);
    const ranOut = await withRetries(new RetryBudget(30, { baseMs: 20, maxMs: 100 }, clockAt(0, [0.9, 0.9, 0.9])), async () => {
      throw throttle();
    }, retryable);
    const late = await withRetries(new RetryBudget(0, { baseMs: 20, maxMs: 100 }, clockAt(5)), async () => 1, retryable);
    // Assess
    expect(refused).toEqual({ ok: false, error: denied, attempts: 1 });
    expect(ranOut.ok).toBe(false);
    expect(!ranOut.ok && ranOut.attempts).toBe(2);
    expect(!late.ok && late.error).toBeInstanceOf(BudgetExhaustedError);
    expect(!late.ok && (late.error as ServiceError).retryable).toBe(true);
  });

  it('tells onRetry each retried error, its attempt and the delay', async () => {
    // Prepare
    const heard: Array<[string, number, number]> = [];
    let calls = 0;
    // Act
    await withRetries(
      new RetryBudget(10_000, { baseMs: 10, maxMs: 100 }, clockAt(0)),
      async () => {
        if (++calls < 3) throw throttle();
        return 'done';
      },
      retryable,
      undefined,
      (e, n, ms) => heard.push([(e as Error).name, n, ms]),
    );
    // Assess
    expect(heard).toEqual([
      ['ThrottlingException', 1, 5],
      ['ThrottlingException', 2, 10],
    ]);
  });

  it('rethrows what isFatal calls a bug', async () => {
    await expect(
      withRetries(new RetryBudget(10_000, { baseMs: 1, maxMs: 1 }, clockAt(0)), async () => {
        throw new TypeError('x is undefined');
      }, retryable, (e) => !classifyAwsError(e).fromService),
    ).rejects.toThrow(TypeError);
  });
});

describe('Function: classifyAwsError', () => {
  it.each([
    ['ThrottlingException', 400, { throttled: true, retryable: true, conditionFailed: false }],
    ['ProvisionedThroughputExceededException', 400, { throttled: true, retryable: true, conditionFailed: false }],
    ['SlowDown', 503, { throttled: true, retryable: true, conditionFailed: false }],
    ['InternalServerError', 500, { throttled: false, retryable: true, conditionFailed: false }],
    ['SomethingNew', 503, { throttled: false, retryable: true, conditionFailed: false }],
    ['SomethingNew', 429, { throttled: true, retryable: true, conditionFailed: false }],
    ['AccessDeniedException', 400, { throttled: false, retryable: false, conditionFailed: false }],
    ['ValidationException', 400, { throttled: false, retryable: false, conditionFailed: false }],
    ['ConditionalCheckFailedException', 400, { throttled: false, retryable: false, conditionFailed: true }],
  ])('%s (HTTP %i)', (name, status, want) => {
    const c = classifyAwsError(Object.assign(new Error('m'), { name, $metadata: { httpStatusCode: status } }));
    expect({ throttled: c.throttled, retryable: c.retryable, conditionFailed: c.conditionFailed }).toEqual(want);
    expect(c).toMatchObject({ code: name, status, fromService: true, message: 'm' });
  });

  it('knows socket errors and SDK-marked retryable errors, and does not mistake a bug for a service error', () => {
    const reset = classifyAwsError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect(reset).toMatchObject({ code: 'ECONNRESET', fromService: true, retryable: true });
    const marked = classifyAwsError(Object.assign(new Error('x'), { name: 'Odd', $metadata: {}, $retryable: {} }));
    expect(marked.retryable).toBe(true);
    const bug = classifyAwsError(new TypeError('cannot read properties of undefined'));
    expect(bug).toMatchObject({ code: 'TypeError', fromService: false, retryable: false });
    expect(classifyAwsError('a string').code).toBe('UnknownError');
  });

  it('judges an error name reported inside a response (isRetryableCode)', () => {
    expect(['SlowDown', 'InternalError', 'ProvisionedThroughputExceededException', 'InternalFailure'].map(isRetryableCode)).toEqual([true, true, true, true]);
    expect(['AccessDenied', 'NoSuchKey', 'ConditionalCheckFailedException'].map(isRetryableCode)).toEqual([false, false, false]);
  });
});
