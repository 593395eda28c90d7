// Runs the one Store contract suite against every engine: memory, SQLite (a temp file, once per
// driver this Node runs: node:sqlite and/or better-sqlite3),
// PostgreSQL (a schema of its own) and Redis (a key prefix of its own), the last on one node and,
// when MEMBERCARD_TEST_REDIS_CLUSTER names one, on a Redis Cluster. A server that is not
// reachable skips its suite with the reason, unless MEMBERCARD_TEST_REQUIRE_SERVICES=1 (CI).
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { createStore, MemoryStore, PostgresStore, RedisStore, SqliteStore } from '../../src/store/index.js';
import { CLUSTER_NODES, clusterUnavailable, freshClusterStore } from '../support/cluster.js';
import { freshStore, POSTGRES_URL, REDIS_URL, unavailable } from '../support/services.js';
import { tempDir } from '../support/temp.js';
import { SQLITE_DRIVERS } from '../../src/store/sqlite-driver.js';
import { contractSuite } from './contract.js';
import { driverSkips } from './sqlite-drivers.js';

const [pgDown, redisDown, clusterDown] = await Promise.all([
  unavailable('postgres', 'the store contract'),
  unavailable('redis', 'the store contract'),
  clusterUnavailable('the store contract'),
]);

contractSuite({
  name: 'memory',
  open: (o) => new MemoryStore(o),
  shared: false,
  cleanup: async () => undefined,
});

const sqliteSkips = await driverSkips();
for (const driver of SQLITE_DRIVERS) {
  const dir = tempDir(`store-${driver.replace(':', '-')}`);
  contractSuite({
    name: `sqlite (${driver})`,
    skip: sqliteSkips[driver],
    open: (o) => new SqliteStore({ ...o, filename: join(dir.dir, 'nested', 'membercard.db'), driver }),
    shared: true,
    cleanup: async () => dir.remove(),
  });
}

const schema = freshStore('postgres');
contractSuite({
  name: 'postgres',
  skip: pgDown,
  open: (o) => new PostgresStore({ ...o, connectionString: POSTGRES_URL, schema: schema.place }),
  shared: true,
  cleanup: () => schema.cleanup(),
});

const prefix = freshStore('redis');
contractSuite({
  name: 'redis',
  skip: redisDown,
  open: (o) => new RedisStore({ ...o, url: REDIS_URL, prefix: prefix.place }),
  shared: true,
  ttls: true,
  cleanup: () => prefix.cleanup(),
});

// The host's own client (we never end or quit it): the same contract, through the host's connections.
const hostPool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
hostPool.on('error', () => undefined);
const poolSchema = freshStore('postgres');
contractSuite({
  name: "postgres, on the host's pg.Pool",
  skip: pgDown,
  open: (o) => createStore({ ...o, engine: 'postgres', pool: hostPool, schema: poolSchema.place }),
  shared: true,
  cleanup: async () => {
    await poolSchema.cleanup();
    await hostPool.end();
  },
});

// lazyConnect: nothing connects unless the suite runs (it is skipped when Redis is down).
const hostClient = new Redis(REDIS_URL, { lazyConnect: true });
const clientPrefix = freshStore('redis');
contractSuite({
  name: "redis, on the host's ioredis client",
  skip: redisDown,
  open: (o) => createStore({ ...o, engine: 'redis', client: hostClient, prefix: clientPrefix.place }),
  shared: true,
  ttls: true,
  cleanup: async () => {
    await clientPrefix.cleanup();
    hostClient.disconnect();
  },
});

// The same contract on a Redis Cluster: every script must touch one slot, or the cluster refuses it.
const clusterPrefix = freshClusterStore();
contractSuite({
  name: 'redis cluster',
  skip: clusterDown,
  open: (o) => createStore(clusterPrefix.url, o),
  shared: true,
  ttls: true,
  cleanup: () => clusterPrefix.cleanup(),
});

const hostCluster = new Cluster(CLUSTER_NODES, { lazyConnect: true });
hostCluster.on('error', () => undefined);
const hostClusterPrefix = freshClusterStore();
contractSuite({
  name: "redis cluster, on the host's ioredis Cluster",
  skip: clusterDown,
  open: (o) => createStore({ ...o, engine: 'redis', client: hostCluster, prefix: hostClusterPrefix.place }),
  shared: true,
  ttls: true,
  cleanup: async () => {
    await hostClusterPrefix.cleanup();
    hostCluster.disconnect();
  },
});
