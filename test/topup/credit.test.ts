// Crediting a paid top-up exactly once, whatever WeChat Pay's notifications do: one delivery,
// duplicates, ten at once, none at all (the reconciler, or the mini-program's poll, finds the
// payment), one that does not match its order; a card that cannot take the credit yet, WeChat Pay
// down while crediting, an unpaid order past its expiry. All against the sandbox, real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { outRequestNo } from '../../src/operations/index.js';
import type { TopupOrder } from '../../src/store/types.js';
import { startHarness, type Harness } from '../support/harness.js';
import { buildNotification } from '../support/notifications.js';
import { NotifyReceiver } from '../support/notify-receiver.js';
import { sleep, waitFor } from '../support/poll.js';
import type { SandboxUser } from '../support/sandbox.js';
import { deliver } from '../support/serve.js';
import { pay, topupOptions } from '../support/topup.js';

interface Member {
  user: SandboxUser;
  code: string;
  token: string;
}

/** What a harness with top-ups does for every test here. */
function topupHost(h: () => Harness) {
  const member = async (balance = 500): Promise<Member> => {
    const user = await h().sandbox.newUser();
    const given = await h().giveCard(user, { balance });
    return { user, code: given.code, token: await h().login(user) };
  };
  const order = async (m: Member, amount = 10000): Promise<{ id: string; payment: Record<string, unknown> }> => {
    const placed = await h().api('POST', '/member-card/topup', { token: m.token, body: { amount } });
    assert.equal(placed.status, 200, placed.text);
    return { id: placed.body.order.id as string, payment: placed.body.payment as Record<string, unknown> };
  };
  const stored = async (id: string): Promise<TopupOrder> => {
    const o = await h().cards.topups?.get(id);
    assert.ok(o, `order ${id} stored`);
    return o;
  };
  const waitState = (id: string, state: TopupOrder['state'], withinMs = 8000) =>
    waitFor(`order ${id} ${state}`, withinMs, async () =>
      (await stored(id)).state === state ? stored(id) : undefined,
    );
  /** The card as WeChat Pay holds it, and how many times this order's credit was applied there. */
  const card = async (m: Member, id: string) => {
    const c = await h().sandbox.card(m.code);
    const applied = c.applied.card.filter((no) => no === outRequestNo(h().creds.cardId, id)).length;
    return { balance: c.balance, applied };
  };
  return { member, order, stored, waitState, card };
}

