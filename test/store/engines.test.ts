// What only some engines have: files and schema versions, multi-process sharing, TTLs, and
// failing fast (STORE_UNAVAILABLE) when the server is gone or hung, then recovering by itself.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { MemberCardError, OptionsError } from '../../src/errors.js';
import { createStore, PostgresStore, RedisStore, SqliteStore, type Store } from '../../src/store/index.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { loadDriver, loadSqlite } from '../../src/store/drivers.js';
import { SQLITE_DRIVERS } from '../../src/store/sqlite-driver.js';
import { sleep } from '../support/poll.js';
import { CuttableProxy, silentServer } from '../support/proxy.js';
import {
  deleteRedisKeys,
  freshStore,
  POSTGRES_URL,
  REDIS_URL,
  serverAddress,
  serverUrl,
  unavailable,
  type ServerEngine,
  type TestStore,
} from '../support/services.js';
import { driverSkips } from './sqlite-drivers.js';

const [pgDown, redisDown] = await Promise.all([
  unavailable('postgres', 'PostgresStore specifics'),
  unavailable('redis', 'RedisStore specifics'),
]);
const sqliteSkips = await driverSkips();
const isUnavailable = (err: unknown): boolean => err instanceof MemberCardError && err.code === 'STORE_UNAVAILABLE';

/** Asserts that `promise` rejects with STORE_UNAVAILABLE within `withinMs`. */
async function rejectsUnavailable(promise: Promise<unknown>, withinMs: number): Promise<void> {
  const started = Date.now();
  await assert.rejects(promise, isUnavailable);
  const took = Date.now() - started;
  assert.ok(took < withinMs, `rejected after ${took} ms, expected < ${withinMs} ms`);
}

/** Polls until the store answers again (it must recover by itself), failing after `withinMs`. */
async function recovers(store: Store, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await store.ping();
      return;
    } catch (err) {
      assert.ok(isUnavailable(err), `only STORE_UNAVAILABLE while down, got ${String(err)}`);
      if (Date.now() > deadline) throw new Error(`the store did not recover within ${withinMs} ms`, { cause: err });
      await sleep(200);
    }
  }
}

const record = (id: string) => ({ id, eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() });

/** A CuttableProxy in front of the engine's server, and the server's URL pointed through it. */
async function throughProxy(engine: ServerEngine): Promise<{ proxy: CuttableProxy; url: string }> {
  const proxy = new CuttableProxy(serverAddress(engine));
  await proxy.start();
  return { proxy, url: serverUrl(engine, proxy.port).toString() };
}

/** Fresh locations (schemas or key prefixes) for one suite, all removed by cleanup(). */
function locations(engine: ServerEngine): { fresh: () => string; cleanup: () => Promise<void> } {
  const made: TestStore[] = [];
  return {
    fresh: () => {
      const location = freshStore(engine);
      made.push(location);
      return location.place;
    },
    cleanup: async () => {
      for (const location of made) await location.cleanup();
    },
  };
}

/** A store on a server that accepts connections and never answers: init() must give up in time. */
async function silentServerRejects(open: (port: number) => Store): Promise<void> {
  const silent = await silentServer();
  const store = open(silent.port);
  try {
    await rejectsUnavailable(store.init(), 3000);
  } finally {
    await store.close();
    await silent.close();
  }
}

/**
 * What every networked engine must do when its connection is cut, then restored: `open` makes
 * the store on a URL that goes through a proxy.
 */
async function cutLosesNothingAndRecovers(
  engine: ServerEngine,
  open: (url: string) => Store,
  recoverWithinMs: number,
): Promise<void> {
  const { proxy, url } = await throughProxy(engine);
  const store = open(url);
  try {
    await cutAndRestore(store, proxy, recoverWithinMs);
  } finally {
    await store.close();
    await proxy.cut();
  }
}

