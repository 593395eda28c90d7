// The Redis Cluster URL form (redis+cluster://host:port,host:port/?prefix=…), as createStore and
// MEMBERCARD_STORE take it: seed nodes, credentials and TLS for every node, our prefix, and errors
// that name the problem without showing the password.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemberCardError, OptionsError } from '../../src/errors.js';
import { createStore, RedisStore } from '../../src/store/index.js';
import { toClusterNode } from '../../src/store/redis-connect.js';
import { parseStoreUrl, redactUrl } from '../../src/store/url.js';

describe('redis+cluster:// URLs', () => {
  it('lists the seed nodes and takes our prefix', () => {
    assert.deepEqual(parseStoreUrl('redis+cluster://10.0.0.1:7101,10.0.0.2:7102/?prefix=shop:'), {
      engine: 'redis',
      cluster: ['10.0.0.1:7101', '10.0.0.2:7102'],
      prefix: 'shop:',
    });
    assert.deepEqual(parseStoreUrl('REDIS+CLUSTER://redis-0:6379'), { engine: 'redis', cluster: ['redis-0:6379'] });
    assert.deepEqual(parseStoreUrl('redis+cluster://[::1]:7101,h2/'), {
      engine: 'redis',
      cluster: ['[::1]:7101', 'h2'],
    });
  });

  it('passes user and password (percent-decoded) to every node, and TLS for rediss+cluster://', () => {
    assert.deepEqual(parseStoreUrl('rediss+cluster://app:p%40ss%3Aw@a:6379,b:6379/?prefix=x:'), {
      engine: 'redis',
      cluster: ['a:6379', 'b:6379'],
      prefix: 'x:',
      redis: { username: 'app', password: 'p@ss:w', tls: {} },
    });
    assert.deepEqual(parseStoreUrl('redis+cluster://:secret@a:1'), {
      engine: 'redis',
      cluster: ['a:1'],
      redis: { password: 'secret' },
    });
  });

  it('makes a Redis store that validates its nodes when made', () => {
    const store = createStore('redis+cluster://127.0.0.1:7101,127.0.0.1:7102/?prefix=t:');
    assert.ok(store instanceof RedisStore);
    assert.equal(store.prefix, 't:');
    assert.throws(
      () => createStore('redis+cluster://a:1,b:c:d/'),
      (err: unknown) => err instanceof OptionsError && /^store: "cluster.1" must list nodes/.test(err.message),
    );
  });

  const refused: [string, string, RegExp][] = [
    ['no node', 'redis+cluster://user:hunter2@/', /names no node/],
    ['an unknown parameter', 'redis+cluster://user:hunter2@a:1/?db=2', /unknown parameter "db" .*accepted: prefix/],
    ['a database path', 'redis+cluster://user:hunter2@a:1/2', /not a valid Redis Cluster URL/],
    ['a bad escape in the password', 'redis+cluster://user:hunter2%zz@a:1/', /not percent-encoded/],
  ];
  for (const [what, url, message] of refused) {
    it(`refuses ${what}, naming the store and never the password`, () => {
      assert.throws(
        () => parseStoreUrl(url),
        (err: unknown) =>
          err instanceof OptionsError &&
          message.test(err.message) &&
          err.message.startsWith('store: ') &&
          !err.message.includes('hunter2'),
      );
    });
  }

  it('redactUrl hides the password of a cluster URL, which URL cannot parse', () => {
    assert.equal(redactUrl('rediss+cluster://app:hunter2@a:1,b:2/'), 'rediss+cluster://app:***@a:1,b:2/');
    assert.equal(redactUrl('redis://app:hunter2@a:1/'), 'redis://app:***@a:1/');
  });

  it('seed nodes become host and port, 6379 when none is given', () => {
    assert.deepEqual(toClusterNode('10.0.0.1:7101'), { host: '10.0.0.1', port: 7101 });
    assert.deepEqual(toClusterNode('[fe80::1]:7102'), { host: 'fe80::1', port: 7102 });
    assert.deepEqual(toClusterNode('redis-0'), { host: 'redis-0', port: 6379 });
    assert.deepEqual(toClusterNode({ host: 'redis-1' }), { host: 'redis-1', port: 6379 });
  });
});

describe('a Redis Cluster store that cannot connect', () => {
  it('rejects init() with STORE_UNAVAILABLE, and logs no password', async () => {
    const logged: string[] = [];
    const store = createStore('redis+cluster://app:hunter2@127.0.0.1:1,127.0.0.1:2/', {
      log: (level, message, fields) => logged.push(JSON.stringify({ level, message, fields })),
    });
    const error = await store.init().then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(error instanceof MemberCardError && error.code === 'STORE_UNAVAILABLE', String(error));
    assert.ok(!String((error as Error).message).includes('hunter2'));
    assert.ok(logged.every((line) => !line.includes('hunter2')));
    await store.close();
  });
});
