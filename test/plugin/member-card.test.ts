// The plugin's <member-card>, rendered by miniprogram-simulate from the JS compiled from plugin/
// (compile.ts) and its WXML/WXSS, against a real `serve` back end and its WeChat Pay sandbox:
// wx.request goes over HTTP.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { routeWxRequestOverHttp, sent, startBackend, type Backend } from './backend.js';
import { attr, MEMBER_CARD, mount, PLUGIN, plugin, tap, text, waitFor, wx, type Rendered } from './simulator.js';

let backend: Backend;
let token: string | null = null;
let unauthenticated = 0;
const mounted: Rendered[] = [];

function configure(baseUrl = `${backend.url}/api/member-card`): void {
  plugin.configure({
    baseUrl,
    getToken: () => token,
    onUnauthenticated: () => {
      unauthenticated += 1;
    },
  });
}

function show(): Rendered {
  const component = mount(MEMBER_CARD);
  mounted.push(component);
  return component;
}

/** A new sandbox user holding a card (extra: balance, bonus_value, level …), logged in. */
async function userWithCard(extra: Record<string, unknown> = {}): Promise<{ code: string; token: string }> {
  const user = await backend.newUser();
  const code = await backend.giveCard(user, extra);
  return { code, token: await backend.login(user) };
}

const cardShown = (c: Rendered) => waitFor(() => c.querySelector('.mc-balance'), 'the card');

before(async () => {
  backend = await startBackend();
  routeWxRequestOverHttp();
});

afterEach(() => {
  for (const c of mounted.splice(0)) c.detach();
  unauthenticated = 0;
});

after(async () => {
  await backend.close();
});

