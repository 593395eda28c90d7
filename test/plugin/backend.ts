// The other end of the mini-program's wx.request: a real `serve` back end with its embedded
// WeChat Pay sandbox, reached over real HTTP (fetch), and a small TCP gate in front of it to cut
// the network for real. Requests reach it only once WeChat's rules allowed them (wechat.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { waitFor } from './simulator.js';
import { routeRequests, type Side, type WxRequestOptions } from './wechat.js';

// ---------------------------------------------------------------- wx.request → fetch

export interface SentRequest {
  /** Whose wx.request sent it: the host's or the plugin's. */
  side: Side;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  status: number | 'failed';
}

/** Every request the mini-program code made (and WeChat's rules let through), in order. */
export const sent: SentRequest[] = [];

/**
 * wx.request over real HTTP, with wx's calling convention: any HTTP status is `success`
 * (statusCode, data parsed as JSON when dataType is json, header); only a transport failure
 * is `fail` with `request:fail …`; `complete` always.
 */
export function routeWxRequestOverHttp(): void {
  routeRequests((options: WxRequestOptions, side: Side) => {
    const controller = new AbortController();
    const method = (options.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = { ...(options.header ?? {}) };
    let url = options.url;
    let body: string | undefined;
    if (options.data !== undefined) {
      if (method === 'GET') {
        const query = new URLSearchParams(options.data as Record<string, string>).toString();
        if (query) url += (url.includes('?') ? '&' : '?') + query;
      } else {
        body = typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
          headers['content-type'] = 'application/json';
      }
    }
    const record: SentRequest = { side, method, url, headers, body: options.data, status: 'failed' };
    sent.push(record);
    const timer = setTimeout(() => controller.abort(), options.timeout ?? 60_000);
    fetch(url, { method, headers, body: body ?? null, signal: controller.signal })
      .then(async (response) => {
        const raw = await response.text();
        let data: unknown = raw;
        if ((options.dataType ?? 'json') === 'json') {
          try {
            data = JSON.parse(raw);
          } catch {
            data = raw;
          }
        }
        record.status = response.status;
        const result = {
          statusCode: response.status,
          data,
          header: Object.fromEntries(response.headers),
          cookies: [],
          errMsg: 'request:ok',
        };
        options.success?.(result);
        options.complete?.(result);
      })
      .catch((err: unknown) => {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        const result = { errMsg: `request:fail ${cause}`, errno: 5 };
        options.fail?.(result);
        options.complete?.(result);
      })
      .finally(() => clearTimeout(timer));
    return { abort: () => controller.abort(), onHeadersReceived() {}, offHeadersReceived() {} };
  });
}

// ---------------------------------------------------------------- the real back end

export interface SandboxUser {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
}

export interface Backend {
  server: RunningServer;
  /** The back end's own URL, e.g. http://127.0.0.1:4321 */
  url: string;
  /** The same back end through a TCP gate the tests can shut (a real network failure). */
  gatedUrl: string;
  network: { up: boolean };
  cardId: string;
  control(method: string, path: string, body?: unknown): Promise<any>;
  newUser(options?: { share_unionid?: boolean }): Promise<SandboxUser>;
  loginCode(user: { unionid: string }): Promise<string>;
  login(user: { unionid: string }): Promise<string>;
  /** Gives the user a card and waits until the back end has its ACCEPT_CARD notification. */
  giveCard(user: { unionid: string }, extra?: Record<string, unknown>): Promise<string>;
  waitDelivered(notificationId: string): Promise<void>;
  storedCard(code: string): Promise<Record<string, any>>;
  /**
   * wx.requestPayment as WeChat's client runs it for `user` inside the sandbox's mini-program: the
   * parameters go to the sandbox, which checks the paySign and pays (or `result`: cancel, fail).
   */
  requestPaymentAs(
    user: { mp_openid: string },
    result?: 'success' | 'cancel' | 'fail',
    extra?: { notify?: boolean },
  ): (options: any) => void;
  close(): Promise<void>;
}

export async function startBackend(): Promise<Backend> {
  const stateDir = mkdtempSync(join(tmpdir(), 'membercard-plugin-'));
  const server = await startServer(
    // Every test logs a user in from 127.0.0.1: more than a real address would in a minute.
    {
      PORT: '0',
      SANDBOX_PORT: '0',
      SANDBOX_STATE: stateDir,
      MEMBERCARD_STORE: 'memory:',
      LOGIN_CLIENT_PER_MINUTE: '0',
    },
    () => {},
  );
  const sandbox = server.sandbox;
  if (!sandbox) throw new Error('expected the embedded sandbox');
  const target = new URL(server.url);

  const network = { up: true };
  const sockets = new Set<Socket>();
  const gate: NetServer = createServer((client) => {
    if (!network.up) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((ok) => gate.listen(0, '127.0.0.1', () => ok()));
  const gatedUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`;
  const setNetwork = {
    get up() {
      return network.up;
    },
    set up(value: boolean) {
      network.up = value;
      if (!value) for (const s of sockets) s.destroy(); // kill kept-alive connections too
    },
  };

  const control = async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(new URL(path.replace(/^\//, ''), sandbox.url), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const raw = await response.text();
    if (response.status >= 400) throw new Error(`sandbox ${method} ${path} → ${response.status} ${raw}`);
    return raw ? JSON.parse(raw) : undefined;
  };
  const cardId = sandbox.credentials.cardId;

  const backend: Backend = {
    server,
    url: server.url,
    gatedUrl,
    network: setNetwork,
    cardId,
    control,
    newUser: (options = {}) => control('POST', 'sandbox/users', options),
    loginCode: async (user) =>
      (await control('POST', 'sandbox/login-codes', { unionid: user.unionid })).js_code as string,
    login: async (user) => {
      const code = await backend.loginCode(user);
      const response = await fetch(`${server.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
      const body = (await response.json()) as { token?: string };
      if (response.status !== 200 || !body.token) throw new Error(`login answered ${response.status}`);
      return body.token;
    },
    waitDelivered: async (notificationId) => {
      await waitFor(async () => {
        const { data } = (await control('GET', 'sandbox/notifications')) as {
          data: { id: string; delivered: boolean }[];
        };
        return data.find((n) => n.id === notificationId)?.delivered;
      }, `notification ${notificationId} delivered`);
    },
    giveCard: async (user, extra = {}) => {
      const given = (await control('POST', `sandbox/cards/${cardId}/codes`, { unionid: user.unionid, ...extra })) as {
        code: string;
        notification_id: string;
      };
      await backend.waitDelivered(given.notification_id);
      return given.code;
    },
    storedCard: (code) => control('GET', `sandbox/cards/${cardId}/codes/${code}`),
    requestPaymentAs:
      (user, result = 'success', extra = {}) =>
      (options: Record<string, any>) => {
        const { success, fail, complete, ...params } = options;
        fetch(new URL('sandbox/payments', sandbox.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            ...params,
            appid: sandbox.credentials.miniProgramAppid,
            openid: user.mp_openid,
            result,
            ...extra,
          }),
        })
          .then((r) => r.json() as Promise<{ errMsg: string }>)
          .then(
            (answer) => {
              const done = answer.errMsg === 'requestPayment:ok' ? success : fail;
              done?.(answer);
              complete?.(answer);
            },
            () => fail?.({ errMsg: 'requestPayment:fail network' }),
          );
      },
    close: async () => {
      setNetwork.up = false;
      await new Promise<void>((ok) => gate.close(() => ok()));
      await server.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return backend;
}
