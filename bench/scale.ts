// BENCH_ONLY=scale (issue 15): many instances on one Redis store, and WeChat Pay's bad minutes.
// (a) upstream calls of a burst over four instances vs one; (b) a change on A seen on B, p99;
// (c) p99 of GET /member-card with stale-while-revalidate vs without, the sandbox 100 ms slow;
// (d) the sandbox unreachable for BENCH_DOWN_S seconds (30): share of GETs answered, edits applied;
// (e) the cached read path vs bare Koa, req/s in interleaved rounds.
// BENCH_SCALE_PARTS (e.g. "ce") runs only those measures.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import autocannon from 'autocannon';
import type { TestSandbox } from '../test/support/sandbox.js';

export interface ScaleServer {
  url: string;
  stop(): Promise<void>;
  /** The server process's CPU time so far, µs. */
  cpu(): Promise<number>;
  /** With BENCH_SERVER_TIMES: each answer's time inside the server (ms) since the last call. */
  times(): Promise<number[]>;
}

export interface ScaleDeps {
  sandbox: TestSandbox;
  /** A Redis URL without prefix; each measure gets a prefix of its own. */
  redisUrl: string;
  env: Record<string, string>;
  prepareUsers(storeUrl: string, count: number): Promise<Array<{ token: string; code: string }>>;
  startServer(mode: string, env: Record<string, string>): Promise<ScaleServer>;
  rounds: number;
  duration: number;
  /** The store URLs used, for the caller to delete afterwards. */
  stores: string[];
}

const ADMIN = 'bench-admin-token-scale-0123456789';
const BACKGROUNDS = 'https://wxpaylogo.qpic.cn/bench/a.png,https://wxpaylogo.qpic.cn/bench/b.png';
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (list: number[], p: number): number => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
};

async function lastSeq(sandbox: TestSandbox): Promise<number> {
  return (await sandbox.requests()).at(-1)?.seq ?? 0;
}

function storeAt(redisUrl: string, label: string): string {
  const u = new URL(redisUrl);
  u.searchParams.set('prefix', `membercard_bench_${label}_${randomBytes(4).toString('hex')}:`);
  return u.toString();
}

/** The burst of the issue: every member opens their card 10 times, shuffled, spread over `servers`. */
async function burst(servers: ScaleServer[], tokens: string[]): Promise<void> {
  const views = tokens.flatMap((t) => Array.from({ length: 10 }, () => t));
  for (let i = views.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [views[i], views[j]] = [views[j] as string, views[i] as string];
  }
  const share = Math.ceil(views.length / servers.length);
  await Promise.all(
    servers.map(async (server, s) => {
      const mine = views.slice(s * share, (s + 1) * share);
      let next = 0;
      const result = await autocannon({
        url: `${server.url}/member-card`,
        connections: Math.max(1, Math.floor(50 / servers.length)),
        amount: mine.length,
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              headers: { ...req.headers, authorization: `Bearer ${mine[next++ % mine.length]}` },
            }),
          },
        ],
      });
      if (result.non2xx || result.errors) throw new Error(`burst: ${result.non2xx} non-2xx, ${result.errors} errors`);
    }),
  );
}

