/**
 * The one logger factory of the functions: a Powertools Logger whose service name and level are
 * the function's settings (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL in lib/settings.ts), the
 * variables lib/constructs/function.ts sets, passed explicitly so the embedded stack's environment
 * governs as Lambda's does; and the log port the cores take.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '../../lib/settings.ts';

export interface LoggerSettings {
  readonly serviceName: string;
  readonly logLevel: LogLevel;
}

/** What the cores log through (each takes the methods it uses). */
export interface LogPort {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/**
 * The function's logger. `settings` is the function's whole parsed table (readSettings): at DEBUG
 * the container logs it once, so a deployed `logLevel: 'DEBUG'` shows what the function runs with.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const logger = new Logger({ serviceName: settings.serviceName, logLevel: settings.logLevel });
  logger.debug('settings', { settings: { ...settings } });
  return logger;
}

export function logPort(logger: Logger): LogPort {
  return {
    debug: (message, extra) => logger.debug(message, extra ?? {}),
    info: (message, extra) => logger.info(message, extra ?? {}),
    warn: (message, extra) => logger.warn(message, extra ?? {}),
    error: (message, extra) => logger.error(message, extra ?? {}),
  };
}
