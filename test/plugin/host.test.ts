// The demo host mini-program: app.ts logs in with wx.login → POST /api/login (our login kit)
// and configures the plugin with its own `request` (the host's wx.request and domain list; the
// session never crosses into the plugin); its page shows the plugin's <member-card> and handles its
// `opencard` and `login` events. Rendered from the JS compiled from app.ts and pages/ (compile.ts)
// against a real `serve` back end, under WeChat's rules (wechat.ts): the plugin's own domain list is
// empty here. wx.login cannot run outside WeChat, so it is a recording stub handing out a real code
// from the sandbox's /sandbox/login-codes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { routeWxRequestOverHttp, sent, startBackend, type Backend } from './backend.js';
import { ROOT } from './compile.js';
import { MINIPROGRAM, mountPage, plugin, tap, text, waitFor, wx, type Rendered } from './simulator.js';
import { domains, refusals } from './wechat.js';

const require = createRequire(import.meta.url);

interface DemoApp {
  globalData: { apiBase: string; sandboxUrl: string; sandboxUnionid: string; token: string };
  onLaunch(): void;
  login(): Promise<string>;
}

let backend: Backend;
let app: DemoApp;
let loginCalls = 0;
let loginFails = false;
/** Whom wx.login logs in: the demo user (who holds a card) unless a test says otherwise. */
let loginAs: { unionid: string } | undefined;
const g = globalThis as unknown as Record<string, unknown>;

/** `plugin://memberCard/member-card` from app.json, resolved through plugin.json like WeChat does. */
function pluginComponentPath(): string {
  const appJson = JSON.parse(readFileSync(join(MINIPROGRAM, 'app.json'), 'utf8'));
  const match = /^plugin:\/\/([^/]+)\/(.+)$/.exec(appJson.usingComponents['member-card']);
  assert.ok(match, 'app.json uses the component through plugin://');
  assert.ok(appJson.plugins[match[1] as string], `app.json declares the plugin ${match[1]}`);
  const pluginJson = JSON.parse(readFileSync(join(MINIPROGRAM, 'plugin/plugin.json'), 'utf8'));
  return `/plugin/${pluginJson.publicComponents[match[2] as string]}`;
}

function showPage(): Rendered {
  return mountPage('host', join(MINIPROGRAM, 'pages/index/index'), {
    rootPath: MINIPROGRAM,
    // miniprogram-simulate cannot resolve plugin:// (see the reference): give it the same file.
    usingComponents: { 'member-card': pluginComponentPath() },
  });
}

before(async () => {
  backend = await startBackend();
  routeWxRequestOverHttp();
  const demo = backend.server.demo;
  const sandbox = backend.server.sandbox;
  assert.ok(demo && sandbox);
  // The host lists its back end and the sandbox; the plugin lists nothing: it never sends by itself.
  domains.plugin.clear();
  domains.host.clear();
  for (const url of [backend.url, sandbox.url]) domains.host.add(new URL(url).origin);
  wx.login = (options: { success?: (r: unknown) => void; fail?: (r: unknown) => void }) => {
    loginCalls += 1;
    const code = loginFails ? Promise.resolve('not-a-real-code') : backend.loginCode(loginAs ?? demo);
    code.then(
      (c) => options.success?.({ code: c, errMsg: 'login:ok' }),
      () => options.fail?.({ errMsg: 'login:fail' }),
    );
  };
  // The runtime's App/getApp: app.js registers itself. requirePlugin is the runtime's (wechat.ts):
  // the plugin's `main` exports and nothing else.
  g.App = (definition: DemoApp) => {
    app = definition;
  };
  g.getApp = () => app;
  require(join(MINIPROGRAM, 'app.js'));
  assert.equal(app.globalData.apiBase, 'http://127.0.0.1:3000/api', 'the demo points at `serve`’s default port');
  assert.equal(app.globalData.sandboxUrl, 'http://127.0.0.1:3100/', '… and its sandbox’s');
  assert.equal(app.globalData.sandboxUnionid, '', 'wx.login unless told otherwise');
  app.globalData.apiBase = `${backend.url}/api`;
  app.onLaunch();
});

