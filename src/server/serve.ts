import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { join, resolve } from 'node:path';
import Koa from 'koa';
import { errorHandler, OptionsError } from '../errors.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { defaultLog, errorName, toLog, type LogOption } from '../log.js';
import { wechatLogin, type WechatLoginOptions } from '../login/index.js';
import { memberCard, type MemberCard } from '../member-card.js';
import { DEFAULTS, type MemberCardOptions } from '../options.js';
import type { Sandbox, SandboxCredentials } from '../sandbox/index.js';
import { adminTokenAuthorizer } from './admin-token.js';
import {
  ENV,
  parseBonuses,
  parseFen,
  parseList,
  parsePort,
  parseWhole,
  platformCertificates,
  renameOptionError,
  requireEnv,
  type Env,
} from './config.js';
import { createStore } from '../store/index.js';
import { addressOf, connectionLimitsFrom, listen } from './http-server.js';
import { openStore, probes } from './probes.js';
import { metricsRoute } from './metrics-route.js';
import { stableAccessToken } from './access-token.js';
import { storeRetentionFrom, sweepFrom } from './retention-env.js';
import { startReconciler } from './topup-reconciler.js';
import { loginRateLimitFrom } from './limits.js';
import type { Store } from '../store/types.js';

export interface RunningServer {
  /** e.g. http://127.0.0.1:3000 (no trailing slash). */
  url: string;
  /** The embedded sandbox, when WECHATPAY_MCHID was not set. */
  sandbox?: Sandbox;
  /** The demo user (sandbox mode only). */
  demo?: DemoUser;
  cards: MemberCard;
  close(): Promise<void>;
}

export interface DemoUser {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
  code: string;
}

