/** Handlers for test/integration/function-thread.test.ts, built in a function thread. */
import { threadId } from 'node:worker_threads';

interface Ctx {
  getRemainingTimeInMillis(): number;
  awsRequestId: string;
  functionName: string;
}

export function createEcho(env: Readonly<Record<string, string>>) {
  return async (event: { op: string }, context: Ctx): Promise<unknown> => {
    switch (event.op) {
      case 'echo':
        return { greeting: env.GREETING, threadId, remainingMs: context.getRemainingTimeInMillis(), requestId: context.awsRequestId, functionName: context.functionName };
      case 'fail':
        throw Object.assign(new RangeError('no such thing'), { name: 'NoSuchThingError' });
      case 'crash':
        // Thrown outside the invocation's promise: the thread dies, as a container would.
        setTimeout(() => {
          throw new Error('crashed');
        }, 0);
        return new Promise(() => {});
      default:
        return undefined;
    }
  };
}

export function createBroken(): never {
  throw new Error('missing setting X');
}
