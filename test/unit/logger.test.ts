import { afterEach, describe, expect, it } from 'vitest';
import { resetClients } from '../../functions/shared/clients.ts';
import { createLogger, logPort } from '../../functions/shared/logger.ts';
import { FUNCTIONS, type FunctionKey } from '../../lib/functions.ts';
import { POWERTOOLS } from '../../lib/settings.ts';
import { APPS, BASE_ENV, logLines } from './support/functions.ts';

afterEach(() => resetClients());

const KEYS = Object.keys(FUNCTIONS) as FunctionKey[];

describe('Function: createLogger', () => {
  it('logs at the level it is given, and at DEBUG logs the settings once', () => {
    // Prepare
    const settings = { serviceName: 'svc', logLevel: 'DEBUG', ttl: 7 } as const;

    // Act
    const lines = logLines(() => {
      const log = logPort(createLogger(settings));
      log.debug('one');
      log.info('two', { n: 2 });
    });

    // Assess
    expect(lines.map((l) => [l['level'], l['message'], l['service']])).toEqual([
      ['DEBUG', 'settings', 'svc'],
      ['DEBUG', 'one', 'svc'],
      ['INFO', 'two', 'svc'],
    ]);
    expect(lines[0]!['settings']).toEqual(settings);
    expect(lines[2]!['n']).toBe(2);
  });

  it('leaves debug lines out at INFO', () => {
    // Act
    const lines = logLines(() => logPort(createLogger({ serviceName: 'svc', logLevel: 'INFO' })).debug('one'));

    // Assess
    expect(lines).toEqual([]);
  });
});

describe(`Every function's app logs at ${POWERTOOLS.logLevel.envVar}`, () => {
  it.each(KEYS)('%s: debug lines with DEBUG', (fn) => {
    // Act: LOG_LEVEL, which some functions once passed to the Logger instead, says otherwise
    const lines = logLines(() => APPS[fn]({ ...BASE_ENV, [POWERTOOLS.logLevel.envVar]: 'DEBUG', LOG_LEVEL: 'INFO' }));

    // Assess
    const debug = lines.filter((l) => l['level'] === 'DEBUG');
    expect(debug.map((l) => [l['message'], l['service']])).toEqual([['settings', fn]]);
    expect(debug[0]!['settings']).toMatchObject({ serviceName: fn, logLevel: 'DEBUG' });
  });

  it.each(KEYS)('%s: none with INFO', (fn) => {
    // Act
    const lines = logLines(() => APPS[fn]({ ...BASE_ENV, [POWERTOOLS.logLevel.envVar]: 'INFO', LOG_LEVEL: 'DEBUG' }));

    // Assess
    expect(lines.filter((l) => l['level'] === 'DEBUG')).toEqual([]);
  });

  it.each(KEYS)('%s: INFO when unset', (fn) => {
    // Act
    const lines = logLines(() => APPS[fn](BASE_ENV));

    // Assess
    expect(lines.filter((l) => l['level'] === 'DEBUG')).toEqual([]);
  });
});
