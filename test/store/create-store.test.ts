import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { OptionsError } from '../../src/errors.js';
import { createStore, MemoryStore, PostgresStore, RedisStore, SqliteStore, type Store } from '../../src/store/index.js';
import { methodsOf } from '../../src/store/roles.js';
import { dropPostgresSchema } from './cleanup.js';
import { POSTGRES_URL, probePostgres } from './helpers.js';

const pgDown = await probePostgres(POSTGRES_URL);

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
    const schema = `membercard_test_${randomBytes(6).toString('hex')}`;
    const store = createStore(`${POSTGRES_URL}?schema=${schema}`);
    try {
      await store.init();
      await store.ping();
      assert.equal(await store.applyNotification({ id: 'x', eventType: 'E', receivedAt: 1 }, { kind: 'none' }), true);
    } finally {
      await store.close();
      await dropPostgresSchema(POSTGRES_URL, schema);
    }
  });
});
