// Real `serve` processes for the multi-instance tests: one shared sandbox, a "load balancer"
// in front of the instances for WeChat Pay's notifications, child processes that can be killed
// (SIGKILL included), and per-run PostgreSQL schemas / Redis key prefixes that are removed after.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { serveEnvironment, startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { deleteRedisKeys, dropPostgresSchema } from '../store/cleanup.js';
import { POSTGRES_URL, probePostgres, probeRedis, REDIS_URL, REQUIRE_SERVICES, sleep } from '../store/helpers.js';

export { POSTGRES_URL, REDIS_URL, sleep };

const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('./serve-child.ts', import.meta.url));

export const hex = (): string => randomBytes(6).toString('hex');

/** Polls `check` every `everyMs` until it returns a value other than undefined, or fails after `withinMs`. */
export async function waitFor<T>(
  what: string,
  withinMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${withinMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

// --- services -----------------------------------------------------------------------------------

export type Engine = 'postgres' | 'redis';

const probes = { postgres: () => probePostgres(POSTGRES_URL), redis: () => probeRedis(REDIS_URL) };

/**
 * Why a suite needing `engine` must be skipped (undefined: run it). With
 * MEMBERCARD_TEST_REQUIRE_SERVICES=1 an unreachable server is a failing test instead.
 */
export async function unavailable(engine: Engine, suite: string): Promise<string | undefined> {
  const reason = await probes[engine]();
  if (reason && REQUIRE_SERVICES) {
    test(`${suite}: ${engine} is required (MEMBERCARD_TEST_REQUIRE_SERVICES=1) and reachable`, () => {
      throw new Error(reason.replace(': suite skipped', ''));
    });
  }
  return reason;
}

/** A MEMBERCARD_STORE value of its own for this run, and how to remove everything it held. */
export interface TestStore {
  url: string;
  /** The same store reached through another host:port (a proxy in front of the server). */
  via(port: number): string;
  cleanup(): Promise<void>;
}

export function freshStore(engine: Engine | 'sqlite', dir?: string): TestStore {
  if (engine === 'sqlite') {
    const folder = dir ?? mkdtempSync(join(tmpdir(), 'membercard-mi-sqlite-'));
    const url = `sqlite:${join(folder, 'membercard.db')}`;
    return { url, via: () => url, cleanup: async () => rmSync(folder, { recursive: true, force: true }) };
  }
  const base = engine === 'postgres' ? POSTGRES_URL : REDIS_URL;
  const param = engine === 'postgres' ? 'schema' : 'prefix';
  const name = engine === 'postgres' ? `membercard_mi_${hex()}` : `membercard_mi_${hex()}:`;
  const make = (port?: number): string => {
    const u = new URL(base);
    if (port !== undefined) {
      u.hostname = '127.0.0.1';
      u.port = String(port);
    }
    u.searchParams.set(param, name);
    return u.toString();
  };
  return {
    url: make(),
    via: make,
    cleanup: async () => {
      if (engine === 'postgres') await dropPostgresSchema(POSTGRES_URL, name);
      else await deleteRedisKeys(REDIS_URL, name);
    },
  };
}

export function target(engine: Engine): { host: string; port: number } {
  const u = new URL(engine === 'postgres' ? POSTGRES_URL : REDIS_URL);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || (engine === 'postgres' ? 5432 : 6379)) };
}

// --- HTTP ---------------------------------------------------------------------------------------

export interface Reply {
  status: number;
  body: any;
  text: string;
  ms: number;
}

export async function call(
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | null = null;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const started = Date.now();
  const response = await fetch(url, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text, ms: Date.now() - started };
}

// --- the sandbox (one WeChat Pay for every instance) --------------------------------------------

export interface SandboxUser {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
}

export interface NotificationStatus {
  id: string;
  attempts: number;
  last_status: number | null;
  delivered: boolean;
  abandoned: boolean;
}

