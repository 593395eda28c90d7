// `npm run bench`: one run, loopback only. Starts the sandbox (signatures on) and each server
// in its own process, drives them with autocannon from this process, and prints the table,
// the ratios, upstream calls per 1,000 page views in a burst, the server CPU of a member code's
// issue and verify, and memory over a long run. BENCH_ONLY=member-codes measures the member codes only;
// BENCH_ONLY=retention the store's size under load and after a retention pass (bench/retention.ts).
// BENCH_ONLY=scale the many-instance and stale measures of bench/scale.ts (Redis; BENCH_DOWN_S, BENCH_REDIS).
// BENCH_STORE_URL replaces the SQLite store (e.g. on a Node without node:sqlite or better-sqlite3).
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { hashToken } from '../src/login/index.js';
import { createStore } from '../src/store/index.js';
import { sandboxProcess, type TestSandbox } from '../test/support/sandbox.js';
import { retentionBench } from './retention.js';
import { deleteRedisKeys } from '../test/support/services.js';
import { scale } from './scale.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 4); // seconds per throughput run
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const BURST_USERS = 100;
const BURST_VIEWS_EACH = 10;
const LONG_RUN = Number(process.env.BENCH_LONG_RUN ?? 100_000);
const DEFAULT_CACHE_TTL = '10000';

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(line));
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

interface Server {
  url: string;
  child: ChildProcess;
  cpu(): Promise<number>;
  times(): Promise<number[]>;
  memory(): Promise<{ rss: number; heapUsed: number }>;
  stop(): Promise<void>;
}

async function startServer(mode: string, env: Record<string, string>): Promise<Server> {
  const child = fork(join(root, 'bench', 'server.ts'), [mode], {
    cwd: root,
    // BENCH_NODE_ARGS: more flags for the servers (--cpu-prof, say).
    execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.push(child);
  if (process.env.BENCH_PIN)
    execFileSync('taskset', ['-cp', process.env.BENCH_PIN.split(',')[1] ?? '1', String(child.pid)], {
      stdio: 'ignore',
    });
  const { url } = JSON.parse(await firstLine(child)) as { url: string };
  return {
    url,
    child,
    times: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { times: number[] }).times));
        child.send({ type: 'times' });
      }),
    cpu: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { micros: number }).micros));
        child.send({ type: 'cpu' });
      }),
    memory: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as { rss: number; heapUsed: number }));
        child.send({ type: 'memory' });
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The server process's CPU time per request, µs: steadier than req/s on a busy machine. */
  cpuPerRequest: number;
}

async function load(server: Server, options: Partial<autocannon.Options>): Promise<Measured> {
  const cpuBefore = await server.cpu();
  const result = await autocannon({
    url: `${server.url}/member-card`,
    connections: CONNECTIONS,
    duration: DURATION,
    ...options,
  });
  const cpu = (await server.cpu()) - cpuBefore;
  const errors = result.errors + result.timeouts + result.non2xx;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors,
    cpuPerRequest: cpu / result.requests.total,
  };
}

async function lastSeq(sandbox: TestSandbox): Promise<number> {
  return (await sandbox.requests()).at(-1)?.seq ?? 0;
}

/** Users with cards, bound and logged in, written through our own Store as notifications would. */
async function prepareUsers(sandbox: TestSandbox, storeUrl: string, count: number) {
  const creds = sandbox.credentials;
  const store = createStore(storeUrl);
  await store.init();
  const users: Array<{ token: string; code: string }> = [];
  for (let i = 0; i < count; i++) {
    const { person: user, code } = await sandbox.personWithCard({ balance: 888 + i });
    await store.applyNotification(
      { id: `bench-${code}`, eventType: 'MEMBERCARD.ACCEPT_CARD', cardId: creds.cardId, code, receivedAt: Date.now() },
      { kind: 'bind', cardId: creds.cardId, code, unionid: user.unionid, oaOpenid: user.oa_openid },
    );
    const token = randomBytes(32).toString('base64url');
    await store.putSession(hashToken(token), {
      openid: user.mp_openid,
      unionid: user.unionid,
      expiresAt: Date.now() + 3600_000,
    });
    users.push({ token, code });
  }
  await store.close();
  return users;
}

