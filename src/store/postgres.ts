import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { loadPgPool, type PgPoolConstructor } from './drivers.js';
import { bindAudit, bindWithOuterStr, mergeMerchantBind } from './effect.js';
import { Lifecycle } from './lifecycle.js';
import { postgresPrune, retentionIndexes } from './postgres-prune.js';
import { retentionSweep } from './prune-runner.js';
import type { PruneCounts, RetentionLimits } from './retention.js';
import {
  checkStoreOptions,
  type PostgresConnectionOptions,
  type PostgresStoreOptions,
  type StoreCommonOptions,
} from './options.js';
import * as sqlRows from './rows.js';
import { TOPUP_COLUMNS, toTopup, topupParams, type TopupRow } from './topup-rows.js';
import { Subscriptions } from './bus-message.js';
import { publishPostgres, subscribePostgres } from './postgres-bus.js';
import { checkTake, fullAfterMs, takeFrom } from './token-bucket.js';
import type * as T from './types.js';
import { storeUnavailable } from './unavailable.js';

/** Serialises schema setup across processes: (our constant, hash of the schema name). */
const LOCK_NAMESPACE = 0x4d435244; // 'MCRD'

/** Schema migrations in order; schema_version holds how many have run. Append only. */
const MIGRATIONS: ((s: string) => string)[] = [
  (s) => `
    CREATE TABLE IF NOT EXISTS ${s}.bindings (
      card_id TEXT NOT NULL,
      code TEXT NOT NULL,
      unionid TEXT,
      oa_openid TEXT,
      user_openid TEXT,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (card_id, code)
    );
    CREATE INDEX IF NOT EXISTS bindings_by_user ON ${s}.bindings (card_id, user_openid, updated_at DESC)
      WHERE status = 'active';
    CREATE INDEX IF NOT EXISTS bindings_by_unionid ON ${s}.bindings (card_id, unionid, updated_at DESC)
      WHERE status = 'active';
    CREATE TABLE IF NOT EXISTS ${s}.outer_strs (
      outer_str TEXT PRIMARY KEY,
      openid TEXT NOT NULL,
      unionid TEXT,
      expires_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${s}.notifications (
      id TEXT PRIMARY KEY,
      event_type TEXT NOT NULL,
      card_id TEXT,
      code TEXT,
      received_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${s}.sessions (
      token_hash TEXT PRIMARY KEY,
      openid TEXT NOT NULL,
      unionid TEXT,
      expires_at BIGINT NOT NULL
    );`,
  // 2: merchant operations: leases (per-card locks), the journal, the audit trail.
  (s) => `
    CREATE TABLE IF NOT EXISTS ${s}.op_locks (
      name TEXT PRIMARY KEY,
      token TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${s}.operations (
      card_id TEXT NOT NULL,
      request_id TEXT NOT NULL,
      code TEXT NOT NULL,
      kind TEXT NOT NULL,
      amount BIGINT,
      value TEXT,
      remark TEXT,
      actor TEXT,
      state TEXT NOT NULL,
      out_request_no TEXT NOT NULL,
      before_value TEXT,
      after_value TEXT NOT NULL,
      error_code TEXT,
      error_message TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (card_id, request_id)
    );
    CREATE INDEX IF NOT EXISTS operations_pending ON ${s}.operations (card_id, code, created_at)
      WHERE state = 'pending';
    CREATE TABLE IF NOT EXISTS ${s}.audit_log (
      id BIGSERIAL PRIMARY KEY,
      card_id TEXT NOT NULL,
      code TEXT NOT NULL,
      request_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      actor TEXT,
      amount BIGINT,
      value TEXT,
      remark TEXT,
      before_value TEXT,
      after_value TEXT NOT NULL,
      at BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_by_card ON ${s}.audit_log (card_id, code, id DESC);`,
  // 3: rate limits: one token bucket per key, forgotten once it would be full again.
  (s) => `
    CREATE TABLE IF NOT EXISTS ${s}.rate_buckets (
      key TEXT PRIMARY KEY,
      tokens DOUBLE PRECISION NOT NULL,
      updated_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL
    );`,
  // 4: member codes shown at the till (only a keyed hash of each), the newest one per card.
  (s) => `
    CREATE TABLE IF NOT EXISTS ${s}.member_codes (
      hash TEXT PRIMARY KEY,
      card_id TEXT NOT NULL,
      code TEXT NOT NULL,
      user_openid TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS member_codes_by_card ON ${s}.member_codes (card_id, code);`,
  // 5: top-up orders: the order as JSON, with the columns the atomic steps select on.
  (s) => `
    CREATE TABLE IF NOT EXISTS ${s}.topup_orders (
      card_id TEXT NOT NULL,
      out_trade_no TEXT NOT NULL,
      openid TEXT NOT NULL,
      code TEXT NOT NULL,
      amount BIGINT NOT NULL,
      state TEXT NOT NULL,
      next_check_at BIGINT,
      created_at BIGINT NOT NULL,
      version INTEGER NOT NULL,
      data TEXT NOT NULL,
      PRIMARY KEY (card_id, out_trade_no)
    );
    CREATE INDEX IF NOT EXISTS topup_orders_by_user ON ${s}.topup_orders (card_id, openid, created_at DESC);
    CREATE INDEX IF NOT EXISTS topup_orders_due ON ${s}.topup_orders (card_id, next_check_at)
      WHERE next_check_at IS NOT NULL;`,
  // 6: an outer_str belongs to one card, and a user has at most one per card (issueOuterStr).
  (s) => `
    ALTER TABLE ${s}.outer_strs ADD COLUMN IF NOT EXISTS card_id TEXT;
    CREATE UNIQUE INDEX IF NOT EXISTS outer_strs_by_user ON ${s}.outer_strs (card_id, openid);`,
  // 7 (8 if the cache migration lands first; moves as a whole): retention (issue 18), what the
  // prune pass and the pending-operation sweep select on, so a batch reads only the rows it deletes.
  retentionIndexes,
];

