// Merchant operations throughput: `node --import tsx bench/operations.ts` (loopback only).
// Starts the sandbox in its own process (signatures on, state kept on disk as usual), then, for
// each store engine, runs balance changes through cards.operations and prints changes per second:
//   one card    : every change to the same card (serialised by the per-card lock), 1 instance
//   one card x2 : the same, split across two memberCard() instances on the same store
//   many cards  : changes spread over BENCH_OPS_CARDS cards, 1 instance
// Each run checks the sandbox's stored balances at the end: a benchmark that loses money fails.
// Env: BENCH_OPS_CHANGES (per run, default 300), BENCH_OPS_CONCURRENCY (callers, default 32),
// BENCH_OPS_CARDS (default 50), BENCH_OPS_ENGINES (default sqlite,postgres,redis,memory; also
// redis-cluster), MEMBERCARD_TEST_POSTGRES / MEMBERCARD_TEST_REDIS / MEMBERCARD_TEST_REDIS_CLUSTER
// (servers; skipped when unreachable).
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { memberCard, type MemberCard } from '../src/member-card.js';
import { wechatpayOptions } from '../src/sandbox/index.js';
import { createStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { clusterUnavailable, freshClusterStore } from '../test/support/cluster.js';
import { sandboxProcess } from '../test/support/sandbox.js';
import { freshStore, probePostgres, probeRedis, type Engine, type TestStore } from '../test/support/services.js';
import { tempDir } from '../test/support/temp.js';

const CHANGES = Number(process.env.BENCH_OPS_CHANGES ?? 300);
const CONCURRENCY = Number(process.env.BENCH_OPS_CONCURRENCY ?? 32);
const CARDS = Number(process.env.BENCH_OPS_CARDS ?? 50);
const ENGINES = (process.env.BENCH_OPS_ENGINES ?? 'sqlite,postgres,redis,memory').split(',').map((s) => s.trim());

const isEngine = (name: string): name is Engine => ['memory', 'sqlite', 'postgres', 'redis'].includes(name);

/** A store location of this run's own, or why the engine is skipped. */
async function engine(name: string): Promise<TestStore | string> {
  if (name === 'redis-cluster') return (await clusterUnavailable('bench')) ?? freshClusterStore('bench');
  if (!isEngine(name)) return `unknown engine ${name}`;
  const down = name === 'postgres' ? await probePostgres() : name === 'redis' ? await probeRedis() : undefined;
  return down ?? freshStore(name, 'bench');
}

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
}

/** Runs `total` changes with `concurrency` callers; `change(i)` makes the i-th. */
async function drive(total: number, concurrency: number, change: (i: number) => Promise<unknown>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        await change(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSecond: total / seconds, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  const tmp = tempDir('bench-ops');
  const { sandbox } = await sandboxProcess(['--port', '0', '--state', join(tmp.dir, 'sandbox')]);
  const creds = sandbox.credentials;
  const newCard = async (balance: number): Promise<string> => (await sandbox.personWithCard({ balance })).code;
  const balanceOf = async (code: string): Promise<number> => (await sandbox.card(code)).balance;
  const instance = (store: Store): MemberCard =>
    memberCard({
      cardId: creds.cardId,
      appid: creds.appid,
      wechatpay: wechatpayOptions(creds),
      store,
      log: process.env.BENCH_OPS_LOG
        ? (level, message, fields) => console.error(level, message, fields)
        : () => undefined,
      operations: { lockWaitMs: 120_000 },
    });

  console.log(
    `merchant operations, sandbox on loopback (own process); node ${process.version}, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  );
  console.log(`${CHANGES} balance changes per run, ${CONCURRENCY} concurrent callers, many cards = ${CARDS} cards\n`);
  const rows: string[][] = [['store', 'scenario', 'changes/s', 'p50 ms', 'p99 ms']];
  const run = 'r' + randomBytes(3).toString('hex');
  let failed = false;

  for (const name of ENGINES) {
    const e = await engine(name);
    if (typeof e === 'string') {
      console.log(`${name}: skipped (${e})`);
      continue;
    }
    // Two Store objects on one location = two instances as the store sees them. memory: is one
    // process's memory, so its two instances share the one object (else they would not share locks).
    const first = createStore(e.url);
    const stores = name === 'memory' ? [first] : [first, createStore(e.url)];
    const a = instance(first);
    const b = instance(stores[1] ?? first);
    await a.ready();
    await b.ready();
    try {
      // Warm-up: connections, prepared statements, JIT.
      const warm = await newCard(1_000_000);
      await drive(20, 4, (i) =>
        a.operations.adjustBalance({ code: warm, amount: 1, requestId: `${run}-${name}-warm-${i}` }),
      );

      const scenarios: [string, () => Promise<{ result: Result; ok: boolean }>][] = [
        [
          'one card',
          async () => {
            const code = await newCard(1_000_000);
            const result = await drive(CHANGES, CONCURRENCY, (i) =>
              a.operations.adjustBalance({ code, amount: -1, requestId: `${run}-${name}-one-${i}` }),
            );
            return { result, ok: (await balanceOf(code)) === 1_000_000 - CHANGES };
          },
        ],
        [
          'one card, 2 instances',
          async () => {
            const code = await newCard(1_000_000);
            const result = await drive(CHANGES, CONCURRENCY, (i) =>
              (i % 2 ? a : b).operations.adjustBalance({ code, amount: -1, requestId: `${run}-${name}-two-${i}` }),
            );
            return { result, ok: (await balanceOf(code)) === 1_000_000 - CHANGES };
          },
        ],
        [
          `${CARDS} cards`,
          async () => {
            const codes = await Promise.all(Array.from({ length: CARDS }, () => newCard(1_000_000)));
            const result = await drive(CHANGES, CONCURRENCY, (i) =>
              a.operations.adjustBalance({
                code: codes[i % CARDS] as string,
                amount: -1,
                requestId: `${run}-${name}-many-${i}`,
              }),
            );
            const balances = await Promise.all(codes.map(balanceOf));
            const expected = codes.map(
              (_, k) => 1_000_000 - Math.floor(CHANGES / CARDS) - (k < CHANGES % CARDS ? 1 : 0),
            );
            return { result, ok: balances.every((v, k) => v === expected[k]) };
          },
        ],
      ];
      for (const [label, scenario] of scenarios) {
        const { result, ok } = await scenario();
        if (!ok) failed = true;
        rows.push([
          name,
          label,
          `${result.perSecond.toFixed(0)}${ok ? '' : ' (BALANCE WRONG)'}`,
          result.p50.toFixed(1),
          result.p99.toFixed(1),
        ]);
      }
    } finally {
      for (const s of stores) await s.close();
      await e.cleanup();
    }
  }

  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows)
    console.log(r.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  '));
  await sandbox.close();
  tmp.remove();
  if (failed) {
    console.error('\nA run left a wrong balance.');
    process.exitCode = 1;
  }
  process.exit();
}

await main();
