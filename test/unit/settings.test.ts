import { afterEach, describe, expect, it } from 'vitest';
import { readSetting, readSettings } from '../../functions/shared/config.ts';
import { resetClients } from '../../functions/shared/clients.ts';
import { ConfigError } from '../../functions/shared/errors.ts';
import { FUNCTIONS, type FunctionKey } from '../../lib/functions.ts';
import { BUCKETS, STREAM, TABLES } from '../../lib/resources.ts';
import {
  LOG_LEVELS,
  PARQUET,
  POWERTOOLS,
  SETTINGS,
  settingConflicts,
  settingProblem,
  settingsEnvironment,
  type SettingDef,
} from '../../lib/settings.ts';
import { APPS, BASE_ENV } from './support/functions.ts';

afterEach(() => resetClients());

const KEYS = Object.keys(FUNCTIONS) as FunctionKey[];
const RESOURCE_VARS = [STREAM.envVar, ...Object.values(TABLES).map((t) => t.envVar), ...Object.values(BUCKETS).map((b) => b.envVar)];
const defaults = (table: Readonly<Record<string, SettingDef>>) => Object.fromEntries(Object.entries(table).map(([k, d]) => [k, d.default]));

describe('Function: readSetting', () => {
  it('takes the default when the variable is unset or blank', () => {
    // Act + Assess
    expect(readSetting({}, PARQUET.zstdLevel)).toBe(3);
    expect(readSetting({ ARCHIVE_ZSTD_LEVEL: '  ' }, PARQUET.zstdLevel)).toBe(3);
    expect(readSetting({}, POWERTOOLS.logLevel)).toBe('INFO');
    expect(readSetting({}, SETTINGS.rollup.serviceName)).toBe('rollup');
  });

  it('parses a value in range, and a level whatever its case', () => {
    // Act + Assess
    expect(readSetting({ ARCHIVE_ZSTD_LEVEL: ' 22 ' }, PARQUET.zstdLevel)).toBe(22);
    expect(readSetting({ QUERY_INDEX_CACHE_MS: '0' }, SETTINGS.query.indexCacheMs)).toBe(0);
    expect(readSetting({ POWERTOOLS_LOG_LEVEL: 'debug' }, POWERTOOLS.logLevel)).toBe('DEBUG');
    expect(readSetting({ POWERTOOLS_SERVICE_NAME: 'mine' }, SETTINGS.intake.serviceName)).toBe('mine');
  });

  it.each([
    [PARQUET.zstdLevel, '30', 'environment variable ARCHIVE_ZSTD_LEVEL="30" must be a whole number in 1..22'],
    [PARQUET.zstdLevel, '2.5', 'environment variable ARCHIVE_ZSTD_LEVEL="2.5" must be a whole number in 1..22'],
    [SETTINGS.rollup.ttl1mDays, 'two', 'environment variable ROLLUP_TTL_1M_DAYS="two" must be a whole number of days in 1..3650'],
    [SETTINGS.rollup.itemCacheEntries, '-1', 'environment variable ROLLUP_ITEM_CACHE_ENTRIES="-1" must be a whole number in 0..200000'],
    [POWERTOOLS.logLevel, 'LOUD', `environment variable POWERTOOLS_LOG_LEVEL="LOUD" must be one of ${LOG_LEVELS.join(', ')}`],
  ] as const)('refuses %o = %s, naming the variable and the range', (def, raw, message) => {
    // Act + Assess
    expect(() => readSetting({ [def.envVar]: raw }, def)).toThrow(new ConfigError(message));
  });
});

describe('Function: readSettings', () => {
  it.each(KEYS)('%s: every setting at its default in an empty environment', (fn) => {
    // Act + Assess
    expect(readSettings({}, SETTINGS[fn])).toEqual(defaults(SETTINGS[fn]));
  });

  it('refuses settings that contradict each other, naming both variables', () => {
    // Act + Assess
    expect(() => readSettings({ ROLLUP_TTL_1M_DAYS: '500' }, SETTINGS.rollup)).toThrow(
      new ConfigError('ROLLUP_TTL_1M_DAYS (500) must not exceed ROLLUP_TTL_1H_DAYS (400): count and gauge minutes live in 1 h items'),
    );
    expect(readSettings({ ROLLUP_TTL_1M_DAYS: '400' }, SETTINGS.rollup)).toMatchObject({ ttl1mDays: 400, ttl1hDays: 400 });
  });
});