/** The server's clock in ms: leases of several instances are measured by one clock, not by each host's. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * SQLSTATE classes that mean the server cannot serve us now (connection exception, insufficient
 * resources, operator intervention incl. statement_timeout, system error), as opposed to a bug.
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|57|58)/;

/** An error the server answered with (it has a SQLSTATE), as opposed to no answer at all. */
function isServerError(err: unknown): err is { code: string; severity: string } {
  const e = err as { code?: unknown; severity?: unknown } | null;
  return !!e && typeof e.severity === 'string' && typeof e.code === 'string';
}

function wrap(err: unknown): unknown {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return err;
  // An answer from the server: only some classes mean "unavailable".
  if (isServerError(err)) return UNAVAILABLE_SQLSTATE.test(err.code) ? storeUnavailable(err) : err;
  // No answer at all: refused, reset, terminated, connect or read timeout.
  return storeUnavailable(err);
}

const orNull = (v: string | undefined): string | null => v || null;

/**
 * PostgreSQL, for several instances behind a load balancer. Each atomic step is a single
 * statement or one transaction; concurrent instances are serialised by row locks / unique
 * indexes, never by reading first and writing later.
 */
export class PostgresStore implements T.EngineStore, T.CacheBusStore {
  readonly #schema: string;
  /** Quoted schema name, safe to splice into SQL (validated in the constructor). */
  readonly #s: string;
  readonly #life: Lifecycle<Pool>;
  /** Cache-bus subscriptions opened through this store, ended by close(). */
  readonly #subscriptions = new Subscriptions();

