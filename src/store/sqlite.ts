import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { mergeBind } from './effect.js';
import { toBinding, toNotification, toSession, type BindingRow, type NotificationRow, type SessionRow } from './rows.js';
import type {
  Binding,
  NotificationEffect,
  NotificationRecord,
  Session,
  Store,
  UserIdentity,
} from './types.js';
import { InitOnce, storeClosed, storeUnavailable } from './unavailable.js';

export interface SqliteStoreOptions {
  /** File path, or ':memory:' for a private in-memory database. */
  filename: string;
  /** How long a writer waits for another process's lock before giving up, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** How often expired sessions and outer_str values are deleted, in ms (default 10 min). */
  sweepIntervalMs?: number;
}

/**
 * Schema migrations, in order; PRAGMA user_version holds how many have run. Append only:
 * never edit a shipped step, add a new one.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS bindings (
     card_id TEXT NOT NULL,
     code TEXT NOT NULL,
     unionid TEXT,
     oa_openid TEXT,
     user_openid TEXT,
     status TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (card_id, code)
   );
   CREATE INDEX IF NOT EXISTS bindings_by_user ON bindings (card_id, user_openid, updated_at);
   CREATE INDEX IF NOT EXISTS bindings_by_unionid ON bindings (card_id, unionid, updated_at);
   CREATE TABLE IF NOT EXISTS outer_strs (
     outer_str TEXT PRIMARY KEY,
     openid TEXT NOT NULL,
     unionid TEXT,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS notifications (
     id TEXT PRIMARY KEY,
     event_type TEXT NOT NULL,
     card_id TEXT,
     code TEXT,
     received_at INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS sessions (
     token_hash TEXT PRIMARY KEY,
     openid TEXT NOT NULL,
     unionid TEXT,
     expires_at INTEGER NOT NULL
   );`,
];

/** SQLite error codes that mean "cannot reach the data now", not "our SQL is wrong". */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|PROTOCOL|NOTADB|CORRUPT)/;

function wrap(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNAVAILABLE.test(code) ? storeUnavailable(err) : err;
}

type Db = Database.Database;

/**
 * The embedded default: one file, no server. Several processes may share the file (WAL +
 * busy_timeout); every multi-statement step runs in a BEGIN IMMEDIATE transaction, so it takes
 * the write lock up front and cannot interleave with another writer.
 */
