// Finding 8 of issue 12: "Admin token." serve requires at least 32 characters of a token that is
// not trivially repetitive and compares it in constant time; failed attempts are throttled per
// client address in the admin guard, so a host's own authorizeAdmin is protected too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Context } from 'koa';
import { OptionsError } from '../../src/errors.js';
import { adminTokenAuthorizer, adminTokenWeakness } from '../../src/server/admin-token.js';
import { startServer } from '../../src/server/serve.js';
import { startHarness, type Harness } from '../support/harness.js';
import { call, type Reply } from '../support/http.js';
import { TestSandbox } from '../support/sandbox.js';
import { serveEnv } from '../support/serve.js';

const history = '/member-card/admin/history?code=123456789012';

function assertRateLimited(reply: Reply): void {
  assert.equal(reply.status, 429, reply.text);
  assert.equal(reply.body.code, 'RATE_LIMITED');
  assert.match(reply.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
}

test('weak tokens are refused, naming the variable and never the value; random ones pass', async () => {
  for (const weak of [
    'short-token',
    'x7'.repeat(15), // 30 characters
    'a'.repeat(40),
    'abcd'.repeat(10),
    'Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3',
    'abcdefghijklmnopqrstuvwxyz0123456789',
    '9876543210zyxwvutsrqponmlkjihgfedcba',
    'aaaabbbbccccddddeeeeffffgggghhhhiiii',
    'has spaces in it but is long enough to pass',
  ]) {
    assert.ok(adminTokenWeakness(weak), weak);
    assert.throws(
      () => adminTokenAuthorizer(weak),
      (err: unknown) =>
        err instanceof OptionsError && err.message.startsWith('MEMBERCARD_ADMIN_TOKEN ') && !err.message.includes(weak),
    );
  }
  // 20,000 random tokens of each usual kind: none is taken for a weak one.
  for (let i = 0; i < 20_000; i++) {
    for (const token of [randomBytes(16).toString('hex'), randomBytes(32).toString('base64url')]) {
      assert.equal(adminTokenWeakness(token), undefined, token);
    }
  }
  const sandbox = await TestSandbox.start();
  try {
    await assert.rejects(
      startServer(
        { ...serveEnv(sandbox.credentials, 'memory:'), MEMBERCARD_ADMIN_TOKEN: 'admin-admin-admin-admin-admin-admin' },
        () => {},
      ),
      (err: unknown) => err instanceof OptionsError && /^MEMBERCARD_ADMIN_TOKEN is too repetitive/.test(err.message),
    );
  } finally {
    await sandbox.close();
  }
});

test('the comparison is over SHA-256 digests: any length, either header, nothing else matches', () => {
  const token = randomBytes(24).toString('base64url');
  const check = adminTokenAuthorizer(token) as (ctx: Context) => boolean;
  const ctx = (headers: Record<string, string>) =>
    ({ get: (name: string) => headers[name.toLowerCase()] ?? '' }) as Context;
  assert.equal(check(ctx({ 'x-admin-token': token })), true);
  assert.equal(check(ctx({ authorization: `Bearer ${token}` })), true);
  for (const wrong of ['', token.slice(0, -1), `${token}x`, token.toUpperCase(), 'x'.repeat(10_000)]) {
    assert.equal(check(ctx({ 'x-admin-token': wrong })), false, wrong.slice(0, 40));
  }
});

describe('failed admin attempts are throttled per client address, before authorizeAdmin runs', () => {
  let h: Harness;
  const password = 'letmein'; // a host's own, weak check: the throttle is what guards it
  let asked = 0;
  before(async () => {
    h = await startHarness({
      before: (app) => {
        app.proxy = true; // the tests play several clients through X-Forwarded-For
      },
      memberCard: {
        authorizeAdmin: (ctx: Context) => {
          asked += 1;
          return ctx.get('x-admin-token') === password;
        },
        rateLimit: { adminFailures: { burst: 3, perMinute: 6 } },
      },
    });
  });
  after(() => h.close());

  const attempt = (token: string, client: string) =>
    h.api('GET', history, { headers: { 'x-admin-token': token, 'x-forwarded-for': client } });

  test('3 wrong guesses are 403; then 429, even for the right one, which is never looked at', async () => {
    const guesses = [];
    for (const guess of ['123456', 'password', 'admin']) guesses.push((await attempt(guess, '203.0.113.1')).status);
    assert.deepEqual(guesses, [403, 403, 403]);
    const askedBefore = asked;
    assertRateLimited(await attempt('qwerty', '203.0.113.1'));
    assertRateLimited(await attempt(password, '203.0.113.1'));
    assert.equal(asked, askedBefore, 'once out of attempts, authorizeAdmin is not called');
    assert.equal(
      h.logs.filter((l) => l.message === 'admin attempts throttled' && l.fields?.client === '203.0.113.1').length,
      1,
    );
    // Another address is not affected, and the right token works there.
    assert.equal((await attempt(password, '203.0.113.2')).status, 200);
  });

  test('allowed requests spend nothing: 40 in a row from one address all pass', async () => {
    const replies = await Promise.all(Array.from({ length: 40 }, () => attempt(password, '203.0.113.3')));
    assert.ok(replies.every((r) => r.status === 200));
    assert.deepEqual((await attempt('wrong', '203.0.113.3')).status, 403, 'its failures are all still there');
  });

  test('100 wrong guesses at once: at most a handful are looked at, and none is let through', async () => {
    const askedBefore = asked;
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => attempt(`guess-${i}`, '203.0.113.4')));
    const statuses = new Set(replies.map((r) => r.status));
    assert.deepEqual([...statuses].sort(), [403, 429]);
    assert.equal(replies.filter((r) => r.status === 403).length, 3);
    assert.ok(asked - askedBefore < 100, `authorizeAdmin called ${asked - askedBefore} times`);
  });
});

describe('serve: MEMBERCARD_ADMIN_TOKEN guesses are throttled', () => {
  let sandbox: TestSandbox;
  before(async () => {
    sandbox = await TestSandbox.start();
  });
  after(() => sandbox.close());

  test('10 wrong tokens are 403, the 11th is 429; the right one from another address still works', async () => {
    const token = randomBytes(32).toString('hex');
    const running = await startServer(
      { ...serveEnv(sandbox.credentials, 'memory:'), MEMBERCARD_ADMIN_TOKEN: token, TRUST_PROXY: '1' },
      () => {},
    );
    try {
      const url = `${running.url}/api/member-card/admin/history?code=123456789012`;
      const guess = (value: string, client: string) =>
        call('GET', url, { headers: { 'x-admin-token': value, 'x-forwarded-for': client } });
      const statuses = [];
      for (let i = 0; i < 10; i++) statuses.push((await guess(randomBytes(32).toString('hex'), '198.51.100.9')).status);
      assert.deepEqual(statuses, Array(10).fill(403));
      assertRateLimited(await guess(randomBytes(32).toString('hex'), '198.51.100.9'));
      assertRateLimited(await guess(token, '198.51.100.9'));
      assert.equal((await guess(token, '198.51.100.10')).status, 200);
    } finally {
      await running.close();
    }
  });
});