describe('Function: settingsEnvironment', () => {
  it('sets the values given and leaves the others to the function', () => {
    // Act + Assess
    expect(settingsEnvironment('Rollup', SETTINGS.rollup, { ttl1hDays: 30, ttl1mDays: undefined })).toEqual({ ROLLUP_TTL_1H_DAYS: '30' });
    expect(settingsEnvironment('Rollup', SETTINGS.rollup, {})).toEqual({});
  });

  it('refuses a value out of range, naming the prop and the range', () => {
    // Act + Assess
    expect(() => settingsEnvironment('Archive', SETTINGS.compact, { maxRows: 999 }, 'compaction.')).toThrow(
      'Archive: compaction.maxRows must be a whole number in 1000..100000000, got 999',
    );
    expect(() => settingsEnvironment('F', POWERTOOLS, { logLevel: 'LOUD' as 'INFO' })).toThrow(
      `F: logLevel must be one of ${LOG_LEVELS.join(', ')}, got LOUD`,
    );
  });

  it('checks the rules with the defaults of the values not given', () => {
    // Act + Assess
    expect(() => settingsEnvironment('Rollup', SETTINGS.rollup, { ttl1hDays: 7 })).toThrow(
      'Rollup: ttl1hDays (7) must not be shorter than ttl1mDays (15): count and gauge minutes live in 1 h items',
    );
  });
});

describe('Table: SETTINGS', () => {
  it.each(KEYS)('%s: each default is in its own range and the defaults keep the rules', (fn) => {
    // Prepare
    const table = SETTINGS[fn];

    // Assess
    for (const def of Object.values(table)) expect(settingProblem(def, def.default), def.envVar).toBeUndefined();
    expect(settingConflicts(table, defaults(table))).toEqual([]);
    for (const def of Object.values(table)) {
      if (def.kind === 'integer' && def.notShorterThan) expect(table[def.notShorterThan.setting as keyof typeof table]).toMatchObject({ kind: 'integer' });
    }
  });

  it('names each variable once per function, and none that lib/resources.ts names', () => {
    for (const fn of KEYS) {
      // Prepare
      const vars = Object.values(SETTINGS[fn]).map((d: SettingDef) => d.envVar);

      // Assess
      expect(new Set(vars).size, fn).toBe(vars.length);
      expect(vars.filter((v) => RESOURCE_VARS.includes(v)), fn).toEqual([]);
    }
  });

  it('defines a variable that several functions read once (the Parquet and Powertools settings)', () => {
    // Assess
    expect(SETTINGS.archive.zstdLevel).toBe(PARQUET.zstdLevel);
    expect(SETTINGS.compact.zstdLevel).toBe(PARQUET.zstdLevel);
    expect(SETTINGS.archive.rowGroupRows).toBe(SETTINGS.compact.rowGroupRows);
    for (const fn of KEYS) {
      expect(SETTINGS[fn].logLevel, fn).toBe(POWERTOOLS.logLevel);
      expect(SETTINGS[fn].serviceName, fn).toEqual({ ...POWERTOOLS.serviceName, default: FUNCTIONS[fn].id });
    }
  });
});

describe("Every function's app", () => {
  it.each(KEYS)('%s: reads no variable of its own beyond its table and lib/resources.ts', (fn) => {
    // Prepare: an environment that records what is read
    const read = new Set<string>();
    const env = new Proxy(BASE_ENV, {
      get: (target, key, receiver) => {
        if (typeof key === 'string') read.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const allowed = new Set([...RESOURCE_VARS, ...Object.values(SETTINGS[fn]).map((d: SettingDef) => d.envVar)]);

    // Act
    APPS[fn](env);

    // Assess: the AWS_* variables are the SDK clients' (functions/shared/clients.ts)
    expect([...read].filter((k) => !k.startsWith('AWS_') && !allowed.has(k))).toEqual([]);
    expect([...read].filter((k) => allowed.has(k) && !RESOURCE_VARS.includes(k)).sort()).toEqual(
      Object.values(SETTINGS[fn]).map((d: SettingDef) => d.envVar).sort(),
    );
  });
});
