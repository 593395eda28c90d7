// The plugin's <member-card>, rendered by miniprogram-simulate from the JS compiled from plugin/
// (compile.ts) and its WXML/WXSS, against a real `serve` back end and its WeChat Pay sandbox, under
// WeChat's rules (wechat.ts). Every scenario runs four ways: on the plugin's own page and embedded in
// a host page, with the plugin's own wx.request (the plugin's domain list) and with a `request`
// function from the host (the host's domain list; the plugin's list stays empty).
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { routeWxRequestOverHttp, sent, startBackend, type Backend } from './backend.js';
import { mountHostPage, type HostEvent } from './host-page.js';
import {
  attr,
  MEMBER_CARD,
  mountPage,
  MY_CARD_PAGE,
  plugin,
  tap,
  text,
  waitFor,
  wx,
  type PluginMain,
  type Rendered,
} from './simulator.js';
import { domains, hostWx, refusals, type Side } from './wechat.js';

let backend: Backend;
let token: string | null = null;
let unauthenticated = 0;
const mounted: Rendered[] = [];

const PLACES = ['plugin page', 'host page'] as const;
const NETWORKS = ['plugin wx.request', 'host request'] as const;
type Place = (typeof PLACES)[number];
type Network = (typeof NETWORKS)[number];

/**
 * The host's `request`: its own wx.request, adding its own session (no token crosses into the
 * plugin); no session is `{ kind: 'login' }`, as docs/plugin.md tells hosts.
 */
function hostRequest(options: Record<string, any>): Promise<any> {
  if (!token) return Promise.reject(Object.assign(new Error('no session'), { kind: 'login' }));
  return new Promise((resolve, reject) => {
    hostWx.request({
      ...options,
      header: { ...options.header, Authorization: `Bearer ${token}` },
      success: resolve,
      fail: (res: { errMsg: string }) => reject(new Error(res.errMsg)),
    });
  });
}

/** Each side's request-domain list: the back end (direct and through the gate) on `side`'s list only. */
function listBackendFor(side: Side): void {
  domains.host.clear();
  domains.plugin.clear();
  for (const url of [backend.url, backend.gatedUrl]) domains[side].add(new URL(url).origin);
}

function configure(
  network: Network,
  baseUrl = `${backend.url}/api/member-card`,
  extra: Partial<Parameters<PluginMain['configure']>[0]> = {},
): void {
  const onUnauthenticated = () => {
    unauthenticated += 1;
  };
  if (network === 'host request') {
    listBackendFor('host');
    plugin.configure({ baseUrl, request: hostRequest, onUnauthenticated, ...extra });
  } else {
    listBackendFor('plugin');
    plugin.configure({ baseUrl, getToken: () => token, onUnauthenticated, ...extra });
  }
}

interface Shown {
  /** The page: the plugin's my-card page, or a host page embedding the component. */
  page: Rendered;
  card: Rendered;
  /** The host page's record of the component's events (none on the plugin's page: nobody listens). */
  events: HostEvent[];
}

function show(place: Place): Shown {
  if (place === 'host page') {
    const host = mountHostPage(MEMBER_CARD);
    mounted.push(host.page);
    return { page: host.page, card: host.card, events: host.events };
  }
  const page = mountPage('plugin', MY_CARD_PAGE);
  mounted.push(page);
  const card = page.querySelector('.my-card__card');
  assert.ok(card, 'the component on the plugin page');
  return { page, card, events: [] };
}

/** A new sandbox user holding a card (extra: balance, bonus_value, level …), logged in. */
async function userWithCard(extra: Record<string, unknown> = {}): Promise<{ code: string; token: string }> {
  const user = await backend.newUser();
  const code = await backend.giveCard(user, extra);
  return { code, token: await backend.login(user) };
}

/** The class attribute the user's screen gets for the first `selector` match (external classes included). */
function classes(component: Rendered, selector: string): string {
  const node = component.querySelector(selector);
  assert.ok(node, `no ${selector}`);
  return (node.dom as unknown as { className: string }).className;
}