export class SqliteStore implements Store {
  readonly #options: Required<SqliteStoreOptions>;
  readonly #init = new InitOnce(async () => this.#open());
  #db: Db | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.#options = { busyTimeoutMs: 5000, sweepIntervalMs: 600_000, ...options };
  }

  get filename(): string {
    return this.#options.filename;
  }

  init(): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosed());
    return this.#init.call();
  }

  async ping(): Promise<void> {
    await this.#run((db) => db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#db?.close();
    this.#db = undefined;
  }

  findBindingByUser(cardId: string, userOpenid: string): Promise<Binding | undefined> {
    return this.#latestActive('user_openid', cardId, userOpenid);
  }

  findBindingByUnionid(cardId: string, unionid: string): Promise<Binding | undefined> {
    return this.#latestActive('unionid', cardId, unionid);
  }

  getBinding(cardId: string, code: string): Promise<Binding | undefined> {
    return this.#run((db) => {
      const row = db.prepare('SELECT * FROM bindings WHERE card_id = ? AND code = ?').get(cardId, code) as BindingRow | undefined;
      return row && toBinding(row);
    });
  }

  async flagBinding(cardId: string, code: string): Promise<void> {
    await this.#run((db) => {
      db.prepare("UPDATE bindings SET status = 'flagged', updated_at = ? WHERE card_id = ? AND code = ?").run(Date.now(), cardId, code);
    });
  }

  async putOuterStr(outerStr: string, user: UserIdentity, expiresAt: number): Promise<void> {
    await this.#run((db) => {
      db.prepare(
        `INSERT INTO outer_strs (outer_str, openid, unionid, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (outer_str) DO UPDATE SET openid = excluded.openid, unionid = excluded.unionid, expires_at = excluded.expires_at`,
      ).run(outerStr, user.openid, user.unionid ?? null, expiresAt);
    });
  }

  applyNotification(record: NotificationRecord, effect: NotificationEffect): Promise<boolean> {
    return this.#run((db) => {
      const step = db.transaction((): boolean => {
        const now = Date.now();
        // Insert-if-absent is the de-duplication: no row back means the id was seen before.
        const inserted = db
          .prepare(
            `INSERT INTO notifications (id, event_type, card_id, code, received_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING RETURNING id`,
          )
          .get(record.id, record.eventType, record.cardId ?? null, record.code ?? null, record.receivedAt);
        if (!inserted) return false;
        if (effect.kind === 'bind') {
          let outer: UserIdentity | undefined;
          if (effect.outerStr !== undefined) {
            const row = db
              .prepare('DELETE FROM outer_strs WHERE outer_str = ? AND expires_at > ? RETURNING openid, unionid')
              .get(effect.outerStr, now) as { openid: string; unionid: string | null } | undefined;
            if (row) outer = row.unionid ? { openid: row.openid, unionid: row.unionid } : { openid: row.openid };
          }
          const existingRow = db
            .prepare('SELECT * FROM bindings WHERE card_id = ? AND code = ?')
            .get(effect.cardId, effect.code) as BindingRow | undefined;
          const b = mergeBind(existingRow && toBinding(existingRow), effect, outer, now);
          db.prepare(
            `INSERT INTO bindings (card_id, code, unionid, oa_openid, user_openid, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (card_id, code) DO UPDATE SET unionid = excluded.unionid, oa_openid = excluded.oa_openid,
               user_openid = excluded.user_openid, status = excluded.status, updated_at = excluded.updated_at`,
          ).run(b.cardId, b.code, b.unionid ?? null, b.oaOpenid ?? null, b.userOpenid ?? null, b.status, b.createdAt, b.updatedAt);
        } else if (effect.kind === 'retire') {
          db.prepare("UPDATE bindings SET status = 'retired', updated_at = ? WHERE card_id = ? AND code = ?").run(now, effect.cardId, effect.code);
        }
        return true;
      });
      return step.immediate();
    });
  }

  getNotification(id: string): Promise<NotificationRecord | undefined> {
    return this.#run((db) => {
      const row = db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as NotificationRow | undefined;
      return row && toNotification(row);
    });
  }

  async putSession(tokenHash: string, session: Session): Promise<void> {
    await this.#run((db) => {
      db.prepare(
        `INSERT INTO sessions (token_hash, openid, unionid, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (token_hash) DO UPDATE SET openid = excluded.openid, unionid = excluded.unionid, expires_at = excluded.expires_at`,
      ).run(tokenHash, session.openid, session.unionid ?? null, session.expiresAt);
    });
  }

  getSession(tokenHash: string): Promise<Session | undefined> {
    return this.#run((db) => {
      const row = db
        .prepare('SELECT openid, unionid, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?')
        .get(tokenHash, Date.now()) as SessionRow | undefined;
      return row && toSession(row);
    });
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.#run((db) => {
      db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
    });
  }

  #latestActive(column: 'user_openid' | 'unionid', cardId: string, value: string): Promise<Binding | undefined> {
    return this.#run((db) => {
      const row = db
        .prepare(
          `SELECT * FROM bindings WHERE card_id = ? AND ${column} = ? AND status = 'active'
           ORDER BY updated_at DESC, rowid DESC LIMIT 1`,
        )
        .get(cardId, value) as BindingRow | undefined;
      return row && toBinding(row);
    });
  }

  /** Every method goes through here: initialises on first use and maps engine errors. */
  async #run<T>(fn: (db: Db) => T): Promise<T> {
    if (this.#closed) throw storeClosed();
    await this.#init.call();
    const db = this.#db;
    if (!db) throw storeClosed();
    try {
      return fn(db);
    } catch (err) {
      throw wrap(err);
    }
  }

  #open(): void {
    const { filename, busyTimeoutMs, sweepIntervalMs } = this.#options;
    let db: Db | undefined;
    try {
      if (filename !== ':memory:' && filename !== '') mkdirSync(dirname(filename), { recursive: true });
      db = new Database(filename, { timeout: busyTimeoutMs });
      // WAL lets readers run beside the one writer; busy_timeout makes a second process wait
      // for the lock instead of failing at once. synchronous=FULL: a committed notification
      // survives a crash right after we answered WeChat Pay.
      db.pragma('journal_mode = WAL');
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      db.pragma('synchronous = FULL');
      this.#migrate(db);
    } catch (err) {
      db?.close();
      throw wrap(err);
    }
    this.#db = db;
    this.#timer = setInterval(() => this.#sweep(), sweepIntervalMs);
    this.#timer.unref();
  }

  /** Idempotent, and safe when several processes open a fresh file at once (the write lock serialises them). */
  #migrate(db: Db): void {
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] ?? '');
      if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
    }).immediate();
  }

  #sweep(): void {
    try {
      const now = Date.now();
      this.#db?.prepare('DELETE FROM outer_strs WHERE expires_at <= ?').run(now);
      this.#db?.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
    } catch {
      // Only housekeeping: reads already ignore expired rows; the next sweep tries again.
    }
  }
}
