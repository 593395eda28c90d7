// The sandbox's payments (JSAPI order, query, close, TRANSACTION.SUCCESS, the user paying with
// wx.requestPayment's parameters, delivery reports) driven by the independent client written from
// the documentation (test/support/wechatpay-oracle.ts), never by our own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { NotifyReceiver } from '../support/notify-receiver.js';
import { waitFor } from '../support/poll.js';
import { TestSandbox, type SandboxUser } from '../support/sandbox.js';
import {
  decryptResource,
  oracleFor,
  requestPaymentParams,
  type OracleAnswer,
  type WechatpayOracle,
} from '../support/wechatpay-oracle.js';

const JSAPI = '/v3/pay/transactions/jsapi';
const byOutTradeNo = (no: string, mchid: string) => `/v3/pay/transactions/out-trade-no/${no}?mchid=${mchid}`;
const newNo = (): string => `T${randomBytes(12).toString('hex')}`;

describe('sandbox payments: JSAPI orders as the documentation has them', () => {
  let sb: TestSandbox;
  let oracle: WechatpayOracle;
  let receiver: NotifyReceiver;
  let notifyUrl: string;
  let user: SandboxUser;

  before(async () => {
    sb = await TestSandbox.start();
    oracle = oracleFor(sb.credentials);
    receiver = new NotifyReceiver();
    notifyUrl = await receiver.listen();
    user = await sb.newUser();
  });
  afterEach(async () => {
    receiver.statuses = [];
    await sb.control('PUT', 'behaviour', {});
  });
  after(async () => {
    await receiver.close();
    await sb.close();
  });

  const orderBody = (extra: Record<string, unknown> = {}) => ({
    appid: sb.credentials.miniProgramAppid,
    mchid: sb.credentials.mchid,
    description: '会员卡充值 ¥100.00',
    out_trade_no: newNo(),
    notify_url: notifyUrl,
    amount: { total: 10000, currency: 'CNY' },
    payer: { openid: user.mp_openid },
    ...extra,
  });

  const order = (body: Record<string, unknown>): Promise<OracleAnswer> => oracle.request('POST', JSAPI, { body });

  const refused = (a: OracleAnswer, status: number, code: string, field?: string) => {
    assert.equal(a.status, status, a.text);
    assert.equal((a.body as { code: string }).code, code, a.text);
    if (field) assert.equal((a.body as { detail?: { field: string } }).detail?.field, field, a.text);
    assert.equal(a.verdict.ok, true, 'error answers are signed too');
  };

  it('orders: 200 {prepay_id}, signed; the same parameters again give the same prepay_id', async () => {
    const body = orderBody();
    const first = await order(body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.verdict.ok, true);
    const prepayId = (first.body as { prepay_id: string }).prepay_id;
    assert.match(prepayId, /^wx\d{14}[0-9a-f]{22}$/);
    const again = await order(body);
    assert.deepEqual(again.body, { prepay_id: prepayId });
    refused(await order({ ...body, amount: { total: 5000, currency: 'CNY' } }), 403, 'OUT_TRADE_NO_USED');
    const stored = await sb.payOrder(body.out_trade_no);
    assert.equal(stored.trade_state, 'NOTPAY');
    assert.equal(stored.notify_url, notifyUrl);
  });

  it('refuses what the documentation refuses, naming the field', async () => {
    refused(await order({ ...orderBody(), colour: 'red' }), 400, 'PARAM_ERROR', 'colour');
    refused(await order({ ...orderBody(), out_trade_no: 'T1234' }), 400, 'PARAM_ERROR', 'out_trade_no');
    refused(await order({ ...orderBody(), out_trade_no: 'T12345|678' }), 400, 'PARAM_ERROR', 'out_trade_no');
    refused(await order({ ...orderBody(), description: '充'.repeat(128) }), 400, 'PARAM_ERROR', 'description');
    refused(await order({ ...orderBody(), notify_url: `${notifyUrl}?x=1` }), 400, 'PARAM_ERROR', 'notify_url');
    refused(await order({ ...orderBody(), amount: { total: 0 } }), 400, 'PARAM_ERROR', 'amount.total');
    refused(await order({ ...orderBody(), amount: { total: 100, currency: 'USD' } }), 400, 'PARAM_ERROR');
    const { payer: _p, ...noPayer } = orderBody();
    refused(await order(noPayer), 400, 'PARAM_ERROR', 'payer');
    refused(await order({ ...orderBody(), time_expire: '2026-01-01 10:00:00' }), 400, 'PARAM_ERROR', 'time_expire');
    refused(await order({ ...orderBody(), appid: 'wx0000000000000001' }), 400, 'APPID_MCHID_NOT_MATCH');
    // The payer must be the user under the AppID that pays: the 服务号 openid is not the mini-program's.
    const wrongPayer = await order({ ...orderBody(), payer: { openid: user.oa_openid } });
    refused(wrongPayer, 400, 'PARAM_ERROR');
    assert.match((wrongPayer.body as { message: string }).message, /appid和openid不匹配/);
    refused(await order({ ...orderBody(), mchid: '1900000000' }), 400, 'PARAM_ERROR', 'mchid');
    const https = await sb.control('PUT', 'behaviour', { allowHttpNotifyUrl: false });
    assert.equal(https.allowHttpNotifyUrl, false);
    refused(await order(orderBody()), 400, 'PARAM_ERROR', 'notify_url');
  });

  it('time_expire: earlier than order + 1 min becomes + 1 min; unset is 7 days', async () => {
    const soon = orderBody({ time_expire: new Date(Date.now() + 5000).toISOString().replace(/\.\d+Z$/, '+00:00') });
    assert.equal((await order(soon)).status, 200);
    const held = Date.parse((await sb.payOrder(soon.out_trade_no)).expires_at) - Date.now();
    assert.ok(held > 55_000 && held <= 60_000, `held ${held} ms`);
    const unset = orderBody();
    await order(unset);
    const week = Date.parse((await sb.payOrder(unset.out_trade_no)).expires_at) - Date.now();
    assert.ok(Math.abs(week - 7 * 86_400_000) < 5000);
  });

  it('query: 404 ORDER_NOT_EXIST, NOTPAY without the success-only fields, mchid required', async () => {
    const { mchid } = sb.credentials;
    refused(await oracle.request('GET', byOutTradeNo(newNo(), mchid)), 404, 'ORDER_NOT_EXIST');
    const body = orderBody({ attach: 'card-topup' });
    await order(body);
    const unpaid = await oracle.request('GET', byOutTradeNo(body.out_trade_no, mchid));
    assert.equal(unpaid.status, 200, unpaid.text);
    assert.equal(unpaid.verdict.ok, true);
    assert.deepEqual(unpaid.body, {
      appid: body.appid,
      mchid,
      out_trade_no: body.out_trade_no,
      trade_type: 'JSAPI',
      trade_state: 'NOTPAY',
      trade_state_desc: '订单未支付',
      amount: { total: 10000, currency: 'CNY' },
    });
    refused(
      await oracle.request('GET', `/v3/pay/transactions/out-trade-no/${body.out_trade_no}`),
      400,
      'PARAM_ERROR',
      'mchid',
    );
  });

  it('the user pays with parameters signed as documented: TRANSACTION.SUCCESS, verified, decrypted', async () => {
    const body = orderBody({ attach: 'card-topup' });
    const prepayId = ((await order(body)).body as { prepay_id: string }).prepay_id;
    const params = requestPaymentParams(sb.merchantPrivateKey(), body.appid, prepayId);
    const before = receiver.received.length;
    const paid = await sb.requestPayment({ ...params, appid: body.appid, openid: user.mp_openid });
    assert.equal(paid.status, 200, paid.text);
    assert.equal(paid.body.errMsg, 'requestPayment:ok');
    await waitFor('the notification', 5000, () => receiver.received.length > before);
    const delivery = receiver.received[before];
    assert.ok(delivery);
    assert.equal(delivery.headers['content-type'], 'application/json');
    assert.equal(oracle.verify(NotifyReceiver.headersOf(delivery), delivery.body).ok, true);
    const envelope = JSON.parse(delivery.body) as Record<string, any>;
    assert.equal(envelope.event_type, 'TRANSACTION.SUCCESS');
    assert.equal(envelope.resource_type, 'encrypt-resource');
    assert.equal(envelope.summary, '支付成功');
    assert.equal(envelope.resource.original_type, 'transaction');
    assert.equal(envelope.resource.associated_data, 'transaction');
    const t = decryptResource(envelope.resource, sb.credentials.apiv3Key) as Record<string, any>;
    assert.equal(t.out_trade_no, body.out_trade_no);
    assert.equal(t.trade_state, 'SUCCESS');
    assert.equal(t.trade_type, 'JSAPI');
    assert.equal(t.appid, body.appid);
    assert.equal(t.mchid, sb.credentials.mchid);
    assert.equal(t.attach, 'card-topup');
    assert.deepEqual(t.payer, { openid: user.mp_openid });
    assert.deepEqual(t.amount, { total: 10000, payer_total: 10000, currency: 'CNY', payer_currency: 'CNY' });
    assert.match(t.transaction_id, /^\d{28}$/);
    assert.match(t.success_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    const queried = await oracle.request('GET', byOutTradeNo(body.out_trade_no, sb.credentials.mchid));
    assert.deepEqual(queried.body, t, 'the query answers the same Transaction');
    const byId = await oracle.request('GET', `/v3/pay/transactions/id/${t.transaction_id}?mchid=${t.mchid}`);
    assert.deepEqual(byId.body, t);
    refused(await order(body), 403, 'OUT_TRADE_NO_USED');
  });

  it('wx.requestPayment fails as WeChat would: a paySign that does not verify, another app or user, MD5', async () => {
    const body = orderBody();
    const prepayId = ((await order(body)).body as { prepay_id: string }).prepay_id;
    const good = requestPaymentParams(sb.merchantPrivateKey(), body.appid, prepayId);
    const pay = (extra: Record<string, unknown>) =>
      sb.requestPayment({ ...good, appid: body.appid, openid: user.mp_openid, ...extra });
    const platformSigned = requestPaymentParams(sb.platformPrivateKey(), body.appid, prepayId);
    for (const [why, extra] of [
      ['signed with another key', { paySign: platformSigned.paySign }],
      ['signed for another AppID', requestPaymentParams(sb.merchantPrivateKey(), sb.credentials.appid, prepayId)],
      ['MD5 (APIv2)', { signType: 'MD5' }],
      ['a number as timeStamp', { timeStamp: Number(good.timeStamp) }],
      ['another user', { openid: user.oa_openid }],
    ] as [string, Record<string, unknown>][]) {
      const reply = await pay(extra);
      assert.equal(reply.status, 400, why);
      assert.match(reply.body.errMsg, /^requestPayment:fail /, why);
    }
    const cancelled = await pay({ result: 'cancel' });
    assert.equal(cancelled.body.errMsg, 'requestPayment:fail cancel');
    assert.equal((await sb.payOrder(body.out_trade_no)).trade_state, 'NOTPAY', 'nothing was paid');
  });

  it('redelivers an unacknowledged notification on the payment schedule: same id, same body', async () => {
    const body = orderBody();
    await order(body);
    const before = receiver.received.length;
    receiver.statuses = [500, 503];
    const paid = await sb.pay(body.out_trade_no);
    const id = paid.notification_id as string;
    const status = await sb.waitDelivered(id, 10_000);
    assert.equal(status.attempts, 3);
    const deliveries = receiver.received.slice(before);
    assert.equal(deliveries.length, 3);
    assert.equal(new Set(deliveries.map((d) => d.body)).size, 1, 'the same body each time');
    assert.equal((JSON.parse(deliveries[0]?.body ?? '{}') as { id: string }).id, id);
  });

  it('faults: a lost notification, duplicates after the ack, a late one', async () => {
    const lost = orderBody();
    await order(lost);
    const before = receiver.received.length;
    assert.equal((await sb.pay(lost.out_trade_no, { notify: false })).notification_id, null);
    assert.equal((await sb.payOrder(lost.out_trade_no)).trade_state, 'SUCCESS', 'paid, but nobody is told');

    const duplicated = orderBody();
    await order(duplicated);
    const { notification_id: id } = await sb.pay(duplicated.out_trade_no, { duplicates: 3 });
    await waitFor('4 deliveries', 5000, async () => ((await sb.notification(id as string))?.attempts ?? 0) >= 4);
    const copies = receiver.received.slice(before).filter((d) => JSON.parse(d.body).id === id);
    assert.equal(copies.length, 4, 'acknowledged, then sent 3 times more');

    const late = orderBody();
    await order(late);
    const started = Date.now();
    const slow = await sb.pay(late.out_trade_no, { delay_ms: 700 });
    await sb.waitDelivered(slow.notification_id as string);
    assert.ok(Date.now() - started >= 650, 'delivered after the delay');
    assert.equal(receiver.received.slice(before).length, 5, 'nothing from the lost one');
  });

  it('associated_data "" (the official sample) by switch: still decrypts', async () => {
    await sb.control('PUT', 'behaviour', { payAssociatedData: 'empty' });
    const body = orderBody();
    await order(body);
    const before = receiver.received.length;
    await sb.waitDelivered((await sb.pay(body.out_trade_no)).notification_id as string);
    const envelope = JSON.parse(receiver.received[before]?.body ?? '{}') as Record<string, any>;
    assert.equal(envelope.resource.associated_data, '');
    assert.equal(
      (decryptResource(envelope.resource, sb.credentials.apiv3Key) as { out_trade_no: string }).out_trade_no,
      body.out_trade_no,
    );
  });

  it('close: 204, then CLOSED, not payable nor orderable; a paid order: 400 ORDERPAID, or 204 by switch', async () => {
    const { mchid } = sb.credentials;
    const close = (no: string) =>
      oracle.request('POST', `/v3/pay/transactions/out-trade-no/${no}/close`, { body: { mchid } });
    refused(await close(newNo()), 404, 'ORDER_NOT_EXIST');
    const body = orderBody();
    await order(body);
    const closed = await close(body.out_trade_no);
    assert.equal(closed.status, 204, closed.text);
    assert.equal(closed.verdict.ok, true, 'a 204 is signed over the empty body');
    assert.equal((await close(body.out_trade_no)).status, 204, 'closing again changes nothing');
    const q = await oracle.request('GET', byOutTradeNo(body.out_trade_no, mchid));
    assert.equal((q.body as { trade_state: string }).trade_state, 'CLOSED');
    refused(await order(body), 400, 'ORDER_CLOSED');
    assert.equal((await sb.controlReply('POST', `orders/${body.out_trade_no}/pay`, {})).status, 409);

    const paid = orderBody();
    await order(paid);
    await sb.pay(paid.out_trade_no);
    refused(await close(paid.out_trade_no), 400, 'ORDERPAID');
    await sb.control('PUT', 'behaviour', { closePaid: 204 });
    assert.equal((await close(paid.out_trade_no)).status, 204);
    assert.equal((await sb.payOrder(paid.out_trade_no)).trade_state, 'SUCCESS', 'still paid');
  });
});

describe('sandbox: the mini-program access token and the delivery report (小程序发货信息管理)', () => {
  let sb: TestSandbox;
  let oracle: WechatpayOracle;
  let user: SandboxUser;
  before(async () => {
    sb = await TestSandbox.start();
    oracle = oracleFor(sb.credentials);
    user = await sb.newUser();
  });
  after(() => sb.close());

  const post = async (path: string, body: unknown): Promise<Record<string, any>> => {
    const res = await fetch(new URL(path, sb.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, 'WeChat answers its errors with HTTP 200');
    return (await res.json()) as Record<string, any>;
  };
  const token = async (): Promise<string> => {
    const { miniProgramAppid: appid, miniProgramSecret: secret } = sb.credentials;
    const answer = await post('cgi-bin/stable_token', { grant_type: 'client_credential', appid, secret });
    assert.equal(answer.expires_in > 7000 && answer.expires_in <= 7200, true);
    return answer.access_token as string;
  };
  const report = (accessToken: string, outTradeNo: string, extra: Record<string, unknown> = {}) =>
    post(`wxa/sec/order/upload_shipping_info?access_token=${accessToken}`, {
      order_key: { order_number_type: 1, mchid: sb.credentials.mchid, out_trade_no: outTradeNo },
      logistics_type: 3,
      delivery_mode: 1,
      shipping_list: [{ item_desc: '会员卡储值 ¥100.00' }],
      upload_time: '2026-03-01T10:00:00.000+08:00',
      payer: { openid: user.mp_openid },
      ...extra,
    });

  it('stable_token: one token while valid; a wrong secret is 40125, a wrong appid 40013', async () => {
    const { miniProgramAppid: appid } = sb.credentials;
    assert.equal(
      (await post('cgi-bin/stable_token', { grant_type: 'client_credential', appid, secret: 'x' })).errcode,
      40125,
    );
    assert.equal(
      (await post('cgi-bin/stable_token', { grant_type: 'client_credential', appid: 'wx1', secret: 'x' })).errcode,
      40013,
    );
    assert.equal(await token(), await token());
  });

  it('upload_shipping_info: a paid order only, its payer, one re-delivery; bad tokens and bodies refused', async () => {
    const no = newNo();
    const ordered = await oracle.request('POST', JSAPI, {
      body: {
        appid: sb.credentials.miniProgramAppid,
        mchid: sb.credentials.mchid,
        description: '会员卡充值',
        out_trade_no: no,
        notify_url: 'http://127.0.0.1:9/notify',
        amount: { total: 100 },
        payer: { openid: user.mp_openid },
      },
    });
    assert.equal(ordered.status, 200, ordered.text);
    const t = await token();
    assert.equal((await report(t, no)).errcode, 10060001, 'not paid yet');
    await sb.pay(no, { notify: false });
    assert.equal((await report('nope', no)).errcode, 40001);
    assert.equal((await report(t, no, { shipping_list: [{}] })).errcode, 47001);
    assert.equal((await report(t, no, { payer: { openid: user.oa_openid } })).errcode, 10060001);
    assert.deepEqual(await report(t, no), { errcode: 0, errmsg: 'ok' });
    assert.deepEqual(await report(t, no), { errcode: 0, errmsg: 'ok' }, 'the one re-delivery');
    assert.equal((await report(t, no)).errcode, 10060003);
    const shipped = (await sb.payOrder(no)).shipping;
    assert.equal(shipped.length, 2);
    assert.deepEqual([shipped[0]?.logistics_type, shipped[0]?.item_desc], [3, ['会员卡储值 ¥100.00']]);
  });
});