const cardShown = (c: Rendered) => waitFor(() => c.querySelector('.mc-balance'), 'the card');

/** Records wx.navigateToMiniProgram calls that WeChat's rules let through, answering `answer`. */
function recordJumps(answer = 'navigateToMiniProgram:ok'): { calls: Record<string, any>[]; restore(): void } {
  const calls: Record<string, any>[] = [];
  const real = wx.navigateToMiniProgram;
  wx.navigateToMiniProgram = (options: Record<string, any>) => {
    calls.push(options);
    setTimeout(() => (answer.endsWith(':ok') ? options.success : options.fail)?.({ errMsg: answer }), 0);
  };
  return { calls, restore: () => (wx.navigateToMiniProgram = real) };
}

before(async () => {
  backend = await startBackend();
  routeWxRequestOverHttp();
});

beforeEach(() => {
  refusals.length = 0;
});

afterEach(() => {
  for (const c of mounted.splice(0)) c.detach();
  unauthenticated = 0;
  token = null;
});

after(async () => {
  await backend.close();
});

for (const place of PLACES) {
  for (const network of NETWORKS) {
    const side: Side = network === 'host request' ? 'host' : 'plugin';

    describe(`<member-card> on a ${place}, ${network}, against the real back end`, () => {
      test('loading, then the card: ¥8.88 for 888 fen, points, level, number, nickname, avatar, bg', async () => {
        const { code, token: t } = await userWithCard({ balance: 888, bonus_value: 66, level: '银卡会员' });
        token = t;
        configure(network);
        const before = sent.length;
        const { card } = show(place);
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

        // Only our HTTP contract, with the host's session, sent by the side the host chose (the
        // top-up offers aside: asked for once the card shows, see the top-up tests).
        const mine = sent.slice(before).filter((r) => !r.url.endsWith('/topup'));
        assert.deepEqual(
          mine.map((r) => [r.side, r.method, r.url, r.status]),
          [[side, 'GET', `${backend.url}/api/member-card`, 200]],
        );
        assert.equal(mine[0]?.headers.Authorization, `Bearer ${t}`);
        assert.deepEqual(refusals, []);
        if (network === 'host request') assert.equal(domains.plugin.size, 0, 'the plugin needs no domain of its own');
      });

      test('a card whose status is not EFFECTIVE carries a badge in Chinese and offers no edit', async () => {
        const { code, token: t } = await userWithCard({ balance: 100 });
        token = t;
        configure(network);
        await backend.control('PATCH', `sandbox/cards/${backend.cardId}/codes/${code}`, {
          user_card_status: 'EXPIRE',
        });
        const expired = show(place).card;
        await cardShown(expired);
        assert.equal(text(expired, '.mc-badge'), '已过期');
        assert.match(text(expired, '.mc-notice'), /此会员卡已过期/);
        assert.equal(expired.querySelector('.mc-edit__start'), undefined, 'no edit on an expired card');
        assert.equal(text(expired, '.mc-balance'), '¥1.00');

        const other = await userWithCard({ user_card_status: 'UNAVAILABLE' });
        token = other.token;
        const unavailable = show(place).card;
        await cardShown(unavailable);
        assert.equal(text(unavailable, '.mc-badge'), '已失效');
      });

      test('no card yet: “领取会员卡” opens WeChat’s card mini-program in the tap; back, it confirms', async () => {
        const user = await backend.newUser({ share_unionid: false });
        token = await backend.login(user);
        configure(network);
        const jumps = recordJumps();
        try {
          const { page, card, events } = show(place);
          await waitFor(() => card.querySelector('.mc-empty'), 'the no-card state');
          assert.equal(text(card, '.mc-state__title'), '您还没有会员卡');
          assert.equal(text(card, '.mc-open'), '领取会员卡');
          // The parameters are fetched as the state appears, so that the tap needs no await.
          await waitFor(() => card.data.ticketReady, 'the card-opening parameters');
          assert.equal(sent.at(-1)?.url, `${backend.url}/api/member-card/open`);

          tap(card, '.mc-open');
          assert.equal(jumps.calls.length, 1, 'wx.navigateToMiniProgram ran inside the tap');
          const call = jumps.calls[0] as Record<string, any>;
          assert.equal(call.appId, 'wxeb490c6f9b154ef9');
          assert.equal(call.path, 'pages/card_open/card_open');
          assert.equal(call.envVersion, 'release');
          assert.equal(call.extraData.create_card_appid, backend.server.sandbox?.credentials.appid);
          assert.equal(call.extraData.card_id, backend.cardId);
          assert.match(call.extraData.outer_str, /^[A-Za-z0-9]{32}$/);
          assert.deepEqual(refusals, []);
          if (place === 'host page') {
            // The plugin component may not jump from a host page: the host did, from `opencard`.
            assert.deepEqual(events.find((e) => e.name === 'opencard')?.detail, {
              appId: call.appId,
              path: call.path,
              envVersion: call.envVersion,
              extraData: call.extraData,
            });
          }

          // WeChat's mini-program takes over (the page hides) and the user takes the card there (no
          // unionid links the apps: only outer_str can). Back on our page, the ACCEPT_CARD notification
          // may not have arrived yet: the component says so, and keeps looking.
          page.triggerPageLifeTime('hide');
          page.triggerPageLifeTime('show');
          assert.equal(text(card, '.mc-confirming .mc-state__title'), '正在确认开卡结果…');
          const given = await backend.control('POST', `sandbox/cards/${backend.cardId}/codes`, {
            unionid: user.unionid,
            outer_str: call.extraData.outer_str,
            balance: 500,
          });
          await backend.waitDelivered(given.notification_id);
          await cardShown(card);
          assert.equal(text(card, '.mc-balance'), '¥5.00');
        } finally {
          jumps.restore();
        }
      });

      test('editing the background: pick one of the merchant’s, save, see it, and the sandbox stored it', async () => {
        const { code, token: t } = await userWithCard();
        token = t;
        configure(network);
        const { card, events } = show(place);
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
        assert.equal(save?.side, side);
        assert.equal(save?.method, 'PUT');
        assert.deepEqual(save?.body, { background_picture_url: chosen });
        assert.equal(save?.status, 200);
        assert.equal((await backend.storedCard(code)).background_picture_url, chosen);
        if (place === 'host page') {
          const change = events.find((e) => e.name === 'change');
          assert.deepEqual(change?.detail.changed, ['background_picture_url']);
          assert.equal(change?.detail.card.background_picture_url, chosen);
        }

        // Reopening the picker marks the saved one as current.
        tap(card, '.mc-edit__start');
        await waitFor(() => card.querySelector('.mc-edit__current'), 'the current mark');
        assert.equal(card.querySelectorAll('.mc-edit__current').length, 1);
      });

      test('401: the host’s onUnauthenticated is called; after a new login, retry shows the card', async () => {
        const { token: t } = await userWithCard({ balance: 1234 });
        token = 'expired-or-revoked-token';
        configure(network);
        const { card } = show(place);
        await waitFor(() => card.querySelector('.mc-error'), 'the error state');
        assert.equal(text(card, '.mc-error__title'), '登录已失效');
        assert.equal(unauthenticated, 1);
        assert.equal(sent.at(-1)?.status, 401);
        assert.equal(text(card, '.mc-login'), '重新登录', 'a way to log in again');

        token = t; // what the host's onUnauthenticated would do: log in again
        tap(card, '.mc-retry');
        await cardShown(card);
        assert.equal(text(card, '.mc-balance'), '¥12.34');
        assert.equal(unauthenticated, 1);
      });

      test('5xx: a friendly message (not the server’s), and retry works once the back end recovers', async () => {
        const { token: t } = await userWithCard({ balance: 2000 });
        token = t;
        configure(network);
        await backend.control('PUT', 'sandbox/faults', { status: 500, code: 'SYSTEM_ERROR' });
        let card: Rendered;
        try {
          card = show(place).card;
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
        configure(network, `${backend.gatedUrl}/api/member-card`);
        backend.network.up = false;
        const { card, events } = show(place);
        await waitFor(() => card.querySelector('.mc-error'), 'the error state');
        assert.equal(sent.at(-1)?.status, 'failed');
        assert.equal(text(card, '.mc-error__title'), '网络不给力');
        assert.equal(text(card, '.mc-retry'), '重新加载');
        if (place === 'host page') {
          assert.deepEqual(
            events.filter((e) => e.name === 'error').map((e) => [e.detail.kind, e.detail.during]),
            [['network', 'load']],
          );
        }

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

      test('no session (no token, or the host says so): “请先登录”, and “登录” asks the host; refresh() loads', async () => {
        const { token: t } = await userWithCard({ balance: 4321 });
        token = null;
        configure(network);
        const before = sent.length;
        const { card, events } = show(place);
        await waitFor(() => card.querySelector('.mc-login-state'), 'the login state');
        assert.equal(text(card, '.mc-state__title'), '请先登录');
        assert.equal(card.querySelector('.mc-error'), undefined, 'not “登录已失效”: this user never logged in');
        assert.equal(sent.length, before, 'nothing is sent without a session');

        tap(card, '.mc-login');
        assert.equal(unauthenticated, 1, 'onUnauthenticated: the host logs the user in');
        if (place === 'host page') {
          assert.deepEqual(events.find((e) => e.name === 'login')?.detail, { reason: 'no-session' });
        }
        token = t;
        assert.ok(plugin.refresh() >= 1, 'refresh() reached the component');
        await cardShown(card);
        assert.equal(text(card, '.mc-balance'), '¥43.21');
      });

      test('the card confirms for up to the window, then says it found none (and offers a refresh)', async () => {
        const user = await backend.newUser({ share_unionid: false });
        token = await backend.login(user);
        configure(network, undefined, { confirmWindowMs: 1500 });
        const jumps = recordJumps();
        try {
          const { page, card } = show(place);
          await waitFor(() => card.data.ticketReady, 'the card-opening parameters');
          tap(card, '.mc-open');
          assert.equal(jumps.calls.length, 1);
          const before = sent.length;
          page.triggerPageLifeTime('hide');
          page.triggerPageLifeTime('show');
          assert.ok(card.querySelector('.mc-confirming'));
          await waitFor(() => card.querySelector('.mc-open-note'), 'the give-up note', 5000);
          assert.match(text(card, '.mc-open-note'), /暂未查到您的会员卡/);
          const looks = sent.slice(before).filter((r) => r.url === `${backend.url}/api/member-card`);
          assert.ok(looks.length >= 2, `looked more than once (${looks.length})`);
          await waitFor(() => card.data.ticketReady, 'a new ticket for another try');
          assert.equal(text(card, '.mc-refresh'), '刷新');
        } finally {
          jumps.restore();
        }
      });
    });
  }
}

describe('<member-card>: opening a card under WeChat’s rules', () => {
  test('a cancelled jump (WeChat’s confirm dialog) leaves the no-card state as it was, with no error', async () => {
    token = await backend.login(await backend.newUser({ share_unionid: false }));
    configure('plugin wx.request');
    const jumps = recordJumps('navigateToMiniProgram:fail cancel');
    try {
      const { page, card } = show('plugin page');
      await waitFor(() => card.data.ticketReady, 'the card-opening parameters');
      tap(card, '.mc-open');
      await waitFor(() => card.data.ticketReady, 'the next ticket');
      page.triggerPageLifeTime('show');
      assert.ok(card.querySelector('.mc-empty'), 'no confirming: the user never left');
      assert.equal(card.querySelector('.mc-open-error'), undefined);
    } finally {
      jumps.restore();
    }
  });

  test('a stale ticket is not handed out: the tap fetches a fresh one, the next tap opens with it', async () => {
    token = await backend.login(await backend.newUser({ share_unionid: false }));
    configure('plugin wx.request');
    const jumps = recordJumps();
    const realNow = Date.now;
    try {
      const { card } = show('plugin page');
      await waitFor(() => card.data.ticketReady, 'the card-opening parameters');
      const first = sent.at(-1);
      assert.equal(first?.url, `${backend.url}/api/member-card/open`);
      // The phone slept for 29 minutes (timers do not run then): the outer_str is about to expire.
      Date.now = () => realNow() + 29 * 60_000;
      tap(card, '.mc-open');
      assert.equal(jumps.calls.length, 0, 'no jump with a ticket about to expire');
      await waitFor(() => card.data.ticketReady && sent.at(-1) !== first, 'a fresh ticket');
      tap(card, '.mc-open');
      assert.equal(jumps.calls.length, 1);
    } finally {
      Date.now = realNow;
      jumps.restore();
    }
  });

  test('the plugin’s component may not jump from a host page: WeChat refuses, the card says so', async () => {
    token = await backend.login(await backend.newUser({ share_unionid: false }));
    configure('plugin wx.request');
    const jumps = recordJumps();
    try {
      const host = mountHostPage(MEMBER_CARD, { properties: { openMode: 'navigate' } });
      mounted.push(host.page);
      await waitFor(() => host.card.data.ticketReady, 'the card-opening parameters');
      tap(host.card, '.mc-open');
      await waitFor(() => host.card.querySelector('.mc-open-error'), 'the open error');
      assert.equal(text(host.card, '.mc-open-error'), '无法打开领卡页面，请稍后再试。');
      assert.equal(jumps.calls.length, 0);
      assert.deepEqual(
        refusals.map((r) => [r.api, r.side, r.errMsg]),
        [
          [
            'navigateToMiniProgram',
            'plugin',
            'navigateToMiniProgram:fail rejected due to no permission currently in host',
          ],
        ],
      );
      const error = host.events.find((e) => e.name === 'error');
      assert.equal(error?.detail.kind, 'open');
      assert.equal(error?.detail.during, 'open');
    } finally {
      jumps.restore();
    }
  });

  test('a host that awaits before wx.navigateToMiniProgram is refused: the gesture is over', async () => {
    token = await backend.login(await backend.newUser({ share_unionid: false }));
    configure('host request');
    const jumps = recordJumps();
    try {
      const host = mountHostPage(MEMBER_CARD, { lateOpen: true });
      mounted.push(host.page);
      await waitFor(() => host.card.data.ticketReady, 'the card-opening parameters');
      tap(host.card, '.mc-open');
      await waitFor(() => host.navigations.length, 'the host’s jump answered');
      assert.deepEqual(host.navigations, ['navigateToMiniProgram:fail can only be invoked by user TAP gesture.']);
      assert.equal(jumps.calls.length, 0);
    } finally {
      jumps.restore();
    }
  });

  test('the plugin’s wx.request to a domain not on the plugin’s own list is refused (not the host’s)', async () => {
    const { token: t } = await userWithCard();
    token = t;
    configure('plugin wx.request');
    domains.plugin.clear();
    domains.host.add(new URL(backend.url).origin);
    const before = sent.length;
    const { card } = show('host page');
    await waitFor(() => card.querySelector('.mc-error'), 'the error state');
    assert.equal(text(card, '.mc-error__title'), '网络不给力');
    assert.equal(sent.length, before, 'nothing reached the back end');
    assert.deepEqual(
      refusals.map((r) => [r.api, r.side, r.errMsg, r.url]),
      [['request', 'plugin', 'request:fail url not in domain list', `${backend.url}/api/member-card`]],
    );
  });
});

describe('<member-card> in a host: properties, external classes, events, export()', () => {
  test('hide-edit and compact; the host’s classes reach the card face and the buttons', async () => {
    const { token: t } = await userWithCard();
    token = t;
    configure('host request');
    const host = mountHostPage(MEMBER_CARD, { properties: { hideEdit: true, compact: true } });
    mounted.push(host.page);
    await cardShown(host.card);
    assert.equal(host.card.querySelector('.mc-edit__start'), undefined, 'hide-edit');
    assert.ok(host.card.querySelector('.mc-card--compact'), 'compact');
    // External classes render as the host's own class names (outside the component's class prefix).
    assert.match(classes(host.card, '.mc'), /\bhost-root\b/, 'custom-class on the root');
    assert.match(classes(host.card, '.mc-card'), /\bhost-card-face\b/, 'card-class on the card face');

    const plain = mountHostPage(MEMBER_CARD);
    mounted.push(plain.page);
    await cardShown(plain.card);
    assert.match(classes(plain.card, '.mc-edit__start'), /\bhost-button\b/, 'button-class on the buttons');
    assert.equal(plain.card.querySelector('.mc-card--compact'), undefined);
  });

  test('load carries the card; selectComponent gets only { refresh, topupResult }; refresh() reloads', async () => {
    const { code, token: t } = await userWithCard({ balance: 300 });
    token = t;
    configure('host request');
    const host = mountHostPage(MEMBER_CARD);
    mounted.push(host.page);
    await cardShown(host.card);
    const stored = await backend.storedCard(code);
    const loads = host.events.filter((e) => e.name === 'load');
    assert.equal(loads.length, 1);
    assert.equal(loads[0]?.detail.card.membership_number, stored.membership_number);
    assert.equal(loads[0]?.detail.card.balance, 300);

    const handle = host.selectCard() as Record<string, unknown>;
    assert.deepEqual(Object.keys(handle), ['refresh', 'topupResult']);
    const before = sent.length;
    (handle.refresh as () => void)();
    await waitFor(() => host.events.filter((e) => e.name === 'load').length === 2, 'a second load');
    assert.deepEqual(
      sent
        .slice(before)
        .filter((r) => !r.url.endsWith('/topup'))
        .map((r) => [r.method, r.url]),
      [['GET', `${backend.url}/api/member-card`]],
    );
  });

  test('a failing getToken is “请先登录” too, with the error event’s kind (told apart by field, not class)', async () => {
    plugin.configure({
      baseUrl: `${backend.url}/api/member-card`,
      getToken: () => {
        throw new Error('host session store unavailable');
      },
    });
    const host = mountHostPage(MEMBER_CARD);
    mounted.push(host.page);
    await waitFor(() => host.card.querySelector('.mc-login-state'), 'the login state');
    const error = host.events.find((e) => e.name === 'error');
    assert.equal(error?.detail.kind, 'login');
    assert.equal(error?.detail.code, 'NO_SESSION');
    assert.equal(Object.getPrototypeOf(error?.detail), Object.prototype, 'plain data');
  });

  test('configure() names a bad argument, and needs a request or a getToken', () => {
    assert.throws(() => plugin.configure({ baseUrl: 'ftp://x' }), /baseUrl/);
    assert.throws(() => plugin.configure({ baseUrl: `${backend.url}/api/member-card` }), /request, getToken/);
    assert.throws(
      () => plugin.configure({ baseUrl: backend.url, request: 'x' as never }),
      /request must be a function/,
    );
    assert.throws(
      () => plugin.configure({ baseUrl: backend.url, request: hostRequest, confirmWindowMs: -1 }),
      /confirmWindowMs/,
    );
  });
});

describe('the plugin’s my-card page', () => {
  test('the plugin’s my-card page shows the same component', async () => {
    const { token: t } = await userWithCard({ balance: 999_99, level: '黑金会员' });
    token = t;
    configure('plugin wx.request');
    const page = mountPage('plugin', MY_CARD_PAGE);
    mounted.push(page);
    const card = await waitFor(() => page.querySelector('.my-card__card'), 'the component on the page');
    await cardShown(card);
    assert.equal(text(card, '.mc-balance'), '¥999.99');
    assert.equal(text(card, '.mc-level'), '黑金会员');
  });
});
