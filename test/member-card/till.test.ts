// Issue 14 over real HTTP against the sandbox: the brand's face (the card template), the one-time
// member code the till verifies, and the member's own history with its sealed cursor.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from 'koa';
import { memberCard } from '../../src/member-card.js';
import { hashMemberCode } from '../../src/member-codes/code.js';
import { deriveKey } from '../../src/member-codes/secret.js';
import { createStore } from '../../src/store/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { call, listen } from '../support/http.js';
import { HostKoa } from '../support/koa.js';
import type { SandboxUser } from '../support/sandbox.js';

const TOKEN = 'test-admin-token-0123456789';
const adminOnly = (ctx: Context) => ctx.get('x-admin-token') === TOKEN;
let seq = 0;
const rid = (label: string) => `${label}-${Date.now()}-${++seq}`;
const templatePath = (h: Harness) => `/v3/marketing/membercard-open/cards/${h.creds.cardId}`;
const templateReads = async (h: Harness) =>
  (await h.sandbox.requests()).filter((r) => r.path === templatePath(h)).length;

describe('the brand: GET / answers { card, editable, brand } from the card template', () => {
  let h: Harness;
  let token: string;
  before(async () => {
    h = await startHarness({ memberCard: { brand: { color: '#1F6F5C', templateTtlMs: 60_000 } } });
    const user = await h.sandbox.newUser();
    await h.giveCard(user);
    token = await h.login(user);
  });
  after(() => h.close());

  it('what the template documents, the merchant’s colour; read once per TTL, not per card read', async () => {
    const reads = await templateReads(h);
    const first = await h.api('GET', '/member-card/', { token });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body.brand, {
      display_name: '沙箱茶饮',
      logo_url: 'https://wxpaylogo.qpic.cn/sandbox/logo.png',
      title: '沙箱茶饮会员卡',
      background_picture_url: 'https://wxpaylogo.qpic.cn/sandbox/default.png',
      description: '1. 结账时出示会员码\n2. 余额不可提现\n3. 积分每年年底清零',
      service_phone: '400-000-0000',
      code_type: 'BAR_CODE_AND_QRCODE',
      color: '#1F6F5C',
    });
    assert.equal(first.body.card.user_card_status, 'EFFECTIVE');
    // The merchant edits the template: this instance keeps its copy until the TTL runs out.
    await h.sandbox.control('PATCH', `cards/${h.creds.cardId}`, { title: '新标题', code_type: 'QRCODE' });
    const again = await h.api('GET', '/member-card/', { token });
    assert.equal(again.body.brand.title, '沙箱茶饮会员卡');
    assert.equal((await templateReads(h)) - reads, 1, 'one template read for two card reads');
  });

  it('templateTtlMs 0: read every time; an unreadable template answers brand null, not an error', async () => {
    // The card itself is cached (10 s), so the fault below meets the template read only.
    const other = memberCard(h.sandbox.cardOptions(h.store, { brand: { templateTtlMs: 0 } }));
    const app = new HostKoa();
    app.use(async (ctx, next) => {
      ctx.state.user = ctx.get('x-user') ? JSON.parse(ctx.get('x-user')) : undefined;
      await next();
    });
    app.use(other.routes()).use(other.allowedMethods());
    const server = await listen(app.callback());
    try {
      const user = await h.sandbox.newUser();
      await h.giveCard(user);
      const headers = { 'x-user': JSON.stringify({ openid: user.mp_openid, unionid: user.unionid }) };
      const reads = await templateReads(h);
      const shown = await call('GET', `${server.url}/member-card/`, { headers });
      assert.equal((await call('GET', `${server.url}/member-card/`, { headers })).body.brand.title, '新标题');
      assert.equal((await templateReads(h)) - reads, 2, 'read for each card read');
      assert.equal(shown.body.brand.title, '新标题');
      assert.equal(shown.body.brand.code_type, 'QRCODE');
      assert.equal(shown.body.brand.color, undefined, 'no colour option: none invented');
      await h.sandbox.fault({ path: templatePath(h), status: 500, code: 'SYSTEM_ERROR', times: 4 });
      const down = await call('GET', `${server.url}/member-card/`, { headers });
      assert.equal(down.status, 200, down.text);
      assert.equal(down.body.brand, null);
      assert.ok(down.body.card.code, 'the card is still shown');
    } finally {
      await h.sandbox.clearFaults();
      await server.close();
      await other.close();
    }
  });

  it('the sandbox’s template: documented fields only; its control API refuses what the docs do not allow', async () => {
    const template = await h.sandbox.control('GET', `cards/${h.creds.cardId}`);
    for (const field of ['brand', 'logo_url', 'title', 'background_picture_url', 'description', 'code_type'])
      assert.ok(template[field] !== undefined, field);
    assert.equal(template.color, undefined, 'no colour field in this API');
    const tooLong = await h.sandbox.controlReply('PATCH', `cards/${h.creds.cardId}`, {
      title: '一二三四五六七八九十一',
    });
    assert.equal(tooLong.status, 400);
    const badType = await h.sandbox.controlReply('PATCH', `cards/${h.creds.cardId}`, { code_type: 'CODE_TYPE_QRCODE' });
    assert.equal(badType.status, 400);
    const colour = await h.sandbox.controlReply('PATCH', `cards/${h.creds.cardId}`, { color: 'Color010' });
    assert.equal(colour.status, 400);
  });
});

