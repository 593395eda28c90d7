// Shared set-up for the sandbox tests: start a sandbox on a fresh state folder, talk to it with
// wechatpay-axios-plugin (the signed API), with hand-made requests, and through the control API.
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wechatpay } from 'wechatpay-axios-plugin';
import { startSandbox, type Sandbox, type SandboxCredentials, type SandboxOptions } from '../../src/sandbox/index.js';

export const PREFIX = 'v3/marketing/membercard-open';

const made: string[] = [];

/** A fresh folder for a test that manages its own state folder; removeTempDirs() cleans up. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-test-'));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A sandbox on its own fresh temporary state folder (removed again by close()). */
export async function start(options: SandboxOptions = {}): Promise<Sandbox> {
  return startSandbox({ retryFactor: 0.001, ...options });
}

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

export interface ControlAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The unsigned control API (/sandbox/…). */
export async function control(sb: Sandbox, method: string, path: string, body?: unknown): Promise<ControlAnswer> {
  const res = await fetch(new URL(`sandbox/${path}`, sb.url), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export interface Person {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
}

/** A person holding a freshly received card. */
export async function personWithCard(
  sb: Sandbox,
  card: Record<string, unknown> = {},
  user: Record<string, unknown> = {},
): Promise<{ person: Person; code: string; notificationId: string }> {
  const u = await control(sb, 'POST', 'users', user);
  const person = u.body as unknown as Person;
  const c = await control(sb, 'POST', `cards/${sb.credentials.cardId}/codes`, { unionid: person.unionid, ...card });
  if (c.status !== 201) throw new Error(`card not created: ${JSON.stringify(c.body)}`);
  return { person, code: String(c.body.code), notificationId: String(c.body.notification_id) };
}

export async function storedCard(sb: Sandbox, code: string): Promise<Record<string, unknown>> {
  return (await control(sb, 'GET', `cards/${sb.credentials.cardId}/codes/${code}`)).body;
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
export async function handSigned(
  c: SandboxCredentials,
  r: HandSigned,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers; text: string }> {
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
  const res = await fetch(new URL((r.sentTarget ?? r.target).slice(1), c.baseURL), {
    method: r.sentMethod ?? r.method,
    headers: { authorization, accept: 'application/json', ...(sent ? { 'content-type': 'application/json' } : {}) },
    body: sent || undefined,
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: res.headers,
    text,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(20);
  }
}