describe('top-up credit: notifications to our own /pay-notify', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      memberCard: ({ url, sandbox }) =>
        topupOptions(sandbox, `${url}/member-card/pay-notify`, { reconcileAfterMs: 1000, retryMs: 200 }),
    });
  });
  after(() => h?.close());
  const t = topupHost(() => h);

  it('a paid order credits amount + bonus once; the order, the history and WeChat Pay all say so', async () => {
    const m = await t.member(500);
    const { id, payment } = await t.order(m, 10000);
    const paid = await pay(h.sandbox, m.user, payment);
    assert.equal(paid.status, 200, paid.text);
    const done = await t.waitState(id, 'credited');
    assert.equal(done.balanceAfter, 11500);
    assert.match(done.transactionId ?? '', /^\d{28}$/);
    assert.deepEqual(await t.card(m, id), { balance: 11500, applied: 1 });
    const view = await h.api('GET', `/member-card/topup/${id}`, { token: m.token });
    assert.deepEqual(
      [view.body.order.state, view.body.order.balance, view.body.order.credit],
      ['credited', 11500, 11000],
    );
    const mine = await h.api('GET', '/member-card', { token: m.token });
    assert.equal(mine.body.card.balance, 11500);
    assert.deepEqual((await h.sandbox.payOrder(id)).shipping, [], 'no delivery report unless turned on');
    assert.equal(done.shipping, undefined);
    // The history shows the top-up: the journal's audit line, keyed by the out_trade_no.
    const [line] = await h.cards.operations.history({ code: m.code });
    assert.deepEqual(
      [line?.requestId, line?.kind, line?.actor, line?.amount, line?.before, line?.after, line?.remark],
      [id, 'balance', 'wechatpay-topup', 11000, 500, 11500, '微信支付充值¥100.00，赠送¥10.00'],
    );
    // And the member's own history (GET /history) shows what was bought, not who credited it.
    const history = await h.api('GET', '/member-card/history', { token: m.token });
    assert.equal(history.status, 200, history.text);
    const [item] = history.body.items;
    assert.deepEqual(
      [item.kind, item.amount, item.balanceAfter, item.remark, item.actor],
      ['balance', 11000, 11500, '微信支付充值¥100.00，赠送¥10.00', undefined],
    );
  });

  it('five deliveries of one notification (duplicates after the ack) credit once', async () => {
    const m = await t.member(0);
    const { id, payment } = await t.order(m, 1000);
    const paid = await pay(h.sandbox, m.user, payment, { duplicates: 4 });
    const notificationId = paid.body.notification_id as string;
    await waitFor(
      '5 deliveries',
      8000,
      async () => ((await h.sandbox.notification(notificationId))?.attempts ?? 0) >= 5,
    );
    await t.waitState(id, 'credited');
    await sleep(300);
    assert.deepEqual(await t.card(m, id), { balance: 1000, applied: 1 });
    assert.equal(
      h.logs.filter((l) => l.fields?.id === notificationId && l.message === 'payment notification applied').length,
      1,
    );
    assert.equal(
      h.logs.filter((l) => l.fields?.id === notificationId && l.message === 'duplicate payment notification ignored')
        .length,
      4,
    );
  });

  it('a lost notification: nothing until the order is due, then the reconciler credits it once', async () => {
    const m = await t.member(100);
    const { id, payment } = await t.order(m, 5000);
    const paid = await pay(h.sandbox, m.user, payment, { notify: false });
    assert.equal(paid.body.notification_id, null, 'WeChat Pay never tells us');
    const early = await h.cards.topups?.reconcile();
    assert.equal((await t.stored(id)).state, 'pending', `not due yet (${JSON.stringify(early)})`);
    await waitFor('due', 3000, async () => ((await t.stored(id)).nextCheckAt ?? Infinity) <= Date.now());
    const report = await h.cards.topups?.reconcile();
    assert.ok((report?.credited ?? 0) >= 1, JSON.stringify(report));
    assert.equal((await t.stored(id)).state, 'credited');
    assert.deepEqual(await t.card(m, id), { balance: 5100, applied: 1 });
    await h.cards.topups?.reconcile();
    assert.deepEqual(await t.card(m, id), { balance: 5100, applied: 1 }, 'again: nothing more');
  });

  it('a lost notification: the mini-program polling its order finds the payment at once', async () => {
    const m = await t.member(0);
    const { id, payment } = await t.order(m, 1000);
    await pay(h.sandbox, m.user, payment, { notify: false });
    await sleep(2100); // the poll asks WeChat Pay at most every 2 s per order
    const view = await waitFor('credited by polling', 8000, async () => {
      const r = await h.api('GET', `/member-card/topup/${id}`, { token: m.token });
      return r.body.order.state === 'credited' ? r : undefined;
    });
    assert.equal(view.body.order.balance, 1000);
    assert.deepEqual(await t.card(m, id), { balance: 1000, applied: 1 });
  });

  it('a notification whose amount or payer differs from the order credits nothing; WeChat Pay is asked', async () => {
    const m = await t.member(0);
    const stranger = await h.sandbox.newUser();
    const forged = (id: string, extra: Record<string, unknown>) =>
      buildNotification({
        eventType: 'TRANSACTION.SUCCESS',
        payload: {
          appid: h.creds.miniProgramAppid,
          mchid: h.creds.mchid,
          out_trade_no: id,
          transaction_id: '4200000000000000000000000001',
          trade_type: 'JSAPI',
          trade_state: 'SUCCESS',
          success_time: '2026-03-01T10:00:00+08:00',
          payer: { openid: m.user.mp_openid },
          amount: { total: 1000, payer_total: 1000, currency: 'CNY', payer_currency: 'CNY' },
          ...extra,
        },
        apiv3Key: h.creds.apiv3Key,
        signingKey: h.sandbox.platformPrivateKey(),
        serial: h.creds.publicKeyId as string,
      });
    const send = (n: { headers: Record<string, string>; body: string }) =>
      h.api('POST', '/member-card/pay-notify', { raw: n.body, headers: n.headers });

    // Unpaid at WeChat Pay: a signed notification claiming a payment of another amount, then of another payer.
    const { id } = await t.order(m, 1000);
    for (const extra of [
      { amount: { total: 100000, payer_total: 100000, currency: 'CNY', payer_currency: 'CNY' } },
      { payer: { openid: stranger.mp_openid } },
      { appid: h.creds.appid },
    ]) {
      const answer = await send(forged(id, extra));
      assert.equal(answer.status, 204, 'acknowledged: sending it again would not change it');
    }
    await sleep(500);
    const after = await t.stored(id);
    assert.equal(after.state, 'pending', 'not paid: WeChat Pay, asked, says NOTPAY');
    assert.equal(after.error?.code, 'TOPUP_MISMATCH');
    assert.deepEqual(await t.card(m, id), { balance: 0, applied: 0 });
    const logged = h.logs.filter((l) => l.message === 'payment does not match its top-up order; nothing credited');
    assert.deepEqual(
      logged.filter((l) => l.fields?.outTradeNo === id).map((l) => l.fields?.fields),
      ['amount.total', 'payer.openid', 'appid'],
    );
    assert.equal(
      h.logs.some((l) => JSON.stringify(l.fields ?? {}).includes(m.code)),
      false,
      'no card code in any log line',
    );

    // Paid at WeChat Pay (its notification lost) and a notification with a bigger amount: the genuine
    // payment is credited, found by asking WeChat Pay; the forged amount never is.
    const second = await t.order(m, 5000);
    await pay(h.sandbox, m.user, second.payment, { notify: false });
    const big = { amount: { total: 500000, payer_total: 500000, currency: 'CNY', payer_currency: 'CNY' } };
    assert.equal((await send(forged(second.id, big))).status, 204);
    await t.waitState(second.id, 'credited');
    assert.deepEqual(await t.card(m, second.id), { balance: 5000, applied: 1 });
  });

  it('a card that cannot take the credit waits (paid, retried with back-off), credited once it can', async () => {
    const m = await t.member(300);
    const { id, payment } = await t.order(m, 1000);
    await h.sandbox.setCard(m.code, { user_card_status: 'UNAVAILABLE' });
    await pay(h.sandbox, m.user, payment);
    const waiting = await waitFor('a failed credit', 5000, async () => {
      const o = await t.stored(id);
      return o.state === 'paid' && o.error?.code === 'CARD_NOT_EDITABLE' ? o : undefined;
    });
    assert.ok((waiting.nextCheckAt ?? 0) > Date.now() - 1000, 'due again later');
    assert.equal((await h.cards.operations.get(id)) ?? 'no journal entry', 'no journal entry', 'its requestId unused');
    await h.cards.topups?.reconcile();
    assert.equal((await t.stored(id)).state, 'paid');
    await h.sandbox.setCard(m.code, { user_card_status: 'EFFECTIVE' });
    await waitFor('credited after a retry', 10_000, async () => {
      await h.cards.topups?.reconcile();
      return (await t.stored(id)).state === 'credited';
    });
    assert.deepEqual(await t.card(m, id), { balance: 1300, applied: 1 });
  });

  it('WeChat Pay down while crediting: the order stays paid, nothing is lost, one credit later', async () => {
    const m = await t.member(0);
    const { id, payment } = await t.order(m, 1000);
    const cardPath = `/v3/marketing/membercard-open/cards/${h.creds.cardId}/codes/${m.code}`;
    await h.sandbox.fault({ status: 503, path: cardPath });
    try {
      await pay(h.sandbox, m.user, payment);
      await waitFor('a failed credit', 8000, async () => {
        const o = await t.stored(id);
        return o.state === 'paid' && o.error?.code === 'UPSTREAM_BUSY';
      });
      await h.cards.topups?.reconcile();
      assert.equal((await t.stored(id)).state, 'paid');
    } finally {
      await h.sandbox.clearFaults();
    }
    await waitFor('credited after a retry', 10_000, async () => {
      await h.cards.topups?.reconcile();
      return (await t.stored(id)).state === 'credited';
    });
    assert.deepEqual(await t.card(m, id), { balance: 1000, applied: 1 });
  });

  it('past its expiry an unpaid order is closed at WeChat Pay; a paid one (notification lost) credited', async () => {
    const m = await t.member(0);
    const expire = async (id: string) => {
      const o = await t.stored(id);
      const now = Date.now();
      assert.ok(await h.store.updateTopupOrder?.({ ...o, expiresAt: now - 1000, nextCheckAt: now - 1 }));
    };
    const unpaid = await t.order(m, 1000);
    await expire(unpaid.id);
    await h.cards.topups?.reconcile();
    assert.equal((await t.stored(unpaid.id)).state, 'closed');
    const atWechat = await h.sandbox.payOrder(unpaid.id);
    assert.deepEqual([atWechat.trade_state, atWechat.closed_by_api], ['CLOSED', true]);

    const paid = await t.order(m, 5000);
    await pay(h.sandbox, m.user, paid.payment, { notify: false });
    await expire(paid.id);
    await h.cards.topups?.reconcile();
    assert.equal((await t.stored(paid.id)).state, 'credited');
    assert.equal((await h.sandbox.payOrder(paid.id)).closed_by_api, false, 'a paid order is never closed');
    assert.deepEqual(await t.card(m, paid.id), { balance: 5000, applied: 1 });
    // A tap after a closed order makes a new one.
    const next = await t.order(m, 1000);
    assert.notEqual(next.id, unpaid.id);
  });
});

