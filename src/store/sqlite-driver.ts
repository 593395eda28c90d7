/**
 * The seam between the SQLite store and the driver under it. Node.js 22.13 and later have SQLite
 * built in (node:sqlite); older Node needs the native addon better-sqlite3. Both read and write
 * the same file format, so a database moves between them as it is.
 *
 * The store speaks only to SqliteConnection: the few methods of better-sqlite3 it calls, which a
 * better-sqlite3 Database has as they are and node:sqlite is adapted to (node-sqlite.ts). Nothing
 * here names either package, so our published types need neither.
 */

/** The drivers, as the `driver` option and the `?driver=` URL parameter name them. */
export const SQLITE_DRIVERS = ['node:sqlite', 'better-sqlite3'] as const;
export type SqliteDriverName = (typeof SQLITE_DRIVERS)[number];

export function isSqliteDriver(value: string): value is SqliteDriverName {
  return (SQLITE_DRIVERS as readonly string[]).includes(value);
}

/** A compiled statement: one row (undefined when none), every row, or what a write changed. */
export interface SqliteStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number | bigint };
}

/** An open database, as the store uses it. */
export interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  /** Runs one or more statements that return no rows. */
  exec(sql: string): unknown;
  /** `PRAGMA <source>`: its rows, or with `{ simple: true }` the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** `fn` as one transaction; immediate() begins it with BEGIN IMMEDIATE (the write lock up front). */
  transaction<R>(fn: () => R): { immediate(): R };
  close(): unknown;
}

export interface SqliteDriver {
  readonly name: SqliteDriverName;
  /** Opens the file (created if missing); a writer waits up to `timeoutMs` for another's lock. */
  open(filename: string, timeoutMs: number): SqliteConnection;
}

/** SQLite's primary result codes by number: node:sqlite reports the number, better-sqlite3 the name. */
const RESULT_CODES: Record<number, string> = {
  1: 'ERROR',
  2: 'INTERNAL',
  3: 'PERM',
  4: 'ABORT',
  5: 'BUSY',
  6: 'LOCKED',
  7: 'NOMEM',
  8: 'READONLY',
  9: 'INTERRUPT',
  10: 'IOERR',
  11: 'CORRUPT',
  12: 'NOTFOUND',
  13: 'FULL',
  14: 'CANTOPEN',
  15: 'PROTOCOL',
  16: 'EMPTY',
  17: 'SCHEMA',
  18: 'TOOBIG',
  19: 'CONSTRAINT',
  20: 'MISMATCH',
  21: 'MISUSE',
  22: 'NOLFS',
  23: 'AUTH',
  24: 'FORMAT',
  25: 'RANGE',
  26: 'NOTADB',
};

/** An error's SQLite code as better-sqlite3 names it (SQLITE_BUSY, SQLITE_IOERR_WRITE, …), from either driver. */
export function sqliteErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
  // node:sqlite: code ERR_SQLITE_ERROR, errcode the (possibly extended) number; its low byte is the primary code.
  if (typeof errcode !== 'number') return undefined;
  const name = RESULT_CODES[errcode & 0xff];
  return name && `SQLITE_${name}`;
}