async function cutAndRestore(store: Store, proxy: CuttableProxy, recoverWithinMs: number): Promise<void> {
  await store.init();
  assert.equal(await store.applyNotification(record('before'), { kind: 'none' }), true);
  await proxy.cut();
  await rejectsUnavailable(store.ping(), 4000);
  await rejectsUnavailable(store.applyNotification(record('during'), { kind: 'bind', cardId: 'c', code: '1' }), 4000);
  await proxy.start();
  await recovers(store, recoverWithinMs);
  // The failed step recorded nothing, so the redelivery is processed.
  assert.equal(await store.getNotification('during'), undefined);
  assert.equal(await store.applyNotification(record('during'), { kind: 'bind', cardId: 'c', code: '1' }), true);
  assert.equal(await store.applyNotification(record('before'), { kind: 'none' }), false);
}

for (const driver of SQLITE_DRIVERS) {
  describe(`SqliteStore specifics (${driver})`, { skip: sqliteSkips[driver] ?? false }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'membercard-sqlite-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const worker = join(process.cwd(), 'test', 'store', 'sqlite-worker.ts');

    it('creates the directory, uses WAL, records the schema version, and keeps data across reopen', async () => {
      const filename = join(dir, 'a', 'b', 'membercard.db');
      const store = new SqliteStore({ filename, driver });
      await store.init();
      assert.equal(store.driver, driver);
      assert.ok(existsSync(filename));
      assert.equal(
        await store.applyNotification(record('n1'), { kind: 'bind', cardId: 'c', code: '1', unionid: 'u' }),
        true,
      );
      await store.close();

      // Both are kept in the file itself, so a fresh connection reads what the store set.
      const raw = (await loadSqlite(driver)).open(filename, 1000);
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      // Seven migrations: the retention indexes (issue 18) are the 7th.
      assert.equal(raw.pragma('user_version', { simple: true }), 7);
      raw.close();

      const reopened = new SqliteStore({ filename, driver });
      await reopened.init();
      await reopened.init();
      assert.equal((await reopened.getBinding('c', '1'))?.unionid, 'u');
      assert.equal(await reopened.applyNotification(record('n1'), { kind: 'none' }), false);
      await reopened.close();
    });

    it('pragma() sets and reads back what the store sets on its connection', async () => {
      const raw = (await loadSqlite(driver)).open(join(dir, 'pragmas.db'), 1234);
      try {
        assert.equal(raw.pragma('busy_timeout', { simple: true }), 1234);
        raw.pragma('journal_mode = WAL');
        raw.pragma('synchronous = FULL');
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
        assert.equal(raw.pragma('synchronous', { simple: true }), 2); // FULL
        assert.deepEqual(
          (raw.pragma('user_version') as object[]).map((row) => ({ ...row })),
          [{ user_version: 0 }],
        );
      } finally {
        raw.close();
      }
    });

    it('sqlite::memory: works without a file', async () => {
      const store = new SqliteStore({ filename: ':memory:', driver });
      await store.init();
      assert.equal(await store.applyNotification(record('m1'), { kind: 'bind', cardId: 'c', code: '1' }), true);
      assert.equal((await store.getBinding('c', '1'))?.status, 'active');
      await store.close();
    });

    it('a writer waits up to busyTimeoutMs for another process, then says STORE_UNAVAILABLE', async () => {
      const filename = join(dir, 'busy.db');
      const seed = new SqliteStore({ filename, driver });
      await seed.init();
      await seed.close();
      // Another process takes the write lock for 600 ms.
      const holder = spawn(process.execPath, ['--import', 'tsx', worker, 'hold', filename, driver, '600'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = once(holder, 'exit');
      try {
        await once(holder.stdout, 'data'); // "locked"
        const impatient = new SqliteStore({ filename, driver, busyTimeoutMs: 100 });
        const started = Date.now();
        await rejectsUnavailable(impatient.applyNotification(record('b1'), { kind: 'none' }), 550);
        assert.ok(Date.now() - started >= 90, `gave up after ${Date.now() - started} ms, before busyTimeoutMs`);
        await impatient.close();
        const patient = new SqliteStore({ filename, driver, busyTimeoutMs: 5000 });
        assert.equal(await patient.applyNotification(record('b2'), { kind: 'none' }), true);
        assert.ok(Date.now() - started >= 500, 'the write went through only once the lock was released');
        await patient.close();
      } finally {
        holder.kill();
        await exited;
      }
    });

    it('two processes applying one notification id 20 times each at once: exactly one true', async () => {
      const filename = join(dir, 'shared.db');
      const seed = new SqliteStore({ filename, driver });
      await seed.init(); // both workers then open an existing file; a fresh one is covered by the lock too
      await seed.close();
      const run = () =>
        promisify(execFile)(
          process.execPath,
          ['--import', 'tsx', worker, 'apply', filename, driver, 'dup-1', 'card-mp'],
          {
            timeout: 30_000,
          },
        );
      const outputs = await Promise.all([run(), run()]);
      const total = outputs.reduce((sum, o) => sum + Number(o.stdout), 0);
      assert.equal(total, 1, `trues per process: ${outputs.map((o) => o.stdout).join(', ')}`);
    });
  });
}

describe('PostgresStore specifics', { skip: pgDown ?? false }, () => {
  const { fresh, cleanup } = locations('postgres');
  after(cleanup);

  it('several instances initialising a fresh schema at once all succeed, once', async () => {
    const schema = fresh();
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ connectionString: POSTGRES_URL, schema }));
    try {
      await Promise.all(stores.map((s) => s.init()));
      await Promise.all(stores.map((s) => s.init()));
      const [a, b] = stores as [PostgresStore, PostgresStore];
      assert.equal(await a.applyNotification(record('p1'), { kind: 'bind', cardId: 'c', code: '1' }), true);
      assert.equal((await b.getBinding('c', '1'))?.status, 'active');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    const version = await client.query(`SELECT version FROM "${schema}".schema_version`);
    await client.end();
    assert.deepEqual(version.rows, [{ version: 7 }]);
  });

  it('rejects a schema name that is not a plain identifier', () => {
    assert.throws(() => new PostgresStore({ connectionString: POSTGRES_URL, schema: 'x"; DROP' }), /schema/);
  });

  it("runs on the host's own pg.Pool, and close() leaves that pool usable", async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    const schema = fresh();
    const store = createStore({ engine: 'postgres', pool, schema });
    try {
      await store.init();
      assert.equal(await store.applyNotification(record('hp1'), { kind: 'bind', cardId: 'c', code: '1' }), true);
      // Our tables, in the host's database, through the host's connections.
      assert.deepEqual((await pool.query(`SELECT code, status FROM "${schema}".bindings`)).rows, [
        { code: '1', status: 'active' },
      ]);
      await store.close();
      await rejectsUnavailable(store.getBinding('c', '1'), 1000);
      assert.equal(pool.ended || pool.ending, false, 'close() did not end the host pool');
      assert.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it("a host pool that cannot connect gives STORE_UNAVAILABLE, and stays the host's", async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://root@127.0.0.1:1/test', connectionTimeoutMillis: 500 });
    const store = createStore({ engine: 'postgres', pool });
    await rejectsUnavailable(store.init(), 4000);
    await store.close();
    assert.equal(pool.ended || pool.ending, false);
    await pool.end();
  });

  it('a closed port rejects with STORE_UNAVAILABLE at once', async () => {
    const store = new PostgresStore({ connectionString: 'postgres://root@127.0.0.1:1/test' });
    await rejectsUnavailable(store.init(), 4000);
    await rejectsUnavailable(store.ping(), 4000); // a later call retries init, and fails the same way
    await store.close();
  });

  it('a server that never answers rejects with STORE_UNAVAILABLE after the connect timeout', async () => {
    await silentServerRejects(
      (port) =>
        new PostgresStore({ connectionString: `postgres://root@127.0.0.1:${port}/test`, connectTimeoutMs: 500 }),
    );
  });

  it('a cut connection gives STORE_UNAVAILABLE fast, loses nothing, and recovers by itself', async () => {
    await cutLosesNothingAndRecovers(
      'postgres',
      (url) =>
        new PostgresStore({ connectionString: url, schema: fresh(), connectTimeoutMs: 1000, onError: () => undefined }),
      5000,
    );
  });

  it('a connection that stops answering mid-query rejects with STORE_UNAVAILABLE after the query timeout', async () => {
    const { proxy, url } = await throughProxy('postgres');
    const store = new PostgresStore({
      connectionString: url,
      schema: fresh(),
      queryTimeoutMs: 500,
      connectTimeoutMs: 500,
      onError: () => undefined,
    });
    try {
      await store.init();
      proxy.freeze();
      await rejectsUnavailable(store.applyNotification(record('frozen'), { kind: 'none' }), 4000);
      await rejectsUnavailable(store.getSession('h'), 4000);
    } finally {
      await proxy.cut();
      await store.close();
    }
  });
});

