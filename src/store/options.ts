import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import Joi from 'joi';
import type { Pool, PoolConfig } from 'pg';
import { OptionsError } from '../errors.js';
import type { LogOption } from '../log.js';
import { retentionSchema, type RetentionOptions } from './retention.js';
import { SQLITE_DRIVERS, type SqliteDriverName } from './sqlite-driver.js';
import type { Store } from './types.js';

/** The memory engine takes only what every engine takes. */
export type MemoryStoreOptions = StoreCommonOptions;

export interface SqliteStoreOptions {
  /** File path, or ':memory:' for a private in-memory database. */
  filename: string;
  /** How long a writer waits for another process's lock before giving up, in ms (default 5000). */
  busyTimeoutMs?: number;
  /**
   * Forces a driver (default: node:sqlite on Node.js 22.13 and later, better-sqlite3 before); both
   * read and write the same file.
   */
  driver?: SqliteDriverName;
}

/** PostgreSQL through a pool we make from a URL, and end() on close(). */
export interface PostgresConnectionOptions {
  /** postgres://user:password@host:port/database */
  connectionString: string;
  /** The schema our tables live in; created if missing (default 'public'). */
  schema?: string;
  /** Pool size per process (default 10). */
  max?: number;
  /** Give up connecting after this many ms (default 3000). */
  connectTimeoutMs?: number;
  /**
   * Give up on a query after this many ms (default 4000): the server cancels it (statement_timeout)
   * and, should the server not answer at all, the client gives up 1 s later (query_timeout).
   */
  queryTimeoutMs?: number;
  /** Called with errors of idle pooled connections (which are otherwise ignored: the pool replaces them). */
  onError?: (err: Error) => void;
  /** Extra pg Pool settings, applied last. */
  poolConfig?: PoolConfig;
  pool?: never;
}

/**
 * PostgreSQL through the host's own pg.Pool: we run our queries on it and never end() it. Its
 * size, timeouts and 'error' listener are the host's to set.
 */
export interface PostgresPoolOptions {
  pool: Pool;
  /** The schema our tables live in; created if missing (default 'public'). */
  schema?: string;
  connectionString?: never;
}

export type PostgresStoreOptions = PostgresConnectionOptions | PostgresPoolOptions;

interface RedisCommonOptions {
  /** Prepended to every key (default 'membercard:'), so several apps can share one Redis. */
  prefix?: string;
  /** @deprecated retention.notifications, which wins when both are given. */
  notificationTtlMs?: number;
}

/** Redis through a client we make from a URL, and quit() on close(). */
export interface RedisConnectionOptions extends RedisCommonOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… */
  url: string;
  cluster?: never;
  /** Give up connecting after this many ms (default 3000). */
  connectTimeoutMs?: number;
  /** Give up on a command after this many ms (default 5000). */
  commandTimeoutMs?: number;
  /** Called with connection errors (which are otherwise ignored: the client reconnects by itself). */
  onError?: (err: Error) => void;
  /** Extra ioredis settings, applied last. */
  redis?: RedisOptions;
  client?: never;
}

/** A seed node of a Redis Cluster: 'host:port', '[ipv6]:port', or { host, port }. */
export type RedisClusterNode = string | { host: string; port?: number };

/**
 * A Redis Cluster through a client we make from its seed nodes (any few of its masters: the client
 * learns the rest), and quit() on close(). The URL form is redis+cluster://… (see docs/stores.md).
 */
export interface RedisClusterConnectionOptions extends RedisCommonOptions {
  /** Seed nodes, e.g. ['10.0.0.1:6379', '10.0.0.2:6379']. */
  cluster: RedisClusterNode[];
  /** Give up connecting after this many ms (default 3000). */
  connectTimeoutMs?: number;
  /** Give up on a command after this many ms (default 5000). */
  commandTimeoutMs?: number;
  /** Called with connection errors (which are otherwise ignored: the client reconnects by itself). */
  onError?: (err: Error) => void;
  /** ioredis settings of each node's connection (username, password, tls, …), applied last. */
  redis?: RedisOptions;
  /** Extra ioredis Cluster settings (natMap, dnsLookup, scaleReads, …), applied last. */
  clusterOptions?: ClusterOptions;
  url?: never;
  client?: never;
}

