import { withoutWarning } from './mute-warning.js';
import type { SqliteConnection, SqliteDriver, SqliteStatement } from './sqlite-driver.js';

/** What we use of node:sqlite's DatabaseSync (typed here: @types/node 20 has no node:sqlite). */
interface DatabaseSync {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  close(): void;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => DatabaseSync;
}

/** What Node prints once when node:sqlite loads: Node 22, and 24 before 24.15 (later ones print nothing). */
const EXPERIMENTAL = /^SQLite is an experimental feature/;

let module_: NodeSqliteModule | null | undefined;

/**
 * Node's built-in SQLite as a driver, or undefined where this Node has none without a flag
 * (before 22.13). Loaded on first call, with its ExperimentalWarning muted (see mute-warning.ts):
 * it says the API may change, which we pin by testing every Node version we support.
 */
export function nodeSqliteDriver(): SqliteDriver | undefined {
  if (module_ === undefined) {
    // Synchronous, so the filter is in place for exactly the load; Node before 20.16 lacks it (and node:sqlite).
    const load = () => process.getBuiltinModule('node:sqlite');
    const mod =
      typeof process.getBuiltinModule === 'function'
        ? withoutWarning('ExperimentalWarning', EXPERIMENTAL, load)
        : undefined;
    module_ = isNodeSqlite(mod) ? mod : null;
  }
  const { DatabaseSync } = module_ ?? {};
  if (!DatabaseSync) return undefined;
  return {
    name: 'node:sqlite',
    open(filename, timeoutMs) {
      const db = new DatabaseSync(filename);
      try {
        // First, so that nothing after it (the WAL switch, the migration) fails at once on a busy file.
        db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(timeoutMs))}`);
      } catch (err) {
        db.close();
        throw err;
      }
      return adapt(db);
    },
  };
}

function isNodeSqlite(mod: unknown): mod is NodeSqliteModule {
  return typeof (mod as { DatabaseSync?: unknown } | undefined)?.DatabaseSync === 'function';
}

/** DatabaseSync with better-sqlite3's pragma() and transaction(), which it lacks. */
function adapt(db: DatabaseSync): SqliteConnection {
  return {
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => db.exec(sql),
    pragma(source, options) {
      const rows = db.prepare(`PRAGMA ${source}`).all();
      if (!options?.simple) return rows;
      const first = rows[0] as Record<string, unknown> | undefined;
      return first && Object.values(first)[0];
    },
    transaction: (fn) => ({ immediate: () => immediate(db, fn) }),
    close: () => db.close(),
  };
}

function immediate<R>(db: DatabaseSync, fn: () => R): R {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite has already rolled back (as it does on some I/O and disk-full errors): report the first error.
    }
    throw err;
  }
}