async function getCard(url: string, token: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/member-card`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

/**
 * p99 latency of returning members' GETs for `seconds`, rotating over the users, one request every
 * 10 ms (100 req/s), each sent on time whether or not earlier ones have been answered: the time
 * of an answer, not of a queue in front of a saturated server. (autocannon's overallRate sends
 * each connection's share of a second at the start of it, a burst of 100 every second.)
 */
async function latencyRun(url: string, tokens: string[], seconds: number) {
  const agent = new http.Agent({ keepAlive: true });
  const target = new URL(`${url}/member-card`);
  const one = (token: string) =>
    new Promise<{ ms: number; ok: boolean }>((resolve) => {
      const sent = performance.now();
      const req = http.get(target, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - sent, ok: res.statusCode === 200 }));
      });
      req.on('error', () => resolve({ ms: performance.now() - sent, ok: false }));
    });
  const answers: Array<Promise<{ ms: number; ok: boolean }>> = [];
  const started = performance.now();
  for (let i = 0; i < seconds * 100; i++) {
    const due = started + i * 10;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    answers.push(one(tokens[i % tokens.length] as string));
  }
  const done = await Promise.all(answers);
  agent.destroy();
  const ms = done.map((a) => a.ms);
  return { p50: pct(ms, 50), p99: pct(ms, 99), errors: done.filter((a) => !a.ok).length };
}

export async function scale(d: ScaleDeps): Promise<void> {
  const { sandbox } = d;
  const module = (storeUrl: string, extra: Record<string, string> = {}) =>
    d.startServer('module', {
      ...d.env,
      BENCH_STORE: storeUrl,
      BENCH_CACHE_TTL: '10000',
      BENCH_ADMIN_TOKEN: ADMIN,
      BENCH_BACKGROUNDS: BACKGROUNDS,
      ...extra,
    });
  const rows: Array<[string, string, string]> = [];
  const parts = process.env.BENCH_SCALE_PARTS ?? 'abcde';

  // (a) The same burst, by different members, over one instance and over four (fresh stores).
  const storeOne = storeAt(d.redisUrl, 'one');
  const storeFour = storeAt(d.redisUrl, 'four');
  d.stores.push(storeOne, storeFour);
  const usersOne = await d.prepareUsers(storeOne, 100);
  if (/[ab]/.test(parts)) {
    const usersFour = await d.prepareUsers(storeFour, 100);
    const one = await module(storeOne);
    let seq = await lastSeq(sandbox);
    await burst(
      [one],
      usersOne.map((u) => u.token),
    );
    const callsOne = (await lastSeq(sandbox)) - seq;
    const four = await Promise.all([1, 2, 3, 4].map(() => module(storeFour)));
    seq = await lastSeq(sandbox);
    await burst(
      four,
      usersFour.map((u) => u.token),
    );
    const callsFour = (await lastSeq(sandbox)) - seq;
    rows.push([
      '(a) burst of 1,000 views by 100 members: upstream calls, 4 instances vs 1 (Redis)',
      `${callsFour} vs ${callsOne} = ${fmt(callsFour / callsOne, 2)}×`,
      '≤ 1.2×',
    ]);

    // (b) A balance change through instance A's admin route; B polled until it answers the new value.
    const [a, b] = four as [ScaleServer, ScaleServer];
    const lags: number[] = [];
    for (let i = 0; i < 100; i++) {
      const user = usersFour[i % usersFour.length] as { token: string; code: string };
      const before = (await getCard(b.url, user.token)).body.card.balance as number;
      const changed = await fetch(`${a.url}/member-card/admin/balance`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-admin-token': ADMIN },
        body: JSON.stringify({ code: user.code, amount: 1, request_id: `bench-${randomBytes(6).toString('hex')}` }),
      });
      if (changed.status !== 200) throw new Error(`admin balance: ${changed.status}`);
      const done = performance.now();
      for (;;) {
        const now = (await getCard(b.url, user.token)).body.card.balance as number;
        if (now === before + 1) break;
        if (performance.now() - done > 5000) throw new Error('B never saw the change');
      }
      lags.push(performance.now() - done);
    }
    rows.push([
      '(b) change on A → new value on B (100 changes)',
      `p50 ${fmt(pct(lags, 50), 1)} ms, p99 ${fmt(pct(lags, 99), 1)} ms`,
      'p99 ≤ 100 ms',
    ]);
    await Promise.all(four.map((s) => s.stop()));
    await one.stop();
  }

  // (c) WeChat Pay 100 ms slow; cards fresh for 2 s and each member back every second or so, so
  // without stale-while-revalidate about half the answers wait for WeChat Pay.
  const tokens = usersOne.map((u) => u.token);
  if (parts.includes('c')) {
    const quick = { BENCH_CACHE_TTL: '2000', BENCH_COHERENT_TTL: '2000' };
    const latency: Record<string, { p50: number; p99: number; server: number }> = {};
    for (const [label, swr, ttl] of [
      ['with stale-while-revalidate', '60000', quick],
      ['without', '0', quick],
      // The floor of this measure: every answer a fresh hit, no upstream call at all.
      ['every card fresh', '0', { BENCH_CACHE_TTL: '600000', BENCH_COHERENT_TTL: '600000' }],
    ] as const) {
      const s = await module(storeOne, { ...ttl, BENCH_SWR: swr, BENCH_SERVER_TIMES: '1' });
      for (const t of tokens) await getCard(s.url, t); // returning members: read once
      await sandbox.fault({ latency_ms: 100, path: '/v3/' });
      await s.times();
      const run = { ...(await latencyRun(s.url, tokens, 10)), server: pct(await s.times(), 99) };
      await sandbox.clearFaults();
      await s.stop();
      if (run.errors) throw new Error(`(c) ${label}: ${run.errors} failed`);
      latency[label] = run;
    }
    type Measured = { p50: number; p99: number; server: number };
    const on = latency['with stale-while-revalidate'] as Measured;
    const off = latency['without'] as Measured;
    rows.push([
      '(c) GET /member-card, WeChat Pay +100 ms, cards fresh 2 s, 100 req/s: p99 with SWR vs without',
      `${fmt(on.p99, 1)} ms vs ${fmt(off.p99, 1)} ms (p50 ${fmt(on.p50, 1)} vs ${fmt(off.p50, 1)})`,
      '≤ 10 ms vs ≥ 100 ms',
    ]);
    const floor = latency['every card fresh'] as Measured;
    rows.push([
      '(c) the same, each answer timed inside the server (arrival to last byte written): p99 with SWR vs without',
      `${fmt(on.server, 1)} ms vs ${fmt(off.server, 1)} ms`,
      '',
    ]);
    rows.push([
      '(c) the same load with every card fresh (no upstream call): the floor of this measure',
      `p99 ${fmt(floor.p99, 1)} ms (p50 ${fmt(floor.p50, 1)}; inside the server p99 ${fmt(floor.server, 1)} ms)`,
      '',
    ]);
  }

  // (d) WeChat Pay unreachable (every connection reset) for BENCH_DOWN_S s; members read before.
  if (parts.includes('d')) {
    const downSeconds = Number(process.env.BENCH_DOWN_S ?? 30);
    const s = await module(storeOne, { BENCH_CACHE_TTL: '1000', BENCH_COHERENT_TTL: '1000', BENCH_SWR: '0' });
    for (const t of tokens) await getCard(s.url, t);
    const edited = usersOne.slice(0, 20);
    const backgroundsBefore = await Promise.all(
      edited.map(async (u) => (await sandbox.card(u.code)).background_picture_url),
    );
    await sandbox.fault({ reset: true, path: '/v3/' });
    let ok = 0;
    let stale = 0;
    let all = 0;
    let editsRefused = 0;
    const until = Date.now() + downSeconds * 1000;
    let i = 0;
    while (Date.now() < until) {
      const user = usersOne[i++ % usersOne.length] as { token: string; code: string };
      const got = await getCard(s.url, user.token);
      all += 1;
      // Answered: 200, fresh within the TTL of the read before the outage, else stale.
      if (got.status === 200) ok += 1;
      if (got.status === 200 && got.body?.stale === true) stale += 1;
      if (i % 10 === 0) {
        const u = edited[(i / 10) % edited.length] as { token: string };
        const edit = await fetch(`${s.url}/member-card`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${u.token}` },
          body: JSON.stringify({ background_picture_url: BACKGROUNDS.split(',')[1] }),
        });
        if (edit.status === 503) editsRefused += 1;
      }
    }
    await sandbox.clearFaults();
    await s.stop();
    const backgroundsAfter = await Promise.all(
      edited.map(async (u) => (await sandbox.card(u.code)).background_picture_url),
    );
    const applied = backgroundsAfter.filter((bg, k) => bg !== backgroundsBefore[k]).length;
    rows.push([
      `(d) WeChat Pay unreachable ${downSeconds} s: GETs answered / edits applied`,
      `${fmt((ok / all) * 100, 1)} % of ${fmt(all)} (${stale} stale) / ${applied} (${editsRefused} refused 503)`,
      '100 % / 0',
    ]);
  }

  // (e) The cached read path vs bare Koa answering the same card as a fixed body, interleaved rounds.
  if (parts.includes('e')) {
    const cached = await module(storeOne);
    const auth = { headers: { authorization: `Bearer ${usersOne[0]?.token}` } };
    // The same card, byte for byte, as a pre-serialized string.
    const body = await (await fetch(`${cached.url}/member-card`, auth)).text();
    const bare = await d.startServer('bare', { ...d.env, BENCH_BARE_BODY: body });
    await autocannon({ url: `${cached.url}/member-card`, connections: 16, duration: 2, ...auth });
    await autocannon({ url: `${bare.url}/member-card`, connections: 16, duration: 2 });
    const ratios: number[] = [];
    const rps: { cached: number[]; bare: number[] } = { cached: [], bare: [] };
    // Server CPU per answer, µs: steadier than req/s on a small machine, and what the ratio comes from.
    const cpu: { cached: number[]; bare: number[] } = { cached: [], bare: [] };
    const run = async (server: ScaleServer, options: Partial<autocannon.Options>, into: number[]) => {
      const before = await server.cpu();
      const result = await autocannon({
        url: `${server.url}/member-card`,
        connections: 16,
        duration: d.duration,
        ...options,
      });
      if (result.non2xx) throw new Error('(e) failed requests');
      into.push(((await server.cpu()) - before) / result.requests.total);
      return result.requests.average;
    };
    for (let round = 0; round < d.rounds; round++) {
      const c = await run(cached, auth, cpu.cached);
      const k = await run(bare, {}, cpu.bare);
      rps.cached.push(c);
      rps.bare.push(k);
      ratios.push(c / k);
    }
    await cached.stop();
    await bare.stop();
    rows.push([
      `(e) cached GET /member-card vs bare Koa, req/s (median of ${d.rounds} rounds)`,
      `${fmt(pct(rps.cached, 50))} vs ${fmt(pct(rps.bare, 50))} = ${fmt(pct(ratios, 50), 2)} ` +
        `(rounds ${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`,
      '≥ 0.7',
    ]);
    rows.push([
      '(e) server CPU per answer, cached vs bare (median)',
      `${fmt(pct(cpu.cached, 50), 1)} µs vs ${fmt(pct(cpu.bare, 50), 1)} µs`,
      '',
    ]);
  }

  console.log(`\nscale (issue 15), Node ${process.version}, loopback, Redis store\n`);
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const [what, result, goal] of rows) console.log(`| ${what} | ${result} | ${goal} |`);
}