/** Backgrounds the sandbox offers its demo users (WeChat Pay would return such URLs from its image upload). */
const SANDBOX_BACKGROUNDS = [
  'https://wxpaylogo.qpic.cn/sandbox/bg-ocean.png',
  'https://wxpaylogo.qpic.cn/sandbox/bg-forest.png',
  'https://wxpaylogo.qpic.cn/sandbox/bg-sunset.png',
];

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`sandbox control call ${new URL(url).pathname} answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/** One demo person holding a card, kept in the sandbox's folder so restarts reuse them. */
async function demoUser(sandbox: Sandbox, stateDir: string): Promise<DemoUser> {
  const file = join(stateDir, 'demo.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DemoUser;
  const user = (await postJson(new URL('sandbox/users', sandbox.url).href, { nickname: '演示用户' })) as Omit<
    DemoUser,
    'code'
  >;
  const { code } = await postJson(new URL(`sandbox/cards/${sandbox.credentials.cardId}/codes`, sandbox.url).href, {
    unionid: user.unionid,
    balance: 8888,
    bonus_value: 120,
    level: '金卡会员',
  });
  const demo = { unionid: user.unionid, mp_openid: user.mp_openid, oa_openid: user.oa_openid, code: String(code) };
  writeFileSync(file, `${JSON.stringify(demo, null, 2)}\n`);
  return demo;
}

/** What the sandbox demo offers when MEMBERCARD_TOPUP_AMOUNTS and _MIN are not set: 充100送10, 充200送30. */
const SANDBOX_TOPUP = {
  amounts: [1000, 5000, 10000, 20000],
  bonuses: [
    { from: 10000, extra: 1000 },
    { from: 20000, extra: 3000 },
  ],
};

/**
 * memberCard()'s `topup` from the environment: on with MEMBERCARD_TOPUP_AMOUNTS (or _MIN and _MAX),
 * and with the sandbox by default; the mini-program AppID pays; the delivery report on request.
 */
function topupFrom(env: Env, settings: Settings, url: string): Pick<MemberCardOptions, 'topup'> {
  const given = Boolean(env.MEMBERCARD_TOPUP_AMOUNTS || env.MEMBERCARD_TOPUP_MIN || env.MEMBERCARD_TOPUP_MAX);
  if (!given && !settings.sandbox) return {};
  // Said here under the variables' names (the option check would name the options).
  if (Boolean(env.MEMBERCARD_TOPUP_MIN) !== Boolean(env.MEMBERCARD_TOPUP_MAX))
    throw new OptionsError('MEMBERCARD_TOPUP_MIN and MEMBERCARD_TOPUP_MAX go together');
  if (env.MEMBERCARD_TOPUP_AMOUNTS && env.MEMBERCARD_TOPUP_MIN)
    throw new OptionsError('MEMBERCARD_TOPUP_AMOUNTS, or MEMBERCARD_TOPUP_MIN and _MAX: not both');
  if (given && !settings.sandbox && !env.MEMBERCARD_TOPUP_NOTIFY_URL)
    throw new OptionsError('MEMBERCARD_TOPUP_NOTIFY_URL is not set (the public URL of /api/member-card/pay-notify)');
  const number = (
    name:
      | 'MEMBERCARD_TOPUP_MIN'
      | 'MEMBERCARD_TOPUP_MAX'
      | 'MEMBERCARD_TOPUP_RECONCILE_AFTER_MS'
      | 'MEMBERCARD_TOPUP_RETRY_MS',
  ) => (env[name] ? parseFen(name, env[name])[0] : undefined);
  const offers = given
    ? {
        ...(env.MEMBERCARD_TOPUP_AMOUNTS
          ? { amounts: parseFen('MEMBERCARD_TOPUP_AMOUNTS', env.MEMBERCARD_TOPUP_AMOUNTS) }
          : {}),
        ...(number('MEMBERCARD_TOPUP_MIN') !== undefined ? { min: number('MEMBERCARD_TOPUP_MIN') } : {}),
        ...(number('MEMBERCARD_TOPUP_MAX') !== undefined ? { max: number('MEMBERCARD_TOPUP_MAX') } : {}),
        bonuses: parseBonuses(env.MEMBERCARD_TOPUP_BONUSES),
      }
    : {
        ...SANDBOX_TOPUP,
        ...(env.MEMBERCARD_TOPUP_BONUSES !== undefined ? { bonuses: parseBonuses(env.MEMBERCARD_TOPUP_BONUSES) } : {}),
      };
  const notifyUrl =
    env.MEMBERCARD_TOPUP_NOTIFY_URL || (settings.sandbox ? `${url}/api/member-card/pay-notify` : undefined);
  const { appid, secret, baseURL } = settings.miniProgram;
  return {
    topup: {
      ...offers,
      appid,
      ...(notifyUrl ? { notifyUrl } : {}),
      ...(number('MEMBERCARD_TOPUP_RECONCILE_AFTER_MS') !== undefined
        ? { reconcileAfterMs: number('MEMBERCARD_TOPUP_RECONCILE_AFTER_MS') }
        : {}),
      ...(number('MEMBERCARD_TOPUP_RETRY_MS') !== undefined ? { retryMs: number('MEMBERCARD_TOPUP_RETRY_MS') } : {}),
      ...(env.MEMBERCARD_TOPUP_SHIPPING === '1'
        ? {
            shipping: {
              accessToken: stableAccessToken({
                appid,
                secret,
                baseURL: baseURL ?? 'https://api.weixin.qq.com/',
                timeoutMs: 5000,
              }),
              ...(baseURL ? { baseURL } : {}),
            },
          }
        : {}),
    },
  };
}

interface Settings {
  wechatpay: MemberCardOptions['wechatpay'];
  cardId: string;
  appid: string;
  miniProgram: Pick<WechatLoginOptions, 'appid' | 'secret' | 'baseURL'>;
  sandbox?: Sandbox;
  sandboxStateDir?: string;
}

async function settingsFrom(env: Env): Promise<Settings> {
  if (env.WECHATPAY_MCHID) {
    requireEnv(env);
    return {
      wechatpay: {
        mchid: env.WECHATPAY_MCHID,
        serial: env.WECHATPAY_SERIAL as string,
        privateKey: env.WECHATPAY_PRIVATE_KEY as string,
        // Both may be given: notifications come signed by either during the 7-day gray release.
        ...(env.WECHATPAY_PUBLIC_KEY_ID
          ? { publicKeyId: env.WECHATPAY_PUBLIC_KEY_ID, publicKey: env.WECHATPAY_PUBLIC_KEY }
          : {}),
        ...(env.WECHATPAY_PLATFORM_CERT_SERIAL ? { certs: platformCertificates(env) } : {}),
        apiv3Key: env.WECHATPAY_APIV3_KEY as string,
        ...(env.WECHATPAY_BASE_URL ? { baseURL: env.WECHATPAY_BASE_URL } : {}),
      },
      cardId: env.MEMBERCARD_CARD_ID as string,
      appid: env.MEMBERCARD_APPID as string,
      miniProgram: {
        appid: env.WECHAT_MINIPROGRAM_APPID as string,
        secret: env.WECHAT_MINIPROGRAM_SECRET as string,
        ...(env.WECHAT_API_BASE_URL ? { baseURL: env.WECHAT_API_BASE_URL } : {}),
      },
    };
  }
  const stateDir = resolve(env.SANDBOX_STATE || ENV.SANDBOX_STATE.default);
  // Loaded only here: a merchant's serve never loads the sandbox.
  const { startSandbox, wechatpayOptions } = await import('../sandbox/index.js');
  const sandbox = await startSandbox({ port: parsePort(env, 'SANDBOX_PORT'), stateDir });
  const c: SandboxCredentials = sandbox.credentials;
  return {
    wechatpay: wechatpayOptions(c),
    cardId: c.cardId,
    appid: c.appid,
    miniProgram: { appid: c.miniProgramAppid, secret: c.miniProgramSecret, baseURL: c.baseURL },
    sandbox,
    sandboxStateDir: stateDir,
  };
}

/**
 * `wechat-membercard serve`: the login kit at /api/login, the member-card router at
 * /api/member-card and GET /healthz, configured from the environment (ENV in config.ts).
 */
export async function startServer(env: Env = process.env, logOption: LogOption = defaultLog): Promise<RunningServer> {
  const log = toLog(logOption);
  if (!log) {
    throw new OptionsError('must be a function (level, message, fields) or a pino-style logger', {
      factory: 'startServer()',
      option: 'log',
    });
  }
  const adminToken = adminTokenAuthorizer(env.MEMBERCARD_ADMIN_TOKEN);
  const port = parsePort(env, 'PORT');
  const limits = connectionLimitsFrom(env);
  const reconcileEveryMs = parseWhole(env, 'MEMBERCARD_TOPUP_RECONCILE_MS', 100);
  const retention = storeRetentionFrom(env);
  const settings = await settingsFrom(env);
  const { sandbox } = settings;
  const host = env.HOST || (sandbox ? '127.0.0.1' : '0.0.0.0');
  // Listen first (503 until the app is ready): with the sandbox, a top-up's notify_url is this
  // server's own address, which with PORT=0 is known only once it listens.
  let handle: RequestListener = (_req, res) => void res.writeHead(503, { 'Retry-After': '1' }).end();
  let server: Server;
  try {
    server = await listen((req, res) => handle(req, res), port, host, limits);
  } catch (err) {
    await sandbox?.close();
    throw err;
  }
  const address = addressOf(server);
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  const closeServer = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  let store: Store;
  try {
    store = createStore(env.MEMBERCARD_STORE || DEFAULTS.store, { log, ...retention });
  } catch (err) {
    await closeServer();
    await sandbox?.close();
    throw err instanceof OptionsError
      ? new OptionsError(`MEMBERCARD_STORE: ${err.message.replace(/^store:? /, '')}`)
      : err;
  }
  // serve's own registry: the process's default metrics and the member-card series, read by GET /metrics.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let cards: MemberCard;
  let login: ReturnType<typeof wechatLogin>;
  try {
    const backgrounds =
      env.MEMBERCARD_BACKGROUNDS !== undefined
        ? parseList(env.MEMBERCARD_BACKGROUNDS)
        : sandbox
          ? SANDBOX_BACKGROUNDS
          : [];
    cards = memberCard({
      cardId: settings.cardId,
      appid: settings.appid,
      wechatpay: settings.wechatpay,
      store,
      selfService: { backgrounds },
      prefix: '/api/member-card',
      ...cacheFrom(env),
      log,
      // Pending merchant changes settle by themselves (MEMBERCARD_SWEEP_*, issue 18).
      operations: sweepFrom(env),
      metrics: registry,
      // MEMBERCARD_ADMIN_TOKEN turns on the back-office routes (src/routes/admin.ts).
      ...(adminToken ? { authorizeAdmin: adminToken } : {}),
      ...topupFrom(env, settings, url),
    });
    login = wechatLogin({
      ...settings.miniProgram,
      store,
      prefix: '/api',
      log,
      metrics: registry,
      rateLimit: loginRateLimitFrom(env),
    });
    await openStore(store, env.MEMBERCARD_STORE || DEFAULTS.store);
    // The store is in use from the start: the sweep of pending changes may run before any request.
    await cards.ready().catch(() => undefined);
  } catch (err) {
    await closeServer();
    await sandbox?.close();
    await store.close().catch(() => {});
    throw renameOptionError(err);
  }

  const app = new Koa({ proxy: env.TRUST_PROXY === '1' });
  app.use(errorHandler((err, ctx) => log('error', 'unexpected error', { error: errorName(err), path: ctx.path })));
  app.use(probes(store));
  // Before the login kit, which would read the admin token sent as a Bearer as a session token.
  app.use(metricsRoute(registry, adminToken));
  app.use(login.middleware());
  app.use(login.routes()).use(login.allowedMethods());
  app.use(cards.routes()).use(cards.allowedMethods());
  app.silent = true; // errors are answered and logged by errorHandler, without stacks
  const callback = app.callback();
  handle = (req, res) => void callback(req, res);
  // Top-ups WeChat Pay did not tell us about are settled by this timer (src/server/topup-reconciler.ts).
  const reconciler = cards.topups ? startReconciler(cards.topups, reconcileEveryMs, log) : undefined;

  let demo: DemoUser | undefined;
  if (sandbox && settings.sandboxStateDir) {
    // Point the sandbox's notifications here, as a merchant does with PATCH /callback.
    await cards.client.setNotifyUrl(`${url}/api/member-card/notify`);
    demo = await demoUser(sandbox, settings.sandboxStateDir);
  } else if (env.MEMBERCARD_NOTIFY_URL) {
    await cards.client.setNotifyUrl(env.MEMBERCARD_NOTIFY_URL);
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    ...(sandbox ? { sandbox } : {}),
    ...(demo ? { demo } : {}),
    cards,
    close: () => {
      closing ??= (async () => {
        await reconciler?.stop();
        await closeServer();
        await sandbox?.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/** What a newcomer can paste to see it work end to end against the sandbox. */
export function walkthrough(running: RunningServer): string {
  const { url, sandbox, demo } = running;
  if (!sandbox || !demo) return `koa-wechat-membercard serving on ${url}\n`;
  const json = `node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8"))`;
  return [
    `koa-wechat-membercard serving on ${url}, against the embedded WeChat Pay sandbox at ${sandbox.url}`,
    '',
    'Try it (a demo user already holds a card):',
    '',
    '# 1. A login code, as wx.login gives a mini-program',
    `CODE=$(curl -s -X POST ${sandbox.url}sandbox/login-codes -H 'content-type: application/json' ` +
      `-d '{"unionid":"${demo.unionid}"}' | ${json}.js_code')`,
    '# 2. Log in: our login kit calls jscode2session and answers a session token',
    `TOKEN=$(curl -s -X POST ${url}/api/login -H 'content-type: application/json' ` +
      `-d "{\\"code\\":\\"$CODE\\"}" | ${json}.token')`,
    '# 3. Read my card',
    `curl -s ${url}/api/member-card -H "authorization: Bearer $TOKEN"`,
    '# 4. Change its background to one the merchant offers',
    `curl -s -X PATCH ${url}/api/member-card -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' ` +
      `-d '{"background_picture_url":"${SANDBOX_BACKGROUNDS[1]}"}'`,
    '',
  ].join('\n');
}

