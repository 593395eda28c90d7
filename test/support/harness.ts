// An in-process host: a Koa app (Koa 2 or 3, see koa.ts) with our router and login kit on a
// loopback port, against a real sandbox (real keys, signatures, AES-GCM). Nothing of ours is mocked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import { wechatLogin, type WechatLoginOptions } from '../../src/login/index.js';
import type { LogFields, LogLevel } from '../../src/log.js';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import type { MemberCardOptions } from '../../src/options.js';
import type { SandboxCredentials } from '../../src/sandbox/index.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { call, listen, type CallOptions, type Reply } from './http.js';
import { HostKoa } from './koa.js';
import { TestSandbox, type GivenCard, type SandboxUser } from './sandbox.js';

export const BACKGROUNDS = ['https://wxpaylogo.qpic.cn/test/bg-1.png', 'https://wxpaylogo.qpic.cn/test/bg-2.png'];

export interface LogLine {
  level: LogLevel;
  message: string;
  fields: LogFields | undefined;
}

export interface HarnessOptions {
  store?: string | Store;
  /** Extra or replaced memberCard() options; a function is given the host's URL and sandbox (e.g. for a notify URL). */
  memberCard?:
    Partial<MemberCardOptions> | ((host: { url: string; sandbox: TestSandbox }) => Partial<MemberCardOptions>);
  /** Host middleware mounted before our routes (e.g. koa-session). */
  before?: (app: Koa) => void;
  /** Skip the login kit (the host brings its own session). */
  noLogin?: boolean;
  /** Extra or replaced wechatLogin() options. */
  login?: Partial<WechatLoginOptions>;
  platformMode?: 'publicKey' | 'certificate';
}

export interface Harness {
  url: string;
  sandbox: TestSandbox;
  creds: SandboxCredentials;
  cards: MemberCard;
  store: Store;
  app: Koa;
  logs: LogLine[];
  prefix: string;
  /** Logs the user in through the login kit and answers the token. */
  login(user: SandboxUser): Promise<string>;
  /** Gives the user a card in the sandbox and waits until its ACCEPT_CARD notification was delivered here. */
  giveCard(user: SandboxUser, extra?: Record<string, unknown>): Promise<GivenCard>;
  /** A request to this host; `path` starts with '/'. */
  api(method: string, path: string, options?: CallOptions): Promise<Reply>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const sandbox = await TestSandbox.start({ platformMode: options.platformMode ?? 'publicKey' });
  const creds = sandbox.credentials;
  const store = typeof options.store === 'object' ? options.store : createStore(options.store ?? 'memory:');
  const logs: LogLine[] = [];
  const log = (level: LogLevel, message: string, fields?: LogFields) => logs.push({ level, message, fields });
  // Listening first: options may name this host's URL (a top-up's notify_url).
  let handler: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  const server = await listen((req, res) => handler?.(req, res));
  let given: Partial<MemberCardOptions> | undefined;
  try {
    given =
      typeof options.memberCard === 'function' ? options.memberCard({ url: server.url, sandbox }) : options.memberCard;
  } catch (err) {
    await server.close();
    await sandbox.close();
    throw err;
  }
  const prefix = given?.prefix ?? '/member-card';
  const cards = memberCard(
    sandbox.cardOptions(store, {
      selfService: { backgrounds: BACKGROUNDS },
      // Most tests watch every read reach the sandbox; the cache has tests of its own.
      cache: { ttl: 0 },
      log,
      ...given,
    }),
  );
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
        log,
        ...options.login,
      });
  if (login) app.use(login.middleware()).use(login.routes()).use(login.allowedMethods());
  app.use(cards.routes()).use(cards.allowedMethods());
  await cards.ready();
  handler = app.callback();
  await cards.client.setNotifyUrl(`${server.url}${prefix}/notify`);

  const harness: Harness = {
    url: server.url,
    sandbox,
    creds,
    cards,
    store,
    app,
    logs,
    prefix,
    login: (user) => sandbox.login(`${server.url}/login`, user),
    giveCard: async (user, extra = {}) => {
      const given = await sandbox.giveCard(user, extra);
      await sandbox.waitDelivered(given.notification_id);
      return given;
    },
    api: (method, path, o = {}) => call(method, `${server.url}${path}`, o),
    close: async () => {
      await server.close();
      await cards.close();
      await login?.close();
      if (typeof options.store !== 'object') await store.close();
      await sandbox.close();
    },
  };
  return harness;
}