function signaturesPerSecond(privateKeyPem: string): number {
  const key = createPrivateKey(privateKeyPem);
  const message = Buffer.from(
    `GET\n/v3/marketing/membercard-open/cards/x/codes/y\n${Math.floor(Date.now() / 1000)}\n${'n'.repeat(32)}\n\n`,
  );
  const started = process.hrtime.bigint();
  let count = 0;
  while (process.hrtime.bigint() - started < 2_000_000_000n) {
    sign('sha256', message, key);
    count++;
  }
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

async function burst(server: Server, sandbox: TestSandbox, tokens: string[]): Promise<number> {
  const views = shuffled(tokens.flatMap((t) => Array.from({ length: BURST_VIEWS_EACH }, () => t)));
  let next = 0;
  const before = await lastSeq(sandbox);
  const result = await autocannon({
    url: `${server.url}/member-card`,
    connections: 50,
    amount: views.length,
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          headers: { ...req.headers, authorization: `Bearer ${views[next++ % views.length]}` },
        }),
      },
    ],
  });
  if (result.non2xx || result.errors) throw new Error(`burst had ${result.non2xx} non-2xx and ${result.errors} errors`);
  const upstream = (await lastSeq(sandbox)) - before;
  return (upstream * 1000) / views.length;
}

const medianOf = (values: number[]): number =>
  [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)] as number;

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * Issue 14: the server CPU of GET /member-card/code (a new one-time code: the card from the read
 * cache, one store write) and of the till's POST /member-card/admin/codes/verify (one atomic
 * consume, the card from the read cache), on the embedded SQLite store. Each verify needs a live
 * code, and only a card's newest one is live, so each round issues one code per user, then
 * verifies them all, measuring the two apart.
 */
async function memberCodes(env: Record<string, string>, users: Array<{ token: string }>): Promise<void> {
  const admin = 'bench-admin-token-0123456789';
  const server = await startServer('module', { ...env, BENCH_CACHE_TTL: DEFAULT_CACHE_TTL, BENCH_ADMIN_TOKEN: admin });
  const ROUNDS_CODES = 5;
  const ISSUES_EACH = 3;
  const issueCpu: number[] = [];
  const verifyCpu: number[] = [];
  try {
    for (let round = 0; round < ROUNDS_CODES + 1; round++) {
      let codes: string[] = [];
      const cpu0 = await server.cpu();
      // Three codes per user, in three passes of one each: only the last pass's are still valid.
      for (let pass = 0; pass < ISSUES_EACH; pass++) {
        let next = 0;
        codes = [];
        const issued = await autocannon({
          url: `${server.url}/member-card/code`,
          connections: CONNECTIONS,
          amount: users.length,
          requests: [
            {
              setupRequest: (req) => ({
                ...req,
                headers: { ...req.headers, authorization: `Bearer ${users[next++ % users.length]?.token}` },
              }),
              onResponse: (status, body) => {
                if (status === 200) codes.push((JSON.parse(body) as { code: string }).code);
              },
            },
          ],
        });
        if (issued.non2xx || codes.length !== users.length) throw new Error(`GET /code: ${issued.non2xx} non-2xx`);
      }
      const cpu1 = await server.cpu();
      let v = 0;
      const verified = await autocannon({
        url: `${server.url}/member-card/admin/codes/verify`,
        connections: CONNECTIONS,
        amount: codes.length,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => ({
              ...req,
              headers: { ...req.headers, 'content-type': 'application/json', 'x-admin-token': admin },
              body: JSON.stringify({ code: codes[v++] }),
            }),
          },
        ],
      });
      const cpu2 = await server.cpu();
      if (verified.non2xx) throw new Error(`verify: ${verified.non2xx} non-2xx`);
      // Round 0 warms up (the cards come into the read cache).
      if (round === 0) continue;
      issueCpu.push((cpu1 - cpu0) / (users.length * ISSUES_EACH));
      verifyCpu.push((cpu2 - cpu1) / codes.length);
    }
  } finally {
    await server.stop();
  }
  const range = (list: number[]) => `rounds ${fmt(Math.min(...list))}–${fmt(Math.max(...list))}`;
  console.log(`\nmember codes (issue 14), SQLite store, cache on, ${ROUNDS_CODES} rounds × ${users.length} users`);
  const line = (route: string, cpu: number[]) =>
    `  ${route.padEnd(37)} server CPU ${fmt(medianOf(cpu))} µs/req (${range(cpu)})   goal < 2,000`;
  console.log(line('GET /member-card/code', issueCpu));
  console.log(line('POST /member-card/admin/codes/verify', verifyCpu));
}