describe('member codes: GET /code, POST /admin/codes/verify', () => {
  let h: Harness;
  let user: SandboxUser;
  let token: string;
  let cardCode: string;
  const verify = (body: unknown, headers: Record<string, string> = { 'x-admin-token': TOKEN }) =>
    h.api('POST', '/member-card/admin/codes/verify', { body, headers });

  before(async () => {
    // Many codes for one user below: the rate limit has a test of its own.
    h = await startHarness({ memberCard: { authorizeAdmin: adminOnly, memberCode: { burst: 100 } } });
    user = await h.sandbox.newUser();
    ({ code: cardCode } = await h.giveCard(user, { balance: 1234, bonus_value: 56, level: '金卡会员' }));
    token = await h.login(user);
  });
  after(() => h.close());

  it('a one-time 18-digit code, valid 60 s, refreshed after 45 s; no cache may keep it; never logged', async () => {
    const started = Date.now();
    const reply = await h.api('GET', '/member-card/code', { token });
    assert.equal(reply.status, 200, reply.text);
    const { code, expiresAt, refreshAfter, rotating, codeType } = reply.body;
    assert.match(code, /^\d{18}$/);
    assert.notEqual(code, cardCode);
    const life = Date.parse(expiresAt) - started;
    assert.ok(life > 59_000 && life <= 61_000, `expires in ${life} ms`);
    assert.equal(refreshAfter, 45);
    assert.equal(rotating, true);
    assert.equal(codeType, 'BAR_CODE_AND_QRCODE');
    assert.equal(reply.headers.get('cache-control'), 'private, no-store');
    assert.ok(!JSON.stringify(h.logs).includes(code), 'the code is in no log line');
    const codes = new Set(
      await Promise.all([1, 2, 3].map(async () => (await h.api('GET', '/member-card/code', { token })).body.code)),
    );
    assert.equal(codes.size, 3, 'a new code each time');
  });

  it('401 without a session; 404 CARD_NOT_FOUND without a card; 400 for a card code in the query', async () => {
    assert.equal((await h.api('GET', '/member-card/code')).body.code, 'UNAUTHENTICATED');
    const stranger = await h.login(await h.sandbox.newUser());
    assert.equal((await h.api('GET', '/member-card/code', { token: stranger })).body.code, 'CARD_NOT_FOUND');
    const named = await h.api('GET', `/member-card/code?code=${cardCode}`, { token });
    assert.equal(named.status, 400);
  });

  it('the till verifies a code once: the card; again, unknown, malformed: 404 MEMBER_CODE_INVALID', async () => {
    const { code } = (await h.api('GET', '/member-card/code', { token })).body;
    const forbidden = await verify({ code }, { 'x-admin-token': 'wrong' });
    assert.equal(forbidden.status, 403);
    const first = await verify({ code });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, {
      card: {
        code: cardCode,
        membership_number: cardCode,
        level: '金卡会员',
        balance: 1234,
        bonus_value: 56,
        user_card_status: 'EFFECTIVE',
      },
    });
    assert.equal(first.headers.get('cache-control'), 'no-store');
    for (const again of [code, '000000000000000000', cardCode, '12345', `${code} `]) {
      const reply = await verify({ code: again });
      assert.equal(reply.status, 404, again);
      assert.deepEqual(reply.body, { code: 'MEMBER_CODE_INVALID', message: 'No such member code.' });
    }
    assert.ok(!JSON.stringify(h.logs).includes(code), 'the code is in no log line');
  });

  it('bad bodies are 400 and consume nothing', async () => {
    const { code } = (await h.api('GET', '/member-card/code', { token })).body;
    for (const body of [{}, { code: Number(code) }, { code, card_id: 'x' }, [code]]) {
      const reply = await verify(body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.code, 'INVALID_REQUEST');
    }
    assert.equal((await verify({ code })).status, 200, 'still valid after the bad requests');
  });

  it('only the newest code of a card is valid; an expired one is 404', async () => {
    const older = (await h.api('GET', '/member-card/code', { token })).body.code;
    const newer = (await h.api('GET', '/member-card/code', { token })).body.code;
    assert.equal((await verify({ code: older })).status, 404);
    assert.equal((await verify({ code: newer })).status, 200);
    // An entry whose minute is over, stored as our route stores one.
    const expired = '123456789012345678';
    await h.store.putMemberCode?.(hashMemberCode(deriveKey(h.creds.apiv3Key, 'member-code'), expired), {
      cardId: h.creds.cardId,
      code: cardCode,
      userOpenid: user.mp_openid,
      expiresAt: Date.now() - 1,
    });
    assert.equal((await verify({ code: expired })).status, 404);
  });

  it('two instances on one store, 20 verifies of one code at once: exactly one gets the card', async () => {
    const twin = memberCard(h.sandbox.cardOptions(h.store, { authorizeAdmin: adminOnly, cache: { ttl: 0 } }));
    const app = new HostKoa();
    app.use(twin.routes()).use(twin.allowedMethods());
    const server = await listen(app.callback());
    try {
      const { code } = (await h.api('GET', '/member-card/code', { token })).body;
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call('POST', `${i % 2 ? server.url : h.url}/member-card/admin/codes/verify`, {
            body: { code },
            headers: { 'x-admin-token': TOKEN },
          }),
        ),
      );
      assert.deepEqual(replies.map((r) => r.status).sort(), [200, ...Array<number>(19).fill(404)]);
    } finally {
      await server.close();
      await twin.close();
    }
  });

  it('cards.memberCodes.verify(code) from the merchant’s own code, once', async () => {
    const { code } = await h.cards.memberCodes.issue({ openid: user.mp_openid, unionid: user.unionid });
    assert.equal((await h.cards.memberCodes.verify(code)).code, cardCode);
    await assert.rejects(h.cards.memberCodes.verify(code), { code: 'MEMBER_CODE_INVALID', status: 404 });
  });

  it('rotation off: the membership number itself, drawn as the template says; nothing to verify', async () => {
    const plain = memberCard(
      h.sandbox.cardOptions(h.store, { memberCode: { rotate: false }, authorizeAdmin: adminOnly }),
    );
    const answer = await plain.memberCodes.issue({ openid: user.mp_openid, unionid: user.unionid });
    assert.deepEqual(answer, {
      code: cardCode,
      expiresAt: null,
      refreshAfter: null,
      rotating: false,
      codeType: 'BAR_CODE_AND_QRCODE',
    });
    await assert.rejects(plain.memberCodes.verify(cardCode), { code: 'MEMBER_CODE_INVALID' });
    await plain.close();
  });
});

