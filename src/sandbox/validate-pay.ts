import { ApiError } from './reply.js';
import { charLength, paramError, rules } from './validate.js';

// Body checks for JSAPI ordering (pay.weixin.qq.com/doc/v3/merchant/4012525182, 小程序下单; the
// request table of docs/merchant/apis/mini-program-payment/mini-prepay.html), strict as documented:
// lengths, required fields, formats. An undocumented field is 400 PARAM_ERROR naming it, as on the
// member-card endpoints.

type Json = Record<string, unknown>;

/** "6-32个字符内, 只能是数字、大小写字母_-*" (older pages; the newest also allow |: the stricter reading). */
export const OUT_TRADE_NO = /^[0-9A-Za-z_*-]{6,32}$/;
/** time_expire: yyyy-MM-DDTHH:mm:ss+TIMEZONE (RFC 3339 with an explicit offset). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?([+-]\d{2}:\d{2})$/;

export interface JsapiOrder {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire?: string;
  attach?: string;
  notify_url: string;
  amount: { total: number; currency: string };
  payer: { openid: string };
}

function notifyUrl(body: Json, allowHttp: boolean): string {
  const value = rules.str(body, 'notify_url', { max: 255, required: true }) as string;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw paramError('notify_url', value, 'must be a URL');
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:'))
    throw paramError('notify_url', value, allowHttp ? 'must be an http(s) URL' : 'must be an https URL');
  if (value.includes('?') || value.includes('#'))
    throw paramError('notify_url', value, 'must not carry query parameters (不能携带参数)');
  return value;
}

/** A time_expire as ms since the epoch. */
export function parseTimeExpire(value: string): number {
  const ms = RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw paramError('time_expire', value, 'must be yyyy-MM-DDTHH:mm:ss+TIMEZONE (RFC 3339)');
  return ms;
}

/** POST /v3/pay/transactions/jsapi: exactly the documented fields. */
export function validateJsapiOrder(body: Json, allowHttp: boolean): JsapiOrder {
  rules.onlyKnown(body, [
    'appid',
    'mchid',
    'description',
    'out_trade_no',
    'time_expire',
    'attach',
    'notify_url',
    'goods_tag',
    'support_fapiao',
    'amount',
    'payer',
    'detail',
    'scene_info',
    'settle_info',
  ]);
  const appid = rules.str(body, 'appid', { max: 32, required: true }) as string;
  const mchid = rules.str(body, 'mchid', { max: 32, required: true }) as string;
  const description = rules.str(body, 'description', { max: 127, required: true }) as string;
  const outTradeNo = rules.str(body, 'out_trade_no', {
    max: 32,
    required: true,
    pattern: OUT_TRADE_NO,
    patternIssue: '6-32 digits, letters and _-*',
  }) as string;
  const timeExpire = rules.str(body, 'time_expire', { max: 64 });
  if (timeExpire !== undefined) parseTimeExpire(timeExpire);
  const attach = rules.str(body, 'attach', { max: 128 });
  rules.str(body, 'goods_tag', { max: 32 });
  rules.bool(body, 'support_fapiao');

  if (body.amount === undefined) throw paramError('amount', undefined, 'required');
  const amount = rules.expectObject(body.amount, 'amount');
  rules.onlyKnown(amount, ['total', 'currency'], 'amount');
  const total = rules.int(amount, 'total', true, 'amount') as number;
  if (total < 1) throw paramError('amount.total', total, 'must be at least 1 (fen)');
  const currency = rules.str(amount, 'currency', { max: 16 }, 'amount') ?? 'CNY';
  // "境内商户号仅支持人民币".
  if (currency !== 'CNY') throw paramError('amount.currency', currency, 'must be CNY');

  if (body.payer === undefined) throw paramError('payer', undefined, 'required');
  const payer = rules.expectObject(body.payer, 'payer');
  rules.onlyKnown(payer, ['openid'], 'payer');
  const openid = rules.str(payer, 'openid', { max: 128, required: true }, 'payer') as string;

  if (body.detail !== undefined) rules.expectObject(body.detail, 'detail');
  if (body.scene_info !== undefined) {
    const scene = rules.expectObject(body.scene_info, 'scene_info');
    rules.str(scene, 'payer_client_ip', { max: 45, required: true }, 'scene_info');
  }
  if (body.settle_info !== undefined) {
    const settle = rules.expectObject(body.settle_info, 'settle_info');
    rules.onlyKnown(settle, ['profit_sharing'], 'settle_info');
    rules.bool(settle, 'profit_sharing', 'settle_info');
  }
  return {
    appid,
    mchid,
    description,
    out_trade_no: outTradeNo,
    ...(timeExpire !== undefined ? { time_expire: timeExpire } : {}),
    ...(attach !== undefined ? { attach } : {}),
    notify_url: notifyUrl(body, allowHttp),
    amount: { total, currency },
    payer: { openid },
  };
}

/** POST …/close: {mchid} only. */
export function validateClose(body: Json): { mchid: string } {
  rules.onlyKnown(body, ['mchid']);
  return { mchid: rules.str(body, 'mchid', { max: 32, required: true }) as string };
}

/** The mchid a query names (?mchid=, required). */
export function queryMchid(query: URLSearchParams): string {
  const mchid = query.get('mchid');
  if (!mchid) throw paramError('mchid', mchid, 'required', 'query');
  if (charLength(mchid) > 32) throw paramError('mchid', mchid, 'must have at most 32 characters', 'query');
  return mchid;
}

export const orderNotExist = (): ApiError => new ApiError(404, 'ORDER_NOT_EXIST', '订单不存在');
