// A real sandbox (real keys, signatures, AES-GCM) and a real Koa app with our router and login
// kit, both on loopback ports, for integration tests. Nothing of ours is mocked.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Koa from 'koa';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import { wechatLogin } from '../../src/login/index.js';
import type { LogFields, LogLevel } from '../../src/log.js';
import type { MemberCardOptions } from '../../src/options.js';
import { startSandbox, wechatpayOptions, type Sandbox, type SandboxCredentials } from '../../src/sandbox/index.js';
import { createStore } from '../../src/store/index.js';
import { HostKoa } from './koa.js';
import type { Store } from '../../src/store/types.js';

export const BACKGROUNDS = ['https://wxpaylogo.qpic.cn/test/bg-1.png', 'https://wxpaylogo.qpic.cn/test/bg-2.png'];

export interface SandboxUser {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
}

export interface LogLine {
  level: LogLevel;
  message: string;
  fields: LogFields | undefined;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface HarnessOptions {
  store?: string | Store;
  /** Extra or replaced memberCard() options. */
  memberCard?: Partial<MemberCardOptions>;
  /** Host middleware mounted before our routes (e.g. koa-session). */
  before?: (app: Koa) => void;
  /** Skip the login kit (the host brings its own session). */
  noLogin?: boolean;
  platformMode?: 'publicKey' | 'certificate';
}

export interface Harness {
  url: string;
  sandbox: Sandbox;
  creds: SandboxCredentials;
  stateDir: string;
  cards: MemberCard;
  store: Store;
  app: Koa;
  logs: LogLine[];
  prefix: string;
  newUser(options?: { share_unionid?: boolean }): Promise<SandboxUser>;
  loginCode(user: SandboxUser): Promise<string>;
  login(user: SandboxUser): Promise<string>;
  /** Gives the user a card in the sandbox and waits until its ACCEPT_CARD notification was delivered. */
  giveCard(user: SandboxUser, extra?: Record<string, unknown>): Promise<{ code: string; notification_id: string }>;
  waitDelivered(notificationId: string): Promise<NotificationStatus>;
  api(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Reply>;
  control(method: string, path: string, body?: unknown): Promise<any>;
  /** How many /v3/ requests the sandbox has received so far. */
  upstreamCount(): Promise<number>;
  close(): Promise<void>;
}

export interface NotificationStatus {
  id: string;
  event_type: string;
  attempts: number;
  last_status: number | null;
  delivered: boolean;
}

async function parse(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body, text };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const stateDir = mkdtempSync(join(tmpdir(), 'membercard-test-'));
  const sandbox = await startSandbox({
    stateDir,
    retryFactor: 0.0005,
    platformMode: options.platformMode ?? 'publicKey',
  });
  const creds = sandbox.credentials;
  const store = typeof options.store === 'object' ? options.store : createStore(options.store ?? 'memory:');
  const logs: LogLine[] = [];
  const prefix = options.memberCard?.prefix ?? '/member-card';
  const cards = memberCard({
    cardId: creds.cardId,
    appid: creds.appid,
    wechatpay: { ...wechatpayOptions(creds), timeout: 1500, retries: 1 },
    store,
    selfService: { backgrounds: BACKGROUNDS },
    // Most tests watch every read reach the sandbox; the cache has tests of its own.
    cache: { ttl: 0 },
    log: (level, message, fields) => logs.push({ level, message, fields }),
    ...options.memberCard,
  });
  const app = new HostKoa();
  app.silent = true;
  options.before?.(app);
  const login = options.noLogin
    ? undefined
    : wechatLogin({
        appid: creds.miniProgramAppid,
        secret: creds.miniProgramSecret,
        baseURL: creds.baseURL,
        store,
        timeout: 1500,
        log: (level, message, fields) => logs.push({ level, message, fields }),
      });
  if (login) app.use(login.middleware()).use(login.routes()).use(login.allowedMethods());
  app.use(cards.routes()).use(cards.allowedMethods());
  await cards.ready();
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(new URL(path.replace(/^\//, ''), sandbox.url), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const reply = await parse(response);
    if (response.status >= 400) throw new Error(`sandbox ${method} ${path} → ${response.status} ${reply.text}`);
    return reply.body;
  };
  await cards.client.setNotifyUrl(`${url}${prefix}/notify`);

  const waitDelivered = async (notificationId: string): Promise<NotificationStatus> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { data } = (await control('GET', '/sandbox/notifications')) as { data: NotificationStatus[] };
      const found = data.find((n) => n.id === notificationId);
      if (found?.delivered) return found;
      if (Date.now() > deadline)
        throw new Error(`notification ${notificationId} not delivered: ${JSON.stringify(found)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const harness: Harness = {
    url,
    sandbox,
    creds,
    stateDir,
    cards,
    store,
    app,
    logs,
    prefix,
    newUser: (o = {}) => control('POST', '/sandbox/users', o),
    loginCode: async (user) =>
      ((await control('POST', '/sandbox/login-codes', { unionid: user.unionid })) as { js_code: string }).js_code,
    login: async (user) => {
      const code = await harness.loginCode(user);
      const reply = await harness.api('POST', '/login', { body: { code } });
      if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${reply.text}`);
      return reply.body.token as string;
    },
    giveCard: async (user, extra = {}) => {
      const given = (await control('POST', `/sandbox/cards/${creds.cardId}/codes`, {
        unionid: user.unionid,
        ...extra,
      })) as {
        code: string;
        notification_id: string;
      };
      await waitDelivered(given.notification_id);
      return given;
    },
    waitDelivered,
    api: async (method, path, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      return parse(await fetch(`${url}${path}`, { method, headers, body: body ?? null }));
    },
    control,
    upstreamCount: async () => {
      const { data } = (await control('GET', '/sandbox/requests')) as { data: Array<{ path: string }> };
      return data.filter((r) => r.path.startsWith('/v3/')).length;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await cards.close();
      await login?.close();
      if (typeof options.store !== 'object') await store.close();
      await sandbox.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** The sandbox platform's private key, to sign notifications the way WeChat Pay does (or forge them). */
export function platformPrivateKey(h: Harness): string {
  return readFileSync(join(h.stateDir, 'platform_private_key.pem'), 'utf8');
}
