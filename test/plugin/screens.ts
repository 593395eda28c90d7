// The component's states as static HTML pages, for pictures (scripts/plugin-screenshots.mjs) and a
// test. Each state is the real component, rendered by miniprogram-simulate against a real back end
// and driven there by taps; its render tree (WXML after data binding) becomes HTML, and its WXSS
// becomes CSS with rpx turned into px for a 375px-wide phone. WeChat's built-in components (view,
// text, button, image) get a small stylesheet of WeChat's default look. The sandbox's image URLs are
// made up, so images are drawn locally (a gradient per background, a plain avatar): stand-ins for
// pixels only; layout, text and classes are the component's own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { routeWxRequestOverHttp, startBackend, type Backend } from './backend.js';
import { mountHostPage, type HostPage } from './host-page.js';
import { MEMBER_CARD, MINIPROGRAM, plugin, tap, waitFor, wx, type JsonNode, type Rendered } from './simulator.js';
import type { StandInCanvas } from './canvas.js';
import { canvasOf, domains, hostWx } from './wechat.js';

/** The phone the pictures show: 375px wide, so 1rpx = 0.5px. */
export const SCREEN_WIDTH = 375;

export interface Screen {
  name: string;
  /** What the picture shows, for alt text. */
  title: string;
  html: string;
}

// ---------------------------------------------------------------- render tree → HTML

const escape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function gradient(from: string, to: string): string {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="240"><defs><linearGradient id="g" x1="0" y1="0" ` +
    `x2="1" y2="1"><stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient>` +
    `</defs><rect width="400" height="240" fill="url(#g)"/></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

const AVATAR =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="#c9d6e3"/>' +
      '<circle cx="32" cy="25" r="12" fill="#fff"/><ellipse cx="32" cy="58" rx="22" ry="17" fill="#fff"/></svg>',
  );

/** The sandbox tea shop's logo: a cup on a green disc. */
const LOGO =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="32" fill="#2f7d5b"/>' +
      '<path d="M20 24h24l-3 24a4 4 0 0 1-4 3H27a4 4 0 0 1-4-3z" fill="#fff"/>' +
      '<rect x="18" y="20" width="28" height="5" rx="2" fill="#d9efe4"/></svg>',
  );

/** What a `<canvas type="2d">` shows: its stand-in's pixels, as an SVG of the dark runs of each row. */
export function canvasPicture(canvas: StandInCanvas): string {
  let path = '';
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width;) {
      if (!canvas.dark(x, y)) {
        x++;
        continue;
      }
      const start = x;
      while (x < canvas.width && canvas.dark(x, y)) x++;
      path += `M${start} ${y}h${x - start}v1h${start - x}z`;
    }
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${canvas.width} ${canvas.height}" ` +
    'shape-rendering="crispEdges">' +
    `<rect width="${canvas.width}" height="${canvas.height}" fill="#fff"/><path d="${path}"/></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/** Stand-in pixels for the sandbox's made-up image URLs (by file name; anything else: the avatar). */
function imageFor(src: string): string {
  if (src.includes('bg-ocean')) return gradient('#1d6fa3', '#7fd3e6');
  if (src.includes('bg-forest')) return gradient('#1f5e3a', '#8cc084');
  if (src.includes('bg-sunset')) return gradient('#b33a3a', '#f2b36b');
  if (src.includes('default')) return gradient('#3a3f4b', '#8a94a6');
  if (src.endsWith('/logo.png')) return LOGO;
  return AVATAR;
}

const attrOf = (node: JsonNode, name: string): string => {
  const value = node.attrs.find((a) => a.name === name)?.value;
  return typeof value === 'string' || typeof value === 'number' || value === true ? String(value) : '';
};

/**
 * One node of j-component's render tree as HTML: built-ins become plain elements with WeChat's look;
 * a canvas shows the picture given for its class (canvasPicture).
 */
export function nodeHtml(node: JsonNode | string, pictures: Record<string, string> = {}): string {
  if (typeof node === 'string') return escape(node);
  const cls = attrOf(node, 'class');
  const children = node.children.map((child) => nodeHtml(child, pictures)).join('');
  switch (node.tagName) {
    case 'wx-view':
      return `<div class="${escape(cls)}">${children}</div>`;
    case 'wx-text':
      return `<span class="wx-text ${escape(cls)}">${children}</span>`;
    case 'wx-image':
      return `<img class="wx-image ${escape(cls)}" src="${imageFor(attrOf(node, 'src'))}" alt="">`;
    case 'wx-canvas': {
      const picture = Object.entries(pictures).find(([name]) => cls.split(/\s+/).some((c) => c.endsWith(name)))?.[1];
      return picture
        ? `<img class="wx-canvas ${escape(cls)}" src="${picture}" alt="">`
        : `<div class="${escape(cls)}"></div>`;
    }
    case 'wx-scroll-view':
      return `<div class="wx-scroll-view ${escape(cls)}">${children}</div>`;
    case 'wx-button': {
      const type = attrOf(node, 'type') === 'primary' ? ' wx-button--primary' : '';
      const mini = attrOf(node, 'size') === 'mini' ? ' wx-button--mini' : '';
      const loading = attrOf(node, 'loading') === 'true' ? '<i class="wx-button__spinner"></i>' : '';
      const disabled = attrOf(node, 'disabled') === 'true' ? ' disabled' : '';
      return `<button class="wx-button${type}${mini} ${escape(cls)}"${disabled}>${loading}${children}</button>`;
    }
    default:
      // The component's own element on the page.
      return `<div class="${escape(node.tagName)}">${children}</div>`;
  }
}

/** WXSS as CSS for a SCREEN_WIDTH-wide page: rpx to px, `page` to body. */
export function wxssToCss(wxss: string): string {
  const factor = SCREEN_WIDTH / 750;
  return wxss
    .replace(/(-?\d*\.?\d+)rpx\b/g, (_, n: string) => `${+(Number(n) * factor).toFixed(2)}px`)
    .replace(/(^|[\s,}])page(?=\s*[{,])/g, '$1body');
}

/** WeChat's built-in components' default look (style v2), enough for the pictures. */
const BUILT_INS = `
body { margin: 0; font-size: 16px; line-height: 1.4;
  font-family: -apple-system, "PingFang SC", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; }
