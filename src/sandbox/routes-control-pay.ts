import { verify } from 'node:crypto';
import type { ControlContext } from './routes-control.js';
import { PREPAY_TTL_MS } from './routes-pay.js';
import { tradeState, type PayOrder } from './pay-state.js';
import { ApiError, json, type Reply } from './reply.js';
import { completePayment, transactionOf, type PaymentOptions } from './transactions.js';
import { rules } from './validate.js';

// The control API's payments: the WeChat user pays (as wx.requestPayment does in the WeChat client,
// checking the paySign with the merchant's public key), or a test pays or fails an order directly,
// choosing what the notification does (lost, duplicated, late); and the orders as they stand.

type Json = Record<string, unknown>;

/** wx.requestPayment's failure, with the errMsg the mini-program would get. */
function payFail(detail: string): Reply {
  return json(400, { code: 'REQUEST_PAYMENT_FAIL', message: detail, errMsg: `requestPayment:fail ${detail}` });
}

function paymentOptions(body: Json): PaymentOptions {
  const duplicates = rules.int(body, 'duplicates', false);
  if (duplicates !== undefined && (duplicates < 0 || duplicates > 20))
    throw new ApiError(400, 'PARAM_ERROR', 'duplicates: must be 0..20');
  const delayMs = rules.int(body, 'delay_ms', false);
  if (delayMs !== undefined && (delayMs < 0 || delayMs > 600_000))
    throw new ApiError(400, 'PARAM_ERROR', 'delay_ms: must be 0..600000');
  const notify = rules.bool(body, 'notify');
  return {
    ...(notify !== undefined ? { notify } : {}),
    ...(duplicates ? { duplicates } : {}),
    ...(delayMs ? { delayMs } : {}),
  };
}

/** What the control API shows of an order: WeChat Pay's view (the query) and the sandbox's own. */
function orderView(order: PayOrder): Json {
  return {
    ...transactionOf(order),
    prepay_id: order.prepay_id,
    notify_url: order.notify_url,
    description: order.description,
    expires_at: new Date(order.expires_at).toISOString(),
    closed_by_api: order.closed === true,
    shipping: order.shipping,
  };
}

function settle(ctx: ControlContext, order: PayOrder, result: string, options: PaymentOptions): Json {
  if (result === 'fail') {
    order.trade_state = 'PAYERROR';
    ctx.state.save();
    return { trade_state: 'PAYERROR' };
  }
  const notification = completePayment(ctx, order, options);
  return {
    trade_state: 'SUCCESS',
    transaction_id: order.transaction_id,
    notification_id: notification?.id ?? null,
  };
}

const RESULTS = ['success', 'fail', 'cancel'];

/**
 * POST /sandbox/payments: wx.requestPayment in the WeChat client of `openid`, inside mini-program
 * `appid`, with the parameters the merchant's back end answered. The paySign must verify over
 * "appId\ntimeStamp\nnonceStr\npackage\n" with the merchant's public key (mini-transfer-payment.html).
 */
