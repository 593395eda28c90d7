// Real `serve` processes (as `wechat-membercard serve` runs) that a test can stop or SIGKILL, a
// notify "load balancer" in front of them for WeChat Pay's notifications, delivering a captured
// notification to an instance by hand, and a whole deployment of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { serveEnvironment, type SandboxCredentials } from '../../src/sandbox/index.js';
import { listen, type Listening } from './http.js';
import { sleep, waitFor } from './poll.js';
import { TestSandbox } from './sandbox.js';
import { freshStore, type Engine, type TestStore } from './services.js';
import { tempDir, type TempDir } from './temp.js';

const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('./serve-child.ts', import.meta.url));

/** The environment of a `serve` in real mode against this sandbox, on this store, on a free port. */
export function serveEnv(credentials: SandboxCredentials, store: string, notifyUrl?: string): Record<string, string> {
  return {
    ...serveEnvironment(credentials),
    MEMBERCARD_STORE: store,
    ...(notifyUrl === undefined ? {} : { MEMBERCARD_NOTIFY_URL: notifyUrl }),
    HOST: '127.0.0.1',
    PORT: '0',
  };
}

export interface CapturedNotification {
  id: string;
  headers: Record<string, string>;
  body: string;
  /** The path it was sent to (/api/member-card/notify or /api/member-card/pay-notify). */
  path: string;
}

/**
 * What MEMBERCARD_NOTIFY_URL points at: WeChat Pay's notifications arrive here and are either
 * forwarded to the instance the test chooses (as a load balancer would), answering with that
 * instance's status, or captured and acknowledged with 204, so the test can deliver the genuine,
 * signed notification itself wherever it likes.
 */
export class NotifyBalancer {
  #listening: Listening | undefined;
  /** Where notifications go: an instance's base URL, or 'capture'. */
  route = 'capture';
  /** Called with the instance's status before the answer is passed on to WeChat Pay. */
  onAnswered: ((status: number, id: string) => void) | undefined;
  /** Every notification that arrived, forwarded or not. */
  readonly captured: CapturedNotification[] = [];
  readonly forwarded: { id: string; to: string; status: number }[] = [];
  url = '';

  /** Where payment notifications come (each order's notify_url): the same balancer, serve's pay-notify path. */
  payUrl = '';

  async start(): Promise<void> {
    this.#listening = await listen((req, res) => this.#receive(req, res));
    this.url = `${this.#listening.url}/api/member-card/notify`;
    this.payUrl = `${this.#listening.url}/api/member-card/pay-notify`;
  }

  #receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = signatureHeaders(req.headers);
      const id = notificationId(body);
      const route = this.route;
      // Card notifications to /notify, payments to /pay-notify: passed on to the same path.
      const path = new URL(req.url ?? '/', 'http://balancer.invalid').pathname;
      this.captured.push({ id, headers, body, path });
      if (route === 'capture') {
        res.writeHead(204).end();
        return;
      }
      deliver(`${route}${path}`, { headers, body }).then(
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
  }

  /** The captured notification with this id, waiting for it to arrive. */
  take(id: string, withinMs = 10_000): Promise<CapturedNotification> {
    return waitFor(`notification ${id} captured`, withinMs, () => this.captured.find((n) => n.id === id));
  }

  async close(): Promise<void> {
    await this.#listening?.close();
    this.#listening = undefined;
  }
}

function notificationId(body: string): string {
  try {
    const { id } = JSON.parse(body) as { id?: unknown };
    return typeof id === 'string' ? id : '';
  } catch {
    return ''; // not JSON: forwarded as is
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

export interface ServeLogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

const running = new Set<ChildProcess>();
// A safety net: whatever happens to the test, no `serve` outlives this process.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One `serve` process (startServer from src/server/serve.ts, as `wechat-membercard serve` runs it). */
export class ServeProcess {
  readonly child: ChildProcess;
  readonly logs: ServeLogLine[] = [];
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
            this.logs.push(JSON.parse(line) as ServeLogLine);
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
      const found = p.output.map((l) => /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(l)?.[1]).find(Boolean);
      if (found) {
        p.url = found;
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

/**
 * A deployment as a merchant runs one: `serve` instances on one store, behind a notify "load
 * balancer", against one WeChat Pay (the sandbox). close() stops and removes all of it.
 */
export class Deployment {
  readonly instances: ServeProcess[] = [];

  private constructor(
    readonly wechat: TestSandbox,
    readonly balancer: NotifyBalancer,
    readonly store: TestStore,
    private readonly work: TempDir,
  ) {}

  static async start(engine: Engine): Promise<Deployment> {
    return Deployment.on(freshStore(engine, 'serve'));
  }

  /** A deployment on a store location the caller made (a Redis Cluster prefix, say); close() removes it. */
  static async on(store: TestStore): Promise<Deployment> {
    const balancer = new NotifyBalancer();
    const [wechat] = await Promise.all([TestSandbox.start(), balancer.start()]);
    return new Deployment(wechat, balancer, store, tempDir('serve'));
  }

  /** One more `serve` on the store, or on `storeUrl` (the same store through a proxy, say); `extra`: more settings. */
  async serve(storeUrl = this.store.url, extra: Record<string, string> = {}): Promise<ServeProcess> {
    const env = { ...serveEnv(this.wechat.credentials, storeUrl, this.balancer.url), ...extra };
    const instance = await ServeProcess.start(env, this.work.dir);
    this.instances.push(instance);
    return instance;
  }

  async close(): Promise<void> {
    await Promise.all(this.instances.map((p) => p.stop()));
    await this.balancer.close();
    await this.wechat.close();
    await this.store.cleanup();
    this.work.remove();
  }
}