after(async () => {
  await backend.close();
});

test('app.js configures the plugin with the member-card routes under its API base, and its own request', () => {
  const config = plugin.getConfig();
  assert.equal(config?.baseUrl, `${backend.url}/api/member-card`);
  assert.equal(typeof config?.request, 'function', 'the host sends the plugin’s requests');
  assert.equal(config?.getToken, undefined, 'no token crosses into the plugin');
});

test('the demo’s addresses live in app.config.ts, and only there', () => {
  const config = readFileSync(join(ROOT, 'app.config.ts'), 'utf8');
  assert.match(config, /apiBase: 'http:\/\/127\.0\.0\.1:3000\/api'/);
  for (const file of ['app.ts', 'pages/index/index.ts']) {
    assert.doesNotMatch(readFileSync(join(ROOT, file), 'utf8'), /https?:\/\//, `${file} names no URL`);
  }
});

test('the demo page logs in with wx.login → POST /api/login and shows the demo user’s card', async () => {
  const first = sent.length;
  const page = showPage();
  assert.match(text(page, '.demo__status'), /正在登录/);
  const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
  await waitFor(() => card.querySelector('.mc-balance'), 'the card');
  assert.equal(text(card, '.mc-balance'), '¥88.88');
  assert.equal(text(card, '.mc-points'), '120');
  assert.equal(text(card, '.mc-level'), '金卡会员');
  assert.equal(loginCalls, 1);

  // The top-up offers aside (asked for once the card shows; see the top-up test below).
  const requests = sent.slice(first).filter((r) => !r.url.endsWith('/topup'));
  assert.deepEqual(
    requests.map((r) => [r.side, r.method, r.url, r.status]),
    [
      ['host', 'POST', `${backend.url}/api/login`, 200],
      ['host', 'GET', `${backend.url}/api/member-card`, 200],
    ],
  );
  assert.deepEqual(refusals, []);
  assert.equal(requests[0]?.body && typeof (requests[0].body as { code?: unknown }).code, 'string');
  assert.equal(requests[1]?.headers.Authorization, `Bearer ${app.globalData.token}`);
  page.detach();
});

test('an expired session: the plugin tells the host, which logs in again; retry then shows the card', async () => {
  const page = showPage();
  const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
  await waitFor(() => card.querySelector('.mc-balance'), 'the card');
  const logins = loginCalls;

  app.globalData.token = 'revoked-session-token';
  card.instance.refresh();
  await waitFor(() => card.querySelector('.mc-error'), 'the 401 state');
  assert.equal(text(card, '.mc-error__title'), '登录已失效');
  await waitFor(
    () => loginCalls === logins + 1 && app.globalData.token !== 'revoked-session-token' && app.globalData.token,
    'a new login',
  );

  tap(card, '.mc-retry');
  await waitFor(() => card.querySelector('.mc-balance'), 'the card again');
  assert.equal(text(card, '.mc-balance'), '¥88.88');
  page.detach();
});

test('a failed login shows a Chinese message and a retry that logs in', async () => {
  loginFails = true;
  app.globalData.token = '';
  const warnings: unknown[][] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args);
  let page: Rendered;
  try {
    page = showPage();
    await waitFor(() => page.querySelector('.demo__status--failed'), 'the failed state');
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(warnings, [['demo: login failed', 'login answered 400 INVALID_LOGIN_CODE']]);
  assert.equal(text(page, '.demo__message'), '登录失败，请确认后端服务已启动后重试。');
  assert.equal(page.querySelector('.demo__card'), undefined);

  loginFails = false;
  tap(page, '.demo__retry');
  const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
  await waitFor(() => card.querySelector('.mc-balance'), 'the card');
  page.detach();
});

test('sandboxUnionid set (DevTools + sandbox): the login code comes from the sandbox, not wx.login', async () => {
  const sandbox = backend.server.sandbox;
  const demo = backend.server.demo;
  assert.ok(sandbox && demo);
  app.globalData.sandboxUrl = sandbox.url;
  app.globalData.sandboxUnionid = demo.unionid;
  app.globalData.token = '';
  const logins = loginCalls;
  const first = sent.length;
  try {
    const page = showPage();
    const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
    await waitFor(() => card.querySelector('.mc-balance'), 'the card');
    assert.equal(text(card, '.mc-balance'), '¥88.88');
    assert.equal(loginCalls, logins, 'wx.login was not used');
    assert.deepEqual(
      sent.slice(first, first + 2).map((r) => [r.method, r.url, r.status]),
      [
        ['POST', `${sandbox.url}sandbox/login-codes`, 201],
        ['POST', `${backend.url}/api/login`, 200],
      ],
    );
    page.detach();
  } finally {
    app.globalData.sandboxUnionid = '';
  }
});

test('no card: the demo page opens WeChat’s card mini-program from `opencard`, inside the user’s tap', async () => {
  loginAs = await backend.newUser({ share_unionid: false });
  app.globalData.token = '';
  const jumps: Record<string, any>[] = [];
  const real = wx.navigateToMiniProgram;
  wx.navigateToMiniProgram = (options: Record<string, any>) => {
    jumps.push(options);
    setTimeout(() => options.success?.({ errMsg: 'navigateToMiniProgram:ok' }), 0);
  };
  try {
    const page = showPage();
    const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
    await waitFor(() => card.data.ticketReady, 'the no-card state, ready to open');
    tap(card, '.mc-open');
    assert.equal(jumps.length, 1, 'the host page jumped, inside the tap');
    assert.equal(jumps[0]?.appId, 'wxeb490c6f9b154ef9');
    assert.equal(jumps[0]?.extraData.card_id, backend.cardId);
    assert.deepEqual(refusals, []);
    page.detach();
  } finally {
    wx.navigateToMiniProgram = real;
    loginAs = undefined;
  }
});

test('“请先登录” in the card: the demo logs in on `login`, then refreshes the card through selectComponent', async () => {
  app.globalData.token = '';
  const page = showPage();
  const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
  await waitFor(() => card.querySelector('.mc-balance'), 'the card');

  // The session goes, and logging in again fails for now: the host's request says "no session".
  app.globalData.token = '';
  loginFails = true;
  card.instance.refresh();
  await waitFor(() => card.querySelector('.mc-login-state'), 'the login state');
  assert.equal(text(card, '.mc-state__title'), '请先登录');

  loginFails = false;
  const logins = loginCalls;
  tap(card, '.mc-login');
  await waitFor(() => card.querySelector('.mc-balance'), 'the card after logging in');
  assert.equal(text(card, '.mc-balance'), '¥88.88');
  assert.equal(loginCalls, logins + 1, 'one login, though both onUnauthenticated and the page asked');
  page.detach();
});

test('top-up: the demo page pays `topup` with its own wx.requestPayment and hands the outcome back', async () => {
  const user = await backend.newUser();
  const code = await backend.giveCard(user, { balance: 1000 });
  loginAs = user;
  app.globalData.token = '';
  wx.requestPayment = backend.requestPaymentAs(user);
  try {
    const page = showPage();
    const card = await waitFor(() => page.querySelector('.demo__card'), 'the plugin component');
    await waitFor(() => card.querySelector('.mc-topup__start'), 'the 充值 button');
    tap(card, '.mc-topup__start');
    await waitFor(() => card.querySelector('.mc-topup__item'), 'the amounts');
    card.querySelectorAll('.mc-topup__item')[3]?.dispatchEvent('tap');
    await waitFor(() => card.data.topupAmount === 20000, 'the pick');
    tap(card, '.mc-topup__pay');
    await waitFor(() => text(card, '.mc-balance') === '¥240.00', 'the new balance: ¥10 + ¥200 + ¥30');
    assert.equal((await backend.storedCard(code)).balance, 24000);
    assert.deepEqual(refusals, [], 'the host paid, not the plugin');
    page.detach();
  } finally {
    delete wx.requestPayment;
    loginAs = undefined;
  }
});
