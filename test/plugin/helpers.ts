// Test bed for the mini-program side: jsdom globals for miniprogram-simulate, wx.request routed
// over real HTTP (fetch) to a real `serve` back end with its embedded WeChat Pay sandbox, and a
// small TCP gate in front of it to cut the network for real. Only wx APIs that cannot run outside
// WeChat (wx.navigateToMiniProgram, wx.login) are replaced, by recording stubs in the tests.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../../src/server/serve.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const require = createRequire(import.meta.url);

/**
 * The mini-program as WeChat loads it: the committed .js/.json/.wxml/.wxss of the demo host and
 * the plugin, copied without the .ts sources (project.config.json's packOptions drop them too).
 * Tests load from this copy because under tsx a require of `x.js` (or of `x`) resolves to `x.ts`
 * whenever that exists, which would test the sources instead of the JS that ships;
 * build.test.ts checks that the committed .js is what tsc makes of the .ts.
 */
export const STAGE = mkdtempSync(join(tmpdir(), 'membercard-miniprogram-'));
for (const entry of ['plugin', 'pages', 'app.js', 'app.json', 'app.wxss', 'sitemap.json', 'project.config.json']) {
  cpSync(join(ROOT, entry), join(STAGE, entry), { recursive: true, filter: (source) => !source.endsWith('.ts') });
}
process.on('exit', () => rmSync(STAGE, { recursive: true, force: true }));

export const PLUGIN = join(STAGE, 'plugin');
export const MEMBER_CARD = join(PLUGIN, 'components/member-card/member-card');

// ---------------------------------------------------------------- jsdom + miniprogram-simulate

/** The few DOM members used here (the root tsconfig has no DOM lib; jsdom ships no types). */
export interface DomNode {
  textContent: string | null;
  innerHTML: string;
  appendChild(child: DomNode): DomNode;
}
interface DomWindow {
  document: { body: DomNode; createElement(tag: string): DomNode };
  [name: string]: unknown;
}
const { JSDOM } = require('jsdom') as {
  JSDOM: new (html: string, options: Record<string, unknown>) => { window: DomWindow };
};

const jsdom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
  pretendToBeVisual: true,
  url: 'https://servicewechat.com/',
});
const g = globalThis as unknown as Record<string, unknown>;
g.window = jsdom.window;
g.document = jsdom.window.document;
// What j-component / miniprogram-exparser reach for as bare globals. CustomEvent must be jsdom's
// even though Node 20 has its own: j-component dispatches `new CustomEvent('tap')` on jsdom nodes.
for (const name of [
  'Node',
  'Element',
  'HTMLElement',
  'MutationObserver',
  'getComputedStyle',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'TouchEvent',
]) {
  if (!(name in g) && name in jsdom.window) g[name] = jsdom.window[name];
}
g.CustomEvent = jsdom.window.CustomEvent;

/** A rendered component as j-component gives it (only what these tests use). */
export interface Rendered {
  dom: DomNode;
  data: Record<string, any>;
  instance: Record<string, any>;
  querySelector(selector: string): Rendered | undefined;
  querySelectorAll(selector: string): Rendered[];
  dispatchEvent(name: string, options?: Record<string, unknown>): void;
  triggerPageLifeTime(name: string, ...args: unknown[]): void;
  attach(parent: DomNode): void;
  detach(): void;
  toJSON(): JsonNode;
}

export interface JsonNode {
  tagName: string;
  attrs: { name: string; value: unknown }[];
  children: (JsonNode | string)[];
}

interface Simulate {
  load(path: string, options?: Record<string, unknown>): string;
  render(id: string, props?: Record<string, unknown>): Rendered;
  sleep(ms: number): Promise<void>;
}

// Loaded after the globals exist: it registers Component/Behavior and global.wx at require time.
export const simulate = require('miniprogram-simulate') as Simulate;

/** Every wx.* API is miniprogram-simulate's mock unless a test replaces it. */
export const wx = g.wx as Record<string, any>;

/** The plugin's `main`, as `requirePlugin('memberCard')` hands it to a host. */
export interface PluginMain {
  configure(config: {
    baseUrl: string;
    getToken: () => string | null | undefined | Promise<string | null | undefined>;
    onUnauthenticated?: () => void;
    timeout?: number;
  }): unknown;
  getConfig(): { baseUrl: string } | null;
}
export const plugin = require(join(PLUGIN, 'index.js')) as PluginMain;

/** Renders a component and attaches it to a page-like parent so its lifetimes run. */
export function mount(path: string, options?: Record<string, unknown>): Rendered {
  const component = simulate.render(simulate.load(path, options));
  const parent = jsdom.window.document.createElement('parent-wrapper');
  jsdom.window.document.body.appendChild(parent);
  component.attach(parent);
  return component;
}

/** The text a user reads inside the first element matching `selector` ('' when absent). */
export function text(component: Rendered, selector: string): string {
  return component.querySelector(selector)?.dom.textContent?.trim() ?? '';
}

/** An attribute as written in the WXML (e.g. an <image>'s src), from j-component's JSON tree. */
export function attr(component: Rendered, selector: string, name: string): unknown {
  const node = component.querySelector(selector);
  if (!node) return undefined;
  return node.toJSON().attrs.find((a) => a.name === name)?.value;
}

export function tap(component: Rendered, selector: string): void {
  const node = component.querySelector(selector);
  if (!node) throw new Error(`nothing to tap: ${selector}`);
  node.dispatchEvent('tap');
}

/** Polls until `check` returns a truthy value (rendering and HTTP are asynchronous). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 8000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await simulate.sleep(15);
  }
}

// ---------------------------------------------------------------- wx.request → fetch

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  status: number | 'failed';
}

interface WxRequestOptions {
  url: string;
  method?: string;
  data?: unknown;
  header?: Record<string, string>;
  dataType?: string;
  timeout?: number;
  success?: (res: unknown) => void;
  fail?: (res: unknown) => void;
  complete?: (res: unknown) => void;
}

/** Every request the mini-program code made, in order. */
export const sent: SentRequest[] = [];

/**
 * wx.request over real HTTP, with wx's calling convention: any HTTP status is `success`
 * (statusCode, data parsed as JSON when dataType is json, header); only a transport failure
 * is `fail` with `request:fail …`; `complete` always.
 */
export function routeWxRequestOverHttp(): void {
  wx.request = (options: WxRequestOptions) => {
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
    const record: SentRequest = { method, url, headers, body: options.data, status: 'failed' };
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
  };
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
  close(): Promise<void>;
}

export async function startBackend(): Promise<Backend> {
  const stateDir = mkdtempSync(join(tmpdir(), 'membercard-plugin-'));
  const server = await startServer(
    { PORT: '0', SANDBOX_PORT: '0', SANDBOX_STATE: stateDir, MEMBERCARD_STORE: 'memory:' },
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
    close: async () => {
      setNetwork.up = false;
      await new Promise<void>((ok) => gate.close(() => ok()));
      await server.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return backend;
}
