// A second, independent WeChat Pay APIv3 client, written from the documentation alone (签名生成 /
// 签名验证 / 回调通知 on pay.weixin.qq.com and wechatpay-api.gitbook.io). It shares no code with
// wechatpay-axios-plugin (our client's signer) nor with src/sandbox/signature.ts (the sandbox's),
// so a mistake common to those two cannot pass the conformance tests. node:crypto and fetch only.
import {
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The Authorization scheme and the signature type every signed message names. */
export const SCHEME = 'WECHATPAY2-SHA256-RSA2048';
/** "请求时间戳与微信支付服务器时间相差超过5分钟" is refused; answers are checked the same way. */
const CLOCK_WINDOW_S = 300;
/** Signatures that start so are probes: they never verify and must be treated as failures. */
export const PROBE_PREFIX = 'WECHATPAY/SIGNTEST/';

export interface OracleConfig {
  /** e.g. http://127.0.0.1:3100/ */
  baseURL: string;
  mchid: string;
  /** The merchant API certificate serial, sent as serial_no. */
  serial: string;
  /** The merchant API private key (PEM text or a KeyObject). */
  privateKey: string | KeyObject;
  /** Platform keys we trust, by the Wechatpay-Serial that names them: a public key or a certificate (PEM). */
  platformKeys: Record<string, string | KeyObject>;
  /** Sent as Wechatpay-Serial on every request, when set. */
  requestSerial?: string;
}

export interface Verdict {
  ok: boolean;
  /** Why it failed: missing headers, clock, unknown serial, probe, signature. */
  reason?: string;
  /** The Wechatpay-Serial of the message. */
  serial?: string;
}

export interface OracleAnswer {
  status: number;
  headers: Headers;
  /** The raw body as received: the signature covers exactly these bytes. */
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  body: unknown;
  /** The answer's signature, checked as the documentation says. */
  verdict: Verdict;
  /** The exact request target that was signed and sent. */
  target: string;
}

export interface OracleRequest {
  /** A JSON-serialisable object, or the exact text to send. */
  body?: unknown;
  /** Extra request headers (they do not take part in the signature). */
  headers?: Record<string, string>;
  /** For tests of the checks: a fixed timestamp or nonce. */
  timestamp?: number;
  nonce?: string;
}

const asKey = (key: string | KeyObject, kind: 'private' | 'public'): KeyObject =>
  typeof key !== 'string' ? key : kind === 'private' ? createPrivateKey(key) : createPublicKey(key);

/**
 * The path segment for a value: percent-encoded as the official samples' urlEncode does, so
 * that "/", "?", "#", "%" and spaces stay inside one segment.
 */
export const segment = (value: string): string => encodeURIComponent(value);

export class WechatpayOracle {
  readonly #config: OracleConfig;
  readonly #privateKey: KeyObject;
  readonly #trusted = new Map<string, KeyObject>();

  constructor(config: OracleConfig) {
    this.#config = config;
    this.#privateKey = asKey(config.privateKey, 'private');
    for (const [serial, key] of Object.entries(config.platformKeys)) this.#trusted.set(serial, asKey(key, 'public'));
  }

  /**
   * 签名生成: SHA256 with RSA over "HTTP method\nURL\ntimestamp\nnonce\nbody\n", where URL is the
   * absolute path with the query string, and body is empty for a GET.
   */
  authorization(method: string, target: string, body: string, timestamp: number, nonce: string): string {
    const message = `${method}\n${target}\n${timestamp}\n${nonce}\n${body}\n`;
    const signature = createSign('RSA-SHA256').update(message, 'utf8').sign(this.#privateKey, 'base64');
    const { mchid, serial } = this.#config;
    const params = { mchid, nonce_str: nonce, signature, timestamp: String(timestamp), serial_no: serial };
    return `${SCHEME} ${Object.entries(params)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')}`;
  }

  /** Sends one signed request; `path` is relative to baseURL and already percent-encoded. */
  async request(method: string, path: string, options: OracleRequest = {}): Promise<OracleAnswer> {
    // What fetch sends is the parsed URL's path and query, so that is what gets signed.
    const url = new URL(path.replace(/^\//, ''), this.#config.baseURL);
    const target = `${url.pathname}${url.search}`;
    const body =
      options.body === undefined ? '' : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const nonce = options.nonce ?? randomBytes(16).toString('hex').toUpperCase();
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: this.authorization(method, target, body, timestamp, nonce),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
      ...(this.#config.requestSerial ? { 'Wechatpay-Serial': this.#config.requestSerial } : {}),
      ...options.headers,
    };
    const response = await fetch(url, { method, headers, ...(body ? { body } : {}) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return {
      status: response.status,
      headers: response.headers,
      text,
      body: parsed,
      verdict: this.verify(response.headers, text),
      target,
    };
  }

  /**
   * 签名验证, for answers and notifications alike: the four Wechatpay-* headers, the clock window,
   * a serial we trust, then SHA256 with RSA over "timestamp\nnonce\nbody\n". A probe fails.
   */
  verify(headers: Headers | Record<string, string | undefined>, body: string): Verdict {
    const get = (name: string): string | undefined =>
      headers instanceof Headers ? (headers.get(name) ?? undefined) : headers[name.toLowerCase()];
    const timestamp = get('Wechatpay-Timestamp');
    const nonce = get('Wechatpay-Nonce');
    const serial = get('Wechatpay-Serial');
    const signature = get('Wechatpay-Signature');
    if (!timestamp || !nonce || !serial || !signature) return { ok: false, reason: 'headers' };
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > CLOCK_WINDOW_S) return { ok: false, reason: 'clock', serial };
    if (signature.startsWith(PROBE_PREFIX)) return { ok: false, reason: 'probe', serial };
    const key = this.#trusted.get(serial);
    if (!key) return { ok: false, reason: 'serial', serial };
    const valid = createVerify('RSA-SHA256')
      .update(`${timestamp}\n${nonce}\n${body}\n`, 'utf8')
      .verify(key, signature, 'base64');
    return valid ? { ok: true, serial } : { ok: false, reason: 'signature', serial };
  }
}

/**
 * 回调通知 decryption: AEAD_AES_256_GCM with the APIv3 key, the resource's nonce as IV and its
 * associated_data (possibly empty or absent) as AAD; the last 16 bytes of the ciphertext are the tag.
 */
export function decryptResource(
  resource: { algorithm?: string; ciphertext: string; nonce: string; associated_data?: string },
  apiv3Key: string,
): unknown {
  if (resource.algorithm !== 'AEAD_AES_256_GCM') throw new Error(`unexpected algorithm ${resource.algorithm}`);
  const bytes = Buffer.from(resource.ciphertext, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiv3Key, 'utf8'), Buffer.from(resource.nonce, 'utf8'));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
  const plain = Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]);
  return JSON.parse(plain.toString('utf8'));
}

/** An oracle for a sandbox's credentials: the platform keys it publishes (either or both), read from their files. */
export function oracleFor(
  c: {
    baseURL: string;
    mchid: string;
    serial: string;
    privateKey: string;
    publicKeyId?: string;
    publicKey?: string;
    platformCertificateSerial?: string;
    platformCertificate?: string;
  },
  options: { trust?: 'publicKey' | 'certificate' | 'both'; requestSerial?: string } = {},
): WechatpayOracle {
  const trust = options.trust ?? 'both';
  const platformKeys: Record<string, string> = {};
  if (trust !== 'certificate' && c.publicKeyId && c.publicKey)
    platformKeys[c.publicKeyId] = readFileSync(c.publicKey, 'utf8');
  if (trust !== 'publicKey' && c.platformCertificateSerial && c.platformCertificate)
    platformKeys[c.platformCertificateSerial] = readFileSync(c.platformCertificate, 'utf8');
  return new WechatpayOracle({
    baseURL: c.baseURL,
    mchid: c.mchid,
    serial: c.serial,
    privateKey: readFileSync(c.privateKey, 'utf8'),
    platformKeys,
    ...(options.requestSerial ? { requestSerial: options.requestSerial } : {}),
  });
}

/**
 * wx.requestPayment's parameters for an APIv3 order
 * (docs/merchant/apis/mini-program-payment/mini-transfer-payment.html).
 */
export interface RequestPaymentParams {
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: string;
  paySign: string;
}

/** The message paySign covers: "appId\ntimeStamp\nnonceStr\npackage\n" (signType is not signed). */
export function payMessage(appId: string, p: Pick<RequestPaymentParams, 'timeStamp' | 'nonceStr' | 'package'>): string {
  return `${appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`;
}

/** Signs as the documentation says, with the merchant's API private key: what a correct back end answers. */
export function requestPaymentParams(
  privateKey: string | KeyObject,
  appId: string,
  prepayId: string,
): RequestPaymentParams {
  const base = {
    timeStamp: String(Math.floor(Date.now() / 1000)),
    nonceStr: randomBytes(16).toString('hex').toUpperCase(),
    package: `prepay_id=${prepayId}`,
  };
  const paySign = createSign('RSA-SHA256')
    .update(payMessage(appId, base), 'utf8')
    .sign(asKey(privateKey, 'private'), 'base64');
  return { ...base, signType: 'RSA', paySign };
}

/** What WeChat's client does with the parameters: the paySign must verify with the merchant's public key. */
export function verifyPaySign(publicKey: string | KeyObject, appId: string, p: RequestPaymentParams): boolean {
  if (p.signType !== 'RSA') return false;
  return createVerify('RSA-SHA256')
    .update(payMessage(appId, p), 'utf8')
    .verify(asKey(publicKey, 'public'), p.paySign, 'base64');
}
