import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { OptionsError } from '../../src/errors.js';
import { storeForRole } from '../../src/store/create-store.js';
import {
  createStore,
  MemoryStore,
  PostgresStore,
  RedisStore,
  SqliteStore,
  type CardStore,
  type LoginStore,
  type Store,
  type StoreOptions,
} from '../../src/store/index.js';
import { methodsOf } from '../../src/store/roles.js';
import { freshStore, unavailable } from '../support/services.js';
import { DEFAULT_DRIVER } from './sqlite-drivers.js';

const pgDown = await unavailable('postgres', 'createStore');

describe('createStore', () => {
  it('memory: is a MemoryStore', () => {
    assert.ok(createStore('memory:') instanceof MemoryStore);
  });

  it('sqlite: takes a relative path, an absolute path, :memory: and sqlite:///abs', () => {
    const cases: [string, string][] = [
      ['sqlite:./data/membercard.db', './data/membercard.db'],
      ['sqlite:/abs/x.db', '/abs/x.db'],
      ['sqlite::memory:', ':memory:'],
      ['sqlite:///abs/y.db', '/abs/y.db'],
    ];
    for (const [spec, filename] of cases) {
      const store = createStore(spec);
      assert.ok(store instanceof SqliteStore, spec);
      assert.equal(store.filename, filename, spec);
    }
    assert.throws(() => createStore('sqlite:'), OptionsError);
  });

  it('sqlite: takes ?driver=node:sqlite or better-sqlite3, and refuses any other parameter or driver', () => {
    for (const driver of ['node:sqlite', 'better-sqlite3'] as const) {
      for (const spec of [
        `sqlite:./data/m.db?driver=${driver}`,
        `sqlite:///abs/m.db?driver=${encodeURIComponent(driver)}`,
      ]) {
        const store = createStore(spec);
        assert.ok(store instanceof SqliteStore, spec);
        assert.equal(store.filename, spec.includes('///') ? '/abs/m.db' : './data/m.db', spec);
        // Nothing is opened before init(); the choice is kept until then.
        assert.equal(store.driver, undefined, spec);
      }
    }
    assert.equal((createStore('sqlite::memory:?driver=node:sqlite') as SqliteStore).filename, ':memory:');
    assert.throws(
      () => createStore('sqlite:./m.db?driver=sqlite3'),
      /^OptionsError: store: \?driver= must be node:sqlite or better-sqlite3, got "sqlite3"$/,
    );
    assert.throws(
      () => createStore('sqlite:./m.db?mode=ro'),
      /^OptionsError: store: unknown parameter "mode" in a sqlite: URL; accepted: driver$/,
    );
  });

  it('sqlite::memory: is usable and does not touch the disk', async () => {
    const store = createStore('sqlite::memory:');
    await store.init();
    await store.putSession('h', { openid: 'mp', expiresAt: Date.now() + 1000 });
    assert.equal((await store.getSession('h'))?.openid, 'mp');
    await store.close();
  });

  it('postgres:// and postgresql:// make a PostgresStore, with ?schema= (default public), without connecting', () => {
    const a = createStore('postgres://u:p@127.0.0.1:1/db');
    assert.ok(a instanceof PostgresStore);
    assert.equal(a.schema, 'public');
    const b = createStore('postgresql://u@127.0.0.1:1/db?schema=tenant_1&sslmode=disable');
    assert.ok(b instanceof PostgresStore);
    assert.equal(b.schema, 'tenant_1');
    assert.throws(() => createStore('postgres://u@h/db?schema=no-dashes'), OptionsError);
  });

  it('redis:// and rediss:// make a RedisStore, with ?prefix= (default membercard:)', () => {
    const a = createStore('redis://127.0.0.1:1');
    assert.ok(a instanceof RedisStore);
    assert.equal(a.prefix, 'membercard:');
    const b = createStore('rediss://:secret@cache.example:6380/2?prefix=shop1:');
    assert.ok(b instanceof RedisStore);
    assert.equal(b.prefix, 'shop1:');
  });

  it('returns a Store object as is, and rejects an object that is not one', () => {
    const own = new MemoryStore();
    assert.equal(createStore(own), own);
    const duck = Object.fromEntries(methodsOf('store').map((m) => [m, async () => undefined])) as unknown as Store;
    assert.equal(createStore(duck), duck);
    assert.throws(
      () => createStore({ init: async () => undefined } as unknown as Store),
      (err: unknown) => {
        assert.ok(err instanceof OptionsError);
        assert.match(err.message, /getBinding/);
        return true;
      },
    );
  });

  it('rejects other schemes with an OptionsError naming the scheme and the accepted ones, without the password', () => {
    assert.throws(
      () => createStore('mysql://u:hunter2@x/db'),
      (err: unknown) => {
        assert.ok(err instanceof OptionsError);
        assert.match(err.message, /"mysql:"/);
        for (const accepted of ['memory:', 'sqlite:', 'postgres://', 'redis://'])
          assert.ok(err.message.includes(accepted), accepted);
        assert.ok(!err.message.includes('hunter2'));
        return true;
      },
    );
    assert.throws(() => createStore('mysql://x'), OptionsError);
    assert.throws(() => createStore('./data/membercard.db'), OptionsError);
    assert.throws(() => createStore(''), OptionsError);
    assert.throws(() => createStore(42 as unknown as string), OptionsError);
  });

  it('a ?schema= PostgreSQL URL works end to end', { skip: pgDown ?? false }, async () => {
    const location = freshStore('postgres');
    const store = createStore(location.url);
    try {
      await store.init();
      await store.ping();
      assert.equal(await store.applyNotification({ id: 'x', eventType: 'E', receivedAt: 1 }, { kind: 'none' }), true);
    } finally {
      await store.close();
      await location.cleanup();
    }
  });
  it('importing the store loads no driver; each engine loads its own when it initialises', async () => {
    const probe = join(process.cwd(), 'test', 'store', 'driver-probe.ts');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', probe], { timeout: 30_000 });
    // On Node 22.13+ the SQLite store runs on the built-in node:sqlite: the addon is not even loaded.
    const sqlite = DEFAULT_DRIVER === 'node:sqlite' ? [] : ['better-sqlite3'];
    assert.deepEqual(JSON.parse(stdout), {
      imported: [],
      created: [],
      memory: [],
      sqlite,
      sqliteDriver: [DEFAULT_DRIVER],
    });
  });

  it('takes options per engine: { engine: memory | sqlite | postgres | redis, … }', () => {
    assert.ok(createStore({ engine: 'memory', sweepIntervalMs: 1000 }) instanceof MemoryStore);
    const sqlite = createStore({ engine: 'sqlite', filename: ':memory:', busyTimeoutMs: 100 });
    assert.ok(sqlite instanceof SqliteStore);
    assert.equal(sqlite.filename, ':memory:');
    const postgres = createStore({ engine: 'postgres', connectionString: 'postgres://u@127.0.0.1:1/db', schema: 's2' });
    assert.ok(postgres instanceof PostgresStore);
    assert.equal(postgres.schema, 's2');
    const redis = createStore({ engine: 'redis', url: 'redis://127.0.0.1:1', prefix: 'shop2:' });
    assert.ok(redis instanceof RedisStore);
    assert.equal(redis.prefix, 'shop2:');
  });

  describe('checks engine options once, when the store is made, naming the field', () => {
    // Real driver objects, never connected: neither a Pool nor a lazyConnect client connects until used.
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    const client = new Redis({ lazyConnect: true });
    const cluster = new Cluster([], { lazyConnect: true });
    after(async () => {
      await pool.end();
      client.disconnect();
      cluster.disconnect();
    });
    const cases: [string, unknown, RegExp][] = [
      [
        'an unknown engine',
        { engine: 'mysql' },
        /^store: "engine" must be memory, sqlite, postgres or redis, got "mysql"$/,
      ],
      ['a missing field', { engine: 'sqlite' }, /^store: "filename" is required$/],
      [
        'an unknown SQLite driver',
        { engine: 'sqlite', filename: 'x.db', driver: 'sqlite3' },
        /^store: "driver" must be/,
      ],
      [
        'a field of the wrong type',
        { engine: 'sqlite', filename: 'x.db', busyTimeoutMs: '5' },
        /^store: "busyTimeoutMs"/,
      ],
      ['a timer beyond setInterval', { engine: 'memory', sweepIntervalMs: 2 ** 40 }, /^store: "sweepIntervalMs"/],
      ['a misspelt field', { engine: 'redis', url: 'redis://x', prefx: 'a:' }, /^store: "prefx" is not allowed$/],
      [
        'a bad schema',
        { engine: 'postgres', connectionString: 'postgres://x', schema: 'a-b' },
        /^store: "schema" must/,
      ],
      ['no connection', { engine: 'postgres' }, /^store: needs "connectionString" .* or "pool" /],
      ['two connections', { engine: 'postgres', connectionString: 'postgres://x', pool }, /, not both$/],
      ['a pool that is not one', { engine: 'postgres', pool: {} }, /^store: "pool" must be a pg.Pool/],
      ['our pool settings on the host pool', { engine: 'postgres', pool, max: 3 }, /^store: "max" does not apply/],
      ['no Redis connection', { engine: 'redis' }, /^store: needs "url" .*, "cluster" .* or "client" /],
      [
        'two Redis connections',
        { engine: 'redis', url: 'redis://x', cluster: ['a:1'] },
        /takes one of "url", "cluster"/,
      ],
      ['an empty node list', { engine: 'redis', cluster: [] }, /^store: "cluster" must list at least one node$/],
      ['a node that is not host:port', { engine: 'redis', cluster: ['a:b:c'] }, /^store: "cluster.0" must list nodes/],
      [
        'Cluster settings without a cluster',
        { engine: 'redis', url: 'redis://x', clusterOptions: {} },
        /^store: "clusterOptions" applies only with "cluster"/,
      ],
      [
        'our client settings on the host Cluster',
        { engine: 'redis', client: cluster, clusterOptions: {} },
        /^store: "clusterOptions" does not apply/,
      ],
      ['our client settings on the host client', { engine: 'redis', client, redis: {} }, /^store: "redis" does not/],
      [
        'a retention that is no duration',
        { engine: 'postgres', connectionString: 'postgres://x', retention: { notifications: '30 days' } },
        /^store: "retention.notifications" must be ms .* or a duration like "30d"/,
      ],
      ['a negative retention', { engine: 'memory', retention: { journal: -1 } }, /^store: "retention.journal" must/],
      ['an unknown retention', { engine: 'sqlite', filename: 'x.db', retention: { logs: '1d' } }, /"retention.logs"/],
      ['a batch of 0', { engine: 'redis', url: 'redis://x', retention: { batch: 0 } }, /^store: "retention.batch"/],
    ];
    for (const [what, spec, message] of cases) {
      it(what, () => {
        assert.throws(
          () => createStore(spec as StoreOptions),
          (err: unknown) => err instanceof OptionsError && message.test(err.message),
        );
      });
    }
    it("takes the host's own Cluster as it takes a Redis client, and a node list", () => {
      assert.ok(createStore({ engine: 'redis', client: cluster, prefix: 'c:' }) instanceof RedisStore);
      const nodes = ['10.0.0.1:7000', '[::1]:7001', { host: 'redis-2', port: 7002 }, { host: 'redis-3' }];
      assert.ok(createStore({ engine: 'redis', cluster: nodes }) instanceof RedisStore);
    });
    it('the engine constructors run the same check', () => {
      assert.throws(
        () => new SqliteStore({ filename: '' }),
        /^OptionsError: store: "filename" is not allowed to be empty$/,
      );
      assert.throws(() => new RedisStore({ url: 'redis://x', notificationTtlMs: 0 }), /"notificationTtlMs"/);
    });
  });

  it('checks a host object only for the role it is passed for, naming what it lacks', () => {
    const sessions: LoginStore = {
      putSession: async () => undefined,
      getSession: async () => undefined,
      deleteSession: async () => undefined,
    };
    const card = Object.fromEntries(methodsOf('card').map((m) => [m, async () => undefined])) as unknown as CardStore;
    // The login kit needs sessions only, memberCard() everything but sessions. (The types say so
    // too; a JavaScript host's object is checked at run time.)
    assert.equal(storeForRole(sessions, 'login'), sessions);
    assert.equal(storeForRole(card, 'card'), card);
    assert.throws(
      () => storeForRole(card as unknown as LoginStore, 'login'),
      (err: unknown) =>
        err instanceof OptionsError &&
        err.message ===
          'store: the object given is not a session store: ' +
            'it lacks the method(s) putSession, getSession, deleteSession',
    );
    assert.throws(
      () => storeForRole(sessions as unknown as CardStore, 'card'),
      /not a card store: it lacks the method\(s\) init, ping, close, /,
    );
    assert.throws(
      () => createStore(card as unknown as Store),
      /not a Store: it lacks .*putSession, getSession, deleteSession, takeTokens, issueOuterStr$/,
    );
    // A session store's lifecycle is optional, but what it has must be methods.
    assert.throws(
      () => storeForRole({ ...sessions, close: true } as unknown as LoginStore, 'login'),
      /it lacks the method\(s\) close$/,
    );
  });
});
