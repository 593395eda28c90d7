import { randomBytes, sign, type KeyObject } from 'node:crypto';

// wx.requestPayment's parameters for an APIv3 JSAPI order (docs/merchant/apis/mini-program-payment/
// mini-transfer-payment.html; wechatpay-go PrepayWithRequestPayment does the same): paySign =
// base64(SHA256withRSA(merchant API private key, "appId\ntimeStamp\nnonceStr\npackage\n")).

export interface RequestPaymentParams {
  /** Seconds since the epoch, as a string. */
  timeStamp: string;
  /** ≤ 32 characters. */
  nonceStr: string;
  /** prepay_id=… */
  package: string;
  /** RSA for APIv3 (the mini-program API's default, MD5, is APIv2). Not signed. */
  signType: 'RSA';
  paySign: string;
}

const NONCE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function nonce(): string {
  let out = '';
  for (const byte of randomBytes(32)) out += NONCE[byte % NONCE.length];
  return out;
}

/** `appId` is the order's appid (the mini-program that pays); it is signed, not passed to wx.requestPayment. */
export function requestPaymentParams(privateKey: KeyObject, appId: string, prepayId: string): RequestPaymentParams {
  const timeStamp = String(Math.floor(Date.now() / 1000));
  const nonceStr = nonce();
  const pkg = `prepay_id=${prepayId}`;
  const paySign = sign('RSA-SHA256', Buffer.from(`${appId}\n${timeStamp}\n${nonceStr}\n${pkg}\n`, 'utf8'), privateKey);
  return { timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign: paySign.toString('base64') };
}
