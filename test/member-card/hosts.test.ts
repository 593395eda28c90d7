import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Koa from 'koa';
import session from 'koa-session';
import { startHarness, type Harness } from '../support/harness.js';
import { HOST_KOA_VERSION, KOA_MAJOR } from '../support/koa.js';
import type { SandboxUser } from '../support/sandbox.js';

describe('mounting into hosts with their own sessions', () => {
  test(`this run's host is Koa ${KOA_MAJOR} (MEMBERCARD_TEST_KOA), and it serves our router`, async () => {
    assert.equal(HOST_KOA_VERSION.split('.')[0], String(KOA_MAJOR));
    const h = await startHarness();
    try {
      // Koa 2 and 3 differ in how they expose a request's state; both must answer our JSON 401.
      const reply = await h.api('GET', '/member-card');
      assert.equal(reply.status, 401);
      assert.equal(reply.body.code, 'UNAUTHENTICATED');
    } finally {
      await h.close();
    }
  });

  describe('koa-session host: the default identity reads ctx.session', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({
        noLogin: true,
        before: (app: Koa) => {
          app.keys = ['test-signing-key'];
          app.use(session({ signed: true }, app));
          // The host's own login: here it trusts the sandbox's jscode2session like a real host would.
          app.use(async (ctx, next) => {
            if (ctx.path !== '/host-login') return next();
            const url = new URL('sns/jscode2session', h.sandbox.url);
            url.search = new URLSearchParams({
              appid: h.creds.miniProgramAppid,
              secret: h.creds.miniProgramSecret,
              js_code: String(ctx.query.code),
              grant_type: 'authorization_code',
            }).toString();
            const answer = (await (await fetch(url)).json()) as { openid: string; unionid?: string };
            (ctx.session as unknown as Record<string, unknown>).openid = answer.openid;
            (ctx.session as unknown as Record<string, unknown>).unionid = answer.unionid;
            ctx.body = { ok: true };
          });
        },
      });
    });
    after(() => h.close());

    test("a user logged in through the host's cookie session reads their card", async () => {
      const user = await h.sandbox.newUser();
      const { code } = await h.giveCard(user);
      const login = await h.api('GET', `/host-login?code=${await h.sandbox.loginCode(user)}`);
      assert.equal(login.status, 200);
      const cookie = login.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const reply = await h.api('GET', '/member-card', { headers: { cookie } });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.card.code, code);
      assert.equal((await h.api('GET', '/member-card')).status, 401);
    });
  });

  describe('custom identity and resolveCode hooks, under another prefix', () => {
    let h: Harness;
    const known = new Map<string, { code: string; openid: string }>();
    before(async () => {
      h = await startHarness({
        noLogin: true,
        memberCard: {
          prefix: '/api/cards/mine',
          // The host keeps its users' mini-program openid in a signed header of its own gateway.
          identity: (ctx) => {
            const openid = ctx.get('x-gateway-openid');
            return openid ? { openid } : undefined;
          },
          // An existing membership database: mini-program openid → code and the card's openid.
          resolveCode: ({ openid }) => known.get(openid),
        },
      });
    });
    after(() => h.close());

    test('resolveCode finds a member with no binding; a wrong openid in its answer is refused', async () => {
      const user: SandboxUser = await h.sandbox.newUser();
      const other: SandboxUser = await h.sandbox.newUser();
      const { code } = await h.giveCard(user);
      known.set(user.mp_openid, { code, openid: user.oa_openid });
      const mine = await h.api('GET', '/api/cards/mine', { headers: { 'x-gateway-openid': user.mp_openid } });
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.body.card.code, code);

      known.set(other.mp_openid, { code, openid: other.oa_openid });
      const theirs = await h.api('GET', '/api/cards/mine', { headers: { 'x-gateway-openid': other.mp_openid } });
      assert.equal(theirs.status, 404);
      assert.equal(theirs.body.code, 'CARD_NOT_FOUND');
      assert.equal((await h.api('GET', '/api/cards/mine')).status, 401);
    });
  });
});
