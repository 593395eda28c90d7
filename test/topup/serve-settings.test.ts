// serve's top-up settings: on with MEMBERCARD_TOPUP_* (and by default with the embedded sandbox),
// every bad setting named by its variable, the reconciler on its timer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer } from '../../src/server/serve.js';
import { call } from '../support/http.js';
import { waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { serveEnv } from '../support/serve.js';

describe('serve: top-up settings from the environment', () => {
  let sandbox: TestSandbox;
  before(async () => {
    sandbox = await TestSandbox.start();
  });
  after(() => sandbox.close());
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...serveEnv(sandbox.credentials, 'memory:'),
    ...extra,
  });

  test('off unless amounts are given; on, GET /topup lists them', async () => {
    const off = await startServer(env(), () => {});
    try {
      assert.equal(off.cards.topups, undefined);
      assert.equal((await call('GET', `${off.url}/api/member-card/topup`)).status, 404);
    } finally {
      await off.close();
    }
    const on = await startServer(
      env({
        MEMBERCARD_TOPUP_MIN: '100',
        MEMBERCARD_TOPUP_MAX: '50000',
        MEMBERCARD_TOPUP_BONUSES: '10000:1000',
        MEMBERCARD_TOPUP_NOTIFY_URL: 'https://shop.example.com/api/member-card/pay-notify',
      }),
      () => {},
    );
    try {
      const offers = await call('GET', `${on.url}/api/member-card/topup`);
      assert.deepEqual(offers.body, { currency: 'CNY', min: 100, max: 50000, bonuses: [{ from: 10000, extra: 1000 }] });
      assert.equal(on.cards.options.topup.appid, sandbox.credentials.miniProgramAppid, 'the mini-program pays');
    } finally {
      await on.close();
    }
  });

  test('bad settings stop it with a message naming the variable', async () => {
    const notify = { MEMBERCARD_TOPUP_NOTIFY_URL: 'https://shop.example.com/api/member-card/pay-notify' };
    const cases: [Record<string, string>, RegExp][] = [
      [{ MEMBERCARD_TOPUP_AMOUNTS: '1000' }, /^OptionsError: MEMBERCARD_TOPUP_NOTIFY_URL is not set/],
      [{ ...notify, MEMBERCARD_TOPUP_AMOUNTS: '10元' }, /^OptionsError: MEMBERCARD_TOPUP_AMOUNTS: "10元" is not/],
      [{ ...notify, MEMBERCARD_TOPUP_AMOUNTS: '0' }, /^OptionsError: MEMBERCARD_TOPUP_AMOUNTS: must be greater/],
      [{ ...notify, MEMBERCARD_TOPUP_MIN: '100' }, /^OptionsError: MEMBERCARD_TOPUP_MIN and MEMBERCARD_TOPUP_MAX/],
      [
        { ...notify, MEMBERCARD_TOPUP_AMOUNTS: '1000', MEMBERCARD_TOPUP_BONUSES: '100=10' },
        /^OptionsError: MEMBERCARD_TOPUP_BONUSES: "100=10" is not from:extra/,
      ],
      [
        { MEMBERCARD_TOPUP_AMOUNTS: '1000', MEMBERCARD_TOPUP_NOTIFY_URL: 'https://a.example/p?x=1' },
        /^OptionsError: MEMBERCARD_TOPUP_NOTIFY_URL: /,
      ],
      [
        { ...notify, MEMBERCARD_TOPUP_AMOUNTS: '1000', MEMBERCARD_TOPUP_RECONCILE_MS: 'soon' },
        /MEMBERCARD_TOPUP_RECONCILE_MS must be/,
      ],
    ];
    for (const [extra, message] of cases) {
      await assert.rejects(
        startServer(env(extra), () => {}),
        message,
        JSON.stringify(extra),
      );
    }
  });

  test('with the embedded sandbox: demo offers, notifications to serve itself, a payment credited', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'membercard-serve-topup-'));
    const running = await startServer(
      { PORT: '0', SANDBOX_PORT: '0', SANDBOX_STATE: stateDir, MEMBERCARD_STORE: 'memory:' },
      () => {},
    );
    try {
      const offers = await call('GET', `${running.url}/api/member-card/topup`);
      assert.deepEqual(
        offers.body.amounts.map((o: { amount: number; bonus: number }) => [o.amount, o.bonus]),
        [
          [1000, 0],
          [5000, 0],
          [10000, 1000],
          [20000, 3000],
        ],
      );
      const { sandbox: embedded, demo } = running;
      assert.ok(embedded && demo);
      const control = TestSandbox.of(embedded);
      const token = await control.login(`${running.url}/api/login`, demo);
      const placed = await call('POST', `${running.url}/api/member-card/topup`, { token, body: { amount: 10000 } });
      assert.equal(placed.status, 200, placed.text);
      assert.equal(
        (await control.payOrder(placed.body.order.id)).notify_url,
        `${running.url}/api/member-card/pay-notify`,
      );
      const paid = await control.requestPayment({
        ...placed.body.payment,
        appid: embedded.credentials.miniProgramAppid,
        openid: demo.mp_openid,
      });
      assert.equal(paid.status, 200, paid.text);
      await control.waitDelivered(paid.body.notification_id);
      await waitFor('credited', 5000, async () => (await control.card(demo.code)).balance === 8888 + 11000);
    } finally {
      await running.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
