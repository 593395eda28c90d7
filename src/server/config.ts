import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { OptionsError } from '../errors.js';

/** Every environment name `serve` reads, with its doc line (README's table comes from the same words). */
export const ENV = {
  WECHATPAY_MCHID: '商户号. Unset: serve starts the embedded sandbox instead of WeChat Pay.',
  WECHATPAY_SERIAL: 'Serial number of the merchant API certificate.',
  WECHATPAY_PRIVATE_KEY: 'Path of the merchant API private key (PEM).',
  WECHATPAY_PUBLIC_KEY_ID: 'WeChat Pay platform public key id, PUB_KEY_ID_….',
  WECHATPAY_PUBLIC_KEY: 'Path of the WeChat Pay platform public key (PEM).',
  WECHATPAY_PLATFORM_CERT_SERIAL: 'Instead of the public key pair: the platform certificate serial…',
  WECHATPAY_PLATFORM_CERT: '…and the path of that platform certificate (PEM).',
  WECHATPAY_APIV3_KEY: 'APIv3 key (32 bytes).',
  WECHATPAY_BASE_URL: 'WeChat Pay API base URL. Default https://api.mch.weixin.qq.com/',
  MEMBERCARD_CARD_ID: 'The member card template id (card_id).',
  MEMBERCARD_APPID: 'The 服务号 AppID the card belongs to.',
  WECHAT_MINIPROGRAM_APPID: 'The mini-program AppID (for login).',
  WECHAT_MINIPROGRAM_SECRET: 'The mini-program AppSecret (for login).',
  WECHAT_API_BASE_URL: 'WeChat API base URL for jscode2session. Default https://api.weixin.qq.com/',
  MEMBERCARD_STORE: 'Store URL: sqlite:./data/membercard.db (default), memory:, postgres://…, redis://…',
  MEMBERCARD_BACKGROUNDS: 'Comma-separated background picture URLs users may pick.',
  MEMBERCARD_CACHE_TTL: 'How long this instance reuses a card read, ms. Default 10000; 0 turns the cache off.',
  MEMBERCARD_NOTIFY_URL:
    'Public https URL of POST /api/member-card/notify; when set, registered with WeChat Pay at start.',
  MEMBERCARD_ADMIN_TOKEN:
    'Turns on the back-office routes /api/member-card/admin/…; callers send it as X-Admin-Token (or Authorization: Bearer). At least 16 characters.',
  PORT: 'HTTP port. Default 3000.',
  HOST: 'Listen address. Default 127.0.0.1 with the sandbox, 0.0.0.0 otherwise.',
  SANDBOX_PORT: 'Port of the embedded sandbox. Default 3100 (0 picks a free one).',
  SANDBOX_STATE: "Folder of the embedded sandbox's keys and state. Default ./data/sandbox",
} as const;

export type EnvName = keyof typeof ENV;
export type Env = Partial<Record<string, string | undefined>>;

/** Which serve setting an option of memberCard() / wechatLogin() comes from, to name it in errors. */
export const OPTION_TO_ENV: Record<string, EnvName> = {
  'wechatpay.mchid': 'WECHATPAY_MCHID',
  'wechatpay.serial': 'WECHATPAY_SERIAL',
  'wechatpay.privateKey': 'WECHATPAY_PRIVATE_KEY',
  'wechatpay.publicKeyId': 'WECHATPAY_PUBLIC_KEY_ID',
  'wechatpay.publicKey': 'WECHATPAY_PUBLIC_KEY',
  'wechatpay.certs': 'WECHATPAY_PLATFORM_CERT',
  'wechatpay.apiv3Key': 'WECHATPAY_APIV3_KEY',
  'wechatpay.baseURL': 'WECHATPAY_BASE_URL',
  cardId: 'MEMBERCARD_CARD_ID',
  appid: 'MEMBERCARD_APPID',
  store: 'MEMBERCARD_STORE',
  selfService: 'MEMBERCARD_BACKGROUNDS',
  'selfService.backgrounds': 'MEMBERCARD_BACKGROUNDS',
  cache: 'MEMBERCARD_CACHE_TTL',
  'cache.ttl': 'MEMBERCARD_CACHE_TTL',
  secret: 'WECHAT_MINIPROGRAM_SECRET',
  baseURL: 'WECHAT_API_BASE_URL',
};

const REQUIRED: EnvName[] = [
  'WECHATPAY_MCHID',
  'WECHATPAY_SERIAL',
  'WECHATPAY_PRIVATE_KEY',
  'WECHATPAY_APIV3_KEY',
  'MEMBERCARD_CARD_ID',
  'MEMBERCARD_APPID',
  'WECHAT_MINIPROGRAM_APPID',
  'WECHAT_MINIPROGRAM_SECRET',
];

export function requireEnv(env: Env): void {
  const missing = REQUIRED.filter((name) => !env[name]);
  // WeChat Pay is verified with its public key (PUB_KEY_ID_…) or, on older merchants, a platform certificate.
  const byKey = ['WECHATPAY_PUBLIC_KEY_ID', 'WECHATPAY_PUBLIC_KEY'] as const;
  const byCert = ['WECHATPAY_PLATFORM_CERT_SERIAL', 'WECHATPAY_PLATFORM_CERT'] as const;
  const certGiven = byCert.some((name) => env[name]);
  missing.push(...(certGiven ? byCert : byKey).filter((name) => !env[name]));
  if (missing.length) {
    throw new OptionsError(
      `${missing[0]} is not set (${ENV[missing[0] as EnvName]})${missing.length > 1 ? `; also missing: ${missing.slice(1).join(', ')}` : ''}`,
    );
  }
}

/** Rewrites an OptionsError about option "x.y" into one naming the environment variable it came from. */
export function renameOptionError(err: unknown): unknown {
  if (!(err instanceof OptionsError)) return err;
  const match = /option "([^"]+)"/.exec(err.message);
  const option = match?.[1];
  const envName = option
    ? (OPTION_TO_ENV[option] ?? OPTION_TO_ENV[option.split('.').slice(0, 2).join('.')])
    : undefined;
  if (!envName) return err;
  return new OptionsError(`${envName}: ${err.message.replace(/^(?:[^:"]+: )?option "[^"]+":? ?/, '')}`);
}

export function parsePort(value: string | undefined, name: EnvName, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new OptionsError(`${name} must be a port number (0-65535), got "${value}"`);
  return port;
}

export function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * authorizeAdmin for serve: the request must carry MEMBERCARD_ADMIN_TOKEN in X-Admin-Token (or as
 * Authorization: Bearer, which the login kit ignores when it is not a session token). Compared in
 * constant time over SHA-256 digests, so neither the content nor the length leaks through timing.
 */
export function adminTokenAuthorizer(value: string | undefined): ((ctx: Context) => boolean) | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length < 16 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new OptionsError('MEMBERCARD_ADMIN_TOKEN must be at least 16 printable characters without spaces');
  }
  const expected = createHash('sha256').update(value).digest();
  return (ctx) => {
    const sent = ctx.get('X-Admin-Token') || /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'))?.[1] || '';
    return timingSafeEqual(createHash('sha256').update(sent).digest(), expected);
  };
}
