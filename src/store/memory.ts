import { mergeBind } from './effect.js';
import { auditOf } from './rows.js';
import type {
  AuditEntry,
  Binding,
  InsertOperationResult,
  Operation,
  NotificationEffect,
  NotificationRecord,
  Session,
  Store,
  UserIdentity,
} from './types.js';
import { storeClosed } from './unavailable.js';

export interface MemoryStoreOptions {
  /** How often expired sessions and outer_str values are dropped, in ms (default 60 s). */
  sweepIntervalMs?: number;
}

interface PendingOuterStr extends UserIdentity {
  expiresAt: number;
}

const bindingKey = (cardId: string, code: string): string => JSON.stringify([cardId, code]);

/**
 * Everything in this process's memory: for tests and single-instance demos; lost on restart.
 * Each method runs synchronously between awaits, which is what makes it atomic here.
 */
export class MemoryStore implements Store {
  readonly #bindings = new Map<string, Binding>();
  readonly #outerStrs = new Map<string, PendingOuterStr>();
  readonly #notifications = new Map<string, NotificationRecord>();
  readonly #sessions = new Map<string, Session>();
  readonly #locks = new Map<string, { token: string; expiresAt: number }>();
  readonly #operations = new Map<string, Operation>();
  readonly #audit = new Map<string, AuditEntry[]>();
  readonly #sweepIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  }

