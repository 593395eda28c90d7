// The delivery report of 小程序发货信息管理 (off by default): once a top-up is credited, it is
// uploaded as a virtual-goods delivery with the mini-program's stable access token; a report that
// fails is retried by the reconciler until WeChat takes it, and made once only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stableAccessToken } from '../../src/server/access-token.js';
import { startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/poll.js';
import { pay, topupOptions } from '../support/topup.js';

describe('top-up delivery reports (小程序发货信息管理)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      memberCard: ({ url, sandbox }) => {
        const c = sandbox.credentials;
        return topupOptions(sandbox, `${url}/member-card/pay-notify`, {
          shipping: {
            accessToken: stableAccessToken({
              appid: c.miniProgramAppid,
              secret: c.miniProgramSecret,
              baseURL: c.baseURL,
              timeoutMs: 1500,
            }),
            baseURL: c.baseURL,
          },
        });
      },
    });
  });
  after(() => h?.close());

  const paidOrder = async (amount: number) => {
    const user = await h.sandbox.newUser();
    await h.giveCard(user);
    const token = await h.login(user);
    const placed = await h.api('POST', '/member-card/topup', { token, body: { amount } });
    assert.equal(placed.status, 200, placed.text);
    await pay(h.sandbox, user, placed.body.payment);
    return { id: placed.body.order.id as string, openid: user.mp_openid };
  };
  const stored = async (id: string) => {
    const o = await h.cards.topups?.get(id);
    assert.ok(o);
    return o;
  };

  it('after the credit: one virtual-goods delivery, described as the order, for its payer', async () => {
    const { id } = await paidOrder(10000);
    await waitFor('reported', 8000, async () => (await stored(id)).shipping === 'reported');
    const order = await stored(id);
    assert.equal(order.state, 'credited');
    assert.equal(order.nextCheckAt, undefined, 'nothing left to do');
    const uploads = (await h.sandbox.payOrder(id)).shipping;
    assert.equal(uploads.length, 1);
    assert.deepEqual(
      [uploads[0]?.logistics_type, uploads[0]?.delivery_mode, uploads[0]?.item_desc],
      [3, 1, ['会员卡充值 ¥100.00']],
    );
    assert.match(uploads[0]?.upload_time ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00$/);
  });

  it('a report WeChat refuses for now (10060001, the order not in yet) is retried until taken, once', async () => {
    await h.sandbox.fault({ status: 200, code: '10060001', path: '/wxa/sec/order/upload_shipping_info', times: 2 });
    const { id } = await paidOrder(1000);
    const waiting = await waitFor('a failed report', 8000, async () => {
      const o = await stored(id);
      return o.state === 'credited' && o.shipping === 'pending' && o.error ? o : undefined;
    });
    assert.match(waiting.error?.message ?? '', /10060001/);
    assert.deepEqual((await h.sandbox.payOrder(id)).shipping, []);
    await waitFor('reported after retries', 10_000, async () => {
      await h.cards.topups?.reconcile();
      return (await stored(id)).shipping === 'reported';
    });
    await h.cards.topups?.reconcile();
    assert.equal((await h.sandbox.payOrder(id)).shipping.length, 1, 'reported once');
  });
});
