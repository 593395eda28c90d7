// Sandbox + several memberCard() instances on one store location, for the operations tests.
// Everything goes over real HTTP to the real sandbox; nothing of ours is mocked.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import type { MemberCardOptions } from '../../src/options.js';
import { startSandbox, wechatpayOptions, type Sandbox, type SandboxCredentials } from '../../src/sandbox/index.js';
import { loadSqlite } from '../../src/store/drivers.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { dropPostgresSchema, deleteRedisKeys } from '../store/cleanup.js';
import { POSTGRES_URL, probePostgres, probeRedis, REDIS_URL, REQUIRE_SERVICES } from '../store/helpers.js';

export interface EngineSpec {
  name: 'memory' | 'sqlite' | 'postgres' | 'redis';
  /** A store URL for this run's own location (file / schema / prefix). */
  url: string;
  skip: string | undefined;
  cleanup(): Promise<void>;
}

/** SQLite (a temp file) and PostgreSQL (a schema of its own); PostgreSQL skipped with a reason when unreachable. */
export async function engines(names: EngineSpec['name'][] = ['sqlite', 'postgres']): Promise<EngineSpec[]> {
  const out: EngineSpec[] = [];
  for (const name of names) {
    if (name === 'memory') out.push({ name, url: 'memory:', skip: undefined, cleanup: async () => undefined });
    if (name === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'membercard-ops-'));
      out.push({
        name,
        url: `sqlite:${join(dir, 'ops.db')}`,
        skip: undefined,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      });
    }
    if (name === 'postgres') {
      const down = await probePostgres(POSTGRES_URL);
      if (down && REQUIRE_SERVICES) throw new Error(down);
      const schema = `membercard_ops_${randomBytes(6).toString('hex')}`;
      const sep = POSTGRES_URL.includes('?') ? '&' : '?';
      out.push({
        name,
        url: `${POSTGRES_URL}${sep}schema=${schema}`,
        skip: down,
        cleanup: () => (down ? Promise.resolve() : dropPostgresSchema(POSTGRES_URL, schema)),
      });
    }
    if (name === 'redis') {
      const down = await probeRedis(REDIS_URL);
      if (down && REQUIRE_SERVICES) throw new Error(down);
      const prefix = `membercard_ops_${randomBytes(6).toString('hex')}:`;
      out.push({
        name,
        url: `${REDIS_URL}${REDIS_URL.includes('?') ? '&' : '?'}prefix=${prefix}`,
        skip: down,
        cleanup: async () => {
          if (!down) await deleteRedisKeys(REDIS_URL, prefix);
        },
      });
    }
  }
  return out;
}

export interface SandboxCard {
  code: string;
  balance: number;
  bonus_value: number;
  level: string;
  membership_number: string;
  user_card_status: string;
  applied: { card: string[]; rights: string[] };
}

export interface RequestLine {
  seq: number;
  method: string;
  path: string;
  status: number;
}

export interface World {
  sandbox: Sandbox;
  creds: SandboxCredentials;
  control(method: string, path: string, body?: unknown): Promise<any>;
  /** A new person holding a card with these starting values. */
  newCard(extra?: {
    balance?: number;
    bonus_value?: number;
    level?: string;
    user_card_status?: string;
  }): Promise<{ code: string; unionid: string }>;
  /** The card as the sandbox stores it (the truth the tests assert on). */
  card(code: string): Promise<SandboxCard>;
  /** The sandbox's log of answered requests to this card's upstream paths. */
  requests(code: string): Promise<RequestLine[]>;
  fault(spec: Record<string, unknown>): Promise<void>;
  /** memberCard options pointing at this sandbox (no HTTP server of ours needed for the operations API). */
  options(store: string | Store, extra?: Partial<MemberCardOptions>): MemberCardOptions;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const stateDir = mkdtempSync(join(tmpdir(), 'membercard-ops-sandbox-'));
  const sandbox = await startSandbox({ stateDir, retryFactor: 0.0005 });
  const creds = sandbox.credentials;
  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(new URL(path.replace(/^\//, ''), sandbox.url), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status >= 400) throw new Error(`sandbox ${method} ${path} → ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    sandbox,
    creds,
    control,
    newCard: async (extra = {}) => {
      const user = (await control('POST', '/sandbox/users', {})) as { unionid: string };
      const { code } = (await control('POST', `/sandbox/cards/${creds.cardId}/codes`, {
        unionid: user.unionid,
        ...extra,
      })) as { code: string };
      return { code, unionid: user.unionid };
    },
    card: (code) => control('GET', `/sandbox/cards/${creds.cardId}/codes/${code}`),
    requests: async (code) => {
      const { data } = (await control('GET', '/sandbox/requests')) as { data: RequestLine[] };
      return data.filter((r) => r.path.includes(`/codes/${code}`));
    },
    fault: async (spec) => {
      await control('PUT', '/sandbox/faults', spec);
    },
    options: (store, extra = {}) => ({
      cardId: creds.cardId,
      appid: creds.appid,
      wechatpay: { ...wechatpayOptions(creds), timeout: 1500, retries: 1 },
      store,
      log: () => undefined,
      ...extra,
    }),
    close: async () => {
      await sandbox.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** n memberCard() instances, each with its own Store object on the same location: n instances, as the store sees it. */
export async function instances(
  world: World,
  url: string,
  n: number,
  extra: Partial<MemberCardOptions> = {},
): Promise<{ cards: MemberCard[]; stores: Store[]; close(): Promise<void> }> {
  const stores = Array.from({ length: n }, () => createStore(url));
  const cards = stores.map((store) => memberCard(world.options(store, extra)));
  for (const c of cards) await c.ready();
  return {
    cards,
    stores,
    close: async () => {
      for (const s of stores) await s.close();
    },
  };
}

/** Runs fn and resolves with the MemberCardError code it rejected with (or fails when it resolved). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  throw new Error('expected a rejection');
}

/**
 * Deletes every operations lock at this location, as if each lease had run out while its holder
 * was stuck (a long GC pause, a partition): the holder does not know it lost the lock.
 */
export async function stealLocks(engine: EngineSpec): Promise<void> {
  if (engine.name === 'sqlite') {
    // Whichever driver this Node gives the store (node:sqlite, or better-sqlite3 on Node 20).
    const db = (await loadSqlite()).open(engine.url.slice('sqlite:'.length), 5000);
    try {
      db.prepare('DELETE FROM op_locks').run();
    } finally {
      db.close();
    }
  } else if (engine.name === 'postgres') {
    const pg = (await import('pg')).default;
    const url = new URL(engine.url);
    const schema = url.searchParams.get('schema') as string;
    url.searchParams.delete('schema');
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      await client.query(`DELETE FROM "${schema}".op_locks`);
    } finally {
      await client.end();
    }
  } else if (engine.name === 'redis') {
    const url = new URL(engine.url);
    const prefix = url.searchParams.get('prefix') as string;
    url.searchParams.delete('prefix');
    await deleteRedisKeys(url.toString(), `${prefix}l:`);
  } else {
    throw new Error('stealLocks: not for the memory engine (one process only)');
  }
}