export interface SharedSandbox {
  sandbox: Sandbox;
  stateDir: string;
  control(method: string, path: string, body?: unknown): Promise<any>;
  newUser(options?: { share_unionid?: boolean }): Promise<SandboxUser>;
  /** A card for this user; WeChat Pay sends ACCEPT_CARD to the registered notify URL. */
  giveCard(user: SandboxUser, extra?: Record<string, unknown>): Promise<{ code: string; notification_id: string }>;
  notification(id: string): Promise<NotificationStatus | undefined>;
  waitDelivered(id: string, withinMs?: number): Promise<NotificationStatus>;
  /** Logs the user in at `instance` (wx.login code → POST /api/login) and answers the token. */
  login(instance: string, user: SandboxUser): Promise<string>;
  /** The environment of a `serve` in real mode, pointed at this sandbox. */
  env(store: string, notifyUrl: string): Record<string, string>;
  close(): Promise<void>;
}

/**
 * A sandbox with WeChat's retry schedule shrunk 1000× (15 s → 15 ms, 30 min → 1.8 s), so a
 * notification refused during an outage is retried within seconds.
 */
export async function sharedSandbox(retryFactor = 0.001): Promise<SharedSandbox> {
  const stateDir = mkdtempSync(join(tmpdir(), 'membercard-mi-sandbox-'));
  const sandbox = await startSandbox({ stateDir, retryFactor });
  const c = sandbox.credentials;
  const control = async (method: string, path: string, body?: unknown) => {
    const reply = await call(
      method,
      new URL(path.replace(/^\//, ''), sandbox.url).href,
      body === undefined ? {} : { body },
    );
    if (reply.status >= 400) throw new Error(`sandbox ${method} ${path} → ${reply.status} ${reply.text}`);
    return reply.body;
  };
  const notification = async (id: string) => {
    const { data } = (await control('GET', '/sandbox/notifications')) as { data: NotificationStatus[] };
    return data.find((n) => n.id === id);
  };
  return {
    sandbox,
    stateDir,
    control,
    newUser: (o = {}) => control('POST', '/sandbox/users', o),
    giveCard: (user, extra = {}) =>
      control('POST', `/sandbox/cards/${c.cardId}/codes`, { unionid: user.unionid, ...extra }),
    notification,
    waitDelivered: (id, withinMs = 10_000) =>
      waitFor(`notification ${id} delivered`, withinMs, async () => {
        const n = await notification(id);
        return n?.delivered ? n : undefined;
      }),
    login: async (instance, user) => {
      const { js_code } = (await control('POST', '/sandbox/login-codes', { unionid: user.unionid })) as {
        js_code: string;
      };
      const reply = await call('POST', `${instance}/api/login`, { body: { code: js_code } });
      if (reply.status !== 200) throw new Error(`login at ${instance} failed: ${reply.status} ${reply.text}`);
      return reply.body.token as string;
    },
    env: (store, notifyUrl) => ({
      ...serveEnvironment(c),
      MEMBERCARD_STORE: store,
      MEMBERCARD_NOTIFY_URL: notifyUrl,
      HOST: '127.0.0.1',
      PORT: '0',
    }),
    close: async () => {
      await sandbox.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

// --- the notify "load balancer" -----------------------------------------------------------------

export interface CapturedNotification {
  id: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * What MEMBERCARD_NOTIFY_URL points at: WeChat Pay's notifications arrive here and are either
 * forwarded to the instance the test chooses (as a load balancer would), answering with that
 * instance's status, or captured and acknowledged with 204, so the test can deliver the genuine,
 * signed notification itself wherever it likes.
 */
export class NotifyBalancer {
  #server: Server | undefined;
  /** Where notifications go: an instance's base URL, or 'capture'. */
  route: string | 'capture' = 'capture';
  /** Called with the instance's status before the answer is passed on to WeChat Pay. */
  onAnswered: ((status: number, id: string) => void) | undefined;
  /** Every notification that arrived, forwarded or not. */
  readonly captured: CapturedNotification[] = [];
  readonly forwarded: { id: string; to: string; status: number }[] = [];
  url = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = signatureHeaders(req.headers);
        let id = '';
        try {
          id = String((JSON.parse(body) as { id?: unknown }).id ?? '');
        } catch {
          // not JSON: forwarded as is
        }
        const route = this.route;
        this.captured.push({ id, headers, body });
        if (route === 'capture') {
          res.writeHead(204).end();
          return;
        }
        deliver(`${route}/api/member-card/notify`, { headers, body }).then(
          (status) => {
            this.forwarded.push({ id, to: route, status });
            this.onAnswered?.(status, id);
            res.writeHead(status).end();
          },
          () => {
            this.forwarded.push({ id, to: route, status: 502 });
            res.writeHead(502).end();
          },
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/member-card/notify`;
  }

  /** The captured notification with this id, waiting for it to arrive. */
  take(id: string, withinMs = 10_000): Promise<CapturedNotification> {
    return waitFor(`notification ${id} captured`, withinMs, async () => this.captured.find((n) => n.id === id));
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  }
}

function signatureHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('wechatpay-') || name === 'content-type' || name === 'request-id' || name === 'user-agent') {
      out[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
  }
  return out;
}

/**
 * POSTs a notification to an instance and resolves with its status the moment the status line
 * arrives (so a test can act "right after the answer"); `onStatus` runs synchronously then.
 */
export function deliver(
  url: string,
  n: { headers: Record<string, string>; body: string },
  onStatus?: (status: number) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...n.headers, 'content-length': String(Buffer.byteLength(n.body)) },
        agent: false,
        timeout: 15_000,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        onStatus?.(status);
        res.resume();
        resolve(status);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 15 s`)));
    req.on('error', reject);
    req.end(n.body);
  });
}

// --- serve processes ----------------------------------------------------------------------------

export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

const running = new Set<ChildProcess>();
// A safety net: whatever happens to the test, no `serve` outlives this process.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One `serve` process (startServer from src/serve.ts, as `wechat-membercard serve` runs it). */
export class ServeProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url = '';

  private constructor(env: Record<string, string>, cwd: string) {
    // Only what the child needs from ours (PATH etc.), never a MEMBERCARD_* / WECHAT* setting.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(MEMBERCARD_|WECHAT|SANDBOX_|PORT$|HOST$)/.test(k)),
    );
    this.child = spawn(process.execPath, ['--import', TSX, CHILD], {
      cwd,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.child);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then everything it wrote has been read.
      this.child.once('close', (code, signal) => {
        running.delete(this.child);
        resolve({ code, signal });
      });
    });
    let pending = '';
    const take = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        this.output.push(line);
        if (line.startsWith('{')) {
          try {
            this.logs.push(JSON.parse(line) as LogLine);
          } catch {
            // not a log line
          }
        }
      }
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
  }

  /** Starts `serve` and resolves once it prints the URL it serves on (15 s at most). */
  static async start(env: Record<string, string>, cwd: string): Promise<ServeProcess> {
    const p = new ServeProcess(env, cwd);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const line = p.output.find((l) => /serving on http:\/\/127\.0\.0\.1:\d+/.test(l));
      if (line) {
        p.url = (/(http:\/\/127\.0\.0\.1:\d+)/.exec(line) as RegExpExecArray)[1] as string;
        return p;
      }
      if (!p.alive || Date.now() > deadline) {
        if (!p.alive) await p.exited;
        const why = p.alive
          ? 'did not print its URL within 15 s'
          : `exited (${p.child.exitCode ?? p.child.signalCode}) before serving`;
        await p.stop();
        throw new Error(`serve ${why}:\n${p.output.join('\n')}`);
      }
      await sleep(25);
    }
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  count(message: string): number {
    return this.logs.filter((l) => l.message === message).length;
  }

  /** SIGKILL: no close(), no flush, nothing. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a clean close), then SIGKILL if it is still there after 3 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A scratch folder for serve's working directory, so nothing is written into the repository. */
export function scratch(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'membercard-mi-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
