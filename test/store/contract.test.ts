// Runs the one Store contract suite against every engine: memory, SQLite (a temp file, once per
// driver this Node runs: node:sqlite and/or better-sqlite3),
// PostgreSQL (a schema of its own) and Redis (a key prefix of its own). A server that is not
// reachable skips its suite with the reason, unless MEMBERCARD_TEST_REQUIRE_SERVICES=1 (CI).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createStore, MemoryStore, PostgresStore, RedisStore, SqliteStore } from '../../src/store/index.js';
import { SQLITE_DRIVERS } from '../../src/store/sqlite-driver.js';
import { contractSuite } from './contract.js';
import { POSTGRES_URL, probePostgres, probeRedis, REDIS_URL, REQUIRE_SERVICES } from './helpers.js';
import { dropPostgresSchema, deleteRedisKeys } from './cleanup.js';
import { driverSkips } from './sqlite-drivers.js';

const [pgDown, redisDown] = await Promise.all([probePostgres(POSTGRES_URL), probeRedis(REDIS_URL)]);
for (const reason of [pgDown, redisDown]) {
  if (reason && REQUIRE_SERVICES) {
    test(`${reason.split(' ')[0]} is required (MEMBERCARD_TEST_REQUIRE_SERVICES=1) and reachable`, () => {
      throw new Error(reason.replace(': suite skipped', ''));
    });
  }
}

contractSuite({
  name: 'memory',
  open: () => new MemoryStore(),
  shared: false,
  cleanup: async () => undefined,
});

const sqliteSkips = await driverSkips();
for (const driver of SQLITE_DRIVERS) {
  // Not made here: the store creates it, so a skipped suite leaves nothing behind.
  const dir = join(tmpdir(), `membercard-store-${randomBytes(6).toString('hex')}`);
  contractSuite({
    name: `sqlite (${driver})`,
    skip: sqliteSkips[driver],
    open: () => new SqliteStore({ filename: join(dir, 'nested', 'membercard.db'), driver }),
    shared: true,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  });
}

const schema = `membercard_test_${randomBytes(6).toString('hex')}`;
contractSuite({
  name: 'postgres',
  skip: pgDown,
  open: () => new PostgresStore({ connectionString: POSTGRES_URL, schema }),
  shared: true,
  cleanup: () => dropPostgresSchema(POSTGRES_URL, schema),
});

const prefix = `membercard_test_${randomBytes(6).toString('hex')}:`;
contractSuite({
  name: 'redis',
  skip: redisDown,
  open: () => new RedisStore({ url: REDIS_URL, prefix }),
  shared: true,
  cleanup: async () => {
    await deleteRedisKeys(REDIS_URL, prefix);
  },
});

// The host's own client (we never end or quit it): the same contract, through the host's connections.
const hostPool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
hostPool.on('error', () => undefined);
const poolSchema = `membercard_test_${randomBytes(6).toString('hex')}`;
contractSuite({
  name: "postgres, on the host's pg.Pool",
  skip: pgDown,
  open: () => createStore({ engine: 'postgres', pool: hostPool, schema: poolSchema }),
  shared: true,
  cleanup: async () => {
    await dropPostgresSchema(POSTGRES_URL, poolSchema);
    await hostPool.end();
  },
});

// lazyConnect: nothing connects unless the suite runs (it is skipped when Redis is down).
const hostClient = new Redis(REDIS_URL, { lazyConnect: true });
const clientPrefix = `membercard_test_${randomBytes(6).toString('hex')}:`;
contractSuite({
  name: "redis, on the host's ioredis client",
  skip: redisDown,
  open: () => createStore({ engine: 'redis', client: hostClient, prefix: clientPrefix }),
  shared: true,
  cleanup: async () => {
    await deleteRedisKeys(REDIS_URL, clientPrefix);
    hostClient.disconnect();
  },
});