  constructor(options: PostgresStoreOptions & StoreCommonOptions) {
    checkStoreOptions('postgres', options);
    this.#schema = options.schema ?? 'public';
    this.#s = `"${this.#schema}"`;
    // The host's own pool is the host's to end; ours is ended by close().
    const hostPool = options.pool;
    this.#life = new Lifecycle({
      engine: 'postgres',
      log: options.log,
      // A client error (an idle connection dropped) may be the start of an outage: the lifecycle tells it once.
      open: () => this.#open(withOutageNotes(options, (err) => this.#life.noteClientError(err))),
      shut: (pool) => (pool === hostPool ? undefined : pool.end()),
      wrap,
      sweep: retentionSweep(this, options, 600_000),
    });
  }

  get schema(): string {
    return this.#schema;
  }

  // The cache bus (postgres-bus.ts): NOTIFY through the pool, LISTEN on a client of its own.
  async publishInvalidation(cardId: string, code: string): Promise<void> {
    await this.#life.run((pool) => publishPostgres(pool, this.#schema, cardId, code));
  }

  subscribeInvalidations(subscriber: T.InvalidationSubscriber): () => Promise<void> {
    return this.#subscriptions.track(subscribePostgres(() => this.#life.handle(), this.#schema, subscriber));
  }

  init(): Promise<void> {
    return this.#life.init();
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.#subscriptions.closeAll();
    return this.#life.close();
  }

  findBindingByUser(cardId: string, userOpenid: string): Promise<T.Binding | undefined> {
    return this.#latestActive('user_openid', cardId, userOpenid);
  }

  findBindingByUnionid(cardId: string, unionid: string): Promise<T.Binding | undefined> {
    return this.#latestActive('unionid', cardId, unionid);
  }

  async getBinding(cardId: string, code: string): Promise<T.Binding | undefined> {
    const rows = await this.#query<sqlRows.BindingRow>(
      `SELECT * FROM ${this.#s}.bindings WHERE card_id = $1 AND code = $2`,
      [cardId, code],
    );
    return rows[0] && sqlRows.toBinding(rows[0]);
  }

  async flagBinding(cardId: string, code: string): Promise<void> {
    await this.#query(
      `UPDATE ${this.#s}.bindings SET status = 'flagged', updated_at = $3 WHERE card_id = $1 AND code = $2`,
      [cardId, code, Date.now()],
    );
  }

  async putOuterStr(outerStr: string, user: T.UserIdentity, expiresAt: number): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#s}.outer_strs (outer_str, openid, unionid, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (outer_str) DO UPDATE SET
         openid = EXCLUDED.openid, unionid = EXCLUDED.unionid, expires_at = EXCLUDED.expires_at`,
      [outerStr, user.openid, orNull(user.unionid), expiresAt],
    );
  }

  async applyNotification(
    record: T.NotificationRecord,
    effect: T.NotificationEffect,
    observer?: T.ApplyObserver,
  ): Promise<boolean> {
    const s = this.#s;
    let refused: T.OuterStrRefusal | undefined;
    const first = await this.#transaction(async (client) => {
      refused = undefined;
      const now = Date.now();
      // Insert-if-absent is the de-duplication. A concurrent duplicate waits on our uncommitted
      // key and then finds it taken; if we roll back, it inserts instead. Nothing is lost.
      const inserted = await client.query(
        `INSERT INTO ${s}.notifications (id, event_type, card_id, code, received_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [record.id, record.eventType, orNull(record.cardId), orNull(record.code), record.receivedAt],
      );
      if (inserted.rowCount === 0) return false;
      if (effect.kind === 'bind') refused = await this.#bind(client, effect, now);
      else if (effect.kind === 'retire') {
        await client.query(
          `UPDATE ${s}.bindings SET status = 'retired', updated_at = $3 WHERE card_id = $1 AND code = $2`,
          [effect.cardId, effect.code, now],
        );
      }
      return true;
    });
    if (refused) observer?.outerStrRefused?.(refused);
    return first;
  }

  /**
   * A bind effect, inside applyNotification's transaction. Locks first the outer_str (of two
   * notifications naming it, the second waits and then finds it consumed), then the binding row
   * (made if missing; a concurrent insert of the same code is waited for and then locked), always in
   * this order; the merge is computed in JavaScript against the locked row (bindWithOuterStr).
   */
  async #bind(
    client: PoolClient,
    effect: Extract<T.NotificationEffect, { kind: 'bind' }>,
    now: number,
  ): Promise<T.OuterStrRefusal | undefined> {
    const s = this.#s;
    let owner: T.UserIdentity | undefined;
    if (effect.outerStr !== undefined) {
      const { rows } = await client.query<{ openid: string; unionid: string | null }>(
        `SELECT openid, unionid FROM ${s}.outer_strs
         WHERE outer_str = $1 AND expires_at > $2 AND (card_id IS NULL OR card_id = $3) FOR UPDATE`,
        [effect.outerStr, now, effect.cardId],
      );
      const row = rows[0];
      if (row) owner = row.unionid ? { openid: row.openid, unionid: row.unionid } : { openid: row.openid };
    }
    const select = `SELECT * FROM ${s}.bindings WHERE card_id = $1 AND code = $2 FOR UPDATE`;
    let row = (await client.query<sqlRows.BindingRow>(select, [effect.cardId, effect.code])).rows[0];
    let step = bindWithOuterStr(row && sqlRows.toBinding(row), effect, owner, now);
    let stored = false;
    if (!row) {
      const inserted = await client.query(
        `INSERT INTO ${s}.bindings ${sqlRows.columnsAndValues(sqlRows.BINDING_COLUMNS, '$')}
         ON CONFLICT (card_id, code) DO NOTHING RETURNING code`,
        sqlRows.bindingParams(step.binding),
      );
      stored = inserted.rowCount === 1;
      if (!stored) {
        row = (await client.query<sqlRows.BindingRow>(select, [effect.cardId, effect.code])).rows[0];
        step = bindWithOuterStr(row && sqlRows.toBinding(row), effect, owner, now);
      }
    }
    if (!stored) {
      const b = step.binding;
      await client.query(
        `UPDATE ${s}.bindings SET unionid = $3, oa_openid = $4, user_openid = $5, status = 'active', updated_at = $6
         WHERE card_id = $1 AND code = $2`,
        [b.cardId, b.code, b.unionid ?? null, b.oaOpenid ?? null, b.userOpenid ?? null, b.updatedAt],
      );
    }
    if (step.consume) await client.query(`DELETE FROM ${s}.outer_strs WHERE outer_str = $1`, [effect.outerStr]);
    return step.refused;
  }

  bindByMerchant(bind: T.MerchantBinding): Promise<T.MerchantBindResult> {
    const s = this.#s;
    const select = `SELECT * FROM ${s}.bindings WHERE card_id = $1 AND code = $2 FOR UPDATE`;
    return this.#transaction(async (client): Promise<T.MerchantBindResult> => {
      const now = Date.now();
      // The row lock serialises this with notifications and other binds of the same code; a row
      // inserted meanwhile by another instance is waited for by the insert and then locked here.
      let rows = (await client.query<sqlRows.BindingRow>(select, [bind.cardId, bind.code])).rows;
      if (!rows[0]) {
        const fresh = mergeMerchantBind(undefined, bind, now);
        const inserted = await client.query(
          `INSERT INTO ${s}.bindings ${sqlRows.columnsAndValues(sqlRows.BINDING_COLUMNS, '$')}
           ON CONFLICT (card_id, code) DO NOTHING RETURNING code`,
          sqlRows.bindingParams(fresh.binding),
        );
        if (inserted.rowCount === 1) {
          await this.#insertAudit(client, bindAudit(undefined, bind, now));
          return fresh;
        }
        rows = (await client.query<sqlRows.BindingRow>(select, [bind.cardId, bind.code])).rows;
      }
      const existing = sqlRows.toBinding(rows[0] as sqlRows.BindingRow);
      const result = mergeMerchantBind(existing, bind, now);
      if (result.outcome !== 'bound') return result;
      const b = result.binding;
      await client.query(
        `UPDATE ${s}.bindings SET unionid = $3, oa_openid = $4, user_openid = $5, status = 'active', updated_at = $6
         WHERE card_id = $1 AND code = $2`,
        [b.cardId, b.code, b.unionid ?? null, b.oaOpenid ?? null, b.userOpenid ?? null, b.updatedAt],
      );
      await this.#insertAudit(client, bindAudit(existing, bind, now));
      return result;
    });
  }

  async getNotification(id: string): Promise<T.NotificationRecord | undefined> {
    const rows = await this.#query<sqlRows.NotificationRow>(`SELECT * FROM ${this.#s}.notifications WHERE id = $1`, [
      id,
    ]);
    return rows[0] && sqlRows.toNotification(rows[0]);
  }

  async putSession(tokenHash: string, session: T.Session): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#s}.sessions (token_hash, openid, unionid, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO UPDATE SET
         openid = EXCLUDED.openid, unionid = EXCLUDED.unionid, expires_at = EXCLUDED.expires_at`,
      [tokenHash, session.openid, orNull(session.unionid), session.expiresAt],
    );
  }

  async getSession(tokenHash: string): Promise<T.Session | undefined> {
    const rows = await this.#query<sqlRows.SessionRow>(
      `SELECT openid, unionid, expires_at FROM ${this.#s}.sessions WHERE token_hash = $1 AND expires_at > $2`,
      [tokenHash, Date.now()],
    );
    return rows[0] && sqlRows.toSession(rows[0]);
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.#query(`DELETE FROM ${this.#s}.sessions WHERE token_hash = $1`, [tokenHash]);
  }

  async acquireLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    // One statement: insert, or take over a row whose lease has run out (the row lock serialises
    // racing takers; the loser re-checks the WHERE against the winner's row and gets nothing back).
    const rows = await this.#query(
      `INSERT INTO ${this.#s}.op_locks AS l (name, token, expires_at) VALUES ($1, $2, ${NOW_MS} + $3)
       ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
       WHERE l.expires_at <= ${NOW_MS} RETURNING name`,
      [name, token, Math.ceil(ttlMs)],
    );
    return rows.length === 1;
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const rows = await this.#query(
      `UPDATE ${this.#s}.op_locks SET expires_at = ${NOW_MS} + $3
       WHERE name = $1 AND token = $2 AND expires_at > ${NOW_MS} RETURNING name`,
      [name, token, Math.ceil(ttlMs)],
    );
    return rows.length === 1;
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    const rows = await this.#query<{ live: boolean }>(
      `DELETE FROM ${this.#s}.op_locks WHERE name = $1 AND token = $2 RETURNING expires_at > ${NOW_MS} AS live`,
      [name, token],
    );
    return rows[0]?.live === true;
  }

  insertOperation(operation: T.Operation, fence: { lock: string; token: string }): Promise<T.InsertOperationResult> {
    const s = this.#s;
    const select = `SELECT * FROM ${s}.operations WHERE card_id = $1 AND request_id = $2`;
    return this.#transaction(async (client): Promise<T.InsertOperationResult> => {
      const existing = await client.query<sqlRows.OperationRow>(select, [operation.cardId, operation.requestId]);
      if (existing.rows[0]) return { outcome: 'exists', operation: sqlRows.toOperation(existing.rows[0]) };
      // FOR UPDATE: a taker of an expired lease waits for our COMMIT, so it sees this entry
      // among the card's pending ones; or it took the lease first, and we see its token.
      const held = await client.query(
        `SELECT 1 FROM ${s}.op_locks WHERE name = $1 AND token = $2 AND expires_at > ${NOW_MS} FOR UPDATE`,
        [fence.lock, fence.token],
      );
      if (held.rowCount === 0) return { outcome: 'lock_lost' };
      const inserted = await client.query(
        `INSERT INTO ${s}.operations ${sqlRows.columnsAndValues(sqlRows.OPERATION_COLUMNS, '$')}
         ON CONFLICT (card_id, request_id) DO NOTHING RETURNING request_id`,
        sqlRows.operationParams(operation),
      );
      if (inserted.rowCount === 1) return { outcome: 'inserted' };
      const raced = await client.query<sqlRows.OperationRow>(select, [operation.cardId, operation.requestId]);
      return { outcome: 'exists', operation: sqlRows.toOperation(raced.rows[0] as sqlRows.OperationRow) };
    });
  }

  async getOperation(cardId: string, requestId: string): Promise<T.Operation | undefined> {
    const rows = await this.#query<sqlRows.OperationRow>(
      `SELECT * FROM ${this.#s}.operations WHERE card_id = $1 AND request_id = $2`,
      [cardId, requestId],
    );
    return rows[0] && sqlRows.toOperation(rows[0]);
  }

  finishOperation(cardId: string, requestId: string, outcome: T.OperationOutcome): Promise<T.FinishOperationResult> {
    const s = this.#s;
    return this.#transaction(async (client) => {
      const now = Date.now();
      const error = outcome.state === 'failed' ? outcome.error : undefined;
      // The row lock makes this a compare-and-set: of two finishers only one sees it pending.
      const updated = await client.query<sqlRows.OperationRow>(
        `UPDATE ${s}.operations SET state = $3, error_code = $4, error_message = $5, updated_at = $6
         WHERE card_id = $1 AND request_id = $2 AND state = 'pending' RETURNING *`,
        [cardId, requestId, outcome.state, error?.code ?? null, error?.message ?? null, now],
      );
      const row = updated.rows[0];
      if (!row) {
        const current = await client.query<sqlRows.OperationRow>(
          `SELECT * FROM ${s}.operations WHERE card_id = $1 AND request_id = $2`,
          [cardId, requestId],
        );
        return { changed: false, operation: current.rows[0] && sqlRows.toOperation(current.rows[0]) };
      }
      const op = sqlRows.toOperation(row);
      if (op.state === 'applied') {
        await client.query(
          `INSERT INTO ${s}.audit_log ${sqlRows.columnsAndValues(sqlRows.AUDIT_COLUMNS, '$')}`,
          sqlRows.auditParams(op, now),
        );
      }
      return { changed: true, operation: op };
    });
  }

  async listPendingOperations(cardId: string, code: string): Promise<T.Operation[]> {
    const rows = await this.#query<sqlRows.OperationRow>(
      `SELECT * FROM ${this.#s}.operations WHERE card_id = $1 AND code = $2 AND state = 'pending'
       ORDER BY created_at, request_id`,
      [cardId, code],
    );
    return rows.map(sqlRows.toOperation);
  }

  async listAudit(cardId: string, code: string, limit: number): Promise<T.AuditEntry[]> {
    const rows = await this.#query<sqlRows.AuditRow>(
      `SELECT * FROM ${this.#s}.audit_log WHERE card_id = $1 AND code = $2 ORDER BY id DESC LIMIT $3`,
      [cardId, code, Math.max(0, Math.floor(limit))],
    );
    return rows.map(sqlRows.toAudit);
  }

  async putMemberCode(hash: string, entry: T.MemberCodeEntry): Promise<void> {
    // One statement: the card's row (unique per card) takes the new hash, so the older code is gone.
    await this.#query(
      `INSERT INTO ${this.#s}.member_codes (hash, card_id, code, user_openid, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (card_id, code) DO UPDATE SET
         hash = EXCLUDED.hash, user_openid = EXCLUDED.user_openid, expires_at = EXCLUDED.expires_at`,
      [hash, entry.cardId, entry.code, entry.userOpenid, entry.expiresAt],
    );
  }

  async consumeMemberCode(hash: string): Promise<T.MemberCodeEntry | undefined> {
    // Delete-returning is the consume: the row lock lets one of two racing instances have it.
    const rows = await this.#query<sqlRows.MemberCodeRow>(
      `DELETE FROM ${this.#s}.member_codes WHERE hash = $1 RETURNING card_id, code, user_openid, expires_at`,
      [hash],
    );
    return rows[0] && sqlRows.liveMemberCode(rows[0], Date.now());
  }

  async listAuditPage(
    cardId: string,
    code: string,
    page: { limit: number; before?: number; kinds: readonly T.AuditKind[] },
  ): Promise<T.AuditPage> {
    const limit = Math.max(0, Math.floor(page.limit));
    const rows = await this.#query<sqlRows.AuditPageRow>(
      `SELECT * FROM ${this.#s}.audit_log WHERE card_id = $1 AND code = $2 AND id < $3 AND kind = ANY($4::text[])
       ORDER BY id DESC LIMIT $5`,
      [cardId, code, page.before ?? Number.MAX_SAFE_INTEGER, [...page.kinds], limit + 1],
    );
    return sqlRows.auditPage(rows, limit);
  }

  async #latestActive(
    column: 'user_openid' | 'unionid',
    cardId: string,
    value: string,
  ): Promise<T.Binding | undefined> {
    const rows = await this.#query<sqlRows.BindingRow>(
      `SELECT * FROM ${this.#s}.bindings WHERE card_id = $1 AND ${column} = $2 AND status = 'active'
       ORDER BY updated_at DESC LIMIT 1`,
      [cardId, value],
    );
    return rows[0] && sqlRows.toBinding(rows[0]);
  }

  #query<R extends QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.#life.run(async (pool) => (await pool.query<R>(sql, params)).rows);
  }

  #transaction<R>(fn: (client: PoolClient) => Promise<R>): Promise<R> {
    return this.#life.run((pool) => transaction(pool, fn));
  }

  async #insertAudit(client: PoolClient, entry: T.AuditEntry): Promise<void> {
    await client.query(
      `INSERT INTO ${this.#s}.audit_log ${sqlRows.columnsAndValues(sqlRows.AUDIT_COLUMNS, '$')}`,
      sqlRows.auditEntryParams(entry),
    );
  }

  async #open(options: PostgresStoreOptions): Promise<Pool> {
    if (options.pool) {
      await this.#migrate(options.pool);
      return options.pool;
    }
    const pool = ourPool(await loadPgPool(), options);
    try {
      await this.#migrate(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return pool;
  }

  /**
   * Creates / migrates the schema. The advisory lock (held until COMMIT) makes instances that
   * start together take turns, so none trips over another's half-made CREATE.
   */
  async #migrate(pool: Pool): Promise<void> {
    const s = this.#s;
    await transaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, this.#schema]);
      // Checked first: CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database.
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.#schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version INTEGER NOT NULL)`);
      const current = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version`);
      const version = current.rows[0]?.version ?? 0;
      if (current.rowCount === 0) await client.query(`INSERT INTO ${s}.schema_version (version) VALUES (0)`);
      for (let v = version; v < MIGRATIONS.length; v++) await client.query(MIGRATIONS[v]?.(s) ?? '');
      if (version < MIGRATIONS.length)
        await client.query(`UPDATE ${s}.schema_version SET version = $1`, [MIGRATIONS.length]);
    });
  }

  prune(now: number, limits: RetentionLimits, batch: number): Promise<PruneCounts> {
    return this.#life.run((pool) => postgresPrune(pool, this.#s, now, limits, Math.max(1, Math.floor(batch))));
  }

  async listStalePendingOperations(cardId: string, before: number, limit: number): Promise<T.Operation[]> {
    const rows = await this.#query<sqlRows.OperationRow>(
      `SELECT * FROM ${this.#s}.operations WHERE card_id = $1 AND state = 'pending' AND created_at <= $2
       ORDER BY created_at, request_id LIMIT $3`,
      [cardId, before, Math.max(0, Math.floor(limit))],
    );
    return rows.map(sqlRows.toOperation);
  }

  async takeTokens(key: string, bucket: T.BucketSpec, cost = 1): Promise<T.TakeResult> {
    checkTake(key, bucket, cost);
    const s = this.#s;
    return this.#transaction(async (client) => {
      // One statement makes the bucket if it is new (full) and locks its row either way, so racing
      // instances take from it one after another; all of them read the server's one clock.
      const { rows } = await client.query<{ tokens: number; updated_at: string; now: string }>(
        `INSERT INTO ${s}.rate_buckets AS b (key, tokens, updated_at, expires_at)
         VALUES ($1, $2, ${NOW_MS}, ${NOW_MS})
         ON CONFLICT (key) DO UPDATE SET key = b.key
         RETURNING b.tokens, b.updated_at, ${NOW_MS} AS now`,
        [key, bucket.capacity],
      );
      const row = rows[0] as { tokens: number; updated_at: string; now: string };
      const now = Number(row.now);
      const { next, result } = takeFrom({ tokens: row.tokens, updatedAt: Number(row.updated_at) }, bucket, cost, now);
      await client.query(`UPDATE ${s}.rate_buckets SET tokens = $2, updated_at = $3, expires_at = $4 WHERE key = $1`, [
        key,
        next.tokens,
        now,
        now + fullAfterMs(next.tokens, bucket),
      ]);
      return result;
    });
  }

  createTopupOrder(order: T.TopupOrder, reuseSince: number): Promise<T.CreateTopupResult> {
    const s = this.#s;
    return this.#transaction(async (client): Promise<T.CreateTopupResult> => {
      // One user's orders on one card are made one at a time, so two taps cannot both miss each other.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `topup\n${order.cardId}\n${order.openid}`,
      ]);
      const found = await client.query<TopupRow>(
        `SELECT data, version FROM ${s}.topup_orders WHERE card_id = $1 AND openid = $2 AND code = $3 AND amount = $4
         AND state = 'pending' AND created_at >= $5 ORDER BY created_at DESC LIMIT 1`,
        [order.cardId, order.openid, order.code, order.amount, reuseSince],
      );
      if (found.rows[0]) return { created: false, order: toTopup(found.rows[0]) };
      await client.query(
        `INSERT INTO ${s}.topup_orders ${sqlRows.columnsAndValues(TOPUP_COLUMNS, '$')}`,
        topupParams(order),
      );
      return { created: true, order: toTopup({ data: JSON.stringify(order), version: order.version }) };
    });
  }

  async getTopupOrder(cardId: string, outTradeNo: string): Promise<T.TopupOrder | undefined> {
    const rows = await this.#query<TopupRow>(
      `SELECT data, version FROM ${this.#s}.topup_orders WHERE card_id = $1 AND out_trade_no = $2`,
      [cardId, outTradeNo],
    );
    return rows[0] && toTopup(rows[0]);
  }

  async updateTopupOrder(order: T.TopupOrder): Promise<T.TopupOrder | undefined> {
    const next = toTopup({ data: JSON.stringify(order), version: order.version + 1 });
    const rows = await this.#query(
      `UPDATE ${this.#s}.topup_orders SET state = $1, next_check_at = $2, version = $3, data = $4
       WHERE card_id = $5 AND out_trade_no = $6 AND version = $7 RETURNING version`,
      [
        next.state,
        next.nextCheckAt ?? null,
        next.version,
        JSON.stringify(next),
        order.cardId,
        order.outTradeNo,
        order.version,
      ],
    );
    return rows.length === 1 ? next : undefined;
  }

  async listDueTopupOrders(cardId: string, now: number, limit: number): Promise<T.TopupOrder[]> {
    const rows = await this.#query<TopupRow>(
      `SELECT data, version FROM ${this.#s}.topup_orders WHERE card_id = $1 AND next_check_at IS NOT NULL
       AND next_check_at <= $2 ORDER BY next_check_at, out_trade_no LIMIT $3`,
      [cardId, now, Math.max(0, Math.floor(limit))],
    );
    return rows.map(toTopup);
  }

  async issueOuterStr(cardId: string, user: T.UserIdentity, candidate: string, expiresAt: number): Promise<string> {
    // One statement: the user's row for this card keeps its outer_str while it is pending (a
    // consumed one is deleted), else takes the candidate; either way it lives until expiresAt.
    const rows = await this.#query<{ outer_str: string }>(
      `INSERT INTO ${this.#s}.outer_strs AS o (outer_str, openid, unionid, expires_at, card_id)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (card_id, openid) DO UPDATE SET
         outer_str = CASE WHEN o.expires_at > $6 THEN o.outer_str ELSE EXCLUDED.outer_str END,
         unionid = EXCLUDED.unionid, expires_at = EXCLUDED.expires_at
       RETURNING outer_str`,
      [candidate, user.openid, orNull(user.unionid), expiresAt, cardId, Date.now()],
    );
    return (rows[0] as { outer_str: string }).outer_str;
  }
}

