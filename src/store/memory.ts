import { bindAudit, bindWithOuterStr, mergeMerchantBind } from './effect.js';
import { Lifecycle } from './lifecycle.js';
import { checkStoreOptions, type MemoryStoreOptions } from './options.js';
import { retentionSweep } from './prune-runner.js';
import { cutoffs, noCounts, type PruneCounts, type RetentionLimits } from './retention.js';
import { auditOf } from './rows.js';
import { checkTake, fullAfterMs, takeFrom, type BucketState } from './token-bucket.js';
import type * as T from './types.js';

interface PendingOuterStr extends T.UserIdentity {
  expiresAt: number;
  /** The card it was issued for (issueOuterStr); none from putOuterStr. */
  cardId?: string;
}

const pairKey = (a: string, b: string): string => JSON.stringify([a, b]);

/** Everything a MemoryStore holds; dropped on close(). */
class Tables {
  readonly bindings = new Map<string, T.Binding>();
  readonly outerStrs = new Map<string, PendingOuterStr>();
  readonly notifications = new Map<string, T.NotificationRecord>();
  readonly sessions = new Map<string, T.Session>();
  readonly locks = new Map<string, { token: string; expiresAt: number }>();
  readonly operations = new Map<string, T.Operation>();
  readonly audit = new Map<string, T.AuditEntry[]>();
  readonly topups = new Map<string, T.TopupOrder>();
  readonly memberCodes = new Map<string, T.MemberCodeEntry>();
  /** The live member code's hash per card (pairKey of cardId, code). */
  readonly memberCodeOfCard = new Map<string, string>();
  readonly buckets = new Map<string, BucketState & { expiresAt: number }>();
  /** (cardId, openid) → the outer_str issued to them for that card. */
  readonly outerStrByUser = new Map<string, string>();

  /** Expiry is checked on read; pruning only bounds memory. At most `batch` entries of each kind go. */
  prune(now: number, limits: RetentionLimits, batch: number): PruneCounts {
    const cut = cutoffs(now, limits);
    const counts = noCounts();
    const drop = <V>(
      map: Map<string, V>,
      kind: keyof PruneCounts,
      old: (v: V) => boolean,
      del: (k: string) => unknown = (k) => map.delete(k),
    ) => {
      for (const [k, v] of map) {
        if (counts[kind] >= batch) return;
        if (!old(v)) continue;
        del(k);
        counts[kind] += 1;
      }
    };
    drop(this.notifications, 'notifications', (n) => n.receivedAt <= cut.notifications);
    drop(this.outerStrs, 'outerStrs', (o) => o.expiresAt <= now);
    for (const [k, v] of this.outerStrByUser) if (!this.outerStrs.has(v)) this.outerStrByUser.delete(k);
    drop(this.sessions, 'sessions', (v) => v.expiresAt <= now);
    drop(
      this.memberCodes,
      'memberCodes',
      (v) => v.expiresAt <= now,
      (k) => {
        const entry = this.memberCodes.get(k);
        if (entry) this.dropMemberCode(k, entry);
      },
    );
    drop(this.locks, 'leases', (v) => v.expiresAt <= now);
    drop(this.buckets, 'leases', (v) => v.expiresAt <= now);
    drop(this.topups, 'topups', (o) => topupEnded(o, cut));
    drop(this.operations, 'operations', (op) => op.state !== 'pending' && op.updatedAt <= cut.journal);
    for (const [k, trail] of this.audit) {
      // Oldest first: the old lines are a prefix.
      let n = 0;
      while (n < trail.length && counts.audit + n < batch && (trail[n] as T.AuditEntry).at <= cut.journal) n++;
      if (n === 0) continue;
      counts.audit += n;
      if (n === trail.length) this.audit.delete(k);
      else trail.splice(0, n);
      if (counts.audit >= batch) break;
    }
    return counts;
  }

  dropMemberCode(hash: string, entry: T.MemberCodeEntry): void {
    this.memberCodes.delete(hash);
    const card = pairKey(entry.cardId, entry.code);
    if (this.memberCodeOfCard.get(card) === hash) this.memberCodeOfCard.delete(card);
  }

  latestActive(cardId: string, matches: (b: T.Binding) => boolean): T.Binding | undefined {
    let best: T.Binding | undefined;
    for (const b of this.bindings.values()) {
      if (b.cardId !== cardId || b.status !== 'active' || !matches(b)) continue;
      if (!best || b.updatedAt >= best.updatedAt) best = b;
    }
    return best && { ...best };
  }

  setStatus(cardId: string, code: string, status: T.BindingStatus, now: number): void {
    const binding = this.bindings.get(pairKey(cardId, code));
    if (!binding) return;
    binding.status = status;
    binding.updatedAt = now;
  }

