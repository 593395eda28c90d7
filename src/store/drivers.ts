import type BetterSqlite3 from 'better-sqlite3';
import type { Cluster, Redis } from 'ioredis';
import type { Pool } from 'pg';
import { OptionsError } from '../errors.js';
import { nodeSqliteDriver } from './node-sqlite.js';
import type { SqliteDriver, SqliteDriverName } from './sqlite-driver.js';

type PgModule = typeof import('pg');
export type PgPoolConstructor = typeof Pool;
export type SqliteConstructor = typeof BetterSqlite3;
export type RedisConstructor = typeof Redis;
export type ClusterConstructor = typeof Cluster;

/** The engine each driver serves, as the `store` option names it. */
const ENGINES = { pg: 'postgres', ioredis: 'redis', 'better-sqlite3': 'sqlite' } as const;
export type DriverName = keyof typeof ENGINES;

/** Where a missing package has an alternative that needs no install, the message says so. */
const INSTEAD: Partial<Record<DriverName, string>> = {
  'better-sqlite3': ', or run on Node.js 22.13 or later, whose built-in node:sqlite needs no package',
};

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
      `store: the ${ENGINES[name]} engine needs the package "${name}", which is not installed: ` +
        `npm install ${name}${INSTEAD[name] ?? ''}`,
    );
    missing.cause = err;
    throw missing;
  }
}

export async function loadPgPool(): Promise<PgPoolConstructor> {
  const mod = (await loadDriver('pg', () => import('pg'))) as PgModule | { default: PgModule };
  return interopDefault(mod).Pool;
}

/** pg's Client, for a connection outside the pool (the cache bus's LISTEN, postgres-bus.ts). */
export async function loadPgClient(): Promise<PgModule['Client']> {
  const mod = (await loadDriver('pg', () => import('pg'))) as PgModule | { default: PgModule };
  return interopDefault(mod).Client;
}

/**
 * The SQLite driver: the one asked for, else node:sqlite where this Node has it (22.13+: nothing to
 * compile or download), else the native addon better-sqlite3 (an optional dependency, for Node 20).
 */
export async function loadSqlite(choice?: SqliteDriverName): Promise<SqliteDriver> {
  if (choice !== 'better-sqlite3') {
    const builtIn = nodeSqliteDriver();
    if (builtIn) return builtIn;
    if (choice === 'node:sqlite') {
      throw new OptionsError(
        `store: the sqlite driver "node:sqlite" needs Node.js 22.13 or later (this is ${process.version}); ` +
          'leave "driver" unset, or set it to "better-sqlite3"',
      );
    }
  }
  const mod = await loadDriver(
    'better-sqlite3',
    (): Promise<{ default: SqliteConstructor }> => import('better-sqlite3'),
  );
  const Database = interopDefault(mod);
  // A better-sqlite3 Database already is a SqliteConnection; `timeout` is its busy_timeout.
  return { name: 'better-sqlite3', open: (filename, timeoutMs) => new Database(filename, { timeout: timeoutMs }) };
}

export async function loadIoredis(): Promise<RedisConstructor> {
  const mod: unknown = await loadDriver('ioredis', () => import('ioredis'));
  // The class sits one or two `default`s deep depending on ESM/CJS interop.
  let ctor = mod;
  while (ctor && typeof ctor !== 'function') ctor = (ctor as { default?: unknown }).default;
  if (typeof ctor !== 'function') throw new Error('The "ioredis" package has no Redis class.');
  return ctor as RedisConstructor;
}

/** ioredis's Cluster class, for a store on a Redis Cluster. */
export async function loadIoredisCluster(): Promise<ClusterConstructor> {
  const mod: unknown = await loadDriver('ioredis', () => import('ioredis'));
  // `Cluster` sits on the namespace or one or two `default`s deep, as the Redis class does.
  for (let m = mod; (m && typeof m === 'object') || typeof m === 'function'; m = (m as { default?: unknown }).default) {
    const ctor = (m as { Cluster?: unknown }).Cluster;
    if (typeof ctor === 'function') return ctor as ClusterConstructor;
    if (!(m as { default?: unknown }).default) break;
  }
  throw new Error('The "ioredis" package has no Cluster class.');
}

/** A CommonJS package seen through import(): its exports sit on `default` (ESM) or on the namespace (our CJS build). */
function interopDefault<T>(mod: T | { default: T }): T {
  const inner = (mod as { default?: T }).default;
  return inner ?? (mod as T);
}