  async init(): Promise<void> {
    this.#open();
    if (this.#timer) return;
    // Expiry is checked on read; the sweep only bounds memory. unref: it must not keep Node alive.
    this.#timer = setInterval(() => this.#sweep(Date.now()), this.#sweepIntervalMs);
    this.#timer.unref();
  }

  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async findBindingByUser(cardId: string, userOpenid: string): Promise<Binding | undefined> {
    this.#open();
    return this.#latestActive(cardId, (b) => b.userOpenid === userOpenid);
  }

  async findBindingByUnionid(cardId: string, unionid: string): Promise<Binding | undefined> {
    this.#open();
    return this.#latestActive(cardId, (b) => b.unionid === unionid);
  }

  async getBinding(cardId: string, code: string): Promise<Binding | undefined> {
    this.#open();
    const binding = this.#bindings.get(bindingKey(cardId, code));
    return binding && { ...binding };
  }

  async flagBinding(cardId: string, code: string): Promise<void> {
    this.#open();
    this.#setStatus(cardId, code, 'flagged', Date.now());
  }

  async putOuterStr(outerStr: string, user: UserIdentity, expiresAt: number): Promise<void> {
    this.#open();
    const pending: PendingOuterStr = { openid: user.openid, expiresAt };
    if (user.unionid) pending.unionid = user.unionid;
    this.#outerStrs.set(outerStr, pending);
  }

  async applyNotification(record: NotificationRecord, effect: NotificationEffect): Promise<boolean> {
    this.#open();
    if (this.#notifications.has(record.id)) return false;
    const now = Date.now();
    this.#notifications.set(record.id, { ...record });
    if (effect.kind === 'bind') {
      let outer: UserIdentity | undefined;
      if (effect.outerStr !== undefined) {
        const pending = this.#outerStrs.get(effect.outerStr);
        if (pending && pending.expiresAt > now) {
          this.#outerStrs.delete(effect.outerStr);
          outer = pending;
        }
      }
      const key = bindingKey(effect.cardId, effect.code);
      this.#bindings.set(key, mergeBind(this.#bindings.get(key), effect, outer, now));
    } else if (effect.kind === 'retire') {
      this.#setStatus(effect.cardId, effect.code, 'retired', now);
    }
    return true;
  }

  async getNotification(id: string): Promise<NotificationRecord | undefined> {
    this.#open();
    const record = this.#notifications.get(id);
    return record && { ...record };
  }

  async putSession(tokenHash: string, session: Session): Promise<void> {
    this.#open();
    this.#sessions.set(tokenHash, { ...session });
  }

  async getSession(tokenHash: string): Promise<Session | undefined> {
    this.#open();
    const session = this.#sessions.get(tokenHash);
    if (!session) return undefined;
    if (session.expiresAt <= Date.now()) {
      this.#sessions.delete(tokenHash);
      return undefined;
    }
    return { ...session };
  }

  async deleteSession(tokenHash: string): Promise<void> {
    this.#open();
    this.#sessions.delete(tokenHash);
  }

  async acquireLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    this.#open();
    const now = Date.now();
    const held = this.#locks.get(name);
    if (held && held.expiresAt > now) return false;
    this.#locks.set(name, { token, expiresAt: now + ttlMs });
    return true;
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    this.#open();
    const now = Date.now();
    const held = this.#locks.get(name);
    if (!held || held.token !== token || held.expiresAt <= now) return false;
    held.expiresAt = now + ttlMs;
    return true;
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    this.#open();
    const held = this.#locks.get(name);
    if (!held || held.token !== token) return false;
    this.#locks.delete(name);
    return held.expiresAt > Date.now();
  }

  async insertOperation(operation: Operation, fence: { lock: string; token: string }): Promise<InsertOperationResult> {
    this.#open();
    const key = bindingKey(operation.cardId, operation.requestId);
    const existing = this.#operations.get(key);
    if (existing) return { outcome: 'exists', operation: copyOperation(existing) };
    const held = this.#locks.get(fence.lock);
    if (!held || held.token !== fence.token || held.expiresAt <= Date.now()) return { outcome: 'lock_lost' };
    this.#operations.set(key, copyOperation(operation));
    return { outcome: 'inserted' };
  }

  async getOperation(cardId: string, requestId: string): Promise<Operation | undefined> {
    this.#open();
    const op = this.#operations.get(bindingKey(cardId, requestId));
    return op && copyOperation(op);
  }

  async finishOperation(
    cardId: string,
    requestId: string,
    outcome: { state: 'applied' } | { state: 'failed'; error: { code: string; message: string } },
  ): Promise<{ changed: boolean; operation: Operation | undefined }> {
    this.#open();
    const op = this.#operations.get(bindingKey(cardId, requestId));
    if (!op) return { changed: false, operation: undefined };
    if (op.state !== 'pending') return { changed: false, operation: copyOperation(op) };
    const now = Date.now();
    op.state = outcome.state;
    op.updatedAt = now;
    if (outcome.state === 'failed') op.error = { ...outcome.error };
    else {
      const key = bindingKey(op.cardId, op.code);
      const trail = this.#audit.get(key) ?? [];
      trail.push(auditOf(op, now));
      this.#audit.set(key, trail);
    }
    return { changed: true, operation: copyOperation(op) };
  }

  async listPendingOperations(cardId: string, code: string): Promise<Operation[]> {
    this.#open();
    return [...this.#operations.values()]
      .filter((op) => op.cardId === cardId && op.code === code && op.state === 'pending')
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(copyOperation);
  }

  async listAudit(cardId: string, code: string, limit: number): Promise<AuditEntry[]> {
    this.#open();
    const trail = this.#audit.get(bindingKey(cardId, code)) ?? [];
    return (limit > 0 ? trail.slice(-limit) : []).reverse().map((e) => ({ ...e }));
  }

  #open(): void {
    if (this.#closed) throw storeClosed();
  }

  #latestActive(cardId: string, matches: (b: Binding) => boolean): Binding | undefined {
    let best: Binding | undefined;
    for (const b of this.#bindings.values()) {
      if (b.cardId !== cardId || b.status !== 'active' || !matches(b)) continue;
      if (!best || b.updatedAt >= best.updatedAt) best = b;
    }
    return best && { ...best };
  }

  #setStatus(cardId: string, code: string, status: Binding['status'], now: number): void {
    const binding = this.#bindings.get(bindingKey(cardId, code));
    if (!binding) return;
    binding.status = status;
    binding.updatedAt = now;
  }

  #sweep(now: number): void {
    for (const [k, v] of this.#outerStrs) if (v.expiresAt <= now) this.#outerStrs.delete(k);
    for (const [k, v] of this.#sessions) if (v.expiresAt <= now) this.#sessions.delete(k);
    for (const [k, v] of this.#locks) if (v.expiresAt <= now) this.#locks.delete(k);
  }
}

function copyOperation(op: Operation): Operation {
  return op.error ? { ...op, error: { ...op.error } } : { ...op };
}
