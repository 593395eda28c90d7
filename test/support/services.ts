// The database servers tests run against (PostgreSQL, Redis): where they are, whether they
// answer, what a suite does when one does not ("skipped", or a failing test when
// MEMBERCARD_TEST_REQUIRE_SERVICES=1), and a store location of a test's own that is removed after.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './temp.js';

export const POSTGRES_URL = process.env['MEMBERCARD_TEST_POSTGRES'] || 'postgres://root@127.0.0.1:5432/test';
export const REDIS_URL = process.env['MEMBERCARD_TEST_REDIS'] || 'redis://127.0.0.1:6379';
export const REQUIRE_SERVICES = process.env['MEMBERCARD_TEST_REQUIRE_SERVICES'] === '1';

export type Engine = 'memory' | 'sqlite' | 'postgres' | 'redis';
export type ServerEngine = Extract<Engine, 'postgres' | 'redis'>;

/** 12 hex digits: a name no other run (or other engineer's run on this machine) picks. */
const hex = (): string => randomBytes(6).toString('hex');

/** Resolves with undefined when a PostgreSQL server answers within 1 s, else with the reason. */
export async function probePostgres(url = POSTGRES_URL): Promise<string | undefined> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL not reachable at ${url} (${(err as Error).message}): suite skipped`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves with undefined when a Redis server answers within 1 s, else with the reason. */
export async function probeRedis(url = REDIS_URL): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 1000,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  let first: Error | undefined;
  client.on('error', (err: Error) => (first ??= err));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return `Redis not reachable at ${url} (${(first ?? (err as Error)).message}): suite skipped`;
  } finally {
    client.disconnect();
  }
}

// One probe per server per test file, however many suites ask.
const probed = new Map<ServerEngine, Promise<string | undefined>>();
const probe = (engine: ServerEngine): Promise<string | undefined> => {
  let answer = probed.get(engine);
  if (!answer) {
    answer = engine === 'postgres' ? probePostgres() : probeRedis();
    probed.set(engine, answer);
  }
  return answer;
};

/**
 * Why a suite needing `engine` must be skipped (undefined: run it). With
 * MEMBERCARD_TEST_REQUIRE_SERVICES=1 (CI) an unreachable server is a failing test instead.
 */
export async function unavailable(engine: Engine, suite: string): Promise<string | undefined> {
  if (engine === 'memory' || engine === 'sqlite') return undefined;
  const reason = await probe(engine);
  if (reason && REQUIRE_SERVICES) {
    test(`${suite}: ${engine} is required (MEMBERCARD_TEST_REQUIRE_SERVICES=1) and reachable`, () => {
      throw new Error(reason.replace(': suite skipped', ''));
    });
  }
  return reason;
}

/** Where a server engine listens, e.g. for a proxy in front of it. */
export function serverAddress(engine: ServerEngine): { host: string; port: number } {
  const u = serverUrl(engine);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || (engine === 'postgres' ? 5432 : 6379)) };
}

/** The server's URL; with a port, the same server reached through that port on 127.0.0.1 (a proxy). */
export function serverUrl(engine: ServerEngine, port?: number): URL {
  const u = new URL(engine === 'postgres' ? POSTGRES_URL : REDIS_URL);
  if (port !== undefined) {
    u.hostname = '127.0.0.1';
    u.port = String(port);
  }
  return u;
}

/** A store location of this run's own, and how to remove everything it held. */
export interface TestStore {
  engine: Engine;
  /** For createStore() and MEMBERCARD_STORE. */
  url: string;
  /** The PostgreSQL schema, the Redis key prefix or the SQLite file ('' for memory). */
  place: string;
  /** The same store reached through another port on 127.0.0.1 (a proxy in front of the server). */
  via(port: number): string;
  cleanup(): Promise<void>;
}

/** A fresh location: a temp file, a schema or a key prefix named `membercard_<label>_<random>`. */
export function freshStore(engine: Engine, label = 'test'): TestStore {
  if (engine === 'memory') return { engine, url: 'memory:', place: '', via: () => 'memory:', cleanup: async () => {} };
  if (engine === 'sqlite') {
    const folder = tempDir(label);
    const place = join(folder.dir, 'membercard.db');
    const url = `sqlite:${place}`;
    return { engine, url, place, via: () => url, cleanup: async () => folder.remove() };
  }
  const name = `membercard_${label}_${hex()}`;
  const place = engine === 'postgres' ? name : `${name}:`;
  const make = (port?: number): string => {
    const u = serverUrl(engine, port);
    u.searchParams.set(engine === 'postgres' ? 'schema' : 'prefix', place);
    return u.toString();
  };
  return {
    engine,
    url: make(),
    place,
    via: make,
    cleanup: async () => {
      if (engine === 'postgres') await dropPostgresSchema(place);
      else await deleteRedisKeys(place);
    },
  };
}

/** Drops a test schema and everything in it. */
export async function dropPostgresSchema(schema: string): Promise<void> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Deletes every key under a test prefix (SCAN, not KEYS, so a shared Redis is not blocked); answers how many. */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}
