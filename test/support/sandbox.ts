// The WeChat Pay sandbox as tests use it: started on a temporary state folder with WeChat's
// notification retry schedule shrunk, and the one client of its unsigned control API (/sandbox/…):
// users, login codes, cards, faults, the request log and notification delivery.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { MemberCardOptions } from '../../src/options.js';
import {
  startSandbox,
  wechatpayOptions,
  type Sandbox,
  type SandboxCredentials,
  type SandboxOptions,
} from '../../src/sandbox/index.js';
import type { CardStore, Store } from '../../src/store/types.js';
import { call, type Reply } from './http.js';
import { waitFor } from './poll.js';

/**
 * WeChat's schedule (15 s, 15 s, 30 s, 3 min, 10 min …) 1000× shorter: a refused notification is
 * tried again within milliseconds, and still within seconds after a few refusals.
 */
export const RETRY_FACTOR = 0.001;

/** The credentials a state folder keeps across restarts (all but the URL, whose port is new). */
export const LASTING_CREDENTIALS = [
  'mchid',
  'serial',
  'privateKey',
  'publicKeyId',
  'publicKey',
  'apiv3Key',
  'appid',
  'miniProgramAppid',
  'miniProgramSecret',
  'cardId',
] as const satisfies readonly (keyof SandboxCredentials)[];

export interface SandboxUser {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
}

export interface NotificationStatus {
  id: string;
  event_type: string;
  attempts: number;
  last_status: number | null;
  delivered: boolean;
  abandoned: boolean;
}

/** A card code as the sandbox stores it: the truth tests assert on. */
export interface SandboxCard {
  code: string;
  openid: string;
  balance: number;
  bonus_value: number;
  level: string;
  membership_number: string;
  background_picture_url: string;
  user_card_status: string;
  applied: { card: string[]; rights: string[] };
  [field: string]: unknown;
}

/** One line of the sandbox's log of upstream (/v3/, /sns/) requests. */
export interface RequestLine {
  seq: number;
  method: string;
  path: string;
  status: number;
  signature_valid: boolean;
  [field: string]: unknown;
}

/** A JSAPI order as GET /sandbox/orders/{out_trade_no} shows it. */
export interface PayOrderView {
  out_trade_no: string;
  trade_state: string;
  transaction_id?: string;
  amount: { total: number; currency: string; payer_total?: number };
  payer?: { openid: string };
  prepay_id: string;
  notify_url: string;
  description: string;
  expires_at: string;
  closed_by_api: boolean;
  shipping: { logistics_type: number; delivery_mode: number; item_desc: string[]; upload_time: string }[];
  [field: string]: unknown;
}

export interface PayOptions {
  result?: 'success' | 'fail';
  /** false: WeChat Pay never sends the notification. */
  notify?: boolean;
  /** Extra deliveries after one was acknowledged. */
  duplicates?: number;
  /** The first delivery this much later. */
  delay_ms?: number;
}

export interface GivenCard {
  code: string;
  notification_id: string;
}

export class TestSandbox {
  private constructor(readonly sandbox: Sandbox) {}

  /** A sandbox on a fresh temporary state folder (removed by close()), retries shrunk by RETRY_FACTOR. */
  static async start(options: SandboxOptions = {}): Promise<TestSandbox> {
    return new TestSandbox(await startSandbox({ retryFactor: RETRY_FACTOR, ...options }));
  }

  /** The control API of a sandbox started elsewhere (on a state folder of the test's, or by serve). */
  static of(sandbox: Sandbox): TestSandbox {
    return new TestSandbox(sandbox);
  }

  get url(): string {
    return this.sandbox.url;
  }

  get credentials(): SandboxCredentials {
    return this.sandbox.credentials;
  }

  close(): Promise<void> {
    return this.sandbox.close();
  }

  /** The platform's private key, to sign notifications as WeChat Pay does (or to forge them). */
  platformPrivateKey(): string {
    return readFileSync(join(dirname(this.credentials.privateKey), 'platform_private_key.pem'), 'utf8');
  }

  /** The merchant's API private key (PEM): what signs requests and paySign. */
  merchantPrivateKey(): string {
    return readFileSync(this.credentials.privateKey, 'utf8');
  }

  /** memberCard() options for this sandbox: short timeouts, one retry, silent. */
  cardOptions(store: string | Store | CardStore, extra: Partial<MemberCardOptions> = {}): MemberCardOptions {
    const c = this.credentials;
    return {
      cardId: c.cardId,
      appid: c.appid,
      wechatpay: { ...wechatpayOptions(c), timeout: 1500, retries: 1 },
      store,
      log: () => undefined,
      ...extra,
    };
  }

  // --- the control API ----------------------------------------------------------------------

  /** `path` is below /sandbox/, e.g. 'users'. Answers whatever the sandbox answered. */
  controlReply(method: string, path: string, body?: unknown): Promise<Reply> {
    return call(method, new URL(`sandbox/${path}`, this.url), body === undefined ? {} : { body });
  }

  /** The body of a 2xx answer; any other answer is an error naming the call. */
  async control(method: string, path: string, body?: unknown): Promise<any> {
    const reply = await this.controlReply(method, path, body);
    if (reply.status >= 300) throw new Error(`sandbox ${method} ${path} → ${reply.status} ${reply.text}`);
    return reply.body;
  }

  newUser(options: { share_unionid?: boolean } = {}): Promise<SandboxUser> {
    return this.control('POST', 'users', options);
  }

