// BENCH_ONLY=retention (issue 18): the store's size before a load, after 100,000 page views,
// 10,000 logins and 10,000 notifications, and after one retention pass with short retentions.
// The load drives the Store directly, with the writes those requests make (the HTTP layer adds
// none): a page view reads the session and the binding, and one in ten is the open-card page (a
// rate-limit bucket and an outer_str) and one in ten shows a member code; a login takes two
// rate-limit buckets and writes a session; a notification is recorded and re-binds its code.
// Every session, outer_str and member code of the load lives LIFE_MS; notifications are kept LIFE_MS.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { hashToken } from '../src/login/index.js';
import { PostgresStore, RedisStore, SqliteStore } from '../src/store/index.js';
import { pruneAll } from '../src/store/prune-runner.js';
import type { RetentionLimits } from '../src/store/retention.js';
import type { MemberCodeStore, RetentionStore, Store } from '../src/store/types.js';

const MEMBERS = 10_000;
const PAGE_VIEWS = Number(process.env.BENCH_PAGE_VIEWS ?? 100_000);
const LOGINS = 10_000;
const NOTIFICATIONS = 10_000;
const LIFE_MS = 3000;
const CONCURRENCY = 10;
const CARD = 'pBenchRetention0000000000001';
const BUCKET = { capacity: 20, refillPerSecond: 20 };
const LIMITS: RetentionLimits = { notificationsMs: LIFE_MS, topupsMs: LIFE_MS, journalMs: 0 };
const quiet = (): void => undefined;

interface Engine {
  name: string;
  store: Store & RetentionStore;
  /** Bytes the store takes, and a second figure where the engine keeps freed space (see `note`). */
  size(): Promise<{ bytes: number; inUse: number }>;
  note: string;
  cleanup(): Promise<void>;
}

/** Runs `count` tasks, CONCURRENCY at a time. */
async function pool(count: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        await task(i);
        // SQLite answers synchronously: without a turn of the event loop now and then its workers
        // would starve the PostgreSQL and Redis sockets measured beside it.
        if (i % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    }),
  );
}

const code = (i: number): string => `C${String(i).padStart(8, '0')}`;
const openid = (i: number): string => `o-bench-${i}`;

async function baseline(store: Store, tokens: string[]): Promise<void> {
  // 10,000 members, bound by their notification and logged in for a day.
  await pool(MEMBERS, async (i) => {
    await store.applyNotification(
      { id: `base-${i}`, eventType: 'MEMBERCARD.ACCEPT_CARD', cardId: CARD, code: code(i), receivedAt: Date.now() },
      { kind: 'bind', cardId: CARD, code: code(i), unionid: `u-${i}` },
    );
    await store.putSession(hashToken(tokens[i] as string), {
      openid: openid(i),
      unionid: `u-${i}`,
      expiresAt: Date.now() + 86_400_000,
    });
  });
}

async function load(store: Store, tokens: string[]): Promise<void> {
  const codes = store as Store & MemberCodeStore;
  await pool(PAGE_VIEWS, async (i) => {
    const member = i % MEMBERS;
    await store.getSession(hashToken(tokens[member] as string));
    await store.findBindingByUnionid(CARD, `u-${member}`);
    if (i % 10 === 1) {
      await store.takeTokens(`open:${CARD}:${member}`, BUCKET);
      await store.issueOuterStr(
        CARD,
        { openid: openid(member) },
        `os${randomBytes(12).toString('hex')}`,
        Date.now() + LIFE_MS,
      );
    } else if (i % 10 === 2) {
      await codes.putMemberCode?.(randomBytes(16).toString('hex'), {
        cardId: CARD,
        code: code(member),
        userOpenid: openid(member),
        expiresAt: Date.now() + LIFE_MS,
      });
    }
  });
  await pool(LOGINS, async (i) => {
    await store.takeTokens(`login:client:10.0.${i % 250}.${i % 4}`, BUCKET);
    await store.takeTokens('login:total', { capacity: 100_000, refillPerSecond: 100_000 });
    await store.putSession(hashToken(randomBytes(32).toString('base64url')), {
      openid: openid(i % MEMBERS),
      expiresAt: Date.now() + LIFE_MS,
    });
  });
  await pool(NOTIFICATIONS, async (i) => {
    const member = i % MEMBERS;
    await store.applyNotification(
      {
        id: `load-${i}`,
        eventType: 'MEMBERCARD.ACTIVATE_CARD',
        cardId: CARD,
        code: code(member),
        receivedAt: Date.now(),
      },
      { kind: 'bind', cardId: CARD, code: code(member), unionid: `u-${member}` },
    );
  });
}