function requestPayment(ctx: ControlContext, body: Json): Reply {
  rules.onlyKnown(body, [
    'appid',
    'openid',
    'timeStamp',
    'nonceStr',
    'package',
    'signType',
    'paySign',
    'result',
    'notify',
    'duplicates',
    'delay_ms',
  ]);
  const appid = rules.str(body, 'appid', { max: 32, required: true }) as string;
  const openid = rules.str(body, 'openid', { max: 128, required: true }) as string;
  const result = rules.str(body, 'result', { max: 16 }) ?? 'success';
  if (!RESULTS.includes(result)) throw new ApiError(400, 'PARAM_ERROR', `result: one of ${RESULTS.join(', ')}`);
  const options = paymentOptions(body);
  const { timeStamp, nonceStr, signType, paySign } = body;
  const pkg = body.package;
  if (typeof timeStamp !== 'string' || !/^\d{10}$/.test(timeStamp))
    return payFail('timeStamp must be a string of 10 digits');
  if (typeof nonceStr !== 'string' || nonceStr.length === 0 || nonceStr.length > 32)
    return payFail('nonceStr must be 1-32 characters');
  if (typeof pkg !== 'string' || !pkg.startsWith('prepay_id=') || pkg.length > 128)
    return payFail('package must be prepay_id=…');
  // The mini-program API's default is MD5 (APIv2): APIv3 orders need RSA.
  if (signType !== 'RSA') return payFail('signType must be RSA for an APIv3 order');
  if (typeof paySign !== 'string' || paySign.length === 0 || paySign.length > 512) return payFail('paySign missing');
  const message = `${appid}\n${timeStamp}\n${nonceStr}\n${pkg}\n`;
  let valid: boolean;
  try {
    valid = verify(
      'RSA-SHA256',
      Buffer.from(message, 'utf8'),
      ctx.keys.merchantPublicKey,
      Buffer.from(paySign, 'base64'),
    );
  } catch {
    valid = false;
  }
  if (!valid) return payFail('支付验证签名失败 (paySign does not verify with the merchant key)');
  const prepayId = pkg.slice('prepay_id='.length);
  const order = ctx.state.data.pay_orders.find((o) => o.prepay_id === prepayId);
  if (!order) return payFail('prepay_id unknown');
  if (order.prepay_expires_at <= Date.now() || order.prepay_expires_at - PREPAY_TTL_MS > Date.now())
    return payFail('prepay_id expired');
  if (order.appid !== appid) return payFail('the order belongs to another AppID');
  if (order.payer.openid !== openid) return payFail('the order belongs to another user');
  const state = tradeState(order);
  if (state !== 'NOTPAY' && state !== 'PAYERROR') return payFail(`the order is ${state}`);
  if (result === 'cancel')
    return json(400, { code: 'REQUEST_PAYMENT_FAIL', message: 'cancel', errMsg: 'requestPayment:fail cancel' });
  const outcome = settle(ctx, order, result, options);
  if (result === 'fail') return payFail('支付失败');
  return json(200, { errMsg: 'requestPayment:ok', out_trade_no: order.out_trade_no, ...outcome });
}

/** POST /sandbox/orders/{out_trade_no}/pay {result?, notify?, duplicates?, delay_ms?}: pays (or fails) it directly. */
function payDirectly(ctx: ControlContext, order: PayOrder, body: Json): Reply {
  rules.onlyKnown(body, ['result', 'notify', 'duplicates', 'delay_ms']);
  const result = rules.str(body, 'result', { max: 16 }) ?? 'success';
  if (result !== 'success' && result !== 'fail') throw new ApiError(400, 'PARAM_ERROR', 'result: success or fail');
  const options = paymentOptions(body);
  const state = tradeState(order);
  if (state !== 'NOTPAY' && state !== 'PAYERROR')
    throw new ApiError(409, 'CONFLICT', `order ${order.out_trade_no} is ${state}`);
  return json(200, { out_trade_no: order.out_trade_no, ...settle(ctx, order, result, options) });
}

function requireOrder(ctx: ControlContext, outTradeNo: string): PayOrder {
  const order = ctx.state.findPayOrder(ctx.keys.mchid, outTradeNo);
  if (!order) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `no order ${outTradeNo}`);
  return order;
}

/** The payment control routes; undefined when `parts` names none of them. */
export function handlePayControl(
  ctx: ControlContext,
  method: string,
  parts: string[],
  body: unknown,
): Reply | undefined {
  const object = (): Json => rules.expectObject(body ?? {}, 'body');
  const [head, id, action] = parts;
  if (method === 'POST' && parts.length === 1 && head === 'payments') return requestPayment(ctx, object());
  if (head !== 'orders') return undefined;
  if (method === 'GET' && parts.length === 1) return json(200, { data: ctx.state.data.pay_orders.map(orderView) });
  if (method === 'GET' && parts.length === 2 && id) return json(200, orderView(requireOrder(ctx, id)));
  if (method === 'POST' && parts.length === 3 && id && action === 'pay')
    return payDirectly(ctx, requireOrder(ctx, id), object());
  return undefined;
}