/**
 * Redis through the host's own ioredis client: a Redis (standalone or Sentinel) or a Cluster. We
 * never quit() it. Its timeouts, offline queue and 'error' listener are the host's; we define our
 * scripts on it as commands named mc*.
 */
export interface RedisClientOptions extends RedisCommonOptions {
  client: Redis | Cluster;
  url?: never;
  cluster?: never;
}

export type RedisStoreOptions = RedisConnectionOptions | RedisClusterConnectionOptions | RedisClientOptions;

/** What every engine takes besides its own options. */
export interface StoreCommonOptions {
  /**
   * Where an outage is told: once when the engine stops answering, once when it answers again.
   * Default: memberCard()'s or wechatLogin()'s `log` for a store they make, else JSON lines on stderr.
   */
  log?: LogOption;
  /**
   * How long each kind of record is kept (docs/stores.md, Retention): ms or a duration like '30d'.
   * Defaults: notifications 30 days, ended top-ups 400 days, the journal forever (0).
   */
  retention?: RetentionOptions;
  /**
   * How often this instance tries to run a retention pass, in ms (default 1 min in memory, 10 min
   * elsewhere); one instance at a time runs it (a lease in the store).
   */
  sweepIntervalMs?: number;
}

/** Options for one of our engines, as createStore() and the `store` option take them. */
export type StoreOptions = StoreCommonOptions &
  (
    | ({ engine: 'memory' } & MemoryStoreOptions)
    | ({ engine: 'sqlite' } & SqliteStoreOptions)
    | ({ engine: 'postgres' } & PostgresStoreOptions)
    | ({ engine: 'redis' } & RedisStoreOptions)
  );

export type StoreEngine = StoreOptions['engine'];

/**
 * The `store` option: a URL (memory:, sqlite:…, postgres://…, redis://…), options for one of our
 * engines ({ engine, … }), or the host's own object with the methods of the role it serves.
 */
export type StoreSpec<S extends object = Store> = string | StoreOptions | S;

/** A shallow check, for an options schema: the real one (per role, per engine) is createStore()'s. */
export function isStoreSpec(value: unknown): boolean {
  return (typeof value === 'string' && value.length > 0) || (typeof value === 'object' && value !== null);
}

/** Options for our engines carry `engine`; a host's own store object does not. */
export function isStoreOptions(value: object): value is StoreOptions {
  return 'engine' in value;
}

// --- one schema per engine ---------------------------------------------------------------------

/** setInterval / setTimeout take at most 2^31 - 1 ms; more fires at once. */
const ms = (min: number): Joi.NumberSchema => Joi.number().integer().min(min).max(2_147_483_647);

/** Kept as is (not cloned by Joi): a pool, a client or driver settings may be class instances. */
const object = (what: string, test: (value: object) => boolean): Joi.AnySchema =>
  Joi.any()
    .custom((value: unknown, helpers) =>
      typeof value === 'object' && value !== null && test(value) ? value : helpers.error('any.custom'),
    )
    .messages({ 'any.custom': `must be ${what}` });

const hasFunctions =
  (...names: string[]) =>
  (value: object): boolean =>
    names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');

const settings = (what: string): Joi.AnySchema => object(what, () => true);

/** For options that only apply to a connection we make ourselves, not to the host's pool / client. */
const OWN_CONNECTION_ONLY = `"{{#peer}}" does not apply to the host's own "{{#main}}": set it there instead`;

/**
 * `log`: our Log function or a pino-style logger (lifecycle.ts adapts it with toLog). Not custom():
 * these schemas run with convert off, which skips custom rules.
 */
const LOG_TYPE = 'must be a function (level, message, fields) or a pino-style logger (info, warn and error)';
const logOption = Joi.alternatives()
  .try(
    Joi.function(),
    Joi.object({
      info: Joi.function().required(),
      warn: Joi.function().required(),
      error: Joi.function().required(),
    }).unknown(true),
  )
  .messages({
    'alternatives.types': LOG_TYPE,
    'alternatives.match': LOG_TYPE,
    'any.required': LOG_TYPE,
  });

