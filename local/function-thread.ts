/**
 * A function of the embedded stack on a worker thread of its own, as Lambda runs each function in
 * a container of its own: its handler is built once in the thread (local/function-host.ts) and
 * every invocation is posted to it. Each function then runs on whichever core is free and
 * collects its garbage in its own heap: on 2 cores the main thread keeps the HTTP front, the
 * intake and the pollers. (e2e bench: the main thread had ~45 ms of CPU per 1,000 events with the
 * consumers in it.)
 *
 * The young generation is sized from the function's `--max-semi-space-size` (lib/functions.ts
 * `nodeOptions`, as Lambda's NODE_OPTIONS would). A thread that crashes fails the invocations in
 * it; the next invocation starts a new one, as Lambda starts a new container.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { StreamfoldError } from '../functions/shared/errors.ts';
import { nameThread } from './threads.ts';

/** What the thread builds its handler from: `(await import(module))[export](env)`. */
export interface ThreadSpec {
  /** A module URL (`new URL('../functions/rollup/app.ts', import.meta.url).href`). */
  readonly module: string;
  readonly export: string;
}

/** What is cloned of a Context: its plain fields, and the time left instead of the function giving it. */
export type ContextFields = Partial<Omit<Context, 'getRemainingTimeInMillis' | 'done' | 'fail' | 'succeed'>> & { readonly remainingMs: number };

/** Parent → thread. */
export type ParentMessage = { readonly type: 'invoke'; readonly id: number; readonly event: unknown; readonly context: ContextFields } | { readonly type: 'stop' };

interface PlainError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** Thread → parent. */
export type HostMessage =
  | { readonly type: 'ready'; readonly tid?: number }
  | { readonly type: 'failed'; readonly error: PlainError }
  | { readonly type: 'result'; readonly id: number; readonly value: unknown }
  | { readonly type: 'error'; readonly id: number; readonly error: PlainError };

/** The function's thread could not start, or died. */
export class FunctionThreadError extends StreamfoldError {}

/** `['--max-semi-space-size=64']` → a young generation of 3 semi-spaces (V8's rule), 192 MB. */
export function resourceLimitsOf(nodeOptions: readonly string[] | undefined): ResourceLimits {
  const semi = (nodeOptions ?? []).map((o) => /^--max-semi-space-size=(\d+)$/.exec(o)?.[1]).find((v) => v !== undefined);
  return semi === undefined ? {} : { maxYoungGenerationSizeMb: 3 * Number(semi) };
}

function revive(e: PlainError): Error {
  const error = new Error(e.message);
  error.name = e.name;
  if (e.stack !== undefined) error.stack = e.stack;
  return error;
}

const STOP_MS = 10_000;

export class FunctionThread {
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  private nextId = 1;
  private stopped = false;

  constructor(
    /** Names the thread (CPU figures, errors). */
    readonly name: string,
    private readonly spec: ThreadSpec,
    private readonly env: Readonly<Record<string, string>>,
    private readonly resourceLimits: ResourceLimits = {},
  ) {}

  /** Starts the thread and builds the handler; rejects with the handler's init error. */
  start(): Promise<void> {
    return this.ready().then(() => undefined);
  }

  /** The handler, as the poller or a schedule calls it. */
  readonly handler = async (event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>): Promise<unknown> => {
    const worker = await this.ready();
    const id = this.nextId++;
    const { getRemainingTimeInMillis, done: _d, fail: _f, succeed: _s, ...fields } = context;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'invoke', id, event, context: { ...fields, remainingMs: getRemainingTimeInMillis() } } satisfies ParentMessage);
    });
  };

  /** Ends the thread once the invocations in it have answered (or after 10 s). */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker ?? (await this.starting?.catch(() => undefined));
    if (worker === undefined) return;
    const deadline = Date.now() + STOP_MS;
    while (this.pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    worker.postMessage({ type: 'stop' } satisfies ParentMessage);
    const timer = setTimeout(() => void worker.terminate(), Math.max(0, deadline - Date.now()));
    await exited;
    clearTimeout(timer);
  }

  private ready(): Promise<Worker> {
    if (this.worker !== undefined) return Promise.resolve(this.worker);
    if (this.stopped) return Promise.reject(new FunctionThreadError(`function ${this.name} is stopped`));
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    const worker = new Worker(new URL('./function-worker.mjs', import.meta.url), {
      workerData: { spec: this.spec, env: { ...this.env } },
      resourceLimits: this.resourceLimits,
      name: `streamfold-${this.name}`,
    });
    return new Promise<Worker>((resolve, reject) => {
      let up = false;
      worker.on('message', (m: HostMessage) => {
        switch (m.type) {
          case 'ready':
            up = true;
            nameThread(`fn:${this.name}`, m.tid);
            this.worker = worker;
            resolve(worker);
            return;
          case 'failed':
            reject(new FunctionThreadError(`function ${this.name} failed at init: ${m.error.message}`, { cause: revive(m.error) }));
            return;
          case 'result':
          case 'error': {
            const p = this.pending.get(m.id);
            this.pending.delete(m.id);
            if (m.type === 'result') p?.resolve(m.value);
            else p?.reject(revive(m.error));
          }
        }
      });
      const down = (error: unknown) => {
        if (this.worker === worker) this.worker = undefined;
        if (!up) reject(new FunctionThreadError(`function ${this.name}'s thread did not start`, { cause: error }));
        // Invocations in a dead thread fail, as in a container that crashed.
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(new FunctionThreadError(`function ${this.name}'s thread ended during the invocation`, { cause: error }));
        }
      };
      worker.on('error', down);
      worker.on('exit', (code) => down(new Error(`exit code ${code}`)));
    });
  }
}
