/**
 * Configuration, read once per container from the environment. A missing or malformed setting
 * fails fast at load, naming the variable.
 */
import { BUCKETS, STREAM, TABLES, type BucketKey, type TableKey } from '../../lib/resources.ts';
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export function required(env: Env, name: string): string {
  const v = env[name]?.trim();
  if (!v) throw new ConfigError(`environment variable ${name} is not set`);
  return v;
}

export function optionalInt(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`environment variable ${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
  }
  return v;
}

export const streamName = (env: Env): string => required(env, STREAM.envVar);
export const tableName = (env: Env, table: TableKey): string => required(env, TABLES[table].envVar);
export const bucketName = (env: Env, bucket: BucketKey): string => required(env, BUCKETS[bucket].envVar);
