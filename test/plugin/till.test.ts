// <member-card> at the till, against the real back end (serve + its sandbox) under WeChat's rules
// (wechat.ts): the brand on the card face, the member code drawn on `<canvas type="2d">` and read
// back from its pixels (the QR Code decoded by jsQR, an independent decoder), the screen's
// brightness, the code refreshed on time, my history with infinite scroll, and my profile.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, afterEach, before, describe, test } from 'node:test';
import { encodeCode128 } from '../../plugin/lib/barcode.js';
import { encodeQr } from '../../plugin/lib/qr.js';
import { routeWxRequestOverHttp, startBackend, type Backend } from './backend.js';
import type { StandInCanvas } from './canvas.js';
import { mountHostPage, type HostPage } from './host-page.js';
import { MEMBER_CARD, MY_CARD_PAGE, mountPage, plugin, tap, text, waitFor, type Rendered } from './simulator.js';
import { canvasOf, display, domains, hostWx } from './wechat.js';

type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
/** jsQR (devDependency `jsqr`), when installed: a decoder written by others, so it checks our encoder too. */
const jsQR: JsQr | undefined = (() => {
  try {
    return createRequire(import.meta.url)('jsqr') as JsQr;
  } catch {
    return undefined;
  }
})();

let backend: Backend;
let token: string | null = null;
/** Rewrites GET /code answers before the component sees them (a host whose back end refreshes sooner). */
let refreshAfter: number | undefined;
const pages: Rendered[] = [];

function configure(baseUrl = `${backend.url}/api/member-card`): void {
  domains.plugin.clear();
  domains.host.clear();
  for (const url of [backend.url, backend.gatedUrl]) domains.host.add(new URL(url).origin);
  plugin.configure({
    baseUrl,
    request: (options: Record<string, any>) =>
      token
        ? new Promise((resolve, reject) =>
            hostWx.request({
              ...options,
              header: { ...options.header, Authorization: `Bearer ${token}` },
              success: (res: { statusCode: number; data: any }) => {
                if (refreshAfter !== undefined && /\/code$/.test(options.url) && res.statusCode === 200)
                  res.data = { ...res.data, refreshAfter };
                resolve(res);
              },
              fail: (res: { errMsg: string }) => reject(new Error(res.errMsg)),
            }),
          )
        : Promise.reject(Object.assign(new Error('no session'), { kind: 'login' })),
  });
}

async function member(extra: Record<string, unknown> = {}): Promise<{ code: string }> {
  const user = await backend.newUser();
  const code = await backend.giveCard(user, extra);
  token = await backend.login(user);
  return { code };
}

function open(properties: Parameters<typeof mountHostPage>[1] = {}): HostPage {
  const page = mountHostPage(MEMBER_CARD, properties);
  pages.push(page.page);
  return page;
}

const cardShown = (c: Rendered) => waitFor(() => c.querySelector('.mc-balance'), 'the card');

/** The canvas an element of the component draws on, once something was drawn on it. */
async function drawn(card: Rendered, selector: string, since?: Uint8ClampedArray): Promise<StandInCanvas> {
  return waitFor(() => {
    const canvas = canvasOf(card.querySelector(selector)?.dom);
    return canvas && canvas.width > 300 && canvas.pixels !== since && canvas.pixels.some((v) => v === 255)
      ? canvas
      : undefined;
  }, `${selector} drawn`);
}

/** The QR Code's modules as drawn: the finder pattern's width gives the module size. */
function readQr(canvas: StandInCanvas): boolean[][] {
  let top = -1;
  let left = -1;
  for (let row = 0; row < canvas.height && top < 0; row++)
    for (let col = 0; col < canvas.width; col++)
      if (canvas.dark(col, row)) {
        [top, left] = [row, col];
        break;
      }
  let finder = 0;
  while (canvas.dark(left + finder, top)) finder++;
  const module = finder / 7;
  let right = canvas.width - 1;
  while (!canvas.dark(right, top)) right--;
  const size = Math.round((right - left + 1) / module);
  return Array.from({ length: size }, (_, r) =>
    Array.from({ length: size }, (_, c) =>
      canvas.dark(Math.floor(left + (c + 0.5) * module), Math.floor(top + (r + 0.5) * module)),
    ),
  );
}

/** The bar and space widths along the barcode's middle row, in modules. */
function readBars(canvas: StandInCanvas): number[] {
  const row = Math.floor(canvas.height / 2);
  const runs: number[] = [];
  let col = 0;
  while (!canvas.dark(col, row)) col++;
  let end = canvas.width - 1;
  while (!canvas.dark(end, row)) end--;
  for (let run = 1, dark = true; col <= end; col++) {
    const next: boolean = col + 1 <= end ? canvas.dark(col + 1, row) : !dark;
    if (next === dark) run++;
    else {
      runs.push(run);
      [run, dark] = [1, next];
    }
  }
  const module = Math.min(...runs);
  return runs.map((r) => r / module);
}