div { display: block; }
.wx-text { display: inline; white-space: pre-wrap; }
.wx-image { display: inline-block; width: 320px; height: 240px; object-fit: cover; }
.wx-canvas { display: block; }
.wx-scroll-view { overflow: hidden; }
.wx-button { position: relative; display: block; box-sizing: border-box; width: 184px; margin: 0 auto;
  padding: 8px 24px; border: 0; border-radius: 8px; font: inherit; font-size: 17px; font-weight: 700;
  line-height: 1.41; background: #f2f2f2; color: #06ae56; }
.wx-button--primary { background: #07c160; color: #fff; }
.wx-button--mini { display: inline-block; width: auto; padding: 0 0.75em; font-size: 13px; line-height: 2.3; }
.wx-button[disabled] { background: #f2f2f2; color: rgba(0, 0, 0, 0.18); }
.wx-button__spinner { display: inline-block; width: 1em; height: 1em; margin-right: 0.4em; vertical-align: -0.15em;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%; box-sizing: border-box; }
`;

/** A whole page: the component's render tree on a SCREEN_WIDTH-wide phone, with its height measured. */
export function staticHtml(tree: JsonNode, title: string, pictures: Record<string, string> = {}): string {
  const wxss = readFileSync(join(MINIPROGRAM, 'plugin/components/member-card/member-card.wxss'), 'utf8');
  const app = readFileSync(join(MINIPROGRAM, 'app.wxss'), 'utf8');
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=${SCREEN_WIDTH}">
<style>${BUILT_INS}${wxssToCss(app)}${wxssToCss(wxss)}
#screen { width: ${SCREEN_WIDTH}px; padding: 8px 0; }</style></head>
<body><main id="screen">${nodeHtml(tree, pictures)}</main>
<script>
  document.body.dataset.height = Math.ceil(document.getElementById('screen').getBoundingClientRect().height);
</script>
</body></html>
`;
}

// ---------------------------------------------------------------- driving the real component

/** Records jumps instead of leaving for WeChat's card-opening mini-program. */
function stubJump(): () => void {
  const real = wx.navigateToMiniProgram;
  wx.navigateToMiniProgram = (options: { success?: (r: unknown) => void }) =>
    setTimeout(() => options.success?.({ errMsg: 'navigateToMiniProgram:ok' }), 0);
  return () => (wx.navigateToMiniProgram = real);
}

/** Renders every state worth a picture, each on a fresh host page, and returns them as HTML. */
export async function renderScreens(): Promise<Screen[]> {
  const backend: Backend = await startBackend();
  routeWxRequestOverHttp();
  domains.plugin.clear();
  domains.host.clear();
  for (const url of [backend.url, backend.gatedUrl]) domains.host.add(new URL(url).origin);
  let token: string | null = null;
  const configure = (baseUrl = `${backend.url}/api/member-card`) =>
    plugin.configure({
      baseUrl,
      request: (options: Record<string, any>) =>
        token
          ? new Promise((resolve, reject) =>
              hostWx.request({
                ...options,
                header: { ...options.header, Authorization: `Bearer ${token}` },
                success: resolve,
                fail: reject,
              }),
            )
          : Promise.reject(Object.assign(new Error('no session'), { kind: 'login' })),
    });
  const shown: Screen[] = [];
  const pages: HostPage[] = [];
  const take = (name: string, title: string, card: Rendered, pictures: Record<string, string> = {}) =>
    shown.push({ name, title, html: staticHtml(card.toJSON(), title, pictures) });
  const open = () => {
    const page = mountHostPage(MEMBER_CARD);
    pages.push(page);
    return page;
  };
  const withCard = async (extra: Record<string, unknown>) => {
    const user = await backend.newUser();
    const code = await backend.giveCard(user, extra);
    token = await backend.login(user);
    return code;
  };
  const cardOf = async (page: HostPage) => waitFor(() => page.card.querySelector('.mc-balance'), 'the card');

  try {
    configure();
    await withCard({ balance: 8888, bonus_value: 1200, level: '金卡会员' });
    let page = open();
    await cardOf(page);
    take('card', '会员卡', page.card);

    tap(page.card, '.mc-edit__start');
    await waitFor(() => page.card.querySelector('.mc-edit__panel'), 'the picker');
    page.card.querySelectorAll('.mc-edit__item')[1]?.dispatchEvent('tap');
    await waitFor(() => page.card.data.selected, 'the pick');
    take('editing', '更换卡面背景', page.card);

    const code = await withCard({ balance: 2500, bonus_value: 30, level: '银卡会员' });
    await backend.control('PATCH', `sandbox/cards/${backend.cardId}/codes/${code}`, { user_card_status: 'EXPIRE' });
    page = open();
    await cardOf(page);
    take('expired', '已过期的会员卡', page.card);

    token = await backend.login(await backend.newUser({ share_unionid: false }));
    page = open();
    await waitFor(() => page.card.data.ticketReady, 'the no-card state');
    take('no-card', '您还没有会员卡', page.card);

    const restore = stubJump();
    try {
      tap(page.card, '.mc-open');
      page.page.triggerPageLifeTime('hide');
      page.page.triggerPageLifeTime('show');
      take('confirming', '正在确认开卡结果', page.card);
    } finally {
      restore();
    }

    // The member code, my history and my profile: one member with a few changes and a filled-in form.
    const member = await withCard({
      balance: 0,
      bonus_value: 20,
      level: '金卡会员',
      user_information: {
        common_field_list: [
          { name: 'USER_FORM_FLAG_NAME', value: '林小满' },
          { name: 'USER_FORM_FLAG_MOBILE', value: '13812341234' },
          { name: 'USER_FORM_FLAG_BIRTHDAY', value: '1995-06-18' },
        ],
        custom_field_list: [{ name: '口味偏好', value: '', value_list: ['少糖', '去冰'] }],
      },
    });
    const ops = backend.server.cards.operations;
    const change = (n: number) => ({ code: member, requestId: `screens-${member}-${n}`, actor: 'till-1' });
    await ops.adjustBalance({ ...change(1), amount: 10000, remark: '储值 100 元' });
    await ops.adjustBalance({ ...change(2), amount: -1800, remark: '珍珠奶茶 大杯' });
    await ops.adjustPoints({ ...change(3), amount: 18, remark: '消费积分' });
    await ops.adjustBalance({ ...change(4), amount: -2600, remark: '生椰拿铁 ×2' });
    await ops.setLevel({ ...change(5), level: '金卡会员' });
    page = open();
    await cardOf(page);
    tap(page.card, '.mc-action--code');
    const canvas = (selector: string) =>
      waitFor(() => {
        const drawn = canvasOf(page.card.querySelector(selector)?.dom);
        return drawn && drawn.width > 300 ? drawn : undefined;
      }, `${selector} drawn`);
    const [bar, qr] = [await canvas('.mc-code__bar'), await canvas('.mc-code__qr')];
    take('member-code', '会员码', page.card, {
      'mc-code__bar': canvasPicture(bar),
      'mc-code__qr': canvasPicture(qr),
    });
    tap(page.card, '.mc-panel__close');
    tap(page.card, '.mc-action--history');
    await waitFor(() => page.card.querySelector('.mc-history__end'), 'the history');
    take('history', '会员卡明细', page.card);
    tap(page.card, '.mc-panel__close');
    tap(page.card, '.mc-action--profile');
    await waitFor(() => page.card.querySelector('.mc-profile'), 'the profile');
    take('profile', '我的资料', page.card);

    token = null;
    page = open();
    await waitFor(() => page.card.querySelector('.mc-login-state'), 'the login state');
    take('login', '请先登录', page.card);

    await withCard({});
    configure(`${backend.gatedUrl}/api/member-card`);
    backend.network.up = false;
    page = open();
    await waitFor(() => page.card.querySelector('.mc-error'), 'the error state');
    take('error', '网络不给力', page.card);
    backend.network.up = true;
    return shown;
  } finally {
    for (const page of pages) page.page.detach();
    await backend.close();
  }
}