describe('RedisStore specifics', { skip: redisDown ?? false }, () => {
  const { fresh, cleanup } = locations('redis');
  after(cleanup);

  it('gives notification ids a 30-day TTL and outer_str / sessions their own, and cleans up by prefix', async () => {
    const prefix = fresh();
    const store = new RedisStore({ url: REDIS_URL, prefix });
    await store.init();
    const { Redis } = await import('ioredis');
    const raw = new Redis(REDIS_URL);
    try {
      await store.applyNotification(record('r1'), { kind: 'none' });
      await store.putOuterStr('os1', { openid: 'mp' }, Date.now() + 60_000);
      await store.putSession('h1', { openid: 'mp', expiresAt: Date.now() + 120_000 });
      const day = 86_400_000;
      const keys = new RedisKeys(prefix);
      const nTtl = await raw.pttl(keys.notification('r1'));
      assert.ok(nTtl > 29 * day && nTtl <= 30 * day, `notification TTL ${nTtl}`);
      const oTtl = await raw.pttl(keys.outerStr('os1'));
      assert.ok(oTtl > 50_000 && oTtl <= 60_000, `outer_str TTL ${oTtl}`);
      const sTtl = await raw.pttl(keys.session('h1'));
      assert.ok(sTtl > 110_000 && sTtl <= 120_000, `session TTL ${sTtl}`);
      // Nothing outside the prefix.
      assert.equal(
        (await raw.keys(`${prefix}*`)).every((k) => k.startsWith(prefix)),
        true,
      );
      await store.close();
      assert.ok((await deleteRedisKeys(prefix)) >= 3);
      assert.deepEqual(await raw.keys(`${prefix}*`), []);
    } finally {
      raw.disconnect();
    }
  });

  it("runs on the host's own ioredis client, connecting a lazy one, and close() never quits it", async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    const prefix = fresh();
    const store = createStore({ engine: 'redis', client, prefix });
    try {
      await store.init();
      assert.equal(client.status, 'ready', 'init() connected the lazy client');
      assert.equal(await store.applyNotification(record('hr1'), { kind: 'bind', cardId: 'c', code: '1' }), true);
      // The same keys as through a URL: what is stored does not depend on whose client wrote it.
      assert.equal(await client.hget(new RedisKeys(prefix).binding('c', '1'), 'status'), 'active');
      await store.close();
      await rejectsUnavailable(store.getBinding('c', '1'), 1000);
      assert.equal(client.status, 'ready', 'close() did not quit the host client');
      assert.equal(await client.ping(), 'PONG');
    } finally {
      client.disconnect();
    }
  });

  it('a host client that cannot connect gives STORE_UNAVAILABLE', async () => {
    const client = new Redis({ port: 1, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    const store = createStore({ engine: 'redis', client, prefix: fresh() });
    await rejectsUnavailable(store.init(), 4000);
    await store.close();
    client.disconnect();
  });

  it('a closed port rejects with STORE_UNAVAILABLE at once', async () => {
    const store = new RedisStore({ url: 'redis://127.0.0.1:1', prefix: fresh() });
    await rejectsUnavailable(store.init(), 4000);
    await rejectsUnavailable(store.ping(), 4000);
    await store.close();
  });

  it('a server that never answers rejects with STORE_UNAVAILABLE within the timeouts', async () => {
    await silentServerRejects(
      (port) =>
        new RedisStore({
          url: `redis://127.0.0.1:${port}`,
          prefix: fresh(),
          connectTimeoutMs: 500,
          commandTimeoutMs: 500,
        }),
    );
  });

  it('a cut connection gives STORE_UNAVAILABLE fast, loses nothing, and recovers by itself', async () => {
    await cutLosesNothingAndRecovers(
      'redis',
      (url) => new RedisStore({ url, prefix: fresh(), onError: () => undefined }),
      6000,
    );
  });

  it('a connection that stops answering rejects with STORE_UNAVAILABLE after the command timeout', async () => {
    const { proxy, url } = await throughProxy('redis');
    const store = new RedisStore({ url, prefix: fresh(), commandTimeoutMs: 500, onError: () => undefined });
    try {
      await store.init();
      proxy.freeze();
      await rejectsUnavailable(store.applyNotification(record('frozen'), { kind: 'none' }), 3000);
      await rejectsUnavailable(store.getSession('h'), 3000);
      // The failed step must stay failed: after a reconnect nothing re-sends it behind our back.
      await proxy.cut();
      await proxy.start();
      await recovers(store, 6000);
      assert.equal(await store.getNotification('frozen'), undefined);
    } finally {
      await proxy.cut();
      await store.close();
    }
  });
});

describe('drivers', () => {
  it('a missing pg / ioredis / better-sqlite3 names the store option and how to install it', async () => {
    const missing = Object.assign(new Error("Cannot find package 'pg'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await assert.rejects(
      loadDriver('pg', () => Promise.reject(missing)),
      (err: unknown) => {
        assert.ok(err instanceof OptionsError);
        assert.equal(
          err.message,
          'store: the postgres engine needs the package "pg", which is not installed: npm install pg',
        );
        assert.equal(err.cause, missing);
        return true;
      },
    );
    const cjsMissing = Object.assign(new Error("Cannot find module 'ioredis'"), { code: 'MODULE_NOT_FOUND' });
    await assert.rejects(
      loadDriver('ioredis', () => Promise.reject(cjsMissing)),
      /^OptionsError: store: the redis engine needs the package "ioredis", .*: npm install ioredis$/,
    );
    await assert.rejects(
      loadDriver('better-sqlite3', () => Promise.reject(missing)),
      (err: unknown) => {
        assert.ok(err instanceof OptionsError);
        assert.match(
          err.message,
          /^store: the sqlite engine needs the package "better-sqlite3", .*: npm install better-sqlite3,/,
        );
        // On Node 20 the addon is the only way; on 22.13+ nothing need be installed.
        assert.match(err.message, /, or run on Node\.js 22\.13 or later, whose built-in node:sqlite needs no package$/);
        return true;
      },
    );
    // Any other failure (a broken native build, say) is not dressed up as a missing package.
    // Any other failure (a broken native build, say) is not dressed up as a missing package.
    const broken = Object.assign(new Error('invalid ELF header'), { code: 'ERR_DLOPEN_FAILED' });
    await assert.rejects(
      loadDriver('better-sqlite3', () => Promise.reject(broken)),
      (err) => err === broken,
    );
  });
});