/** memberCard()'s cache and upstream budget from MEMBERCARD_CACHE_* and MEMBERCARD_UPSTREAM_*; unset: defaults. */
function cacheFrom(env: Env): Pick<MemberCardOptions, 'cache' | 'upstream'> {
  const number = (name: string): number | undefined => {
    const value = env[name]?.trim();
    return value ? Number(value) : undefined;
  };
  const ttlMs = number('MEMBERCARD_CACHE_TTL');
  const maxStaleMs = number('MEMBERCARD_CACHE_MAX_STALE');
  const staleWhileRevalidateMs = number('MEMBERCARD_CACHE_STALE_WHILE_REVALIDATE');
  const coherentTtlMs = number('MEMBERCARD_CACHE_COHERENT_TTL');
  const perSecond = number('MEMBERCARD_UPSTREAM_PER_SECOND');
  const burst = number('MEMBERCARD_UPSTREAM_BURST');
  const cache = {
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(maxStaleMs !== undefined ? { maxStaleMs } : {}),
    ...(staleWhileRevalidateMs !== undefined ? { staleWhileRevalidateMs } : {}),
    ...(coherentTtlMs !== undefined ? { coherentTtlMs } : {}),
  };
  const upstream = { ...(perSecond !== undefined ? { perSecond } : {}), ...(burst !== undefined ? { burst } : {}) };
  return {
    ...(Object.keys(cache).length > 0 ? { cache } : {}),
    ...(Object.keys(upstream).length > 0 ? { upstream } : {}),
  };
}