  /** A wx.login() code for this user, good for one jscode2session. */
  async loginCode(user: Pick<SandboxUser, 'unionid'>): Promise<string> {
    return ((await this.control('POST', 'login-codes', { unionid: user.unionid })) as { js_code: string }).js_code;
  }

  /** Logs the user in at a back end's login route (wx.login() code → POST {code}); answers the token. */
  async login(loginUrl: string, user: Pick<SandboxUser, 'unionid'>): Promise<string> {
    const reply = await call('POST', loginUrl, { body: { code: await this.loginCode(user) } });
    if (reply.status !== 200) throw new Error(`login at ${loginUrl} failed: ${reply.status} ${reply.text}`);
    return reply.body.token as string;
  }

  /** Gives the user a card; WeChat Pay then sends ACCEPT_CARD to the registered notify URL. */
  giveCard(user: Pick<SandboxUser, 'unionid'>, extra: Record<string, unknown> = {}): Promise<GivenCard> {
    return this.control('POST', `cards/${this.credentials.cardId}/codes`, { unionid: user.unionid, ...extra });
  }

  /** A new person holding a new card with these values (`user`: options of the person). */
  async personWithCard(
    card: Record<string, unknown> = {},
    user: { share_unionid?: boolean } = {},
  ): Promise<GivenCard & { person: SandboxUser }> {
    const person = await this.newUser(user);
    return { person, ...(await this.giveCard(person, card)) };
  }

  card(code: string): Promise<SandboxCard> {
    return this.control('GET', `cards/${this.credentials.cardId}/codes/${code}`);
  }

  /** Changes the stored card directly, as WeChat's own systems would (no notification). */
  setCard(code: string, fields: Record<string, unknown>): Promise<SandboxCard> {
    return this.control('PATCH', `cards/${this.credentials.cardId}/codes/${code}`, fields);
  }

  /** The user acts on the card in WeChat (views, activates, deletes it): a notification follows. */
  cardEvent(code: string, event: Record<string, unknown>): Promise<{ notification_id: string }> {
    return this.control('POST', `cards/${this.credentials.cardId}/codes/${code}/events`, event);
  }

  async fault(spec: Record<string, unknown> | Record<string, unknown>[]): Promise<void> {
    await this.control('PUT', 'faults', spec);
  }

  async clearFaults(): Promise<void> {
    await this.control('DELETE', 'faults');
  }

  /** The request log; with a code, only the requests to that card's paths. */
  async requests(code?: string): Promise<RequestLine[]> {
    const { data } = (await this.control('GET', 'requests')) as { data: RequestLine[] };
    return code === undefined ? data : data.filter((r) => r.path.includes(`/codes/${code}`));
  }

  /** How many /v3/ requests the sandbox has received so far. */
  async upstreamCount(): Promise<number> {
    return (await this.requests()).filter((r) => r.path.startsWith('/v3/')).length;
  }

  // --- payments ---------------------------------------------------------------------------------

  /** A JSAPI order as the sandbox holds it: WeChat Pay's view (trade_state …) and its own (shipping …). */
  payOrder(outTradeNo: string): Promise<PayOrderView> {
    return this.control('GET', `orders/${encodeURIComponent(outTradeNo)}`);
  }

  /** The user pays (or fails) the order, without the mini-program; `notify: false` loses the notification. */
  pay(
    outTradeNo: string,
    options: PayOptions = {},
  ): Promise<{ transaction_id?: string; notification_id: string | null }> {
    return this.control('POST', `orders/${encodeURIComponent(outTradeNo)}/pay`, options);
  }

  /** wx.requestPayment in the WeChat client of `openid` inside mini-program `appid`: the answer as is. */
  requestPayment(params: Record<string, unknown> & { appid: string; openid: string }): Promise<Reply> {
    return this.controlReply('POST', 'payments', params);
  }

  async notification(id: string): Promise<NotificationStatus | undefined> {
    const { data } = (await this.control('GET', 'notifications')) as { data: NotificationStatus[] };
    return data.find((n) => n.id === id);
  }

  /** Waits until the notification was answered 2xx by the notify URL. */
  waitDelivered(id: string, withinMs = 10_000): Promise<NotificationStatus> {
    return waitFor(`notification ${id} delivered`, withinMs, async () => {
      const n = await this.notification(id);
      return n?.delivered ? n : undefined;
    });
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The sandbox command line as `wechat-membercard sandbox` runs it, from the sources (through tsx).
const COMMAND =
  "import('./src/sandbox/cli.ts').then((m) => m.runSandboxCommand(process.argv.slice(1)))" +
  '.then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })';

export interface SandboxProcess {
  sandbox: TestSandbox;
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * `wechat-membercard sandbox ARGS` in a process of its own; resolves once it printed its
 * credentials, which must be its first line on stdout. sandbox.close() stops it with SIGTERM.
 */
export async function sandboxProcess(args: string[]): Promise<SandboxProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', COMMAND, '--', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // A safety net: whatever happens to the caller, the sandbox does not outlive it.
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      process.off('exit', kill);
      resolve(code);
    }),
  );
  const first = await Promise.race([
    new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    exited.then((code) => {
      throw new Error(`the sandbox command exited early (${code})`);
    }),
  ]);
  const credentials = JSON.parse(first) as SandboxCredentials;
  const close = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
  };
  return { sandbox: TestSandbox.of({ url: credentials.baseURL, credentials, close }), child, exited };
}