describe('issuing member codes is rate-limited per user, across instances', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ memberCard: { memberCode: { burst: 3, perMinute: 6 } } });
  });
  after(() => h.close());

  it('3 at once, then 429 RATE_LIMITED with Retry-After before anything is read; others not held up', async () => {
    const alice = await h.sandbox.newUser();
    await h.giveCard(alice);
    const token = await h.login(alice);
    // A second instance on the same store draws on the same bucket.
    const twin = memberCard(h.sandbox.cardOptions(h.store, { memberCode: { burst: 3, perMinute: 6 } }));
    const given = [
      await h.api('GET', '/member-card/code', { token }),
      await h.api('GET', '/member-card/code', { token }),
      { status: (await twin.memberCodes.issue({ openid: alice.mp_openid, unionid: alice.unionid })).code ? 200 : 0 },
    ];
    assert.deepEqual(
      given.map((r) => r.status),
      [200, 200, 200],
    );
    const count = await h.sandbox.upstreamCount();
    const refused = await h.api('GET', '/member-card/code', { token });
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.code, 'RATE_LIMITED');
    // 6 a minute: the next token in 10 s.
    assert.ok(Number(refused.headers.get('retry-after')) >= 9 && Number(refused.headers.get('retry-after')) <= 10);
    assert.equal(await h.sandbox.upstreamCount(), count, 'nothing read for a refused request');
    await assert.rejects(twin.memberCodes.issue({ openid: alice.mp_openid, unionid: alice.unionid }), {
      code: 'RATE_LIMITED',
    });
    await twin.close();
    const bob = await h.sandbox.newUser();
    await h.giveCard(bob);
    assert.equal((await h.api('GET', '/member-card/code', { token: await h.login(bob) })).status, 200);
  });

  it('a host’s own store object without takeTokens: each instance counts for itself', async () => {
    const shared = h.store;
    // The same store, seen through an object that has every method but the rate limits.
    const withoutLimits = new Proxy(shared, {
      get: (target, name) => {
        if (name === 'takeTokens') return undefined;
        const value: unknown = Reflect.get(target, name);
        // Its methods run on the store itself (they use its private fields).
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const own = memberCard(h.sandbox.cardOptions(withoutLimits, { memberCode: { burst: 2, perMinute: 6 } }));
    const user = await h.sandbox.newUser();
    await h.giveCard(user);
    const issue = () => own.memberCodes.issue({ openid: user.mp_openid, unionid: user.unionid });
    await issue();
    await issue();
    await assert.rejects(issue(), { code: 'RATE_LIMITED' });
    await own.close();
  });
});

describe('a host’s own store object without the member-code and history roles', () => {
  it('GET /code, the verify and GET /history answer 501 NOT_IMPLEMENTED; the card is still served', async () => {
    const store = createStore('memory:');
    const missing = new Set(['putMemberCode', 'consumeMemberCode', 'listAuditPage']);
    const older = new Proxy(store, {
      get: (target, name) => {
        if (typeof name === 'string' && missing.has(name)) return undefined;
        const value: unknown = Reflect.get(target, name);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const h = await startHarness({ store: older, memberCard: { authorizeAdmin: adminOnly } });
    try {
      const user = await h.sandbox.newUser();
      await h.giveCard(user);
      const token = await h.login(user);
      assert.equal((await h.api('GET', '/member-card/', { token })).status, 200);
      for (const reply of [
        await h.api('GET', '/member-card/code', { token }),
        await h.api('GET', '/member-card/history', { token }),
        await h.api('POST', '/member-card/admin/codes/verify', {
          body: { code: '123456789012345678' },
          headers: { 'x-admin-token': TOKEN },
        }),
      ]) {
        assert.equal(reply.status, 501, reply.text);
        assert.equal(reply.body.code, 'NOT_IMPLEMENTED');
      }
    } finally {
      await h.close();
      await store.close();
    }
  });
});

describe('my history: GET /history', () => {
  let h: Harness;
  let alice: { user: SandboxUser; token: string; code: string };
  let bob: { user: SandboxUser; token: string; code: string };
  const admin = (path: string, body: unknown) =>
    h.api('POST', `/member-card/admin${path}`, { body, headers: { 'x-admin-token': TOKEN } });
  const person = async (extra: Record<string, unknown>) => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, extra);
    return { user, code, token: await h.login(user) };
  };

  before(async () => {
    h = await startHarness({ memberCard: { authorizeAdmin: adminOnly } });
    alice = await person({ balance: 1000, bonus_value: 10 });
    bob = await person({ balance: 500 });
    const ok = (reply: { status: number; text: string }) => assert.equal(reply.status, 200, reply.text);
    ok(await admin('/balance', { code: alice.code, amount: 800, remark: '充值', request_id: rid('a1') }));
    ok(await admin('/membership-number', { code: alice.code, membership_number: 'VIP-7', request_id: rid('a2') }));
    ok(await admin('/points', { code: alice.code, amount: 5, remark: '奶茶一杯', request_id: rid('a3') }));
    ok(await admin('/balance', { code: alice.code, amount: -1500, remark: '珍珠奶茶', request_id: rid('a4') }));
    ok(await admin('/level', { code: alice.code, level: '金卡会员', request_id: rid('a5') }));
    ok(await admin('/balance', { code: bob.code, amount: 100, remark: 'bob', request_id: rid('b1') }));
  });
  after(() => h.close());

  it('the caller’s own balance, points and level changes, newest first', async () => {
    const reply = await h.api('GET', '/member-card/history', { token: alice.token });
    assert.equal(reply.status, 200, reply.text);
    const items = reply.body.items.map(({ at, ...rest }: { at: string }) => {
      assert.ok(Date.parse(at) > Date.now() - 60_000, at);
      return rest;
    });
    assert.deepEqual(items, [
      { kind: 'level', level: '金卡会员', remark: '' },
      { kind: 'balance', amount: -1500, balanceAfter: 300, remark: '珍珠奶茶' },
      { kind: 'points', amount: 5, pointsAfter: 15, remark: '奶茶一杯' },
      { kind: 'balance', amount: 800, balanceAfter: 1800, remark: '充值' },
    ]);
    assert.equal(reply.body.next, null);
    assert.equal(reply.headers.get('cache-control'), 'private, no-store');
    const bobs = await h.api('GET', '/member-card/history', { token: bob.token });
    assert.deepEqual(
      bobs.body.items.map((i: { remark: string }) => i.remark),
      ['bob'],
    );
  });

  it('pages with an opaque cursor; a tampered one, or another member’s, is 400', async () => {
    const first = await h.api('GET', '/member-card/history?limit=3', { token: alice.token });
    assert.equal(first.body.items.length, 3);
    const cursor: string = first.body.next;
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    const second = await h.api('GET', `/member-card/history?limit=3&cursor=${cursor}`, { token: alice.token });
    assert.deepEqual(
      second.body.items.map((i: { remark: string }) => i.remark),
      ['充值'],
    );
    assert.equal(second.body.next, null);
    // Bob holds Alice's cursor: it is sealed to Alice's card, and Bob's card is the only one he can page.
    const stolen = await h.api('GET', `/member-card/history?cursor=${cursor}`, { token: bob.token });
    assert.equal(stolen.status, 400);
    assert.equal(stolen.body.code, 'INVALID_REQUEST');
    assert.equal(stolen.body.details[0].field, 'cursor');
    const flipped = cursor.slice(0, 5) + (cursor[5] === 'A' ? 'B' : 'A') + cursor.slice(6);
    for (const bad of [flipped, 'x', `${cursor}A`, '']) {
      const reply = await h.api('GET', `/member-card/history?cursor=${encodeURIComponent(bad)}`, {
        token: alice.token,
      });
      if (bad === '') assert.equal(reply.status, 200, 'an empty cursor is the first page');
      else assert.equal(reply.status, 400, bad);
    }
  });

  it('bad parameters are 400 naming them; no session is 401', async () => {
    for (const query of ['limit=0', 'limit=51', 'limit=x', 'code=1', 'cursor=a&cursor=b', 'card_id=p']) {
      const reply = await h.api('GET', `/member-card/history?${query}`, { token: alice.token });
      assert.equal(reply.status, 400, query);
      assert.equal(reply.body.code, 'INVALID_REQUEST');
    }
    assert.equal((await h.api('GET', '/member-card/history')).status, 401);
  });
});