function sqlite(dir: string): Engine {
  // In memory-backed /dev/shm when there is one: each write's fsync would only slow the load down.
  const filename = join(existsSync('/dev/shm') ? mkdtempSync('/dev/shm/membercard-bench-') : dir, 'retention.db');
  const store = new SqliteStore({ filename, log: quiet, retention: { notifications: LIFE_MS, topups: LIFE_MS } });
  const size = async () => {
    // Our own connection would take the write lock; the store's file after a checkpoint is what counts.
    const { loadSqlite } = await import('../src/store/drivers.js');
    const db = (await loadSqlite()).open(filename, 5000);
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
      const pages = db.pragma('page_count', { simple: true }) as number;
      const free = db.pragma('freelist_count', { simple: true }) as number;
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      return { bytes: statSync(filename).size, inUse: (pages - free) * pageSize };
    } finally {
      db.close();
    }
  };
  return {
    name: 'SQLite',
    store,
    size,
    note:
      'file size after a checkpoint; in use: bytes of the pages not on the freelist ' +
      '(SQLite reuses freed pages, VACUUM returns them)',
    cleanup: async () => {
      if (filename.startsWith('/dev/shm/')) rmSync(dirname(filename), { recursive: true, force: true });
    },
  };
}

function postgres(url: string): Engine {
  const schema = `bench_retention_${process.pid}`;
  const store = new PostgresStore({
    connectionString: url,
    schema,
    log: quiet,
    retention: { notifications: LIFE_MS, topups: LIFE_MS },
    // Waiting for a pooled connection counts against the connect timeout: a busy machine needs more.
    connectTimeoutMs: 30_000,
    queryTimeoutMs: 30_000,
    // Sizes do not depend on waiting for each commit's flush; the load is just faster without it.
    poolConfig: { options: '-c synchronous_commit=off' },
  });
  const client = new pg.Pool({ connectionString: url, max: 1 });
  const size = async () => {
    // VACUUM (what autovacuum does) marks freed space for reuse and gives back empty trailing pages.
    const tables = await client.query<{ name: string }>(
      `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = $1`,
      [schema],
    );
    for (const t of tables.rows) await client.query(`VACUUM ${t.name}`);
    const { rows } = await client.query<{ total: string; heap: string }>(
      `SELECT sum(pg_total_relation_size(c.oid))::bigint AS total, sum(pg_relation_size(c.oid))::bigint AS heap
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    return { bytes: Number(rows[0]?.total ?? 0), inUse: Number(rows[0]?.heap ?? 0) };
  };
  return {
    name: 'PostgreSQL',
    store,
    size,
    note:
      'pg_total_relation_size of our tables after VACUUM; in use: bytes of their heaps alone ' +
      '(indexes keep their pages for reuse)',
    cleanup: async () => {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

function redis(url: string): Engine {
  const prefix = `bench-retention-${process.pid}:`;
  const store = new RedisStore({
    url,
    prefix,
    log: quiet,
    retention: { notifications: LIFE_MS, topups: LIFE_MS },
    // A shared, busy machine: sizes do not depend on how fast a command comes back.
    connectTimeoutMs: 30_000,
    commandTimeoutMs: 30_000,
  });
  const client = new Redis(url);
  const keys = async (): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  const size = async () => {
    let bytes = 0;
    const all = await keys();
    for (let i = 0; i < all.length; i += 500) {
      const pipeline = client.pipeline();
      for (const key of all.slice(i, i + 500)) pipeline.memory('USAGE', key);
      for (const [, n] of (await pipeline.exec()) ?? []) bytes += Number(n ?? 0);
    }
    return { bytes, inUse: all.length };
  };
  return {
    name: 'Redis',
    store,
    size,
    note: 'MEMORY USAGE summed over our prefix; second figure: keys under it',
    cleanup: async () => {
      const all = await keys();
      for (let i = 0; i < all.length; i += 500) await client.del(...all.slice(i, i + 500));
      client.disconnect();
    },
  };
}

const kb = (n: number): string => `${(n / 1024).toLocaleString('en-US', { maximumFractionDigits: 0 })} KiB`;

interface Cycle {
  before: { bytes: number; inUse: number };
  loaded: { bytes: number; inUse: number };
  after: { bytes: number; inUse: number };
  loadMs: number;
  passMs: number;
  pruned: Record<string, number>;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One load and one pass, sized before, after the load and after the pass. */
async function cycle(engine: Engine, tokens: string[]): Promise<Cycle> {
  const before = await engine.size();
  const started = Date.now();
  await load(engine.store, tokens);
  const loadMs = Date.now() - started;
  const loaded = await engine.size();
  await pause(LIFE_MS + 200);
  const passStarted = Date.now();
  const pruned = await pruneAll(engine.store, LIMITS, 500);
  const passMs = Date.now() - passStarted;
  return { before, loaded, after: await engine.size(), loadMs, passMs, pruned: { ...pruned } };
}

/**
 * Two cycles: the first takes the store from its size with the members only to its working size
 * (SQLite and PostgreSQL keep freed pages for the next rows rather than give them back); the
 * second shows the bound: after a pass the store is back to its size before that load.
 */
async function measure(engine: Engine): Promise<{ text: string; ok: boolean }> {
  const { store } = engine;
  await store.init();
  const tokens = Array.from({ length: MEMBERS }, () => randomBytes(32).toString('base64url'));
  await baseline(store, tokens);
  // The steady state before any load: what a pass leaves (the members' own notifications gone too).
  await pause(LIFE_MS + 200);
  await pruneAll(store, LIMITS, 500);
  const cycles = [await cycle(engine, tokens), await cycle(engine, tokens)];
  await store.close();
  await engine.cleanup();
  const second = cycles[1] as Cycle;
  const ratio = second.after.bytes / second.before.bytes;
  const ok = ratio <= 1.1;
  const lines = [`${engine.name} (${engine.note})`];
  for (const [n, c] of cycles.entries()) {
    const row = (label: string, v: { bytes: number; inUse: number }, extra = ''): string =>
      `  ${n + 1}. ${label.padEnd(16)} ${kb(v.bytes).padStart(12)}   ${String(v.inUse).padStart(10)}${extra}`;
    lines.push(row('before the load', c.before));
    lines.push(row('after the load', c.loaded, `   (load ${fmtS(c.loadMs)})`));
    lines.push(row('after one pass', c.after, `   (pass ${fmtS(c.passMs)}, deleted ${JSON.stringify(c.pruned)})`));
  }
  const first = cycles[0] as Cycle;
  lines.push(
    `  cycle 1: after / before ${(first.after.bytes / first.before.bytes).toFixed(3)} ` +
      '(the store reaching its working size)',
  );
  lines.push(`  cycle 2: after / before ${ratio.toFixed(3)} ${ok ? '(within 10 %)' : '(NOT within 10 %)'}`);
  return { text: lines.join('\n'), ok };
}

const fmtS = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The retention benchmark on each engine this machine reaches; false when one did not come back within 10 %. */
export async function retentionBench(work: string): Promise<boolean> {
  console.log(
    `Store size under load (issue 18): ${MEMBERS.toLocaleString('en-US')} members, then ` +
      `${PAGE_VIEWS.toLocaleString('en-US')} page views, ${LOGINS.toLocaleString('en-US')} logins, ` +
      `${NOTIFICATIONS.toLocaleString('en-US')} notifications; sessions, outer_strs, member codes and ` +
      `notification records of the load kept ${LIFE_MS} ms; one retention pass (batches of 500)`,
  );
  const engines: Engine[] = [sqlite(work)];
  const pgUrl = process.env.MEMBERCARD_TEST_POSTGRES;
  const redisUrl = process.env.MEMBERCARD_TEST_REDIS;
  if (pgUrl) engines.push(postgres(pgUrl));
  if (redisUrl) engines.push(redis(redisUrl));
  // The engines run at once: they share nothing but the machine.
  const results = await Promise.all(engines.map((e) => measure(e)));
  for (const r of results) console.log(`\n${r.text}`);
  const ok = results.every((r) => r.ok);
  if (!pgUrl || !redisUrl) console.log('\n(PostgreSQL / Redis: set MEMBERCARD_TEST_POSTGRES / MEMBERCARD_TEST_REDIS)');
  return ok;
}
