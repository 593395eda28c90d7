// The demo host mini-program: app.ts logs in with wx.login → POST /api/login (our login kit)
// and configures the plugin; its page shows the plugin's <member-card>. Rendered from the JS
// compiled from app.ts and pages/ (compile.ts) against a real `serve` back end. wx.login cannot
// run outside WeChat, so it is a recording stub handing out a real code from the sandbox's
// /sandbox/login-codes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runInThisContext } from 'node:vm';
import { routeWxRequestOverHttp, sent, startBackend, type Backend } from './backend.js';
import { MINIPROGRAM, mount, plugin, tap, text, waitFor, wx, type Rendered } from './simulator.js';

interface DemoApp {
  globalData: { apiBase: string; sandboxUrl: string; sandboxUnionid: string; token: string };
  onLaunch(): void;
  login(): Promise<string>;
}

let backend: Backend;
let app: DemoApp;
let loginCalls = 0;
let loginFails = false;
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
  return mount(join(MINIPROGRAM, 'pages/index/index'), {
    rootPath: MINIPROGRAM,
    // miniprogram-simulate cannot resolve plugin:// (see the reference): give it the same file.
    usingComponents: { 'member-card': pluginComponentPath() },
  });
}

before(async () => {
  backend = await startBackend();
  routeWxRequestOverHttp();
  const demo = backend.server.demo;
  assert.ok(demo);
  wx.login = (options: { success?: (r: unknown) => void; fail?: (r: unknown) => void }) => {
    loginCalls += 1;
    const code = loginFails ? Promise.resolve('not-a-real-code') : backend.loginCode(demo);
    code.then(
      (c) => options.success?.({ code: c, errMsg: 'login:ok' }),
      () => options.fail?.({ errMsg: 'login:fail' }),
    );
  };
  // The runtime's App/getApp/requirePlugin: app.js registers itself, the plugin's main is index.js.
  g.App = (definition: DemoApp) => {
    app = definition;
  };
  g.getApp = () => app;
  g.requirePlugin = (name: string) => {
    assert.equal(name, 'memberCard');
    return plugin;
  };
  runInThisContext(readFileSync(join(MINIPROGRAM, 'app.js'), 'utf8'), { filename: join(MINIPROGRAM, 'app.js') });
  assert.equal(app.globalData.apiBase, 'http://127.0.0.1:3000/api', 'the demo points at `serve`’s default port');
  assert.equal(app.globalData.sandboxUrl, 'http://127.0.0.1:3100/', '… and its sandbox’s');
  assert.equal(app.globalData.sandboxUnionid, '', 'wx.login unless told otherwise');
  app.globalData.apiBase = `${backend.url}/api`;
  app.onLaunch();
});

after(async () => {
  await backend.close();
});

test('app.js configures the plugin with the member-card routes under its API base', () => {
  assert.equal(plugin.getConfig()?.baseUrl, `${backend.url}/api/member-card`);
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

  const requests = sent.slice(first);
  assert.deepEqual(
    requests.map((r) => [r.method, r.url, r.status]),
    [
      ['POST', `${backend.url}/api/login`, 200],
      ['GET', `${backend.url}/api/member-card`, 200],
    ],
  );
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
  card.instance.reload();
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
