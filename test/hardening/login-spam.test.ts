// Finding 3 of issue 12: "Login spam reaches WeChat one for one." 200 bogus codes caused 200
// jscode2session calls in under a second. Now the login kit counts attempts per client address and
// in total for the appid (shared by every instance through the store) and answers 429 RATE_LIMITED
// with Retry-After, without calling WeChat.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import { addressKey } from '../../src/client-address.js';
import { OptionsError } from '../../src/errors.js';
import { wechatLogin, type WechatLoginOptions } from '../../src/login/index.js';
import { startServer } from '../../src/server/serve.js';
import { createStore, MemoryStore } from '../../src/store/index.js';
import type { LoginStore, Store } from '../../src/store/types.js';
import { startHarness, type Harness } from '../support/harness.js';
import { call, listen, type Listening, type Reply } from '../support/http.js';
import { sleep } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { serveEnv } from '../support/serve.js';
import { freshStore, unavailable, type Engine } from '../support/services.js';

/** How many jscode2session calls the sandbox has answered so far. */
async function wechatLogins(sandbox: TestSandbox): Promise<number> {
  return (await sandbox.requests()).filter((r) => r.path.startsWith('/sns/jscode2session')).length;
}

function assertRateLimited(reply: Reply): void {
  assert.equal(reply.status, 429, reply.text);
  assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'message']);
  assert.equal(reply.body.code, 'RATE_LIMITED');
  assert.match(reply.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
}

const bogus = (i: number): { code: string } => ({ code: `bogus-${i}-${Math.random().toString(36).slice(2)}` });

describe('login spam no longer reaches WeChat one for one', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ login: { rateLimit: {} } }); // the defaults
  });
  after(() => h.close());

  test('200 bogus codes at once from one address: at most 20 reach jscode2session, the rest are 429', async () => {
    const before = await wechatLogins(h.sandbox);
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => h.api('POST', '/login', { body: bogus(i) })),
    );
    const calls = (await wechatLogins(h.sandbox)) - before;
    const byCode = new Map<string, number>();
    for (const r of replies) byCode.set(r.body.code, (byCode.get(r.body.code) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(byCode), { INVALID_LOGIN_CODE: 20, RATE_LIMITED: 180 });
    assert.equal(calls, 20, 'only the attempts let through were sent to WeChat');
    for (const r of replies.filter((x) => x.status === 429)) assertRateLimited(r);
    // A real user behind the same address waits too: the limit is on the address, not on the code.
    const user = await h.sandbox.newUser();
    assertRateLimited(await h.api('POST', '/login', { body: { code: await h.sandbox.loginCode(user) } }));
    assert.ok(Date.now() - started < 10_000);
    assert.ok(
      h.logs.every((l) => !JSON.stringify(l).includes('bogus-')),
      'codes are never logged',
    );
  });
});