const SCHEMAS: Record<StoreEngine, Joi.ObjectSchema> = {
  memory: Joi.object({ engine: Joi.valid('memory'), ...common() }),
  sqlite: Joi.object({
    engine: Joi.valid('sqlite'),
    ...common(),
    filename: Joi.string().min(1).required(),
    busyTimeoutMs: ms(0),
    driver: Joi.valid(...SQLITE_DRIVERS),
  }),
  postgres: postgresSchema(),
  redis: redisSchema(),
};

/** What every engine takes (StoreCommonOptions). */
function common(): Record<string, Joi.Schema> {
  return { log: logOption, retention: retentionSchema, sweepIntervalMs: ms(1) };
}

function postgresSchema(): Joi.ObjectSchema {
  return Joi.object({
    engine: Joi.valid('postgres'),
    ...common(),
    connectionString: Joi.string().min(1),
    pool: object('a pg.Pool (new pg.Pool(…))', hasFunctions('query', 'connect', 'end')),
    schema: Joi.string()
      .pattern(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/)
      .messages({
        'string.pattern.base': 'must be a plain PostgreSQL identifier (letters, digits, _), got "{{#value}}"',
      }),
    max: Joi.number().integer().min(1).max(1000),
    connectTimeoutMs: ms(1),
    queryTimeoutMs: ms(1),
    onError: Joi.function(),
    poolConfig: settings('pg Pool settings (an object)'),
  })
    .xor('connectionString', 'pool')
    .without('pool', ['max', 'connectTimeoutMs', 'queryTimeoutMs', 'onError', 'poolConfig'])
    .messages({
      'object.missing': 'needs "connectionString" (a postgres:// URL) or "pool" (your own pg.Pool)',
      'object.xor': 'takes "connectionString" or "pool", not both',
      'object.without': OWN_CONNECTION_ONLY,
    });
}

function redisSchema(): Joi.ObjectSchema {
  return Joi.object({
    engine: Joi.valid('redis'),
    ...common(),
    url: Joi.string().min(1),
    cluster: Joi.array()
      .min(1)
      .items(
        Joi.string().pattern(/^(\[[0-9A-Fa-f:.]+\]|[^\s:/@,[\]]+)(:\d{1,5})?$/),
        Joi.object({ host: Joi.string().min(1).required(), port: Joi.number().integer().min(1).max(65535) }),
      )
      .messages({
        'array.min': 'must list at least one node',
        'array.includes': "must list nodes as 'host:port' strings or objects with host and port",
      }),
    client: object('an ioredis client (new Redis(…) or new Cluster(…))', hasFunctions('defineCommand', 'ping')),
    prefix: Joi.string().allow(''),
    notificationTtlMs: ms(1),
    connectTimeoutMs: ms(1),
    commandTimeoutMs: ms(1),
    onError: Joi.function(),
    redis: settings('ioredis settings (an object)'),
    clusterOptions: settings('ioredis Cluster settings (an object)'),
  })
    .xor('url', 'client', 'cluster')
    .without('client', ['connectTimeoutMs', 'commandTimeoutMs', 'onError', 'redis', 'clusterOptions'])
    .with('clusterOptions', 'cluster')
    .messages({
      'object.with': '"{{#main}}" applies only with "{{#peer}}" (a Redis Cluster\'s nodes)',
      'object.missing':
        'needs "url" (a redis:// URL), "cluster" (a Redis Cluster\'s nodes) or "client" (your own ioredis client)',
      'object.xor': 'takes one of "url", "cluster" or "client"',
      'object.without': OWN_CONNECTION_ONLY,
    });
}

/** Checks an engine's options once, when its store is made; the message names the field. */
export function checkStoreOptions(engine: StoreEngine, options: unknown): void {
  if (typeof options !== 'object' || options === null)
    throw new OptionsError(`store: ${engine} options must be an object`);
  const { error } = SCHEMAS[engine].validate(options, { abortEarly: true, convert: false, errors: { label: false } });
  const detail = error?.details[0];
  if (!error) return;
  const field = detail?.path.join('.');
  throw new OptionsError(`store: ${field ? `"${field}" ` : ''}${detail?.message ?? error.message}`);
}