  holds(fence: { lock: string; token: string }, now: number): boolean {
    const held = this.locks.get(fence.lock);
    return !!held && held.token === fence.token && held.expiresAt > now;
  }
}

/**
 * Everything in this process's memory: for tests and single-instance demos; lost on restart.
 * Each call runs synchronously once it has the tables, which is what makes it atomic here.
 */
export class MemoryStore implements T.EngineStore {
  readonly #life: Lifecycle<Tables>;

  constructor(options: MemoryStoreOptions = {}) {
    checkStoreOptions('memory', options);
    const tables = new Tables();
    this.#life = new Lifecycle({
      engine: 'memory',
      log: options.log,
      open: async () => tables,
      shut: () => undefined,
      wrap: (err) => err,
      sweep: retentionSweep(this, options, 60_000),
    });
  }

  init(): Promise<void> {
    return this.#life.init();
  }

  ping(): Promise<void> {
    return this.#life.run(() => undefined);
  }

  close(): Promise<void> {
    return this.#life.close();
  }

  findBindingByUser(cardId: string, userOpenid: string): Promise<T.Binding | undefined> {
    return this.#life.run((t) => t.latestActive(cardId, (b) => b.userOpenid === userOpenid));
  }

  findBindingByUnionid(cardId: string, unionid: string): Promise<T.Binding | undefined> {
    return this.#life.run((t) => t.latestActive(cardId, (b) => b.unionid === unionid));
  }

  getBinding(cardId: string, code: string): Promise<T.Binding | undefined> {
    return this.#life.run((t) => {
      const binding = t.bindings.get(pairKey(cardId, code));
      return binding && { ...binding };
    });
  }

  flagBinding(cardId: string, code: string): Promise<void> {
    return this.#life.run((t) => t.setStatus(cardId, code, 'flagged', Date.now()));
  }

  putOuterStr(outerStr: string, user: T.UserIdentity, expiresAt: number): Promise<void> {
    return this.#life.run((t) => {
      const pending: PendingOuterStr = { openid: user.openid, expiresAt };
      if (user.unionid) pending.unionid = user.unionid;
      t.outerStrs.set(outerStr, pending);
    });
  }

  applyNotification(
    record: T.NotificationRecord,
    effect: T.NotificationEffect,
    observer?: T.ApplyObserver,
  ): Promise<boolean> {
    return this.#life.run((t) => {
      if (t.notifications.has(record.id)) return false;
      const now = Date.now();
      t.notifications.set(record.id, { ...record });
      if (effect.kind === 'bind') {
        const pending = effect.outerStr === undefined ? undefined : t.outerStrs.get(effect.outerStr);
        const live = pending && pending.expiresAt > now && (pending.cardId ?? effect.cardId) === effect.cardId;
        const owner = live ? identityOf(pending) : undefined;
        const key = pairKey(effect.cardId, effect.code);
        const step = bindWithOuterStr(t.bindings.get(key), effect, owner, now);
        if (step.consume && effect.outerStr !== undefined) t.outerStrs.delete(effect.outerStr);
        t.bindings.set(key, step.binding);
        if (step.refused) observer?.outerStrRefused?.(step.refused);
      } else if (effect.kind === 'retire') {
        t.setStatus(effect.cardId, effect.code, 'retired', now);
      }
      return true;
    });
  }

  bindByMerchant(bind: T.MerchantBinding): Promise<T.MerchantBindResult> {
    return this.#life.run((t) => {
      const key = pairKey(bind.cardId, bind.code);
      const existing = t.bindings.get(key);
      const now = Date.now();
      const result = mergeMerchantBind(existing && { ...existing }, bind, now);
      if (result.outcome === 'bound') {
        t.bindings.set(key, { ...result.binding });
        const trail = t.audit.get(key) ?? [];
        trail.push(bindAudit(existing, bind, now));
        t.audit.set(key, trail);
      }
      return { outcome: result.outcome, binding: { ...result.binding } };
    });
  }

  getNotification(id: string): Promise<T.NotificationRecord | undefined> {
    return this.#life.run((t) => {
      const record = t.notifications.get(id);
      return record && { ...record };
    });
  }

  putSession(tokenHash: string, session: T.Session): Promise<void> {
    return this.#life.run((t) => {
      t.sessions.set(tokenHash, { ...session });
    });
  }

  getSession(tokenHash: string): Promise<T.Session | undefined> {
    return this.#life.run((t) => {
      const session = t.sessions.get(tokenHash);
      if (!session) return undefined;
      if (session.expiresAt <= Date.now()) {
        t.sessions.delete(tokenHash);
        return undefined;
      }
      return { ...session };
    });
  }

  deleteSession(tokenHash: string): Promise<void> {
    return this.#life.run((t) => {
      t.sessions.delete(tokenHash);
    });
  }

  acquireLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return this.#life.run((t) => {
      const now = Date.now();
      const held = t.locks.get(name);
      if (held && held.expiresAt > now) return false;
      t.locks.set(name, { token, expiresAt: now + ttlMs });
      return true;
    });
  }

  extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return this.#life.run((t) => {
      const now = Date.now();
      const held = t.locks.get(name);
      if (!held || !t.holds({ lock: name, token }, now)) return false;
      held.expiresAt = now + ttlMs;
      return true;
    });
  }

  releaseLock(name: string, token: string): Promise<boolean> {
    return this.#life.run((t) => {
      const held = t.locks.get(name);
      if (!held || held.token !== token) return false;
      t.locks.delete(name);
      return held.expiresAt > Date.now();
    });
  }

  insertOperation(operation: T.Operation, fence: { lock: string; token: string }): Promise<T.InsertOperationResult> {
    return this.#life.run((t): T.InsertOperationResult => {
      const key = pairKey(operation.cardId, operation.requestId);
      const existing = t.operations.get(key);
      if (existing) return { outcome: 'exists', operation: copyOperation(existing) };
      if (!t.holds(fence, Date.now())) return { outcome: 'lock_lost' };
      t.operations.set(key, copyOperation(operation));
      return { outcome: 'inserted' };
    });
  }

  getOperation(cardId: string, requestId: string): Promise<T.Operation | undefined> {
    return this.#life.run((t) => {
      const op = t.operations.get(pairKey(cardId, requestId));
      return op && copyOperation(op);
    });
  }

  finishOperation(cardId: string, requestId: string, outcome: T.OperationOutcome): Promise<T.FinishOperationResult> {
    return this.#life.run((t) => {
      const op = t.operations.get(pairKey(cardId, requestId));
      if (!op) return { changed: false, operation: undefined };
      if (op.state !== 'pending') return { changed: false, operation: copyOperation(op) };
      const now = Date.now();
      op.state = outcome.state;
      op.updatedAt = now;
      if (outcome.state === 'failed') op.error = { ...outcome.error };
      else {
        const key = pairKey(op.cardId, op.code);
        const trail = t.audit.get(key) ?? [];
        trail.push(auditOf(op, now));
        t.audit.set(key, trail);
      }
      return { changed: true, operation: copyOperation(op) };
    });
  }

  listPendingOperations(cardId: string, code: string): Promise<T.Operation[]> {
    return this.#life.run((t) =>
      [...t.operations.values()]
        .filter((op) => op.cardId === cardId && op.code === code && op.state === 'pending')
        .sort((a, b) => a.createdAt - b.createdAt)
        .map(copyOperation),
    );
  }

  listAudit(cardId: string, code: string, limit: number): Promise<T.AuditEntry[]> {
    return this.#life.run((t) => {
      const trail = t.audit.get(pairKey(cardId, code)) ?? [];
      return (limit > 0 ? trail.slice(-limit) : []).reverse().map((e) => ({ ...e }));
    });
  }

  async takeTokens(key: string, bucket: T.BucketSpec, cost = 1): Promise<T.TakeResult> {
    checkTake(key, bucket, cost);
    return this.#life.run((t) => {
      const now = Date.now();
      const { next, result } = takeFrom(t.buckets.get(key), bucket, cost, now);
      t.buckets.set(key, { ...next, expiresAt: now + fullAfterMs(next.tokens, bucket) });
      return result;
    });
  }

  putMemberCode(hash: string, entry: T.MemberCodeEntry): Promise<void> {
    return this.#life.run((t) => {
      const card = pairKey(entry.cardId, entry.code);
      const previous = t.memberCodeOfCard.get(card);
      if (previous !== undefined) t.memberCodes.delete(previous);
      t.memberCodes.set(hash, { ...entry });
      t.memberCodeOfCard.set(card, hash);
    });
  }

  consumeMemberCode(hash: string): Promise<T.MemberCodeEntry | undefined> {
    return this.#life.run((t) => {
      const entry = t.memberCodes.get(hash);
      if (!entry) return undefined;
      t.dropMemberCode(hash, entry);
      return entry.expiresAt > Date.now() ? { ...entry } : undefined;
    });
  }

  listAuditPage(
    cardId: string,
    code: string,
    page: { limit: number; before?: number; kinds: readonly T.AuditKind[] },
  ): Promise<T.AuditPage> {
    // A line's position is its index in the trail (oldest 0): lines are only ever appended.
    return this.#life.run((t) => {
      const trail = t.audit.get(pairKey(cardId, code)) ?? [];
      const limit = Math.max(0, Math.floor(page.limit));
      const entries: T.AuditEntry[] = [];
      if (limit === 0) return { entries };
      let last = -1;
      for (let i = Math.min(page.before ?? trail.length, trail.length) - 1; i >= 0; i--) {
        const entry = trail[i] as T.AuditEntry;
        if (!page.kinds.includes(entry.kind)) continue;
        if (entries.length === limit) return { entries, next: last };
        entries.push({ ...entry });
        last = i;
      }
      return { entries };
    });
  }

  createTopupOrder(order: T.TopupOrder, reuseSince: number): Promise<T.CreateTopupResult> {
    return this.#life.run((t): T.CreateTopupResult => {
      let reuse: T.TopupOrder | undefined;
      for (const o of t.topups.values()) {
        if (o.cardId !== order.cardId || o.openid !== order.openid || o.code !== order.code) continue;
        if (o.amount !== order.amount || o.state !== 'pending' || o.createdAt < reuseSince) continue;
        if (!reuse || o.createdAt >= reuse.createdAt) reuse = o;
      }
      if (reuse) return { created: false, order: copyTopup(reuse) };
      t.topups.set(pairKey(order.cardId, order.outTradeNo), copyTopup(order));
      return { created: true, order: copyTopup(order) };
    });
  }

  getTopupOrder(cardId: string, outTradeNo: string): Promise<T.TopupOrder | undefined> {
    return this.#life.run((t) => {
      const order = t.topups.get(pairKey(cardId, outTradeNo));
      return order && copyTopup(order);
    });
  }

  updateTopupOrder(order: T.TopupOrder): Promise<T.TopupOrder | undefined> {
    return this.#life.run((t) => {
      const key = pairKey(order.cardId, order.outTradeNo);
      const stored = t.topups.get(key);
      if (!stored || stored.version !== order.version) return undefined;
      const next = { ...copyTopup(order), version: order.version + 1 };
      t.topups.set(key, next);
      return copyTopup(next);
    });
  }

  listDueTopupOrders(cardId: string, now: number, limit: number): Promise<T.TopupOrder[]> {
    return this.#life.run((t) =>
      [...t.topups.values()]
        .filter((o) => o.cardId === cardId && o.nextCheckAt !== undefined && o.nextCheckAt <= now)
        .sort((a, b) => (a.nextCheckAt ?? 0) - (b.nextCheckAt ?? 0))
        .slice(0, Math.max(0, Math.floor(limit)))
        .map(copyTopup),
    );
  }

  prune(now: number, limits: RetentionLimits, batch: number): Promise<PruneCounts> {
    return this.#life.run((t) => t.prune(now, limits, Math.max(1, Math.floor(batch))));
  }

  listStalePendingOperations(cardId: string, before: number, limit: number): Promise<T.Operation[]> {
    return this.#life.run((t) =>
      [...t.operations.values()]
        .filter((op) => op.cardId === cardId && op.state === 'pending' && op.createdAt <= before)
        .sort((a, b) => a.createdAt - b.createdAt)
        .slice(0, Math.max(0, Math.floor(limit)))
        .map(copyOperation),
    );
  }

  issueOuterStr(cardId: string, user: T.UserIdentity, candidate: string, expiresAt: number): Promise<string> {
    return this.#life.run((t) => {
      const byUser = pairKey(cardId, user.openid);
      const current = t.outerStrByUser.get(byUser);
      const pending = current === undefined ? undefined : t.outerStrs.get(current);
      const outerStr = current !== undefined && pending && pending.expiresAt > Date.now() ? current : candidate;
      t.outerStrs.set(outerStr, { ...identityOf(user), expiresAt, cardId });
      t.outerStrByUser.set(byUser, outerStr);
      return outerStr;
    });
  }
}

/**
 * An order that ended: credited or closed (kept `topups` from its creation), or failed (kept as
 * long as the journal, since the merchant must see to it); never one the reconciler still has work on.
 */
function topupEnded(o: T.TopupOrder, cut: { topups: number; journal: number }): boolean {
  if (o.nextCheckAt !== undefined) return false;
  if (o.state === 'credited' || o.state === 'closed') return o.createdAt <= cut.topups;
  return o.state === 'failed' && o.createdAt <= cut.journal;
}

function identityOf(user: T.UserIdentity): T.UserIdentity {
  return user.unionid ? { openid: user.openid, unionid: user.unionid } : { openid: user.openid };
}

function copyOperation(op: T.Operation): T.Operation {
  return op.error ? { ...op, error: { ...op.error } } : { ...op };
}

/** A copy as the other engines return it (through JSON: no field set to undefined). */
function copyTopup(order: T.TopupOrder): T.TopupOrder {
  return JSON.parse(JSON.stringify(order)) as T.TopupOrder;
}
