// Ordering a top-up: the offers, POST /topup against the sandbox's JSAPI endpoint (the mini-program's
// AppID, the session user's mini-program openid as payer, our notify URL), wx.requestPayment's
// parameters signed as WeChat's client checks them, a repeated tap reusing the pending order, and
// every bad request refused with its code before anything is ordered.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { memberCard } from '../../src/member-card.js';
import { OptionsError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/index.js';
import { methodsOf } from '../../src/store/roles.js';
import { startHarness, type Harness } from '../support/harness.js';
import { AMOUNTS, pay, topupOptions } from '../support/topup.js';
import { verifyPaySign } from '../support/wechatpay-oracle.js';

describe('top-up ordering: POST /member-card/topup', () => {
  let h: Harness;
  before(async () => {
    // The harness hands over its URL: the orders' notify_url is this host's /pay-notify.
    h = await startHarness({
      memberCard: ({ url, sandbox }) => topupOptions(sandbox, `${url}/member-card/pay-notify`),
    });
  });
  after(() => h?.close());

  const member = async (card: Record<string, unknown> = {}) => {
    const user = await h.sandbox.newUser();
    const given = await h.giveCard(user, { balance: 500, ...card });
    return { user, code: given.code, token: await h.login(user) };
  };
  const order = (token: string, body: unknown) => h.api('POST', '/member-card/topup', { token, body });

  it('GET /topup lists the offers with their bonuses', async () => {
    const offers = await h.api('GET', '/member-card/topup');
    assert.equal(offers.status, 200);
    assert.deepEqual(offers.body, {
      currency: 'CNY',
      amounts: [
        { amount: 1000, bonus: 0 },
        { amount: 5000, bonus: 0 },
        { amount: 10000, bonus: 1000 },
        { amount: 20000, bonus: 3000 },
      ],
      bonuses: [
        { from: 10000, extra: 1000 },
        { from: 20000, extra: 3000 },
      ],
    });
  });

  it('orders at WeChat Pay as documented and answers wx.requestPayment parameters that verify', async () => {
    const { user, token } = await member();
    const placed = await order(token, { amount: 10000 });
    assert.equal(placed.status, 200, placed.text);
    const { order: o, payment, reused } = placed.body;
    assert.equal(reused, false);
    assert.match(o.id, /^TU[A-Za-z0-9]{30}$/);
    assert.deepEqual([o.amount, o.bonus, o.credit, o.state], [10000, 1000, 11000, 'pending']);
    assert.equal(placed.headers.get('cache-control'), 'private, no-store');

    // What WeChat Pay received: the mini-program's AppID, the user's mini-program openid, our notify URL.
    const sent = (await h.sandbox.requests()).filter((r) => r.path === '/v3/pay/transactions/jsapi');
    assert.equal(sent.length, 1);
    const body = sent[0]?.body as Record<string, any>;
    assert.equal(body.appid, h.creds.miniProgramAppid);
    assert.equal(body.mchid, h.creds.mchid);
    assert.equal(body.out_trade_no, o.id);
    assert.deepEqual(body.payer, { openid: user.mp_openid });
    assert.deepEqual(body.amount, { total: 10000, currency: 'CNY' });
    assert.equal(body.notify_url, `${h.url}/member-card/pay-notify`);
    assert.equal(body.description, '会员卡充值 ¥100.00');
    assert.match(body.time_expire, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    const stored = await h.sandbox.payOrder(o.id);
    assert.equal(payment.package, `prepay_id=${stored.prepay_id}`);

    // WeChat's client checks the paySign with the merchant's public key over appId (not passed),
    // timeStamp, nonceStr and package.
    assert.equal(payment.signType, 'RSA');
    assert.match(payment.timeStamp, /^\d{10}$/);
    assert.ok(payment.nonceStr.length <= 32);
    const merchantPublic = createPublicKey(h.sandbox.merchantPrivateKey());
    assert.equal(verifyPaySign(merchantPublic, h.creds.miniProgramAppid, payment), true);
    assert.equal(verifyPaySign(merchantPublic, h.creds.appid, payment), false, 'signed for the mini-program only');
    // And the sandbox's WeChat client takes it.
    const paid = await pay(h.sandbox, user, payment, { notify: false });
    assert.equal(paid.status, 200, paid.text);
  });

  it('a repeated tap reuses the pending order; five at once make one order; another amount another', async () => {
    const { token } = await member();
    const first = await order(token, { amount: 5000 });
    const again = await order(token, { amount: 5000 });
    assert.equal(again.body.order.id, first.body.order.id);
    assert.equal(again.body.reused, true);
    assert.equal(again.body.payment.package, first.body.payment.package);
    const before = (await h.sandbox.requests()).filter((r) => r.path === '/v3/pay/transactions/jsapi').length;
    const { token: other } = await member();
    const burst = await Promise.all(Array.from({ length: 5 }, () => order(other, { amount: 1000 })));
    assert.ok(burst.every((r) => r.status === 200));
    assert.equal(new Set(burst.map((r) => r.body.order.id)).size, 1);
    const after = (await h.sandbox.requests()).filter((r) => r.path === '/v3/pay/transactions/jsapi').length;
    assert.ok(after - before <= 5 && after - before >= 1, 'one order at WeChat Pay (sent again only as a repeat)');
    const ids = new Set(
      (await h.sandbox.control('GET', 'orders')).data
        .map((o: { out_trade_no: string }) => o.out_trade_no)
        .filter((id: string) => burst.some((r) => r.body.order.id === id)),
    );
    assert.equal(ids.size, 1);
    const bigger = await order(other, { amount: 10000 });
    assert.notEqual(bigger.body.order.id, burst[0]?.body.order.id);
  });

  it('refuses bad requests with their code, and orders nothing', async () => {
    const { token } = await member();
    const count = async () =>
      (await h.sandbox.requests()).filter((r) => r.path === '/v3/pay/transactions/jsapi').length;
    const before = await count();
    const refuse = async (reply: Promise<{ status: number; body: any }>, status: number, code: string) => {
      const r = await reply;
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.code, code);
    };
    await refuse(h.api('POST', '/member-card/topup', { body: { amount: 1000 } }), 401, 'UNAUTHENTICATED');
    await refuse(order(token, { amount: 1234 }), 400, 'AMOUNT_NOT_OFFERED');
    await refuse(order(token, { amount: '1000' }), 400, 'INVALID_REQUEST');
    await refuse(order(token, { amount: 10.5 }), 400, 'INVALID_REQUEST');
    await refuse(order(token, { amount: 1000, openid: 'someone-else' }), 400, 'INVALID_REQUEST');
    await refuse(order(token, [1000]), 400, 'INVALID_REQUEST');
    await refuse(h.api('POST', '/member-card/topup?code=1', { token, body: { amount: 1000 } }), 400, 'INVALID_REQUEST');
    await refuse(
      h.api('POST', '/member-card/topup', { token, raw: 'amount=1000', headers: { 'content-type': 'text/plain' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    // No card yet, and a card that is not EFFECTIVE.
    const stranger = await h.sandbox.newUser();
    await refuse(order(await h.login(stranger), { amount: 1000 }), 404, 'CARD_NOT_FOUND');
    const expired = await member({ user_card_status: 'EXPIRE' });
    await refuse(order(expired.token, { amount: 1000 }), 409, 'CARD_NOT_EDITABLE');
    assert.equal(await count(), before, 'nothing was ordered');
  });

  it('GET /topup/{id}: the caller’s own order only', async () => {
    const { token } = await member();
    const { body } = await order(token, { amount: 1000 });
    const mine = await h.api('GET', `/member-card/topup/${body.order.id}`, { token });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.order.id, body.order.id);
    assert.equal(mine.body.order.code, undefined, 'no card code in the answer');
    const { token: other } = await member();
    const theirs = await h.api('GET', `/member-card/topup/${body.order.id}`, { token: other });
    assert.deepEqual([theirs.status, theirs.body.code], [404, 'TOPUP_NOT_FOUND']);
    const bogus = await h.api('GET', '/member-card/topup/..%2F..%2Fadmin', { token });
    assert.deepEqual([bogus.status, bogus.body.code], [404, 'TOPUP_NOT_FOUND']);
    assert.equal((await h.api('GET', `/member-card/topup/${body.order.id}`)).status, 401);
  });

  it('a 5xx to the order is retried with the same parameters: one order, the same prepay_id', async () => {
    const { token } = await member();
    const jsapi = () => h.sandbox.requests().then((all) => all.filter((r) => r.path === '/v3/pay/transactions/jsapi'));
    const before = (await jsapi()).length;
    await h.sandbox.fault({ status: 500, code: 'SYSTEM_ERROR', path: '/v3/pay/transactions/jsapi', times: 1 });
    const placed = await order(token, { amount: 1000 });
    assert.equal(placed.status, 200, placed.text);
    const sent = (await jsapi()).slice(before);
    assert.deepEqual(
      sent.map((r) => r.status),
      [500, 200],
    );
    assert.deepEqual(sent[0]?.body, sent[1]?.body, 'the same body both times');
    assert.equal(
      placed.body.payment.package,
      `prepay_id=${(await h.sandbox.payOrder(placed.body.order.id)).prepay_id}`,
    );
  });

  it('WeChat Pay refusing the order (the AppID not bound to the merchant) is 502, logged with its code', async () => {
    const other = await startHarness({
      memberCard: ({ url, sandbox }) =>
        topupOptions(sandbox, `${url}/member-card/pay-notify`, { appid: 'wx00000000000000ff' }),
    });
    try {
      const user = await other.sandbox.newUser();
      await other.giveCard(user);
      const token = await other.login(user);
      const placed = await other.api('POST', '/member-card/topup', { token, body: { amount: 1000 } });
      assert.deepEqual([placed.status, placed.body.code], [502, 'UPSTREAM_ERROR']);
      const line = other.logs.find((l) => l.message === 'WeChat Pay refused the top-up order');
      assert.equal(line?.fields?.code, 'APPID_MCHID_NOT_MATCH');
      // The refused order is not reused: the next tap makes another (and is refused again).
      const again = await other.api('POST', '/member-card/topup', { token, body: { amount: 1000 } });
      assert.equal(again.status, 502);
      assert.equal(other.logs.filter((l) => l.message === 'WeChat Pay refused the top-up order').length, 2);
    } finally {
      await other.close();
    }
  });
});

describe('top-up options', () => {
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const base = {
    cardId: 'pX',
    appid: 'wx1',
    wechatpay: {
      mchid: '1900000109',
      serial: 'A1',
      privateKey: merchant.privateKey,
      publicKeyId: 'PUB_KEY_ID_1',
      publicKey: platform.publicKey,
      apiv3Key: '0'.repeat(32),
    },
    log: () => undefined,
  };
  const problem = (topup: unknown, store: unknown = 'memory:'): string => {
    try {
      memberCard({ ...base, store, topup } as never);
    } catch (err) {
      assert.ok(err instanceof OptionsError, String(err));
      return `${err.option ?? ''}: ${err.problem}`;
    }
    return 'accepted';
  };
  const on = { appid: 'wxa', notifyUrl: 'https://shop.example.com/member-card/pay-notify' };

  it('are checked at creation, naming the option', () => {
    assert.equal(problem({ amounts: AMOUNTS }), 'topup: needs appid with amounts');
    assert.equal(problem({ amounts: AMOUNTS, appid: 'wxa' }), 'topup: needs notifyUrl with amounts');
    assert.equal(problem({ ...on, min: 100 }), 'topup: needs min and max together');
    assert.equal(problem({ ...on, min: 500, max: 100 }), 'topup: min must not be above max');
    assert.equal(problem({ ...on, amounts: [100], min: 1, max: 2 }), 'topup: takes amounts, or min and max, not both');
    assert.equal(problem({ appid: 'wxa' }), 'topup: needs amounts, or min and max, to offer anything');
    assert.match(problem({ ...on, amounts: [0] }), /^topup\.amounts\.0: /);
    assert.match(problem({ ...on, amounts: [100, 100] }), /^topup\.amounts\.1: .*duplicate/);
    assert.match(problem({ ...on, amounts: [100], notifyUrl: 'https://a.example/p?x=1' }), /^topup\.notifyUrl: /);
    assert.match(problem({ ...on, amounts: [100], expireMs: 60_000 }), /^topup\.expireMs: /);
    assert.match(problem({ ...on, amounts: [100], bonuses: [{ from: 100 }] }), /^topup\.bonuses\.0\.extra: /);
  });

  it('a store object that cannot keep orders is refused when top-ups are on, and taken when off', () => {
    const inner = new MemoryStore();
    // The card role's methods only, as a host's own object may have them.
    const cardOnly = Object.fromEntries(
      methodsOf('card').map((name) => [
        name,
        (...args: never[]) => Reflect.apply(Reflect.get(inner, name), inner, args),
      ]),
    );
    assert.match(problem({ ...on, amounts: [100] }, cardOnly), /^store: .*top-up orders/);
    assert.equal(problem(undefined, cardOnly), 'accepted');
  });
});