async function main() {
  if (process.env.BENCH_PIN)
    execFileSync('taskset', ['-cp', process.env.BENCH_PIN.split(',')[0] ?? '0', String(process.pid)], {
      stdio: 'ignore',
    });
  const work = mkdtempSync(join(tmpdir(), 'membercard-bench-'));
  try {
    if (process.env.BENCH_ONLY === 'retention') {
      if (!(await retentionBench(work))) process.exitCode = 1;
      return;
    }
    console.log(
      `koa-wechat-membercard benchmark — Node ${process.version}, ${ROUNDS} rounds × ${DURATION} s per server ` +
        `(median round shown), ${CONNECTIONS} connections, loopback`,
    );
    const { sandbox, child } = await sandboxProcess(['--port', '0', '--state', join(work, 'sandbox')]);
    children.push(child);
    const creds = sandbox.credentials;
    if (process.env.BENCH_ONLY === 'scale') {
      const stores: string[] = [];
      try {
        await scale({
          sandbox,
          redisUrl: process.env.BENCH_REDIS ?? process.env.MEMBERCARD_TEST_REDIS ?? 'redis://127.0.0.1:6379',
          env: { BENCH_CREDS: JSON.stringify(creds) },
          prepareUsers: (url, count) => prepareUsers(sandbox, url, count),
          startServer,
          rounds: ROUNDS,
          duration: DURATION,
          stores,
        });
      } finally {
        for (const url of stores) await deleteRedisKeys(new URL(url).searchParams.get('prefix') ?? 'none:');
      }
      return;
    }
    // BENCH_STORE_URL: another store (a redis:// URL with ?prefix=, say) where SQLite has no driver.
    const storeUrl = process.env.BENCH_STORE_URL ?? `sqlite:${join(work, 'membercard.db')}`;
    const users = await prepareUsers(sandbox, storeUrl, BURST_USERS);
    const one = users[0] as { token: string; code: string };
    const auth = { headers: { authorization: `Bearer ${one.token}` } };
    const env = { BENCH_CREDS: JSON.stringify(creds), BENCH_STORE: storeUrl, BENCH_CODE: one.code };
    if (process.env.BENCH_ONLY === 'member-codes') {
      await memberCodes(env, users);
      return;
    }

    // Every server runs at once (an idle one costs nothing); each is measured in ROUNDS short
    // runs, taking turns, and the median run counts: the machine's drift then hits all alike.
    const servers: Array<{
      label: string;
      mode: string;
      env: Record<string, string>;
      options: Partial<autocannon.Options>;
    }> = [
      { label: '1. module, cache off', mode: 'module', env: { BENCH_CACHE_TTL: '0' }, options: auth },
      { label: '2. hand-written route (wechatpay-axios-plugin)', mode: 'handwritten', env: {}, options: {} },
      {
        label: '3. module, cache on (hits)',
        mode: 'module',
        env: { BENCH_CACHE_TTL: DEFAULT_CACHE_TTL },
        options: auth,
      },
      { label: '4. bare Koa, fixed JSON', mode: 'bare', env: {}, options: {} },
    ];
    const running = await Promise.all(servers.map((s) => startServer(s.mode, { ...env, ...s.env })));
    const runs: Measured[][] = servers.map(() => []);
    for (const [i, s] of servers.entries()) {
      // Warm-up.
      await autocannon({ url: `${running[i]!.url}/member-card`, connections: CONNECTIONS, duration: 2, ...s.options });
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, s] of servers.entries()) {
        const m = await load(running[i]!, s.options);
        if (m.errors) throw new Error(`${s.label}: ${m.errors} failed requests`);
        runs[i]!.push(m);
      }
      console.log(`  round ${round}/${ROUNDS} measured`);
    }
    await Promise.all(running.map((r) => r.stop()));
    const median = (list: Measured[]): Measured =>
      [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)] as Measured;
    const rows: Array<[string, Measured]> = servers.map((s, i) => [s.label, median(runs[i]!)]);
    // A ratio is taken within each round (its two runs were seconds apart), then the median.
    const ratio = (a: number, b: number) => {
      const perRound = runs[a]!.map((m, round) => m.rps / (runs[b]![round] as Measured).rps).sort((x, y) => x - y);
      return {
        median: perRound[Math.floor(perRound.length / 2)] as number,
        min: perRound[0] as number,
        max: perRound.at(-1) as number,
      };
    };
    const offVsHand = ratio(0, 1);
    const onVsBare = ratio(2, 3);
    // Throughput ratio from CPU: the faster server is the one that spends less CPU per request.
    const cpuRatio = (a: number, b: number) =>
      medianOf(runs[b]!.map((m) => m.cpuPerRequest)) / medianOf(runs[a]!.map((m) => m.cpuPerRequest));
    const sps = signaturesPerSecond(await import('node:fs').then((fs) => fs.readFileSync(creds.privateKey, 'utf8')));

    console.log('\nGET /member-card');
    console.log(
      [
        'server'.padEnd(48),
        'req/s'.padStart(9),
        'p50 ms'.padStart(7),
        'p99 ms'.padStart(7),
        'CPU µs/req'.padStart(11),
      ].join(' '),
    );
    for (const [label, m] of rows) {
      console.log(
        [
          label.padEnd(48),
          fmt(m.rps).padStart(9),
          fmt(m.p50).padStart(7),
          fmt(m.p99).padStart(7),
          fmt(m.cpuPerRequest).padStart(11),
        ].join(' '),
      );
    }
    console.log(`${'5. RSA-2048 SHA-256 signatures, one core'.padEnd(48)} ${fmt(sps).padStart(9)}`);
    const range = (r: { min: number; max: number }) => `(rounds ${fmt(r.min, 3)}–${fmt(r.max, 3)})`;
    console.log(
      `\nratio 1/2 (module vs hand-written, uncached): ${fmt(offVsHand.median, 3)} ${range(offVsHand)}   goal ≥ 0.95`,
    );
    console.log(
      `ratio 3/4 (cached module vs bare Koa):        ${fmt(onVsBare.median, 3)} ${range(onVsBare)}   goal ≥ 0.6`,
    );
    console.log(
      `the same by server CPU per request:           1/2 ${fmt(cpuRatio(0, 1), 3)}, 3/4 ${fmt(cpuRatio(2, 3), 3)}`,
    );

    console.log(
      `\nburst: ${BURST_USERS} users each opening their card ${BURST_VIEWS_EACH} times, shuffled, 50 connections`,
    );
    const tokens = users.map((u) => u.token);
    const offServer = await startServer('module', { ...env, BENCH_CACHE_TTL: '0' });
    const perThousandOff = await burst(offServer, sandbox, tokens);
    await offServer.stop();
    const onServer = await startServer('module', { ...env, BENCH_CACHE_TTL: DEFAULT_CACHE_TTL });
    const perThousandOn = await burst(onServer, sandbox, tokens);
    console.log(
      `  upstream calls per 1,000 page views: cache off ${fmt(perThousandOff)}, ` +
        `default cache ${fmt(perThousandOn)} (${fmt(perThousandOff / perThousandOn, 1)}× fewer; goal ≥ 5×)`,
    );

    await memberCodes(env, users);

    console.log(`\nmemory: ${fmt(LONG_RUN)} requests to the cached module, rotating over ${BURST_USERS} users`);
    let i = 0;
    await autocannon({
      url: `${onServer.url}/member-card`,
      connections: CONNECTIONS,
      amount: 5000,
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            headers: { ...req.headers, authorization: `Bearer ${tokens[i++ % tokens.length]}` },
          }),
        },
      ],
    });
    const before = await onServer.memory();
    const long = await autocannon({
      url: `${onServer.url}/member-card`,
      connections: CONNECTIONS,
      amount: LONG_RUN,
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            headers: { ...req.headers, authorization: `Bearer ${tokens[i++ % tokens.length]}` },
          }),
        },
      ],
    });
    const after = await onServer.memory();
    await onServer.stop();
    const growth = ((after.rss - before.rss) / before.rss) * 100;
    console.log(
      `  ${fmt(long.requests.total)} requests (${long.non2xx} non-2xx) at ${fmt(long.requests.average)} req/s`,
    );
    console.log(
      `  RSS before ${fmt(before.rss / 1048576, 1)} MiB, after ${fmt(after.rss / 1048576, 1)} MiB: ` +
        `${growth >= 0 ? '+' : ''}${fmt(growth, 1)}%   goal ≤ +10%`,
    );
    console.log(
      `  heap used before ${fmt(before.heapUsed / 1048576, 1)} MiB, after ${fmt(after.heapUsed / 1048576, 1)} MiB`,
    );
  } finally {
    children.forEach((c) => c.kill('SIGKILL'));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
