/**
 * Helpers for the settings and logging tests: each function's app built from an environment (as
 * handler.ts builds it from `process.env`), and the Powertools log lines that building it writes.
 */
import { vi } from 'vitest';
import { createArchiveHandler } from '../../../functions/archive/app.ts';
import { UNCOMPRESSED } from '../../../functions/shared/archive/zstd.ts';
import { createCompactHandler } from '../../../functions/compact/app.ts';
import { createIntakeHandler } from '../../../functions/intake/app.ts';
import { createQueryHandler } from '../../../functions/query/app.ts';
import { createRollupHandler, createSweepHandler } from '../../../functions/rollup/app.ts';
import type { Env } from '../../../functions/shared/config.ts';
import type { FunctionKey } from '../../../lib/functions.ts';
import { resourceEnv, resourceNames } from '../../../lib/resources.ts';

/** Builds a function's app; no call reaches AWS (the codec is given, metrics are not flushed). */
export const APPS: Readonly<Record<FunctionKey, (env: Env) => unknown>> = {
  intake: (env) => createIntakeHandler(env),
  query: (env) => createQueryHandler(env),
  rollup: (env) => createRollupHandler(env, { flushMetrics: () => {} }),
  sweep: (env) => createSweepHandler(env, { flushMetrics: () => {} }),
  archive: (env) => createArchiveHandler(env, { codec: UNCOMPRESSED }),
  compact: (env) => createCompactHandler(env, { codec: UNCOMPRESSED }),
};

/** Every resource variable (lib/resources.ts) and a region and keys, so any app can be built. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  ...resourceEnv(resourceNames('streamfold', '123456789012', 'us-east-1')),
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
};

/** The JSON log lines `build` writes to stdout (Powertools' own console), parsed. */
export function logLines(build: () => unknown): Array<Record<string, unknown>> {
  const chunks: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    build();
  } finally {
    write.mockRestore();
  }
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