describe('login limits: where the address comes from, what they share, when they let go', () => {
  let sandbox: TestSandbox;
  before(async () => {
    sandbox = await TestSandbox.start();
  });
  after(() => sandbox.close());

  /** A host: the login kit on its own Koa app, with app.proxy as given. */
  async function host(store: LoginStore, options: Partial<WechatLoginOptions>, proxy = false): Promise<Listening> {
    const c = sandbox.credentials;
    const login = wechatLogin({
      appid: c.miniProgramAppid,
      secret: c.miniProgramSecret,
      baseURL: c.baseURL,
      store,
      log: () => undefined,
      ...options,
    });
    const app = new Koa({ proxy });
    app.use(login.routes());
    return listen(app.callback());
  }

  const attempt = (at: Listening, i: number, forwardedFor?: string): Promise<Reply> =>
    call('POST', `${at.url}/login`, {
      body: bogus(i),
      ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}),
    });

  test('X-Forwarded-For counts only when the host trusts its proxy (app.proxy)', async () => {
    const store = new MemoryStore();
    const rateLimit = { perClient: { burst: 3, perMinute: 1 } };
    const untrusting = await host(store, { rateLimit });
    const trusting = await host(store, { rateLimit, prefix: '/t' }, true);
    try {
      // A client that makes up a new X-Forwarded-For each time is still one socket address.
      const spoofed = [];
      for (let i = 0; i < 5; i++) spoofed.push((await attempt(untrusting, i, `203.0.113.${i}`)).status);
      assert.deepEqual(spoofed, [400, 400, 400, 429, 429]);
      // Behind a trusted proxy, each forwarded client is counted on its own.
      const forwarded = [];
      for (let i = 0; i < 5; i++) {
        const r = await call('POST', `${trusting.url}/t/login`, {
          body: bogus(i),
          headers: { 'x-forwarded-for': `198.51.100.${i}` },
        });
        forwarded.push(r.status);
      }
      assert.deepEqual(forwarded, [400, 400, 400, 400, 400]);
    } finally {
      await untrusting.close();
      await trusting.close();
    }
  });

  for (const engine of ['sqlite', 'postgres', 'redis'] as const satisfies readonly Engine[]) {
    describe(`the total for the appid is shared by two instances on one ${engine} store`, async () => {
      const skip = await unavailable(engine, 'login limits');
      test('5 attempts in all reach WeChat, whichever instance and address they came from', { skip }, async () => {
        const place = freshStore(engine, 'login_limit');
        const stores: Store[] = [createStore(place.url), createStore(place.url)];
        const rateLimit = { total: { burst: 5, perMinute: 1 } };
        const hosts = [
          await host(stores[0] as Store, { rateLimit }, true),
          await host(stores[1] as Store, { rateLimit }, true),
        ];
        try {
          const before = await wechatLogins(sandbox);
          const replies = await Promise.all(
            Array.from({ length: 20 }, (_, i) => attempt(hosts[i % 2] as Listening, i, `192.0.2.${i}`)),
          );
          assert.equal(replies.filter((r) => r.status === 400).length, 5);
          for (const r of replies.filter((x) => x.status !== 400)) assertRateLimited(r);
          assert.equal((await wechatLogins(sandbox)) - before, 5);
        } finally {
          for (const h of hosts) await h.close();
          for (const s of stores) await s.close();
          await place.cleanup();
        }
      });
    });
  }

  test('a refused client is let in again once Retry-After has passed', async () => {
    const at = await host(new MemoryStore(), { rateLimit: { perClient: { burst: 1, perMinute: 600 } } });
    try {
      assert.equal((await attempt(at, 1)).status, 400);
      const refused = await attempt(at, 2);
      assertRateLimited(refused);
      assert.equal(refused.headers.get('retry-after'), '1');
      await sleep(150); // 600 per minute: a token every 100 ms
      assert.equal((await attempt(at, 3)).status, 400);
    } finally {
      await at.close();
    }
  });

  test('a host store without takeTokens: counted in this instance’s memory; 0 turns a limit off', async () => {
    const memory = new MemoryStore();
    const own: LoginStore = {
      putSession: (...a) => memory.putSession(...a),
      getSession: (...a) => memory.getSession(...a),
      deleteSession: (...a) => memory.deleteSession(...a),
    };
    const limited = await host(own, { rateLimit: { perClient: { burst: 2, perMinute: 1 } } });
    const off = await host(own, { rateLimit: { perClient: { perMinute: 0 }, total: { perMinute: 0 } } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await attempt(limited, i)).status);
      assert.deepEqual(statuses, [400, 400, 429]);
      const unlimited = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(off, i)));
      assert.ok(unlimited.every((r) => r.status === 400));
    } finally {
      await limited.close();
      await off.close();
      await memory.close();
    }
  });

  test('a limit is checked after the body: a malformed body is 400 and costs nothing', async () => {
    const at = await host(new MemoryStore(), { rateLimit: { perClient: { burst: 1, perMinute: 1 } } });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await call('POST', `${at.url}/login`, { body: {} })).status, 400);
      assert.equal((await attempt(at, 1)).body.code, 'INVALID_LOGIN_CODE', 'the one token is still there');
    } finally {
      await at.close();
    }
  });

  test('serve: LOGIN_CLIENT_* and LOGIN_TOTAL_* feed the limits; a bad value names its variable', async () => {
    const env = { ...serveEnv(sandbox.credentials, 'memory:'), LOGIN_CLIENT_BURST: '2', LOGIN_CLIENT_PER_MINUTE: '1' };
    const running = await startServer(env, () => {});
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await call('POST', `${running.url}/api/login`, { body: bogus(i) })).status);
      assert.deepEqual(statuses, [400, 400, 429]);
    } finally {
      await running.close();
    }
    for (const [name, value] of [
      ['LOGIN_CLIENT_BURST', 'many'],
      ['LOGIN_TOTAL_PER_MINUTE', '-1'],
      ['LOGIN_TOTAL_BURST', '0'],
    ] as const) {
      await assert.rejects(
        startServer({ ...serveEnv(sandbox.credentials, 'memory:'), [name]: value }, () => {}),
        (err: unknown) => err instanceof OptionsError && err.message.startsWith(`${name}: `),
        name,
      );
    }
  });
});

test('an address counts by what one client controls: IPv4, IPv4 as IPv6, an IPv6 /64', () => {
  assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64', 'zeros and :: are spelled one way');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey(''), 'unknown');
  assert.equal(addressKey('not an address'), 'unknown');
});
