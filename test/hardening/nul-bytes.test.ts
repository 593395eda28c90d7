// Issue 12, "Also": text from WeChat with NUL bytes (openid, unionid) is refused or stored safely on
// every engine, never a 500 that makes WeChat Pay redeliver forever. PostgreSQL refuses \u0000 in
// TEXT, so each engine gets the same notifications, login answers and identities here.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import { wechatLogin } from '../../src/login/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { call, listen, type Listening } from '../support/http.js';
import { buildNotification } from '../support/notifications.js';
import { freshStore, unavailable, type Engine, type TestStore } from '../support/services.js';

const NUL = '\u0000';

for (const engine of ['memory', 'sqlite', 'postgres', 'redis'] as const satisfies readonly Engine[]) {
  describe(`NUL bytes from WeChat and from hosts (${engine})`, async () => {
    const skip = await unavailable(engine, 'NUL bytes');
    let h: Harness;
    let place: TestStore;
    /** A stand-in for WeChat's jscode2session, answering whatever the test sets. */
    let wechat: Listening;
    let answer: Record<string, unknown> = {};
    /** Who the host's own session says is asking (for the identity test). */
    let hostUser: unknown;
    before(async () => {
      if (skip) return;
      place = freshStore(engine, 'nul');
      h = await startHarness({
        store: place.url,
        before: (app) =>
          app.use(async (ctx, next) => {
            if (ctx.get('x-host-user')) ctx.state.user = hostUser;
            await next();
          }),
        memberCard: { authorizeAdmin: (ctx) => ctx.get('x-admin') === 'yes' },
      });
      wechat = await listen((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    after(async () => {
      if (skip) return;
      await wechat.close();
      await h.close();
      await place.cleanup();
    });

    const notify = (eventType: string, payload: Record<string, unknown>, id?: string) => {
      const n = buildNotification({
        eventType,
        payload: { event_type: 'NEW_ACTIVATE', card_id: h.creds.cardId, ...payload },
        apiv3Key: h.creds.apiv3Key,
        signingKey: h.sandbox.platformPrivateKey(),
        serial: h.creds.publicKeyId as string,
        ...(id === undefined ? {} : { id }),
      });
      return h.api('POST', '/member-card/notify', { raw: n.body, headers: n.headers });
    };

    test(
      'ACCEPT_CARD with NUL in unionid, openid and outer_str: applied without them, 204 each time',
      { skip },
      async () => {
        const id = randomUUID();
        const payload = { code: '880000000001', unionid: `u${NUL}1`, openid: `oa${NUL}`, outer_str: `${NUL}os` };
        const first = await notify('MEMBERCARD.ACCEPT_CARD', payload, id);
        assert.equal(first.status, 204, first.text);
        const binding = await h.store.getBinding(h.creds.cardId, '880000000001');
        assert.deepEqual([binding?.status, binding?.unionid, binding?.oaOpenid], ['active', undefined, undefined]);
        const left = h.logs.filter((l) => l.message === 'notification field left out' && l.fields?.id === id);
        assert.deepEqual(left.map((l) => l.fields?.field).sort(), ['openid', 'outer_str', 'unionid']);
        assert.equal((await notify('MEMBERCARD.ACCEPT_CARD', payload, id)).status, 204, 'a redelivery is a duplicate');
      },
    );

    test('NUL in a card_id of another card, in a code: recorded, nothing bound', { skip }, async () => {
      assert.equal((await notify('MEMBERCARD.ACCEPT_CARD', { card_id: `p${NUL}x`, code: '880000000002' })).status, 204);
      assert.equal((await notify('MEMBERCARD.ACCEPT_CARD', { code: `88${NUL}03` })).status, 204);
      assert.equal(await h.store.getBinding(h.creds.cardId, '880000000002'), undefined);
    });

    test('NUL in the envelope’s id or event_type: 400 NOTIFICATION_UNREADABLE, nothing stored', { skip }, async () => {
      const badId = await notify('MEMBERCARD.ACCEPT_CARD', { code: '880000000004' }, `id${NUL}`);
      assert.equal(badId.status, 400, badId.text);
      assert.equal(badId.body.code, 'NOTIFICATION_UNREADABLE');
      const badType = await notify(`MEMBERCARD.ACCEPT_CARD${NUL}`, { code: '880000000004' });
      assert.equal(badType.body.code, 'NOTIFICATION_UNREADABLE');
      assert.equal(await h.store.getBinding(h.creds.cardId, '880000000004'), undefined);
    });

    test('jscode2session answering NUL: an openid is 502, a unionid is left out', { skip }, async () => {
      const login = wechatLogin({
        appid: 'wx0000000000000001',
        secret: 'secret',
        baseURL: wechat.url,
        store: h.store,
        log: () => undefined,
      });
      const app = new Koa();
      app.use(login.routes());
      const host = await listen(app.callback());
      try {
        answer = { openid: `o${NUL}1`, session_key: 'k' };
        const refused = await call('POST', `${host.url}/login`, { body: { code: 'abc' } });
        assert.equal(refused.status, 502, refused.text);
        assert.equal(refused.body.code, 'UPSTREAM_ERROR');
        answer = { openid: 'o-nul-test', unionid: `u${NUL}`, session_key: 'k' };
        const ok = await call('POST', `${host.url}/login`, { body: { code: 'abc' } });
        assert.equal(ok.status, 200, ok.text);
        const me = await h.api('GET', '/member-card', { token: ok.body.token });
        assert.equal(me.status, 404, 'logged in as o-nul-test, who has no card');
      } finally {
        await host.close();
      }
    });

    test('a host session with NUL in the openid is nobody (401), never a 500', { skip }, async () => {
      hostUser = { openid: `mp${NUL}` };
      const reply = await h.api('GET', '/member-card/open', { headers: { 'x-host-user': '1' } });
      assert.equal(reply.status, 401, reply.text);
      hostUser = { openid: 'mp-ok', unionid: `u${NUL}` };
      const open = await h.api('GET', '/member-card/open', { headers: { 'x-host-user': '1' } });
      assert.equal(open.status, 200, open.text);
    });

    test('a merchant bind naming a user with NUL: 400 naming the field', { skip }, async () => {
      for (const [user, field] of [
        [{ openid: `mp${NUL}` }, 'user'],
        [{ openid: 'mp', unionid: `u${NUL}` }, 'user.unionid'],
      ] as const) {
        const reply = await h.api('POST', '/member-card/admin/bindings', {
          headers: { 'x-admin': 'yes' },
          body: { code: '880000000005', user },
        });
        assert.equal(reply.status, 400, reply.text);
        assert.equal(reply.body.details[0].field, field);
      }
    });
  });
}
