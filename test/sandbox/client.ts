// The sandbox tests' own clients of the signed API: wechatpay-axios-plugin (what merchants use),
// and a hand-signed request whose every part a test controls.
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Wechatpay } from 'wechatpay-axios-plugin';
import type { SandboxCredentials } from '../../src/sandbox/index.js';
import { call, type Reply } from '../support/http.js';

export const PREFIX = 'v3/marketing/membercard-open';
export interface ApiResponse {
  status: number;
  data: unknown;
  headers: Record<string, unknown>;
}

/** What a failed call looks like from the client's side. */
export interface ClientError {
  code?: string;
  status?: number;
  data?: unknown;
  message: string;
}

export interface Api {
  get(path: string, config?: Record<string, unknown>): Promise<ApiResponse>;
  patch(path: string, body: object, config?: Record<string, unknown>): Promise<ApiResponse>;
  post(path: string, body: object, config?: Record<string, unknown>): Promise<ApiResponse>;
}

/**
 * A wechatpay-axios-plugin client. The plugin's client is a thenable Proxy, so it never leaves
 * this function: callers get plain promise-returning methods.
 */
export function api(c: SandboxCredentials, axiosOptions: Record<string, unknown> = {}): Api {
  const platformId = c.publicKeyId ?? c.platformCertificateSerial ?? '';
  const platformFile = c.publicKey ?? c.platformCertificate ?? '';
  const wxpay = new Wechatpay({
    mchid: c.mchid,
    serial: c.serial,
    privateKey: readFileSync(c.privateKey),
    certs: { [platformId]: readFileSync(platformFile) },
    baseURL: c.baseURL,
    ...axiosOptions,
  });
  const wrap = (p: Promise<{ status: number; data: unknown; headers: unknown }>): Promise<ApiResponse> =>
    p.then((r) => ({ status: r.status, data: r.data, headers: r.headers as Record<string, unknown> }));
  return {
    get: (path, config = {}) => wrap(wxpay.chain(`${PREFIX}${path}`).get(config)),
    patch: (path, body, config = {}) => wrap(wxpay.chain(`${PREFIX}${path}`).patch(body, config)),
    post: (path, body, config = {}) => wrap(wxpay.chain(`${PREFIX}${path}`).post(body, config)),
  };
}

/** Awaits a call expected to fail and returns how the client saw the failure. */
export async function failure(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; message?: string; response?: { status?: number; data?: unknown } };
    return { code: e.code, status: e.response?.status, data: e.response?.data, message: e.message ?? String(err) };
  }
  throw new Error('expected the call to fail, it succeeded');
}

export interface HandSigned {
  method: string;
  /** The request target, e.g. /v3/marketing/membercard-open/callback */
  target: string;
  body?: string;
  key?: KeyObject;
  mchid?: string;
  serial?: string;
  timestamp?: string;
  nonce?: string;
  /** What is actually sent, when it should differ from what was signed. */
  sentBody?: string;
  sentTarget?: string;
  sentMethod?: string;
  /** Authorization parameter order; WeChat Pay must not care. */
  order?: string[];
}

/** An independent client: signs with node:crypto and sends with fetch, every part controllable. */
export async function handSigned(c: SandboxCredentials, r: HandSigned): Promise<Reply> {
  const key = r.key ?? createPrivateKey(readFileSync(c.privateKey));
  const timestamp = r.timestamp ?? String(Math.floor(Date.now() / 1000));
  const nonce = r.nonce ?? randomBytes(16).toString('hex');
  const body = r.body ?? '';
  const signature = sign(
    'sha256',
    Buffer.from(`${r.method}\n${r.target}\n${timestamp}\n${nonce}\n${body}\n`),
    key,
  ).toString('base64');
  const params: Record<string, string> = {
    mchid: r.mchid ?? c.mchid,
    nonce_str: nonce,
    signature,
    timestamp,
    serial_no: r.serial ?? c.serial,
  };
  const order = r.order ?? ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'];
  const authorization = `WECHATPAY2-SHA256-RSA2048 ${order.map((k) => `${k}="${params[k]}"`).join(', ')}`;
  const sent = r.sentBody ?? body;
  return call(r.sentMethod ?? r.method, new URL((r.sentTarget ?? r.target).slice(1), c.baseURL), {
    headers: { authorization, accept: 'application/json', ...(sent ? { 'content-type': 'application/json' } : {}) },
    ...(sent ? { raw: sent } : {}),
  });
}
