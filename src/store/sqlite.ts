import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadSqlite } from './drivers.js';
import { bindAudit, bindWithOuterStr, mergeMerchantBind } from './effect.js';
import { Lifecycle } from './lifecycle.js';
import { checkStoreOptions, type SqliteStoreOptions, type StoreCommonOptions } from './options.js';
import * as sqlRows from './rows.js';
import { TOPUP_COLUMNS, toTopup, topupParams, type TopupRow } from './topup-rows.js';
import { retentionSweep } from './prune-runner.js';
import { RETENTION_INDEXES, sqlitePrune } from './sqlite-prune.js';
import type { SqliteConnection, SqliteDriverName, SqliteStatement } from './sqlite-driver.js';
import { sqliteErrorCode } from './sqlite-driver.js';
import { checkTake, fullAfterMs, takeFrom } from './token-bucket.js';
import type { PruneCounts, RetentionLimits } from './retention.js';
import type * as T from './types.js';
import { storeUnavailable } from './unavailable.js';

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
  // 2: merchant operations: leases (per-card locks), the journal, the audit trail.
  `CREATE TABLE IF NOT EXISTS op_locks (
     name TEXT PRIMARY KEY,
     token TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS operations (
     card_id TEXT NOT NULL,
     request_id TEXT NOT NULL,
     code TEXT NOT NULL,
     kind TEXT NOT NULL,
     amount INTEGER,
     value TEXT,
     remark TEXT,
     actor TEXT,
     state TEXT NOT NULL,
     out_request_no TEXT NOT NULL,
     before_value TEXT,
     after_value TEXT NOT NULL,
     error_code TEXT,
     error_message TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (card_id, request_id)
   );
   CREATE INDEX IF NOT EXISTS operations_pending ON operations (card_id, code, created_at) WHERE state = 'pending';
   CREATE TABLE IF NOT EXISTS audit_log (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     card_id TEXT NOT NULL,
     code TEXT NOT NULL,
     request_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     actor TEXT,
     amount INTEGER,
     value TEXT,
     remark TEXT,
     before_value TEXT,
     after_value TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS audit_by_card ON audit_log (card_id, code, id);`,
  // 3: rate limits: one token bucket per key, forgotten once it would be full again.
  `CREATE TABLE IF NOT EXISTS rate_buckets (
     key TEXT PRIMARY KEY,
     tokens REAL NOT NULL,
     updated_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // 4: member codes shown at the till (only a keyed hash of each), the newest one per card.
  `CREATE TABLE IF NOT EXISTS member_codes (
     hash TEXT PRIMARY KEY,
     card_id TEXT NOT NULL,
     code TEXT NOT NULL,
     user_openid TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX IF NOT EXISTS member_codes_by_card ON member_codes (card_id, code);`,
  // 5: top-up orders: the order as JSON, with the columns the atomic steps select on.
  `CREATE TABLE IF NOT EXISTS topup_orders (
     card_id TEXT NOT NULL,
     out_trade_no TEXT NOT NULL,
     openid TEXT NOT NULL,
     code TEXT NOT NULL,
     amount INTEGER NOT NULL,
     state TEXT NOT NULL,
     next_check_at INTEGER,
     created_at INTEGER NOT NULL,
     version INTEGER NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (card_id, out_trade_no)
   );
   CREATE INDEX IF NOT EXISTS topup_orders_by_user ON topup_orders (card_id, openid, created_at);
   CREATE INDEX IF NOT EXISTS topup_orders_due ON topup_orders (card_id, next_check_at)
     WHERE next_check_at IS NOT NULL;`,
  // 6: an outer_str belongs to one card, and a user has at most one per card (issueOuterStr).
  `ALTER TABLE outer_strs ADD COLUMN card_id TEXT;
   CREATE UNIQUE INDEX IF NOT EXISTS outer_strs_by_user ON outer_strs (card_id, openid);`,
  // 7 (8 if the cache migration lands first; moves as a whole): retention (issue 18), what the prune pass and the
  // pending-operation sweep select on, so a batch reads only the rows it deletes.
  RETENTION_INDEXES,
];

/** SQLite error codes that mean "cannot reach the data now", not "our SQL is wrong". */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|PROTOCOL|NOTADB|CORRUPT)/;

function wrap(err: unknown): unknown {
  const code = sqliteErrorCode(err);
  return code !== undefined && UNAVAILABLE.test(code) ? storeUnavailable(err) : err;
}

type Db = SqliteConnection;

/**
 * Makes db.prepare() return one compiled statement per SQL text. Compiling costs far more than
 * running a small query, and every store call names its SQL inline; none of them changes a
 * statement's mode (pluck/raw) or iterates, so one statement can serve every call.
 */
function rememberStatements(db: Db): void {
  const statements = new Map<string, SqliteStatement>();
  const compile = db.prepare.bind(db);
  db.prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = compile(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}

/**
 * The embedded default: one file, no server. Several processes may share the file (WAL +
 * busy_timeout); every multi-statement step runs in a BEGIN IMMEDIATE transaction, so it takes
 * the write lock up front and cannot interleave with another writer.
 */
export class SqliteStore implements T.EngineStore {
  readonly #options: SqliteStoreOptions & StoreCommonOptions & { busyTimeoutMs: number };
  readonly #life: Lifecycle<Db>;
  #driver: SqliteDriverName | undefined;

  constructor(options: SqliteStoreOptions & StoreCommonOptions) {
    checkStoreOptions('sqlite', options);
    this.#options = { busyTimeoutMs: 5000, ...options };
    this.#life = new Lifecycle({
      engine: 'sqlite',
      log: options.log,
      open: () => this.#open(),
      shut: (db) => {
        db.close();
      },
      wrap,
      sweep: retentionSweep(this, options, 600_000),
    });
  }

  get filename(): string {
    return this.#options.filename;
  }

  /** The driver the open database runs on (node:sqlite or better-sqlite3); undefined until init(). */
  get driver(): SqliteDriverName | undefined {
    return this.#driver;
  }

  init(): Promise<void> {
    return this.#life.init();
  }

  async ping(): Promise<void> {
    await this.#life.run((db) => db.prepare('SELECT 1').get());
  }

  close(): Promise<void> {
    return this.#life.close();
  }

  findBindingByUser(cardId: string, userOpenid: string): Promise<T.Binding | undefined> {
    return this.#latestActive('user_openid', cardId, userOpenid);
  }

  findBindingByUnionid(cardId: string, unionid: string): Promise<T.Binding | undefined> {
    return this.#latestActive('unionid', cardId, unionid);
  }

  getBinding(cardId: string, code: string): Promise<T.Binding | undefined> {
    return this.#life.run((db) => {
      const row = db.prepare('SELECT * FROM bindings WHERE card_id = ? AND code = ?').get(cardId, code) as
        sqlRows.BindingRow | undefined;
      return row && sqlRows.toBinding(row);
    });
  }

  async flagBinding(cardId: string, code: string): Promise<void> {
    await this.#life.run((db) => {
      db.prepare("UPDATE bindings SET status = 'flagged', updated_at = ? WHERE card_id = ? AND code = ?").run(
        Date.now(),
        cardId,
        code,
      );
    });
  }

  async putOuterStr(outerStr: string, user: T.UserIdentity, expiresAt: number): Promise<void> {
    await this.#life.run((db) => {
      db.prepare(
        `INSERT INTO outer_strs (outer_str, openid, unionid, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (outer_str) DO UPDATE SET
           openid = excluded.openid, unionid = excluded.unionid, expires_at = excluded.expires_at`,
      ).run(outerStr, user.openid, user.unionid ?? null, expiresAt);
    });
  }

  applyNotification(
    record: T.NotificationRecord,
    effect: T.NotificationEffect,
    observer?: T.ApplyObserver,
  ): Promise<boolean> {
    let refused: T.OuterStrRefusal | undefined;
    const applied = this.#life.run((db) => {
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
          let owner: T.UserIdentity | undefined;
          if (effect.outerStr !== undefined) {
            const row = db
              .prepare(
                `SELECT openid, unionid FROM outer_strs
                 WHERE outer_str = ? AND expires_at > ? AND (card_id IS NULL OR card_id = ?)`,
              )
              .get(effect.outerStr, now, effect.cardId) as { openid: string; unionid: string | null } | undefined;
            if (row) owner = row.unionid ? { openid: row.openid, unionid: row.unionid } : { openid: row.openid };
          }
          const existingRow = db
            .prepare('SELECT * FROM bindings WHERE card_id = ? AND code = ?')
            .get(effect.cardId, effect.code) as sqlRows.BindingRow | undefined;
          const step = bindWithOuterStr(existingRow && sqlRows.toBinding(existingRow), effect, owner, now);
          if (step.consume) db.prepare('DELETE FROM outer_strs WHERE outer_str = ?').run(effect.outerStr ?? '');
          refused = step.refused;
          const b = step.binding;
          db.prepare(
            `INSERT INTO bindings ${sqlRows.columnsAndValues(sqlRows.BINDING_COLUMNS, '?')}
             ON CONFLICT (card_id, code) DO UPDATE SET unionid = excluded.unionid, oa_openid = excluded.oa_openid,
               user_openid = excluded.user_openid, status = excluded.status, updated_at = excluded.updated_at`,
          ).run(...sqlRows.bindingParams(b));
        } else if (effect.kind === 'retire') {
          db.prepare("UPDATE bindings SET status = 'retired', updated_at = ? WHERE card_id = ? AND code = ?").run(
            now,
            effect.cardId,
            effect.code,
          );
        }
        return true;
      });
      return step.immediate();
    });
    // Told once the step is committed, never for a transaction that rolled back.
    return applied.then((first) => {
      if (refused) observer?.outerStrRefused?.(refused);
      return first;
    });
  }

  bindByMerchant(bind: T.MerchantBinding): Promise<T.MerchantBindResult> {
    return this.#life.run((db) => {
      const step = db.transaction((): T.MerchantBindResult => {
        const now = Date.now();
        const row = db.prepare('SELECT * FROM bindings WHERE card_id = ? AND code = ?').get(bind.cardId, bind.code) as
          sqlRows.BindingRow | undefined;
        const existing = row && sqlRows.toBinding(row);
        const result = mergeMerchantBind(existing, bind, now);
        if (result.outcome !== 'bound') return result;
        db.prepare(
          `INSERT INTO bindings ${sqlRows.columnsAndValues(sqlRows.BINDING_COLUMNS, '?')}
           ON CONFLICT (card_id, code) DO UPDATE SET unionid = excluded.unionid, oa_openid = excluded.oa_openid,
             user_openid = excluded.user_openid, status = excluded.status, updated_at = excluded.updated_at`,
        ).run(...sqlRows.bindingParams(result.binding));
        db.prepare(`INSERT INTO audit_log ${sqlRows.columnsAndValues(sqlRows.AUDIT_COLUMNS, '?')}`).run(
          ...sqlRows.auditEntryParams(bindAudit(existing, bind, now)),
        );
        return result;
      });
      return step.immediate();
    });
  }

  getNotification(id: string): Promise<T.NotificationRecord | undefined> {
    return this.#life.run((db) => {
      const row = db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as sqlRows.NotificationRow | undefined;
      return row && sqlRows.toNotification(row);
    });
  }

  async putSession(tokenHash: string, session: T.Session): Promise<void> {
    await this.#life.run((db) => {
      db.prepare(
        `INSERT INTO sessions (token_hash, openid, unionid, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (token_hash) DO UPDATE SET
           openid = excluded.openid, unionid = excluded.unionid, expires_at = excluded.expires_at`,
      ).run(tokenHash, session.openid, session.unionid ?? null, session.expiresAt);
    });
  }

  getSession(tokenHash: string): Promise<T.Session | undefined> {
    return this.#life.run((db) => {
      const row = db
        .prepare('SELECT openid, unionid, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?')
        .get(tokenHash, Date.now()) as sqlRows.SessionRow | undefined;
      return row && sqlRows.toSession(row);
    });
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.#life.run((db) => {
      db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
    });
  }

  acquireLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return this.#life.run((db) => {
      const now = Date.now();
      // One statement: insert, or take over a row whose lease has run out; no row back = held.
      const row = db
        .prepare(
          `INSERT INTO op_locks (name, token, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
           WHERE op_locks.expires_at <= ? RETURNING name`,
        )
        .get(name, token, now + ttlMs, now);
      return row !== undefined;
    });
  }

  extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return this.#life.run((db) => {
      const now = Date.now();
      const result = db
        .prepare('UPDATE op_locks SET expires_at = ? WHERE name = ? AND token = ? AND expires_at > ?')
        .run(now + ttlMs, name, token, now);
      return result.changes === 1;
    });
  }

  releaseLock(name: string, token: string): Promise<boolean> {
    return this.#life.run((db) => {
      const row = db
        .prepare('DELETE FROM op_locks WHERE name = ? AND token = ? RETURNING expires_at')
        .get(name, token) as { expires_at: number } | undefined;
      return row !== undefined && row.expires_at > Date.now();
    });
  }

  insertOperation(operation: T.Operation, fence: { lock: string; token: string }): Promise<T.InsertOperationResult> {
    return this.#life.run((db) => {
      const step = db.transaction((): T.InsertOperationResult => {
        const existing = db
          .prepare('SELECT * FROM operations WHERE card_id = ? AND request_id = ?')
          .get(operation.cardId, operation.requestId) as sqlRows.OperationRow | undefined;
        if (existing) return { outcome: 'exists', operation: sqlRows.toOperation(existing) };
        const held = db
          .prepare('SELECT 1 FROM op_locks WHERE name = ? AND token = ? AND expires_at > ?')
          .get(fence.lock, fence.token, Date.now());
        if (!held) return { outcome: 'lock_lost' };
        db.prepare(`INSERT INTO operations ${sqlRows.columnsAndValues(sqlRows.OPERATION_COLUMNS, '?')}`).run(
          ...sqlRows.operationParams(operation),
        );
        return { outcome: 'inserted' };
      });
      return step.immediate();
    });
  }

  getOperation(cardId: string, requestId: string): Promise<T.Operation | undefined> {
    return this.#life.run((db) => {
      const row = db.prepare('SELECT * FROM operations WHERE card_id = ? AND request_id = ?').get(cardId, requestId) as
        sqlRows.OperationRow | undefined;
      return row && sqlRows.toOperation(row);
    });
  }

  finishOperation(cardId: string, requestId: string, outcome: T.OperationOutcome): Promise<T.FinishOperationResult> {
    return this.#life.run((db) => {
      const step = db.transaction((): T.FinishOperationResult => {
        const now = Date.now();
        const error = outcome.state === 'failed' ? outcome.error : undefined;
        const row = db
          .prepare(
            `UPDATE operations SET state = ?, error_code = ?, error_message = ?, updated_at = ?
             WHERE card_id = ? AND request_id = ? AND state = 'pending' RETURNING *`,
          )
          .get(outcome.state, error?.code ?? null, error?.message ?? null, now, cardId, requestId) as
          sqlRows.OperationRow | undefined;
        if (!row) {
          const current = db
            .prepare('SELECT * FROM operations WHERE card_id = ? AND request_id = ?')
            .get(cardId, requestId) as sqlRows.OperationRow | undefined;
          return { changed: false, operation: current && sqlRows.toOperation(current) };
        }
        const op = sqlRows.toOperation(row);
        if (op.state === 'applied') {
          db.prepare(`INSERT INTO audit_log ${sqlRows.columnsAndValues(sqlRows.AUDIT_COLUMNS, '?')}`).run(
            ...sqlRows.auditParams(op, now),
          );
        }
        return { changed: true, operation: op };
      });
      return step.immediate();
    });
  }

  listPendingOperations(cardId: string, code: string): Promise<T.Operation[]> {
    return this.#life.run((db) =>
      (
        db
          .prepare(
            `SELECT * FROM operations WHERE card_id = ? AND code = ? AND state = 'pending' ORDER BY created_at, rowid`,
          )
          .all(cardId, code) as sqlRows.OperationRow[]
      ).map(sqlRows.toOperation),
    );
  }

  listAudit(cardId: string, code: string, limit: number): Promise<T.AuditEntry[]> {
    return this.#life.run((db) =>
      (
        db
          .prepare('SELECT * FROM audit_log WHERE card_id = ? AND code = ? ORDER BY id DESC LIMIT ?')
          .all(cardId, code, Math.max(0, Math.floor(limit))) as sqlRows.AuditRow[]
      ).map(sqlRows.toAudit),
    );
  }

  async putMemberCode(hash: string, entry: T.MemberCodeEntry): Promise<void> {
    await this.#life.run((db) => {
      // One statement: the card's row (unique per card) takes the new hash, so the older code is gone.
      db.prepare(
        `INSERT INTO member_codes (hash, card_id, code, user_openid, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (card_id, code) DO UPDATE SET
           hash = excluded.hash, user_openid = excluded.user_openid, expires_at = excluded.expires_at`,
      ).run(hash, entry.cardId, entry.code, entry.userOpenid, entry.expiresAt);
    });
  }

  consumeMemberCode(hash: string): Promise<T.MemberCodeEntry | undefined> {
    return this.#life.run((db) => {
      // Delete-returning is the consume: of two instances racing, only one gets the row back.
      const row = db
        .prepare('DELETE FROM member_codes WHERE hash = ? RETURNING card_id, code, user_openid, expires_at')
        .get(hash) as sqlRows.MemberCodeRow | undefined;
      return row && sqlRows.liveMemberCode(row, Date.now());
    });
  }

  listAuditPage(
    cardId: string,
    code: string,
    page: { limit: number; before?: number; kinds: readonly T.AuditKind[] },
  ): Promise<T.AuditPage> {
    return this.#life.run((db) => {
      const kinds = page.kinds.map(() => '?').join(', ');
      const limit = Math.max(0, Math.floor(page.limit));
      const rows = db
        .prepare(
          `SELECT * FROM audit_log WHERE card_id = ? AND code = ? AND id < ? AND kind IN (${kinds || "''"})
           ORDER BY id DESC LIMIT ?`,
        )
        .all(cardId, code, page.before ?? Number.MAX_SAFE_INTEGER, ...page.kinds, limit + 1) as sqlRows.AuditPageRow[];
      return sqlRows.auditPage(rows, limit);
    });
  }

  #latestActive(column: 'user_openid' | 'unionid', cardId: string, value: string): Promise<T.Binding | undefined> {
    return this.#life.run((db) => {
      const row = db
        .prepare(
          `SELECT * FROM bindings WHERE card_id = ? AND ${column} = ? AND status = 'active'
           ORDER BY updated_at DESC, rowid DESC LIMIT 1`,
        )
        .get(cardId, value) as sqlRows.BindingRow | undefined;
      return row && sqlRows.toBinding(row);
    });
  }

  async #open(): Promise<Db> {
    const driver = await loadSqlite(this.#options.driver);
    const { filename, busyTimeoutMs } = this.#options;
    let db: Db | undefined;
    try {
      if (filename !== ':memory:' && filename !== '') mkdirSync(dirname(filename), { recursive: true });
      db = driver.open(filename, busyTimeoutMs);
      // WAL lets readers run beside the one writer; busy_timeout makes a second process wait
      // for the lock instead of failing at once. synchronous=FULL: a committed notification
      // survives a crash right after we answered WeChat Pay.
      db.pragma('journal_mode = WAL');
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      db.pragma('synchronous = FULL');
      migrate(db);
      rememberStatements(db);
      this.#driver = driver.name;
      return db;
    } catch (err) {
      db?.close();
      throw err;
    }
  }

  async takeTokens(key: string, bucket: T.BucketSpec, cost = 1): Promise<T.TakeResult> {
    checkTake(key, bucket, cost);
    return this.#life.run((db) =>
      db
        .transaction((): T.TakeResult => {
          const now = Date.now();
          const row = db.prepare('SELECT tokens, updated_at FROM rate_buckets WHERE key = ?').get(key) as
            { tokens: number; updated_at: number } | undefined;
          const { next, result } = takeFrom(
            row && { tokens: row.tokens, updatedAt: Number(row.updated_at) },
            bucket,
            cost,
            now,
          );
          db.prepare(
            `INSERT INTO rate_buckets (key, tokens, updated_at, expires_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at,
             expires_at = excluded.expires_at`,
          ).run(key, next.tokens, now, now + fullAfterMs(next.tokens, bucket));
          return result;
        })
        .immediate(),
    );
  }

  createTopupOrder(order: T.TopupOrder, reuseSince: number): Promise<T.CreateTopupResult> {
    return this.#life.run((db) => {
      const step = db.transaction((): T.CreateTopupResult => {
        const row = db
          .prepare(
            `SELECT data, version FROM topup_orders WHERE card_id = ? AND openid = ? AND code = ? AND amount = ?
             AND state = 'pending' AND created_at >= ? ORDER BY created_at DESC, rowid DESC LIMIT 1`,
          )
          .get(order.cardId, order.openid, order.code, order.amount, reuseSince) as TopupRow | undefined;
        if (row) return { created: false, order: toTopup(row) };
        db.prepare(`INSERT INTO topup_orders ${sqlRows.columnsAndValues(TOPUP_COLUMNS, '?')}`).run(
          ...topupParams(order),
        );
        return { created: true, order: toTopup({ data: JSON.stringify(order), version: order.version }) };
      });
      return step.immediate();
    });
  }

  getTopupOrder(cardId: string, outTradeNo: string): Promise<T.TopupOrder | undefined> {
    return this.#life.run((db) => {
      const row = db
        .prepare('SELECT data, version FROM topup_orders WHERE card_id = ? AND out_trade_no = ?')
        .get(cardId, outTradeNo) as TopupRow | undefined;
      return row && toTopup(row);
    });
  }

  updateTopupOrder(order: T.TopupOrder): Promise<T.TopupOrder | undefined> {
    return this.#life.run((db) => {
      const next = toTopup({ data: JSON.stringify(order), version: order.version + 1 });
      const result = db
        .prepare(
          `UPDATE topup_orders SET state = ?, next_check_at = ?, version = ?, data = ?
           WHERE card_id = ? AND out_trade_no = ? AND version = ?`,
        )
        .run(
          next.state,
          next.nextCheckAt ?? null,
          next.version,
          JSON.stringify(next),
          order.cardId,
          order.outTradeNo,
          order.version,
        );
      return result.changes === 1 ? next : undefined;
    });
  }

  listDueTopupOrders(cardId: string, now: number, limit: number): Promise<T.TopupOrder[]> {
    return this.#life.run((db) =>
      (
        db
          .prepare(
            `SELECT data, version FROM topup_orders WHERE card_id = ? AND next_check_at IS NOT NULL
             AND next_check_at <= ? ORDER BY next_check_at, rowid LIMIT ?`,
          )
          .all(cardId, now, Math.max(0, Math.floor(limit))) as TopupRow[]
      ).map(toTopup),
    );
  }

  prune(now: number, limits: RetentionLimits, batch: number): Promise<PruneCounts> {
    return this.#life.run((db) => sqlitePrune(db, now, limits, Math.max(1, Math.floor(batch))));
  }

  listStalePendingOperations(cardId: string, before: number, limit: number): Promise<T.Operation[]> {
    return this.#life.run((db) =>
      (
        db
          .prepare(
            `SELECT * FROM operations WHERE card_id = ? AND state = 'pending' AND created_at <= ?
             ORDER BY created_at, rowid LIMIT ?`,
          )
          .all(cardId, before, Math.max(0, Math.floor(limit))) as sqlRows.OperationRow[]
      ).map(sqlRows.toOperation),
    );
  }

  issueOuterStr(cardId: string, user: T.UserIdentity, candidate: string, expiresAt: number): Promise<string> {
    return this.#life.run((db) => {
      // One statement: the user's row for this card keeps its outer_str while it is pending (a
      // consumed one is deleted), else takes the candidate; either way it lives until expiresAt.
      const row = db
        .prepare(
          `INSERT INTO outer_strs (outer_str, openid, unionid, expires_at, card_id) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (card_id, openid) DO UPDATE SET
             outer_str = CASE WHEN outer_strs.expires_at > ? THEN outer_strs.outer_str ELSE excluded.outer_str END,
             unionid = excluded.unionid, expires_at = excluded.expires_at
           RETURNING outer_str`,
        )
        .get(candidate, user.openid, user.unionid ?? null, expiresAt, cardId, Date.now()) as { outer_str: string };
      return row.outer_str;
    });
  }
}

/** Idempotent, and safe when several processes open a fresh file at once (the write lock serialises them). */
function migrate(db: Db): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] ?? '');
    if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
