// Top-ups in <member-card>, rendered from the compiled plugin against a real `serve` back end and
// its sandbox, under WeChat's rules (wechat.ts): a plugin may not call wx.requestPayment, so on a
// host page the component triggers `topup` and the host pays with its own wx, then hands the outcome
// back (memberCard.topupResult); the component polls the order and shows the new balance, or
// "支付确认中" until the credit lands. On the plugin's own page nobody could pay: no top-up there.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { routeWxRequestOverHttp, sent, startBackend, type Backend, type SandboxUser } from './backend.js';
import { mountHostPage, type HostPage } from './host-page.js';
import { MEMBER_CARD, mountPage, MY_CARD_PAGE, plugin, tap, text, waitFor, wx, type Rendered } from './simulator.js';
import { domains, hostWx, refusals } from './wechat.js';

let backend: Backend;
let token: string | null = null;
const mounted: Rendered[] = [];

before(async () => {
  backend = await startBackend();
  routeWxRequestOverHttp();
});
beforeEach(() => {
  refusals.length = 0;
});
afterEach(() => {
  for (const c of mounted.splice(0)) c.detach();
  token = null;
  delete wx.requestPayment;
});
after(() => backend.close());

/** The host's `request` (its wx, its domain list, its session), as the demo host does it. */
function configure(): void {
  domains.host.clear();
  domains.plugin.clear();
  domains.host.add(new URL(backend.url).origin);
  plugin.configure({
    baseUrl: `${backend.url}/api/member-card`,
    request: (options) =>
      new Promise((resolve, reject) =>
        hostWx.request({
          ...options,
          header: { ...options.header, Authorization: `Bearer ${token}` },
          success: resolve,
          fail: (res: { errMsg: string }) => reject(new Error(res.errMsg)),
        }),
      ),
    confirmWindowMs: 15_000,
  });
}

async function member(balance: number): Promise<{ user: SandboxUser; code: string }> {
  const user = await backend.newUser();
  const code = await backend.giveCard(user, { balance });
  token = await backend.login(user);
  return { user, code };
}

/** A host page whose `topup` handler pays with the host's wx.requestPayment and reports back. */
function hostPage(properties: Record<string, unknown> = {}): HostPage {
  const page = mountHostPage(MEMBER_CARD, {
    properties,
    onTopup: (detail: { orderId: string; payment: Record<string, unknown> }) =>
      hostWx.requestPayment({
        ...detail.payment,
        success: (res: unknown) => plugin.topupResult(detail.orderId, res),
        fail: (res: unknown) => plugin.topupResult(detail.orderId, res),
      }),
  });
  mounted.push(page.page);
  return page;
}

const offersShown = (card: Rendered) => waitFor(() => card.querySelector('.mc-topup__start'), 'the 充值 button');

