/**
 * Runs in a function's worker thread (local/function-thread.ts): builds the handler once, as a
 * Lambda container does at init, from `workerData` (module, export, environment), then serves
 * the invocations the parent posts, each with a Context rebuilt from the parent's fields. Errors
 * go back by name, message and stack.
 */
import { randomUUID } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { resetClients } from '../functions/shared/clients.ts';
import { currentThreadId } from './threads.ts';
import type { HostMessage, ParentMessage, ThreadSpec } from './function-thread.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const port = parentPort!;
const { spec, env } = workerData as { spec: ThreadSpec; env: Readonly<Record<string, string>> };
const post = (m: HostMessage) => port.postMessage(m);

function plainError(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack !== undefined ? { stack: error.stack } : {}) };
  return { name: 'Error', message: String(error) };
}

let handler: Handler;
try {
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.export];
  if (typeof factory !== 'function') throw new TypeError(`${spec.module} has no function export ${spec.export}`);
  handler = (factory as (env: Readonly<Record<string, string>>) => Handler)(env);
} catch (error) {
  post({ type: 'failed', error: plainError(error) });
  port.close();
  throw error;
}

port.on('message', (m: ParentMessage) => {
  if (m.type === 'stop') {
    // Sockets of the SDK clients would keep the thread alive.
    resetClients();
    port.close();
    return;
  }
  const deadline = Date.now() + m.context.remainingMs;
  const { remainingMs: _r, ...fields } = m.context;
  const noop = (): void => {};
  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: spec.export,
    functionVersion: '$LATEST',
    invokedFunctionArn: '',
    memoryLimitInMB: '',
    awsRequestId: randomUUID(),
    logGroupName: '',
    logStreamName: '',
    ...fields,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: noop,
    fail: noop,
    succeed: noop,
  };
  handler(m.event, context).then(
    (value) => post({ type: 'result', id: m.id, value }),
    (error: unknown) => post({ type: 'error', id: m.id, error: plainError(error) }),
  );
});

post({ type: 'ready', ...(currentThreadId() !== undefined ? { tid: currentThreadId()! } : {}) });
