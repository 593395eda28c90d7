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