describe('<member-card> top-up on a host page: the host pays', () => {
  test('the offers, an amount, `topup`, the host pays, and the card shows the new balance', async () => {
    const { user, code } = await member(500);
    configure();
    wx.requestPayment = backend.requestPaymentAs(user);
    const { card, events } = hostPage();
    await offersShown(card);
    assert.equal(text(card, '.mc-balance'), '¥5.00');
    tap(card, '.mc-topup__start');
    await waitFor(() => card.querySelector('.mc-topup__panel'), 'the top-up panel');
    const tiles = card.querySelectorAll('.mc-topup__item').map((t) => t.dom.textContent?.replace(/\s+/g, ''));
    assert.deepEqual(tiles, ['¥10', '¥50', '¥100送¥10', '¥200送¥30']);
    assert.equal(card.data.topupAmount, 0);

    card.querySelectorAll('.mc-topup__item')[2]?.dispatchEvent('tap');
    await waitFor(() => card.data.topupAmount === 10000, 'the pick');
    tap(card, '.mc-topup__pay');
    const asked = await waitFor(() => events.find((e) => e.name === 'topup'), 'the topup event');
    assert.deepEqual([asked.detail.amount, asked.detail.bonus], [10000, 1000]);
    assert.match(asked.detail.orderId, /^TU[A-Za-z0-9]{30}$/);
    assert.deepEqual(Object.keys(asked.detail.payment).sort(), [
      'nonceStr',
      'package',
      'paySign',
      'signType',
      'timeStamp',
    ]);

    await waitFor(() => text(card, '.mc-balance') === '¥115.00', 'the new balance');
    assert.equal(card.querySelector('.mc-topup__panel'), undefined, 'the panel closes');
    const change = events.find((e) => e.name === 'change');
    assert.deepEqual(change?.detail.changed, ['balance']);
    assert.equal((await backend.storedCard(code)).balance, 11500);
    assert.deepEqual(refusals, [], 'the host paid: nothing refused');
  });

  test('“支付确认中” while the credit has not landed (its notification lost), then the balance', async () => {
    const { user } = await member(0);
    configure();
    wx.requestPayment = backend.requestPaymentAs(user, 'success', { notify: false });
    const { card } = hostPage();
    await offersShown(card);
    tap(card, '.mc-topup__start');
    await waitFor(() => card.querySelector('.mc-topup__item'), 'the amounts');
    card.querySelectorAll('.mc-topup__item')[0]?.dispatchEvent('tap');
    await waitFor(() => card.data.topupAmount === 1000, 'the pick');
    tap(card, '.mc-topup__pay');
    await waitFor(() => text(card, '.mc-topup__status') === '支付确认中…', '支付确认中');
    // WeChat Pay told the back end nothing: the component's polling makes it ask WeChat Pay.
    await waitFor(() => text(card, '.mc-balance') === '¥10.00', 'the credit, found by asking', 12_000);
  });

  test('the user cancels in WeChat Pay: “已取消支付”, nothing is credited; paying again reuses the order', async () => {
    const { user, code } = await member(100);
    configure();
    wx.requestPayment = backend.requestPaymentAs(user, 'cancel');
    const { card, events } = hostPage();
    await offersShown(card);
    tap(card, '.mc-topup__start');
    await waitFor(() => card.querySelector('.mc-topup__item'), 'the amounts');
    card.querySelectorAll('.mc-topup__item')[1]?.dispatchEvent('tap');
    await waitFor(() => card.data.topupAmount === 5000, 'the pick');
    tap(card, '.mc-topup__pay');
    await waitFor(() => text(card, '.mc-topup__status') === '已取消支付。', 'the cancel');
    assert.equal((await backend.storedCard(code)).balance, 100);
    assert.equal(events.filter((e) => e.name === 'error').length, 0, 'a cancel is no error');

    wx.requestPayment = backend.requestPaymentAs(user);
    tap(card, '.mc-topup__pay');
    await waitFor(() => text(card, '.mc-balance') === '¥51.00', 'the new balance');
    const orders = events.filter((e) => e.name === 'topup').map((e) => e.detail.orderId);
    assert.equal(orders.length, 2);
    assert.equal(orders[0], orders[1], 'the second tap reused the pending order');
  });

  test('pay-mode="request" in the plugin: WeChat refuses its wx.requestPayment; the user is told', async () => {
    await member(0);
    configure();
    wx.requestPayment = () => assert.fail('the host was never asked');
    const { card, events } = hostPage({ payMode: 'request' });
    await offersShown(card);
    tap(card, '.mc-topup__start');
    await waitFor(() => card.querySelector('.mc-topup__item'), 'the amounts');
    card.querySelectorAll('.mc-topup__item')[0]?.dispatchEvent('tap');
    await waitFor(() => card.data.topupAmount === 1000, 'the pick');
    tap(card, '.mc-topup__pay');
    await waitFor(() => text(card, '.mc-topup__status') === '充值未成功，请稍后再试。', 'the failure');
    assert.deepEqual(
      refusals.map((r) => [r.api, r.side]),
      [['requestPayment', 'plugin']],
    );
    const error = events.find((e) => e.name === 'error');
    assert.deepEqual([error?.detail.kind, error?.detail.during], ['pay', 'topup']);
  });

  test('hide-topup, or a card that is not EFFECTIVE: no “充值”', async () => {
    await member(0);
    configure();
    const hidden = hostPage({ hideTopup: true });
    await waitFor(() => hidden.card.querySelector('.mc-balance'), 'the card');
    const user = await backend.newUser();
    await backend.giveCard(user, { user_card_status: 'EXPIRE' });
    token = await backend.login(user);
    const expired = hostPage();
    await waitFor(() => expired.card.querySelector('.mc-badge'), 'the expired card');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hidden.card.querySelector('.mc-topup__start'), undefined);
    assert.equal(expired.card.querySelector('.mc-topup__start'), undefined);
  });
});

describe('<member-card> on the plugin’s own page', () => {
  test('no top-up: nobody could pay there (no host listens, and the plugin may not)', async () => {
    await member(0);
    configure();
    const before = sent.length;
    const page = mountPage('plugin', MY_CARD_PAGE);
    mounted.push(page);
    const card = page.querySelector('.my-card__card');
    assert.ok(card);
    await waitFor(() => card.querySelector('.mc-balance'), 'the card');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(card.querySelector('.mc-topup__start'), undefined);
    assert.ok(!sent.slice(before).some((r) => r.url.endsWith('/topup')), 'the offers are not even asked for');
  });
});
