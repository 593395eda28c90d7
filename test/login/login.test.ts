import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { hashToken } from '../../src/login/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { sleep } from '../support/poll.js';

describe('login kit: jscode2session → opaque bearer token', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  afterEach(() => h.sandbox.clearFaults());
  after(() => h.close());

  test('a login code gives a token; only its hash is stored; session_key never leaves', async () => {
    const user = await h.sandbox.newUser();
    const code = await h.sandbox.loginCode(user);
    const reply = await h.api('POST', '/login', { body: { code } });
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.body.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(reply.body.expires_in, 7 * 24 * 3600);
    assert.deepEqual(Object.keys(reply.body).sort(), ['expires_in', 'token']);
    assert.equal(reply.text.includes('session_key'), false);
    assert.equal(reply.headers.get('cache-control'), 'no-store');
    assert.equal(await h.store.getSession(reply.body.token), undefined, 'the token itself is not a key');
    const session = await h.store.getSession(hashToken(reply.body.token));
    assert.equal(session?.openid, user.mp_openid);
    assert.equal(session?.unionid, user.unionid);
    assert.equal(JSON.stringify(session).includes('session_key'), false);
  });

  test('a code works once: reuse is 400 INVALID_LOGIN_CODE, and so is an unknown code', async () => {
    const user = await h.sandbox.newUser();
    const code = await h.sandbox.loginCode(user);
    assert.equal((await h.api('POST', '/login', { body: { code } })).status, 200);
    const reuse = await h.api('POST', '/login', { body: { code } });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.code, 'INVALID_LOGIN_CODE');
    const unknown = await h.api('POST', '/login', { body: { code: 'no-such-code' } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.code, 'INVALID_LOGIN_CODE');
  });

  test('bad bodies: 400 naming "code", 415 for non-JSON', async () => {
    for (const body of [{}, { code: 12 }, { code: '' }, { code: 'x'.repeat(200) }]) {
      const reply = await h.api('POST', '/login', { body });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.details[0].field, 'code');
    }
    const form = await h.api('POST', '/login', {
      raw: 'code=abc',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(form.status, 415);
  });

  test('WeChat down or slow: 502 / 504, never a hang', async () => {
    const user = await h.sandbox.newUser();
    await h.sandbox.fault({ status: 500, code: 'SYSTEM_ERROR', path: '/sns/' });
    const down = await h.api('POST', '/login', { body: { code: await h.sandbox.loginCode(user) } });
    assert.equal(down.status, 502);
    assert.equal(down.body.code, 'UPSTREAM_ERROR');
    await h.sandbox.fault({ latency_ms: 2500, path: '/sns/' });
    const started = Date.now();
    const slow = await h.api('POST', '/login', { body: { code: await h.sandbox.loginCode(user) } });
    assert.equal(slow.status, 504);
    assert.equal(slow.body.code, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 2400);
  });

  // -1 was 502 UPSTREAM_ERROR here; api_code2session documents it as "系统繁忙，此时请开发者稍候再试"
  // (busy, try again later), which is our 503 UPSTREAM_BUSY with Retry-After.
  test('jscode2session refusals map to clear answers: 45011 → 429, 40226 → 403, -1 → 503', async () => {
    const user = await h.sandbox.newUser();
    for (const [errcode, status, code] of [
      ['45011', 429, 'RATE_LIMITED'],
      ['40226', 403, 'LOGIN_BLOCKED'],
      ['-1', 503, 'UPSTREAM_BUSY'],
    ] as const) {
      // WeChat answers these with HTTP 200 and {errcode, errmsg}.
      await h.sandbox.fault({ status: 200, code: errcode, path: '/sns/', times: 1 });
      const reply = await h.api('POST', '/login', { body: { code: await h.sandbox.loginCode(user) } });
      assert.equal(reply.status, status, `${errcode}: ${reply.text}`);
      assert.equal(reply.body.code, code);
      if (errcode === '-1') assert.equal(reply.headers.get('retry-after'), '2');
    }
  });

  test('a wrong appid or secret (40013, 40125) is 502; one error log names the setting, never the secret', async () => {
    const user = await h.sandbox.newUser();
    for (const [errcode, option] of [
      ['40013', 'appid'],
      ['40125', 'secret'],
    ] as const) {
      h.logs.length = 0;
      await h.sandbox.fault({ status: 200, code: errcode, path: '/sns/', times: 1 });
      const reply = await h.api('POST', '/login', { body: { code: await h.sandbox.loginCode(user) } });
      assert.equal(reply.status, 502, reply.text);
      assert.equal(reply.body.code, 'UPSTREAM_ERROR');
      const errors = h.logs.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1);
      assert.match(errors[0]?.message ?? '', new RegExp(`option ${option}`));
      assert.deepEqual(errors[0]?.fields, { errcode: Number(errcode), option });
      assert.equal(JSON.stringify(h.logs).includes(h.creds.miniProgramSecret), false, 'never the secret');
    }
  });

  test('malformed or unknown bearer tokens leave the request anonymous', async () => {
    for (const authorization of ['Bearer', 'Bearer short', `Basic ${'a'.repeat(43)}`, `Bearer ${'a'.repeat(43)}`]) {
      const reply = await h.api('GET', '/member-card', { headers: { authorization } });
      assert.equal(reply.status, 401, authorization);
    }
  });
});

describe('login kit: the per-instance session cache', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  test('a session is read from the store once per second, logout on this instance is immediate', async () => {
    const user = await h.sandbox.newUser();
    await h.giveCard(user);
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    // Deleted behind this instance's back (as another instance's logout would): still served
    // from the cache for at most sessionCacheTtl (1 s), then refused.
    await h.store.deleteSession(hashToken(token));
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    await sleep(1100);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 401);

    const again = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token: again })).status, 200);
    assert.equal((await h.api('POST', '/logout', { token: again })).status, 204);
    assert.equal((await h.api('GET', '/member-card', { token: again })).status, 401, 'this instance forgets at once');
  });
});