describe('top-up credit: the genuine notification delivered by hand', () => {
  let h: Harness;
  const receiver = new NotifyReceiver();
  before(async () => {
    const url = await receiver.listen();
    h = await startHarness({ memberCard: ({ sandbox }) => topupOptions(sandbox, url) });
  });
  after(async () => {
    await h?.close();
    await receiver.close();
  });
  const t = topupHost(() => h);

  it('ten concurrent deliveries of one notification credit once', async () => {
    const m = await t.member(0);
    const { id, payment } = await t.order(m, 20000);
    const before = receiver.received.length;
    await pay(h.sandbox, m.user, payment);
    const delivery = await waitFor('the notification', 5000, () => receiver.received[before]);
    const headers = Object.fromEntries(
      Object.entries(NotifyReceiver.headersOf(delivery)).filter(
        (e): e is [string, string] => e[1] !== undefined && (e[0].startsWith('wechatpay-') || e[0] === 'content-type'),
      ),
    );
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () => deliver(`${h.url}/member-card/pay-notify`, { headers, body: delivery.body })),
    );
    assert.deepEqual(statuses, Array(10).fill(204));
    await t.waitState(id, 'credited');
    await sleep(300);
    assert.deepEqual(await t.card(m, id), { balance: 23000, applied: 1 });
    assert.equal((await h.cards.operations.history({ code: m.code })).length, 1);
  });

  it('a notification that does not verify changes nothing (401)', async () => {
    const m = await t.member(0);
    const { id, payment } = await t.order(m, 1000);
    const before = receiver.received.length;
    await pay(h.sandbox, m.user, payment);
    const delivery = await waitFor('the notification', 5000, () => receiver.received[before]);
    const headers = { ...NotifyReceiver.headersOf(delivery), 'wechatpay-signature': 'AAAA' } as Record<string, string>;
    const answer = await h.api('POST', '/member-card/pay-notify', { raw: delivery.body, headers });
    assert.deepEqual([answer.status, answer.body.code], [401, 'NOTIFICATION_INVALID']);
    assert.equal((await t.stored(id)).state, 'pending');
  });
});
