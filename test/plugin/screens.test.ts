// The pictures' pipeline without Chromium: every state renders from the real component into a static
// page (test/plugin/screens.ts), with rpx turned into px and no remote image, and each has its
// committed picture in doc/images/ (made by scripts/plugin-screenshots.mjs).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './compile.js';
import { renderScreens, wxssToCss } from './screens.js';

test('WXSS becomes CSS for a 375px phone: rpx halved, page is the body', () => {
  assert.equal(wxssToCss('.a { width: 750rpx; margin: -24rpx 3rpx; }'), '.a { width: 375px; margin: -12px 1.5px; }');
  assert.equal(wxssToCss('page {\n  color: #000;\n}'), 'body {\n  color: #000;\n}');
});

test('every state renders from the real component into a static page, and has its picture', async () => {
  const screens = await renderScreens();
  const expected: Record<string, RegExp> = {
    card: /¥88\.88[\s\S]*更换卡面背景/,
    editing: /选择卡面背景[\s\S]*保存/,
    expired: /已过期/,
    'no-card': /您还没有会员卡[\s\S]*领取会员卡/,
    confirming: /正在确认开卡结果…/,
    login: /请先登录[\s\S]*登录/,
    error: /网络不给力[\s\S]*重新加载/,
    'member-code': /会员码[\s\S]*\d{4} \d{4} \d{4} \d{4} \d{2}[\s\S]*每分钟自动更新/,
    history: /会员卡明细[\s\S]*金卡会员[\s\S]*生椰拿铁 ×2[\s\S]*-¥26\.00[\s\S]*没有更多了/,
    profile: /我的资料[\s\S]*138\*\*\*\*1234[\s\S]*少糖、去冰/,
  };
  assert.deepEqual(screens.map((s) => s.name).sort(), Object.keys(expected).sort());
  for (const screen of screens) {
    const body = screen.html.slice(screen.html.indexOf('<main'));
    assert.match(body, expected[screen.name] as RegExp, screen.name);
    assert.doesNotMatch(screen.html, /\d rpx|\drpx/, `${screen.name}: no rpx left`);
    assert.doesNotMatch(body, /src="https?:/, `${screen.name}: no remote image`);
    const png = join(ROOT, 'doc/images', `member-card-${screen.name}.png`);
    assert.ok(existsSync(png), `${png}: run npm run screenshots:plugin`);
  }
});
