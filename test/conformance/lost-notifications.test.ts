// Notifications lost for longer than WeChat Pay retries them (11 deliveries 60 s apart on the
// member-card pages) leave a member with a card and no binding. The merchant's way back: the
// audited admin bind (POST {prefix}/admin/bindings, cards.bindings.bind), after its own check.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { memberCard } from '../../src/member-card.js';
import { wechatpayOptions } from '../../src/sandbox/index.js';
import { createStore } from '../../src/store/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import type { SandboxUser } from '../support/sandbox.js';

describe('conformance: a member whose notifications were all lost is bound by the merchant', () => {
  let h: Harness;
  const admin = (body: unknown, allowed = true) =>
    h.api('POST', '/member-card/admin/bindings', { body, headers: allowed ? { 'x-admin': 'yes' } : {} });

  before(async () => {
    h = await startHarness({ memberCard: { authorizeAdmin: (ctx) => ctx.get('x-admin') === 'yes' } });
  });
  after(() => h.close());

  /** A user who received a card while our notify URL was unreachable, until WeChat Pay gave up. */
  async function lostCard(extra: Record<string, unknown> = {}): Promise<{ user: SandboxUser; code: string }> {
    await h.cards.client.setNotifyUrl('http://127.0.0.1:9/notify'); // nothing listens there
    try {
      const user = await h.sandbox.newUser({ share_unionid: false });
      const given = (await h.sandbox.control('POST', `cards/${h.creds.cardId}/codes`, {
        unionid: user.unionid,
        ...extra,
      })) as { code: string; notification_id: string };
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { data } = (await h.sandbox.control('GET', 'notifications')) as {
          data: Array<{ id: string; attempts: number; abandoned: boolean }>;
        };
        const row = data.find((n) => n.id === given.notification_id);
        if (row?.abandoned) {
          assert.equal(row.attempts, 11, 'the member-card schedule: 11 deliveries');
          break;
        }
        if (Date.now() > deadline) throw new Error('not abandoned in time');
        await new Promise((r) => setTimeout(r, 20));
      }
      return { user, code: given.code };
    } finally {
      await h.cards.client.setNotifyUrl(`${h.url}/member-card/notify`);
    }
  }

  it('after the retry window: no binding; the admin bind makes the card readable, audited', async () => {
    const { user, code } = await lostCard({ balance: 321 });
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 404, 'nothing bound');
    const reply = await admin({ code, user: { openid: user.mp_openid }, actor: 'cashier-7' });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.changed, true);
    assert.equal(reply.body.binding.code, code);
    assert.equal(reply.body.binding.status, 'active');
    assert.equal(reply.body.binding.openid, user.mp_openid);
    const card = await h.api('GET', '/member-card', { token });
    assert.equal(card.status, 200, card.text);
    assert.equal(card.body.card.balance, 321);
    const history = await h.api('GET', `/member-card/admin/history?code=${encodeURIComponent(code)}`, {
      headers: { 'x-admin': 'yes' },
    });
    assert.deepEqual(
      history.body.data.map((l: { kind: string; actor: string; after: string }) => [l.kind, l.actor, l.after]),
      [['bind', 'cashier-7', user.mp_openid]],
    );
    const again = await admin({ code, user: { openid: user.mp_openid } });
    assert.deepEqual([again.status, again.body.changed], [200, false], 'the same binding again changes nothing');
  });

  it('refuses: another user while it is bound (409), a deleted card (409), an unknown code (404)', async () => {
    const owner = await h.sandbox.newUser();
    const { code } = await h.giveCard(owner);
    const intruder = await h.sandbox.newUser();
    const conflict = await admin({ code, user: { openid: intruder.mp_openid } });
    assert.deepEqual([conflict.status, conflict.body.code], [409, 'OPERATION_CONFLICT']);
    assert.equal(conflict.text.includes(owner.mp_openid), false, 'says nothing about the holder');
    const deleted = await lostCard({ user_card_status: 'DELETE' });
    const gone = await admin({ code: deleted.code, user: { openid: deleted.user.mp_openid } });
    assert.deepEqual([gone.status, gone.body.code], [409, 'CARD_NOT_EDITABLE']);
    const unknown = await admin({ code: '404404404404', user: { openid: intruder.mp_openid } });
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'CARD_NOT_FOUND']);
    assert.equal(await h.store.getBinding(h.creds.cardId, deleted.code), undefined);
  });

  it('checks the caller and the body before anything else', async () => {
    const before = await h.sandbox.upstreamCount();
    const forbidden = await admin({ code: '1', user: { openid: 'x' } }, false);
    assert.deepEqual([forbidden.status, forbidden.body.code], [403, 'FORBIDDEN']);
    for (const [body, field] of [
      [{ user: { openid: 'x' } }, 'code'],
      [{ code: 'a\nb', user: { openid: 'x' } }, 'code'],
      [{ code: '1' }, 'user'],
      [{ code: '1', user: { openid: '' } }, 'user'],
      [{ code: '1', user: { openid: 'x', unionid: 5 } }, 'user.unionid'],
      [{ code: '1', user: { openid: 'x' }, actor: 'a'.repeat(65) }, 'actor'],
      [{ code: '1', user: { openid: 'x' }, openid: 'y' }, 'openid'],
    ] as const) {
      const reply = await admin(body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.details[0].field, field, reply.text);
    }
    assert.equal(await h.sandbox.upstreamCount(), before, 'nothing sent upstream');
  });

  it('cards.bindings.bind does the same from server code; a store without bindByMerchant answers 501', async () => {
    const { user, code } = await lostCard();
    const { binding, changed } = await h.cards.bindings.bind({ code, user: { openid: user.mp_openid } });
    assert.equal(changed, true);
    assert.equal(binding.userOpenid, user.mp_openid);
    assert.equal((await h.cards.operations.history({ code }))[0]?.actor, 'admin');
    // A host's own store object from before bindByMerchant existed: still accepted, the bind is 501.
    const full = createStore('memory:');
    const older = memberCard({
      cardId: h.creds.cardId,
      appid: h.creds.appid,
      wechatpay: wechatpayOptions(h.creds),
      store: {
        init: () => full.init(),
        ping: () => full.ping(),
        close: () => full.close(),
        findBindingByUser: (...a) => full.findBindingByUser(...a),
        findBindingByUnionid: (...a) => full.findBindingByUnionid(...a),
        getBinding: (...a) => full.getBinding(...a),
        flagBinding: (...a) => full.flagBinding(...a),
        putOuterStr: (...a) => full.putOuterStr(...a),
        applyNotification: (...a) => full.applyNotification(...a),
        getNotification: (...a) => full.getNotification(...a),
        acquireLock: (...a) => full.acquireLock(...a),
        extendLock: (...a) => full.extendLock(...a),
        releaseLock: (...a) => full.releaseLock(...a),
        insertOperation: (...a) => full.insertOperation(...a),
        getOperation: (...a) => full.getOperation(...a),
        finishOperation: (...a) => full.finishOperation(...a),
        listPendingOperations: (...a) => full.listPendingOperations(...a),
        listAudit: (...a) => full.listAudit(...a),
      },
    });
    await assert.rejects(
      older.bindings.bind({ code, user: { openid: 'x' } }),
      (err: { code?: string; status?: number }) => {
        assert.deepEqual([err.code, err.status], ['NOT_IMPLEMENTED', 501]);
        return true;
      },
    );
    await full.close();
  });
});