before(async () => {
  backend = await startBackend();
  routeWxRequestOverHttp();
});

afterEach(() => {
  for (const p of pages.splice(0)) p.detach();
  token = null;
  refreshAfter = undefined;
  display.brightness = 0.4;
  display.changes.length = 0;
});

after(() => backend.close());

describe('<member-card> at the till', () => {
  test('the card face carries the brand: logo, name, title; usage notes and the service phone below', async () => {
    await member({ balance: 100 });
    configure();
    const { card } = open();
    await cardShown(card);
    const template = await backend.control('GET', `sandbox/cards/${backend.cardId}`);
    assert.equal(text(card, '.mc-brand__name'), template.brand.display_name);
    assert.equal(text(card, '.mc-brand__title'), template.title);
    assert.equal(
      card
        .querySelector('.mc-brand__logo')
        ?.toJSON()
        .attrs.find((a) => a.name === 'src')?.value,
      template.logo_url,
    );
    assert.match(text(card, '.mc-notes__text'), /结账时出示会员码/);
    assert.equal(text(card, '.mc-notes__phone'), `客服电话 ${template.service_phone}`);
  });

  test('会员码: a QR Code and a Code 128 of one 18-digit code, bright while open, verified once at the till', async () => {
    const { code: cardCode } = await member({ balance: 2500, level: '银卡会员' });
    configure();
    const { card, events } = open();
    await cardShown(card);
    tap(card, '.mc-action--code');
    const digits = await waitFor(() => text(card, '.mc-code__digits').replace(/\s/g, ''), 'the digits');
    assert.match(digits, /^\d{18}$/);
    assert.match(text(card, '.mc-code__digits'), /^\d{4} \d{4} \d{4} \d{4} \d{2}$/, 'grouped for reading out');
    const qr = await drawn(card, '.mc-code__qr');
    const bar = await drawn(card, '.mc-code__bar');
    // Read back from the pixels: the matrix and the bars the encoders made for these digits.
    assert.deepEqual(readQr(qr), encodeQr(digits).modules);
    assert.deepEqual(readBars(bar), encodeCode128(digits));
    if (jsQR) assert.equal(jsQR(qr.pixels, qr.width, qr.height)?.data, digits, 'jsQR reads the drawn QR Code');
    assert.equal(display.brightness, 1, 'full brightness while the code is open');
    // The till: the merchant's server verifies what it scanned, once.
    const verified = await backend.server.cards.memberCodes.verify(digits);
    assert.equal(verified.code, cardCode);
    assert.equal(verified.balance, 2500);
    await assert.rejects(backend.server.cards.memberCodes.verify(digits), { code: 'MEMBER_CODE_INVALID' });
    tap(card, '.mc-panel__close');
    await waitFor(() => display.brightness === 0.4, 'the brightness restored');
    assert.deepEqual(display.changes, [1, 0.4]);
    assert.equal(card.querySelector('.mc-code'), undefined);
    assert.deepEqual(
      events.filter((e) => e.name === 'error'),
      [],
    );
  });

  test(
    'the QR Code drawn on the canvas decodes with jsQR',
    { skip: jsQR ? false : 'jsqr is not installed' },
    async () => {
      await member();
      configure();
      const { card } = open();
      await cardShown(card);
      tap(card, '.mc-action--code');
      const qr = await drawn(card, '.mc-code__qr');
      const digits = text(card, '.mc-code__digits').replace(/\s/g, '');
      assert.equal((jsQR as JsQr)(qr.pixels, qr.width, qr.height)?.data, digits);
    },
  );

  test('the code is refreshed when its refreshAfter comes, and at once when the page shows again', async () => {
    await member();
    configure();
    refreshAfter = 1;
    const { card, page } = open();
    await cardShown(card);
    tap(card, '.mc-action--code');
    const first = await waitFor(() => text(card, '.mc-code__digits'), 'the first code');
    const firstPixels = (await drawn(card, '.mc-code__qr')).pixels;
    const second = await waitFor(
      () => {
        const now = text(card, '.mc-code__digits');
        return now && now !== first ? now : undefined;
      },
      'the next code',
      4000,
    );
    await drawn(card, '.mc-code__qr', firstPixels);
    // Only the newest is valid: the one the till may still see on a stale screen is not.
    await assert.rejects(backend.server.cards.memberCodes.verify(first.replace(/\s/g, '')));
    refreshAfter = 3600;
    page.triggerPageLifeTime('hide');
    await waitFor(() => display.brightness === 0.4, 'restored while the page is away');
    page.triggerPageLifeTime('show');
    const third = await waitFor(() => {
      const now = text(card, '.mc-code__digits');
      return now && now !== second ? now : undefined;
    }, 'a fresh code on show');
    assert.match(third.replace(/\s/g, ''), /^\d{18}$/);
    await waitFor(() => display.brightness === 1, 'bright again');
    page.detach();
    await waitFor(() => display.brightness === 0.4, 'restored when detached');
  });

  test('on the plugin’s own page too: drawn, and the brightness is the plugin’s to set and restore', async () => {
    await member();
    configure();
    const page = mountPage('plugin', MY_CARD_PAGE);
    pages.push(page);
    const card = page.querySelector('.my-card__card') as Rendered;
    await cardShown(card);
    tap(card, '.mc-action--code');
    const qr = await drawn(card, '.mc-code__qr');
    assert.deepEqual(readQr(qr), encodeQr(text(card, '.mc-code__digits').replace(/\s/g, '')).modules);
    tap(card, '.mc-panel__close');
    await waitFor(() => display.brightness === 0.4, 'restored');
  });

  test('a network failure while the code is open says so, offers 重试, and keeps the brightness to restore', async () => {
    await member();
    configure(`${backend.gatedUrl}/api/member-card`);
    const { card, events } = open();
    await cardShown(card);
    backend.network.up = false;
    try {
      tap(card, '.mc-action--code');
      await waitFor(() => text(card, '.mc-code__error'), 'the error');
      assert.match(text(card, '.mc-code__error'), /网络不给力/);
      assert.equal(events.find((e) => e.name === 'error')?.detail.during, 'code');
      backend.network.up = true;
      tap(card, '.mc-code__retry');
      await waitFor(() => /^\d{4} /.test(text(card, '.mc-code__digits')), 'the code after 重试');
    } finally {
      backend.network.up = true;
    }
  });

  test('明细: newest first, the next page when the list’s end scrolls into view, then 没有更多了', async () => {
    const { code } = await member({ balance: 0, bonus_value: 10 });
    const ops = backend.server.cards.operations;
    for (let i = 1; i <= 23; i++)
      await ops.adjustBalance({ code, amount: i * 100, remark: `充值 ${i}`, requestId: `h-${code}-${i}`, actor: 't' });
    await ops.adjustPoints({ code, amount: -3, requestId: `h-${code}-p`, actor: 't' });
    configure();
    const { card } = open();
    await cardShown(card);
    tap(card, '.mc-action--history');
    await waitFor(() => card.querySelectorAll('.mc-history__item').length === 20, 'the first page');
    assert.equal(text(card, '.mc-history__title'), '使用积分');
    assert.equal(text(card, '.mc-history__change'), '-3 积分');
    const items = card.querySelectorAll('.mc-history__item');
    assert.match(items[1]?.dom.textContent ?? '', /充值 23[\s\S]*\+¥23\.00[\s\S]*余额 ¥276\.00/);
    card.querySelector('.mc-history__list')?.dispatchEvent('scrolltolower');
    await waitFor(() => card.querySelectorAll('.mc-history__item').length === 24, 'the second page');
    await waitFor(() => text(card, '.mc-history__end'), '没有更多了');
    assert.match(card.querySelectorAll('.mc-history__item')[23]?.dom.textContent ?? '', /充值 1[\s\S]*\+¥1\.00/);
    card.querySelector('.mc-history__list')?.dispatchEvent('scrolltolower');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(card.querySelectorAll('.mc-history__item').length, 24, 'nothing more is fetched');
  });

  test('资料: what the member told WeChat, the phone number masked', async () => {
    await member({
      user_information: {
        common_field_list: [
          { name: 'USER_FORM_FLAG_NAME', value: '张三' },
          { name: 'USER_FORM_FLAG_MOBILE', value: '13812341234' },
          { name: 'USER_FORM_FLAG_BIRTHDAY', value: '1990-01-02' },
        ],
        custom_field_list: [{ name: '口味', value: '', value_list: ['少糖', '去冰'] }],
      },
    });
    configure();
    const { card } = open();
    await cardShown(card);
    tap(card, '.mc-action--profile');
    await waitFor(() => card.querySelector('.mc-profile'), 'the profile');
    const read = (selector: string) => card.querySelectorAll(selector).map((n) => n.dom.textContent?.trim());
    const values = read('.mc-profile__value');
    const rows = read('.mc-profile__label').map((label, i) => [label, values[i]]);
    assert.deepEqual(rows, [
      ['姓名', '张三'],
      ['手机号', '138****1234'],
      ['生日', '1990-01-02'],
      ['口味', '少糖、去冰'],
    ]);
    assert.doesNotMatch(card.dom.innerHTML, /13812341234/, 'the full number is nowhere on screen');
  });

  test('hide-code, hide-history and hide-profile take the buttons away', async () => {
    await member();
    configure();
    const { card } = open({ properties: { hideCode: true, hideHistory: true, hideProfile: true } });
    await cardShown(card);
    assert.equal(card.querySelector('.mc-actions'), undefined);
    const shown = open({ properties: { hideHistory: true } }).card;
    await cardShown(shown);
    assert.ok(shown.querySelector('.mc-action--code'));
    assert.equal(shown.querySelector('.mc-action--history'), undefined);
  });
});
