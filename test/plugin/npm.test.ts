// The npm form of <member-card>: scripts/build-miniprogram-npm.mjs builds the package from the
// plugin's sources into a temporary folder; the test checks it is a mini-program npm package with no
// server dependency, copies miniprogram_dist/ into a host's miniprogram_npm/ as DevTools' 构建 npm
// does, and renders the component from there. It runs as the host's code: its wx.request is the
// host's (the plugin's domain list stays empty) and it may open the card-opening mini-program itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { routeWxRequestOverHttp, sent, startBackend, type Backend } from './backend.js';
import { ROOT } from './compile.js';
import { mountHostPage } from './host-page.js';
import { tap, text, waitFor, wx, type PluginMain, type Rendered } from './simulator.js';
import { domains, refusals, registerPackage } from './wechat.js';

const require = createRequire(import.meta.url);

let backend: Backend;
let built: string;
let host: string;
let pkg: Record<string, any>;
let component: string;
let memberCard: PluginMain;
const mounted: Rendered[] = [];

before(async () => {
  built = mkdtempSync(join(tmpdir(), 'membercard-npm-'));
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-miniprogram-npm.mjs'), '--out', built], {
    stdio: 'pipe',
  });
  pkg = JSON.parse(readFileSync(join(built, 'package.json'), 'utf8'));
  // 构建 npm: the package's "miniprogram" folder becomes miniprogram_npm/<name>/ in the host.
  host = mkdtempSync(join(tmpdir(), 'membercard-npm-host-'));
  writeFileSync(join(host, 'package.json'), '{ "type": "commonjs" }\n');
  cpSync(join(built, pkg.miniprogram), join(host, 'miniprogram_npm', pkg.name), { recursive: true });
  registerPackage(host, 'host');
  const installed = join(host, 'miniprogram_npm', pkg.name);
  component = join(installed, 'components/member-card/member-card');
  memberCard = require(join(installed, 'index.js')) as PluginMain;

  backend = await startBackend();
  routeWxRequestOverHttp();
  domains.plugin.clear();
  domains.host.clear();
  domains.host.add(new URL(backend.url).origin);
});

afterEach(() => {
  for (const c of mounted.splice(0)) c.detach();
});

after(async () => {
  await backend.close();
  rmSync(built, { recursive: true, force: true });
  rmSync(host, { recursive: true, force: true });
});

test('the package: a "miniprogram" folder with the component and its index, no dependencies, no plugin parts', () => {
  assert.equal(pkg.name, 'koa-wechat-membercard-miniprogram');
  assert.equal(pkg.miniprogram, 'miniprogram_dist');
  assert.equal(pkg.main, 'miniprogram_dist/index.js');
  assert.deepEqual(pkg.files, ['miniprogram_dist', 'README.md']);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies']) {
    assert.equal(pkg[field], undefined, `no ${field}`);
  }
  assert.ok(existsSync(join(built, 'README.md')));
  const dist = join(built, 'miniprogram_dist');
  const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).sort();
  for (const part of ['.js', '.json', '.wxml', '.wxss']) {
    assert.ok(files.includes(`components/member-card/member-card${part}`), `member-card${part}`);
  }
  assert.ok(files.includes('index.js'));
  assert.ok(!files.some((f) => f.startsWith('pages') || f === 'plugin.json' || f.startsWith('npm')));
  // Only relative requires: nothing a mini-program would have to find elsewhere.
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    for (const [, id] of readFileSync(join(dist, file), 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)) {
      assert.match(id as string, /^\.\.?\//, `${file} requires ${id}`);
    }
  }
  // Its index exports what the plugin's main does.
  assert.deepEqual(Object.keys(memberCard).sort(), ['configure', 'getConfig', 'refresh', 'topupResult']);
});

test('unconfigured, the component says so and sends nothing', async () => {
  const before = sent.length;
  const page = mountHostPage(component);
  mounted.push(page.page);
  await waitFor(() => page.card.querySelector('.mc-error'), 'the error state');
  assert.equal(text(page.card, '.mc-error__title'), '会员卡暂不可用');
  assert.equal(page.card.querySelector('.mc-retry'), undefined);
  assert.equal(sent.length, before);
  assert.equal(page.events.find((e) => e.name === 'error')?.detail.kind, 'config');
});

test('in the host’s context: its own wx.request is the host’s (the plugin’s list stays empty)', async () => {
  const user = await backend.newUser();
  await backend.giveCard(user, { balance: 1999 });
  const token = await backend.login(user);
  memberCard.configure({ baseUrl: `${backend.url}/api/member-card`, getToken: () => token });
  const before = sent.length;
  const page = mountHostPage(component);
  mounted.push(page.page);
  await waitFor(() => page.card.querySelector('.mc-balance'), 'the card');
  assert.equal(text(page.card, '.mc-balance'), '¥19.99');
  assert.deepEqual(
    sent
      .slice(before)
      .filter((r) => !r.url.endsWith('/topup'))
      .map((r) => [r.side, r.method, r.url, r.status]),
    [['host', 'GET', `${backend.url}/api/member-card`, 200]],
  );
  assert.equal(domains.plugin.size, 0);
  assert.deepEqual(refusals, []);
});

test('in the host’s context: open-mode="navigate" opens the card-opening mini-program from a host page', async () => {
  const token = await backend.login(await backend.newUser({ share_unionid: false }));
  memberCard.configure({ baseUrl: `${backend.url}/api/member-card`, getToken: () => token });
  const jumps: Record<string, any>[] = [];
  const real = wx.navigateToMiniProgram;
  wx.navigateToMiniProgram = (options: Record<string, any>) => jumps.push(options);
  try {
    const page = mountHostPage(component, { properties: { openMode: 'navigate' } });
    mounted.push(page.page);
    await waitFor(() => page.card.data.ticketReady, 'the card-opening parameters');
    tap(page.card, '.mc-open');
    assert.equal(jumps.length, 1);
    assert.equal(jumps[0]?.extraData.card_id, backend.cardId);
    assert.deepEqual(refusals, []);
    assert.equal(page.events.filter((e) => e.name === 'opencard').length, 0, 'no event: it opened by itself');
  } finally {
    wx.navigateToMiniProgram = real;
  }
});

test('in the host’s context: pay-mode="request" pays with wx.requestPayment itself; the new balance', async () => {
  const user = await backend.newUser();
  const code = await backend.giveCard(user, { balance: 0 });
  const token = await backend.login(user);
  memberCard.configure({ baseUrl: `${backend.url}/api/member-card`, getToken: () => token });
  wx.requestPayment = backend.requestPaymentAs(user);
  try {
    const page = mountHostPage(component, { properties: { payMode: 'request' } });
    mounted.push(page.page);
    await waitFor(() => page.card.querySelector('.mc-topup__start'), 'the 充值 button');
    tap(page.card, '.mc-topup__start');
    await waitFor(() => page.card.querySelector('.mc-topup__item'), 'the amounts');
    page.card.querySelectorAll('.mc-topup__item')[0]?.dispatchEvent('tap');
    await waitFor(() => page.card.data.topupAmount === 1000, 'the pick');
    tap(page.card, '.mc-topup__pay');
    await waitFor(() => text(page.card, '.mc-balance') === '¥10.00', 'the new balance');
    assert.equal((await backend.storedCard(code)).balance, 1000);
    assert.equal(page.events.filter((e) => e.name === 'topup').length, 0, 'no event: it paid by itself');
    assert.deepEqual(refusals, []);
  } finally {
    delete wx.requestPayment;
  }
});