describe('<member-card> against the real back end', () => {
  test('loading, then the card: ¥8.88 for 888 fen, points, level, number, nickname, avatar, background', async () => {
    const { code, token: t } = await userWithCard({ balance: 888, bonus_value: 66, level: '银卡会员' });
    token = t;
    configure();
    const before = sent.length;
    const card = show();
    assert.match(text(card, '.mc-loading'), /会员卡加载中/);

    await cardShown(card);
    const stored = await backend.storedCard(code);
    assert.equal(text(card, '.mc-balance'), '¥8.88');
    assert.equal(text(card, '.mc-points'), '66');
    assert.equal(text(card, '.mc-level'), '银卡会员');
    assert.equal(text(card, '.mc-number'), stored.membership_number);
    assert.equal(text(card, '.mc-nickname'), stored.nickname);
    assert.equal(attr(card, '.mc-avatar', 'src'), stored.head_image_url);
    assert.equal(attr(card, '.mc-card__bg', 'src'), stored.background_picture_url);
    assert.equal(card.querySelector('.mc-badge'), undefined, 'no status badge on an effective card');
    assert.equal(text(card, '.mc-edit__start'), '更换卡面背景');
    assert.equal(card.querySelector('.mc-loading'), undefined);

    // Only our HTTP contract, with the host's token.
    const mine = sent.slice(before);
    assert.deepEqual(
      mine.map((r) => [r.method, r.url, r.status]),
      [['GET', `${backend.url}/api/member-card`, 200]],
    );
    assert.equal(mine[0]?.headers.Authorization, `Bearer ${t}`);
  });

  test('a card whose status is not EFFECTIVE carries a badge in Chinese and offers no edit', async () => {
    const { code, token: t } = await userWithCard({ balance: 100 });
    token = t;
    configure();
    await backend.control('PATCH', `sandbox/cards/${backend.cardId}/codes/${code}`, { user_card_status: 'EXPIRE' });
    const expired = show();
    await cardShown(expired);
    assert.equal(text(expired, '.mc-badge'), '已过期');
    assert.match(text(expired, '.mc-notice'), /此会员卡已过期/);
    assert.equal(expired.querySelector('.mc-edit__start'), undefined, 'the back end offers no edit on an expired card');
    assert.equal(text(expired, '.mc-balance'), '¥1.00');

    const other = await userWithCard({ user_card_status: 'UNAVAILABLE' });
    token = other.token;
    const unavailable = show();
    await cardShown(unavailable);
    assert.equal(text(unavailable, '.mc-badge'), '已失效');
  });

  test('no card yet: “领取会员卡” opens WeChat’s card mini-program with the back end’s parameters', async () => {
    const user = await backend.newUser({ share_unionid: false });
    token = await backend.login(user);
    configure();
    const navigations: Record<string, any>[] = [];
    const real = wx.navigateToMiniProgram;
    wx.navigateToMiniProgram = (options: Record<string, any>) => {
      navigations.push(options);
      setTimeout(() => options.success?.({ errMsg: 'navigateToMiniProgram:ok' }), 0);
    };
    try {
      const card = show();
      await waitFor(() => card.querySelector('.mc-empty'), 'the no-card state');
      assert.equal(text(card, '.mc-state__title'), '您还没有会员卡');
      assert.equal(text(card, '.mc-open'), '领取会员卡');

      tap(card, '.mc-open');
      await waitFor(() => navigations.length === 1, 'wx.navigateToMiniProgram');
      const call = navigations[0] as Record<string, any>;
      assert.equal(call.appId, 'wxeb490c6f9b154ef9');
      assert.equal(call.path, 'pages/card_open/card_open');
      assert.equal(call.envVersion, 'release');
      assert.equal(call.extraData.create_card_appid, backend.server.sandbox?.credentials.appid);
      assert.equal(call.extraData.card_id, backend.cardId);
      assert.match(call.extraData.outer_str, /^[A-Za-z0-9]{32}$/);
      assert.equal(sent.at(-1)?.url, `${backend.url}/api/member-card/open`);

      // The user takes the card in WeChat's mini-program (no unionid links the apps: only
      // outer_str can), comes back, and the page shows again: the card is there.
      const given = await backend.control('POST', `sandbox/cards/${backend.cardId}/codes`, {
        unionid: user.unionid,
        outer_str: call.extraData.outer_str,
        balance: 500,
      });
      await backend.waitDelivered(given.notification_id);
      card.triggerPageLifeTime('show');
      await cardShown(card);
      assert.equal(text(card, '.mc-balance'), '¥5.00');
    } finally {
      wx.navigateToMiniProgram = real;
    }
  });

  test('editing the background: pick one of the merchant’s, save, see it, and the sandbox stored it', async () => {
    const { code, token: t } = await userWithCard();
    token = t;
    configure();
    const card = show();
    await cardShown(card);
    const reply = (await (
      await fetch(`${backend.url}/api/member-card`, { headers: { authorization: `Bearer ${t}` } })
    ).json()) as {
      editable: { background_picture_url: string[] };
    };
    const offered = reply.editable.background_picture_url;
    assert.ok(offered.length >= 2);
    const chosen = offered[1] as string;
    assert.notEqual(attr(card, '.mc-card__bg', 'src'), chosen);

    tap(card, '.mc-edit__start');
    await waitFor(() => card.querySelector('.mc-edit__panel'), 'the background picker');
    const items = card.querySelectorAll('.mc-edit__item');
    assert.deepEqual(
      items.map(
        (item) =>
          item
            .toJSON()
            .children.map((c) => (typeof c === 'string' ? c : c.attrs.find((a) => a.name === 'src')?.value))
            .filter(Boolean)[0],
      ),
      offered,
      'one thumbnail per background the back end offers',
    );
    items[1]?.dispatchEvent('tap');
    await waitFor(() => card.data.selected === chosen, 'the pick');
    tap(card, '.mc-edit__save');

    await waitFor(
      () => attr(card, '.mc-card__bg', 'src') === chosen && !card.querySelector('.mc-edit__panel'),
      'the new background',
    );
    const save = sent.at(-1);
    assert.equal(save?.method, 'PUT');
    assert.deepEqual(save?.body, { background_picture_url: chosen });
    assert.equal(save?.status, 200);
    assert.equal((await backend.storedCard(code)).background_picture_url, chosen);

    // Reopening the picker marks the saved one as current.
    tap(card, '.mc-edit__start');
    await waitFor(() => card.querySelector('.mc-edit__current'), 'the current mark');
    assert.equal(card.querySelectorAll('.mc-edit__current').length, 1);
  });

  test('401: the host’s onUnauthenticated is called; after a new login, retry shows the card', async () => {
    const { token: t } = await userWithCard({ balance: 1234 });
    token = 'expired-or-revoked-token';
    configure();
    const card = show();
    await waitFor(() => card.querySelector('.mc-error'), 'the error state');
    assert.equal(text(card, '.mc-error__title'), '登录已失效');
    assert.equal(unauthenticated, 1);
    assert.equal(sent.at(-1)?.status, 401);

    token = t; // what the host's onUnauthenticated would do: log in again
    tap(card, '.mc-retry');
    await cardShown(card);
    assert.equal(text(card, '.mc-balance'), '¥12.34');
    assert.equal(unauthenticated, 1);
  });

  test('5xx: a friendly message (not the server’s), and retry works once the back end recovers', async () => {
    const { token: t } = await userWithCard({ balance: 2000 });
    token = t;
    configure();
    await backend.control('PUT', 'sandbox/faults', { status: 500, code: 'SYSTEM_ERROR' });
    let card: Rendered;
    try {
      card = show();
      await waitFor(() => card.querySelector('.mc-error'), 'the error state');
      assert.equal(sent.at(-1)?.status, 503);
      assert.equal(text(card, '.mc-error__title'), '服务繁忙');
      assert.equal(text(card, '.mc-error__text'), '会员卡服务暂时繁忙，请稍后再试。');
      assert.doesNotMatch(card.dom.textContent ?? '', /UPSTREAM|SYSTEM_ERROR|[Ee]rror/);
      assert.equal(unauthenticated, 0);
    } finally {
      await backend.control('DELETE', 'sandbox/faults');
    }
    tap(card, '.mc-retry');
    await cardShown(card);
    assert.equal(text(card, '.mc-balance'), '¥20.00');
  });

  test('network failure: "网络不给力" with a retry button that works when the network is back', async () => {
    const { token: t } = await userWithCard({ balance: 1 });
    token = t;
    configure(`${backend.gatedUrl}/api/member-card`);
    backend.network.up = false;
    const card = show();
    await waitFor(() => card.querySelector('.mc-error'), 'the error state');
    assert.equal(sent.at(-1)?.status, 'failed');
    assert.equal(text(card, '.mc-error__title'), '网络不给力');
    assert.equal(text(card, '.mc-retry'), '重新加载');

    backend.network.up = true;
    tap(card, '.mc-retry');
    await cardShown(card);
    assert.equal(text(card, '.mc-balance'), '¥0.01');

    // A save that cannot reach the server keeps the card and says so.
    tap(card, '.mc-edit__start');
    await waitFor(() => card.querySelector('.mc-edit__panel'), 'the background picker');
    card.querySelectorAll('.mc-edit__item')[2]?.dispatchEvent('tap');
    await waitFor(() => card.data.selected, 'the pick');
    backend.network.up = false;
    tap(card, '.mc-edit__save');
    await waitFor(() => card.querySelector('.mc-edit__error'), 'the save error');
    assert.equal(text(card, '.mc-edit__error'), '网络不给力，背景未保存，请重试。');
    assert.equal(text(card, '.mc-balance'), '¥0.01');
    backend.network.up = true;
  });

  test('the plugin’s my-card page shows the same component', async () => {
    const { token: t } = await userWithCard({ balance: 999_99, level: '黑金会员' });
    token = t;
    configure();
    const page = mount(join(PLUGIN, 'pages/my-card/my-card'));
    mounted.push(page);
    const card = await waitFor(() => page.querySelector('.my-card__card'), 'the component on the page');
    await cardShown(card);
    assert.equal(text(card, '.mc-balance'), '¥999.99');
    assert.equal(text(card, '.mc-level'), '黑金会员');
  });
});
