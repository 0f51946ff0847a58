/**
 * Configuration, read once per container from the environment: the resource names of
 * lib/resources.ts and the function's settings of lib/settings.ts, each parsed here and nowhere
 * else. A missing or malformed setting fails fast at load, naming the variable.
 */
import { BUCKETS, STREAM, TABLES, type BucketKey, type TableKey } from '../../lib/resources.ts';
import {
  choiceOf,
  settingConflicts,
  settingProblem,
  type SettingDef,
  type Settings,
  type SettingsTable,
  type SettingValue,
} from '../../lib/settings.ts';
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export function required(env: Env, name: string): string {
  const v = env[name]?.trim();
  if (!v) throw new ConfigError(`environment variable ${name} is not set`);
  return v;
}

/** One setting: its default when the variable is unset or blank, else the value it parses to. */
export function readSetting<S extends SettingDef>(env: Env, def: S): SettingValue<S> {
  const raw = env[def.envVar]?.trim();
  if (!raw) return def.default as SettingValue<S>;
  const value = def.kind === 'integer' ? Number(raw) : def.kind === 'choice' ? (choiceOf(def, raw) ?? raw) : raw;
  const problem = settingProblem(def, value);
  if (problem !== undefined) throw new ConfigError(`environment variable ${def.envVar}=${JSON.stringify(raw)} ${problem}`);
  return value as SettingValue<S>;
}

/** Every setting of a function's table (SETTINGS.<fn>), and the rules between them. */
export function readSettings<T extends SettingsTable>(env: Env, table: T): Settings<T> {
  const values: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(table)) values[key] = readSetting(env, def);
  for (const c of settingConflicts(table, values)) {
    throw new ConfigError(
      `${table[c.other]!.envVar} (${c.otherValue}) must not exceed ${table[c.setting]!.envVar} (${c.value}): ${c.why}`,
    );
  }
  return values as Settings<T>;
}

export const streamName = (env: Env): string => required(env, STREAM.envVar);
export const tableName = (env: Env, table: TableKey): string => required(env, TABLES[table].envVar);
export const bucketName = (env: Env, bucket: BucketKey): string => required(env, BUCKETS[bucket].envVar);
