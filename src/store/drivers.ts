import type BetterSqlite3 from 'better-sqlite3';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { OptionsError } from '../errors.js';

type PgModule = typeof import('pg');
export type PgPoolConstructor = typeof Pool;
export type SqliteConstructor = typeof BetterSqlite3;
export type RedisConstructor = typeof Redis;

/** The engine each driver serves, as the `store` option names it. */
const ENGINES = { pg: 'postgres', ioredis: 'redis', 'better-sqlite3': 'sqlite' } as const;
export type DriverName = keyof typeof ENGINES;

/**
 * Imports a driver when its store initialises, never before: a host on PostgreSQL loads no native
 * SQLite addon, and pg / ioredis are optional dependencies. A missing one says how to install it.
 */
export async function loadDriver<T>(name: DriverName, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    const missing = new OptionsError(
      `store: the ${ENGINES[name]} engine needs the package "${name}", which is not installed: npm install ${name}`,
    );
    missing.cause = err;
    throw missing;
  }
}

export async function loadPgPool(): Promise<PgPoolConstructor> {
  const mod = (await loadDriver('pg', () => import('pg'))) as PgModule | { default: PgModule };
  return interopDefault(mod).Pool;
}

export async function loadSqlite(): Promise<SqliteConstructor> {
  const mod = await loadDriver(
    'better-sqlite3',
    (): Promise<{ default: SqliteConstructor }> => import('better-sqlite3'),
  );
  return interopDefault(mod);
}

export async function loadIoredis(): Promise<RedisConstructor> {
  const mod: unknown = await loadDriver('ioredis', () => import('ioredis'));
  // The class sits one or two `default`s deep depending on ESM/CJS interop.
  let ctor = mod;
  while (ctor && typeof ctor !== 'function') ctor = (ctor as { default?: unknown }).default;
  if (typeof ctor !== 'function') throw new Error('The "ioredis" package has no Redis class.');
  return ctor as RedisConstructor;
}

/** A CommonJS package seen through import(): its exports sit on `default` (ESM) or on the namespace (our CJS build). */
function interopDefault<T>(mod: T | { default: T }): T {
  const inner = (mod as { default?: T }).default;
  return inner ?? (mod as T);
}