/** The options, with `onError` also reporting each client error to `note`. */
function withOutageNotes(options: PostgresStoreOptions, note: (err: Error) => void): PostgresStoreOptions {
  if (options.pool) return options;
  const host = options.onError;
  return {
    ...options,
    onError: (err: Error) => {
      note(err);
      host?.(err);
    },
  };
}

/** Our own pool, from a URL, with timeouts that make a hung server fail fast. */
function ourPool(Pool: PgPoolConstructor, options: PostgresConnectionOptions): Pool {
  const queryTimeoutMs = options.queryTimeoutMs ?? 4000;
  const pool = new Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    // Server-side limit, plus a slightly longer client-side one for a server that stops answering.
    statement_timeout: queryTimeoutMs,
    query_timeout: queryTimeoutMs + 1000,
    idle_in_transaction_session_timeout: queryTimeoutMs * 2,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'koa-wechat-membercard',
    ...options.poolConfig,
  });
  // An idle connection dying (server restart) must not crash the process; the pool replaces it.
  pool.on('error', (err) => options.onError?.(err));
  return pool;
}

/** Runs `fn` in one transaction on a connection of its own; errors come out raw (the caller wraps them). */
async function transaction<R>(pool: Pool, fn: (client: PoolClient) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (isServerError(err)) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
    } else {
      // No answer from the server (reset, read timeout): the connection is gone or stuck, so
      // don't wait another timeout for a ROLLBACK; dropping it makes the server roll back.
      broken = err instanceof Error ? err : new Error(String(err));
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
