/**
 * One log line: a level, a fixed message and flat fields. Fields are chosen by us, never raw
 * errors or bodies, so a secret, a stack trace or an upstream body cannot reach a log.
 */
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean>;
export type Log = (level: LogLevel, message: string, fields?: LogFields) => void;

/** Default: warnings and errors as one JSON line each on stderr. */
export const defaultLog: Log = (level, message, fields) => {
  if (level === 'info') return;
  process.stderr.write(`${JSON.stringify({ level, message, ...fields, time: new Date().toISOString() })}\n`);
};

export const silentLog: Log = () => {};

/** The name of an unexpected error, safe to log (its message may echo data). */
export function errorName(err: unknown): string {
  if (err instanceof Error) return err.name;
  return typeof err;
}

/**
 * A pino-style logger (pino, bunyan-like, or the host's own): `info(fields, message)`, `warn`,
 * `error`. Most Koa hosts already have one; the `log` options take it as it is.
 */
export interface Logger {
  info(fields: LogFields, message: string): unknown;
  warn(fields: LogFields, message: string): unknown;
  error(fields: LogFields, message: string): unknown;
}

/** What every `log` option takes: our Log function, or a pino-style logger object. */
export type LogOption = Log | Logger;

const LEVELS: readonly LogLevel[] = ['info', 'warn', 'error'];

/** True for an object with info, warn and error functions (a pino logger, a child of one…). */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return LEVELS.every((level) => typeof record[level] === 'function');
}

/**
 * The one place a `log` option becomes our Log: a function is used as it is, a logger is called
 * as pino is, `logger[level](fields, message)`, with a fresh fields object each time (pino may
 * keep or mutate it). Undefined for anything else, so the option check can say what it needs.
 */
export function toLog(value: unknown): Log | undefined {
  if (typeof value === 'function') return value as Log;
  if (!isLogger(value)) return undefined;
  const logger = value;
  return (level, message, fields) => {
    // Called as a method, so a pino logger keeps its `this` (its bindings and streams).
    logger[level]({ ...fields }, message);
  };
}
