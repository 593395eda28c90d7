import { Lifecycle } from './lifecycle.js';
import { checkStoreOptions, type RedisStoreOptions, type StoreCommonOptions } from './options.js';
import { bindAudit } from './effect.js';
import { retentionSweep } from './prune-runner.js';
import { redisPrune, ttlFrom } from './redis-prune.js';
import { retentionLimits, type PruneCounts, type RetentionLimits } from './retention.js';
import { toTopup } from './topup-rows.js';
import {
  applyNotification,
  findLatestActive,
  indexBinding,
  issueOuterStr,
  toBinding,
  type RedisContext,
} from './redis-bindings.js';
import { checked, connect, quit, withScripts, type Client } from './redis-connect.js';
import { finishOperation, getOperation, insertOperation, listPendingOperations } from './redis-journal.js';
import { RedisKeys } from './redis-keys.js';
import { Subscriptions } from './bus-message.js';
import { publishRedis, subscribeRedis } from './redis-bus.js';
import { claimShared, dropShared, getShared, putShared } from './redis-shared-cache.js';
import { checkTake } from './token-bucket.js';
import type * as T from './types.js';
import { storeUnavailable } from './unavailable.js';

export { encodeKeyPart } from './redis-keys.js';

/** Server replies that mean "cannot serve now" rather than "bad command". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|OOM|NOREPLICAS)\b/;

function wrap(err: unknown): unknown {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return err;
  if ((err as { name?: unknown } | null)?.name === 'ReplyError') {
    return UNAVAILABLE_REPLY.test((err as Error).message) ? storeUnavailable(err) : err;
  }
  // Refused, closed, "Stream isn't writeable", command timeout, retries exhausted.
  return storeUnavailable(err);
}

/**
 * Redis, for several instances behind a load balancer: one node (standalone or Sentinel) or a
 * Redis Cluster. Every step is one command or one Lua script on the keys of one hash tag (see
 * redis-keys.ts); what spans a card and a user is a series of such steps (redis-bindings.ts,
 * redis-journal.ts). Durability is Redis's: run it with appendonly yes (appendfsync everysec or
 * always) if losing the last second of bindings on a Redis crash matters.
 */
export class RedisStore implements T.EngineStore, T.CacheBusStore, T.SharedCacheStore {
  readonly #prefix: string;
  readonly #keys: RedisKeys;
  readonly #life: Lifecycle<Client>;
  readonly #ctx: RedisContext;
  /** The retentions given as TTLs when records are written (a later change applies to later writes). */
  readonly #keep: RetentionLimits;
  /** Cache-bus subscriptions opened through this store, ended by close(). */
  readonly #subscriptions = new Subscriptions();

  constructor(options: RedisStoreOptions & StoreCommonOptions) {
    checkStoreOptions('redis', options);
    this.#prefix = options.prefix ?? 'membercard:';
    this.#keys = new RedisKeys(this.#prefix);
    const { notificationTtlMs, retention } = options;
    this.#keep = retentionLimits({
      ...(notificationTtlMs !== undefined ? { notifications: notificationTtlMs } : {}),
      ...retention,
    });
    // The host's own client is the host's to quit; ours is quit by close().
    const hostClient = options.client;
    this.#life = new Lifecycle({
      engine: 'redis',
      log: options.log,
      // A client error (a dropped connection) may be the start of an outage: the lifecycle tells it once.
      open: () =>
        hostClient
          ? checked(withScripts(hostClient))
          : connect({
              ...options,
              onError: (err: Error) => {
                this.#life.noteClientError(err);
                options.onError?.(err);
              },
            }),
      shut: (client) => (client === hostClient ? undefined : quit(client)),
      wrap,
      sweep: retentionSweep(this, options, 600_000),
    });
    this.#ctx = { keys: this.#keys, run: (fn) => this.#life.run(fn) };
  }

  get prefix(): string {
    return this.#prefix;
  }

  init(): Promise<void> {
    return this.#life.init();
  }

  async ping(): Promise<void> {
    await this.#life.run((r) => r.ping());
  }

  async close(): Promise<void> {
    await this.#subscriptions.closeAll();
    return this.#life.close();
  }

  // The cache bus (redis-bus.ts): pub/sub, the subscriber on a duplicate of this client.
  async publishInvalidation(cardId: string, code: string): Promise<void> {
    await this.#life.run((r) => publishRedis(r, this.#prefix, cardId, code));
  }

  subscribeInvalidations(subscriber: T.InvalidationSubscriber): () => Promise<void> {
    return this.#subscriptions.track(subscribeRedis(() => this.#life.handle(), this.#prefix, subscriber));
  }

  // The shared second cache level (redis-shared-cache.ts): a card read by one instance serves all.
  getCachedCard(cardId: string, code: string): Promise<T.SharedCardEntry | undefined> {
    return this.#life.run((r) => getShared(r, this.#keys.cachedCard(cardId, code)));
  }

  claimCardRead(cardId: string, code: string, ttlMs: number, freshFrom: number): Promise<T.SharedClaim> {
    const keys = { card: this.#keys.cachedCard(cardId, code), claim: this.#keys.cachedCardClaim(cardId, code) };
    return this.#life.run((r) => claimShared(r, keys, freshFrom, ttlMs));
  }

  async putCachedCard(cardId: string, code: string, entry: T.SharedCardEntry, ttlMs: number): Promise<void> {
    const keys = { card: this.#keys.cachedCard(cardId, code), claim: this.#keys.cachedCardClaim(cardId, code) };
    await this.#life.run((r) => putShared(r, keys, entry, ttlMs));
  }

  async releaseCardRead(cardId: string, code: string): Promise<void> {
    await this.#life.run((r) => r.del(this.#keys.cachedCardClaim(cardId, code)));
  }

  async dropCachedCard(cardId: string, code: string): Promise<void> {
    // The claim goes too: a read claimed before the change must not make the next one wait for it.
    await this.#life.run((r) =>
      Promise.all([
        dropShared(r, this.#keys.cachedCard(cardId, code)),
        r.del(this.#keys.cachedCardClaim(cardId, code)),
      ]),
    );
  }

  findBindingByUser(cardId: string, userOpenid: string): Promise<T.Binding | undefined> {
    return findLatestActive(this.#ctx, this.#keys.userIndex(cardId, userOpenid), cardId, 'userOpenid', userOpenid);
  }

  findBindingByUnionid(cardId: string, unionid: string): Promise<T.Binding | undefined> {
    return findLatestActive(this.#ctx, this.#keys.unionidIndex(cardId, unionid), cardId, 'unionid', unionid);
  }

  async getBinding(cardId: string, code: string): Promise<T.Binding | undefined> {
    const h = await this.#life.run((r) => r.hgetall(this.#keys.binding(cardId, code)));
    if (!h['status']) return undefined;
    return toBinding(Object.entries(h).flat());
  }

  async flagBinding(cardId: string, code: string): Promise<void> {
    await this.#life.run((r) => r.mcSetStatus(this.#keys.binding(cardId, code), 'flagged', Date.now()));
  }

  async putOuterStr(outerStr: string, user: T.UserIdentity, expiresAt: number): Promise<void> {
    const value: Record<string, unknown> = { openid: user.openid, expiresAt };
    if (user.unionid) value['unionid'] = user.unionid;
    await this.#putWithExpiry(this.#keys.outerStr(outerStr), JSON.stringify(value), expiresAt);
  }

  applyNotification(
    record: T.NotificationRecord,
    effect: T.NotificationEffect,
    observer?: T.ApplyObserver,
  ): Promise<boolean> {
    return applyNotification(
      this.#ctx, // Kept `notifications` from its receipt (retention, issue 18).
      ttlFrom(record.receivedAt, this.#keep.notificationsMs),
      record,
      effect,
      observer,
    );
  }

  async bindByMerchant(bind: T.MerchantBinding): Promise<T.MerchantBindResult> {
    const now = Date.now();
    const { cardId, code, user } = bind;
    // Indexed ahead, then as bound: see redis-bindings.ts.
    await indexBinding(this.#ctx, cardId, code, { userOpenid: user.openid, unionid: user.unionid }, now);
    // The line without `before`: the script adds it from the binding as it finds it.
    const line = bindAudit(undefined, bind, now);
    const [outcome, ...flat] = await this.#life.run((r) =>
      r.mcBindByMerchant(
        this.#keys.binding(cardId, code),
        this.#keys.audit(cardId, code),
        cardId,
        code,
        user.openid,
        user.unionid ?? '',
        bind.oaOpenid ?? '',
        now,
        JSON.stringify(line),
      ),
    );
    const binding = toBinding(flat);
    await indexBinding(this.#ctx, cardId, code, binding, binding.updatedAt);
    return { outcome: outcome as T.MerchantBindResult['outcome'], binding };
  }

  async getNotification(id: string): Promise<T.NotificationRecord | undefined> {
    const raw = await this.#life.run((r) => r.get(this.#keys.notification(id)));
    return raw ? (JSON.parse(raw) as T.NotificationRecord) : undefined;
  }

  async putSession(tokenHash: string, session: T.Session): Promise<void> {
    const value: T.Session = { openid: session.openid, expiresAt: session.expiresAt };
    if (session.unionid) value.unionid = session.unionid;
    await this.#putWithExpiry(this.#keys.session(tokenHash), JSON.stringify(value), session.expiresAt);
  }

  async getSession(tokenHash: string): Promise<T.Session | undefined> {
    const raw = await this.#life.run((r) => r.get(this.#keys.session(tokenHash)));
    if (!raw) return undefined;
    const session = JSON.parse(raw) as T.Session;
    // The PX TTL already drops it; this closes the sub-millisecond gap and any clock rounding.
    return session.expiresAt > Date.now() ? session : undefined;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.#life.run((r) => r.del(this.#keys.session(tokenHash)));
  }

  async acquireLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const ok = await this.#life.run((r) =>
      r.set(this.#keys.lock(name), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
    );
    return ok === 'OK';
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (
      (await this.#life.run((r) => r.mcExtendLock(this.#keys.lock(name), token, Math.max(1, Math.ceil(ttlMs))))) === 1
    );
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    return (await this.#life.run((r) => r.mcReleaseLock(this.#keys.lock(name), token))) === 1;
  }

  async insertOperation(
    operation: T.Operation,
    fence: { lock: string; token: string },
  ): Promise<T.InsertOperationResult> {
    const { cardId, requestId, code } = operation;
    // Indexed before it is written, so a crash in between leaves the sweep an entry to look at
    // (it drops index entries whose operation is missing or settled), never an unindexed pending one.
    if (operation.state === 'pending') {
      await this.#life.run((r) => r.zadd(this.#keys.staleOps(cardId), operation.createdAt, requestId));
    }
    const result = await insertOperation(this.#ctx, operation, fence);
    if (result.outcome === 'inserted' && operation.state !== 'pending') {
      await this.#expireFinished(cardId, code, requestId);
    }
    return result;
  }

  getOperation(cardId: string, requestId: string): Promise<T.Operation | undefined> {
    return getOperation(this.#ctx, cardId, requestId);
  }

  async finishOperation(
    cardId: string,
    requestId: string,
    outcome: T.OperationOutcome,
  ): Promise<T.FinishOperationResult> {
    const result = await finishOperation(this.#ctx, cardId, requestId, outcome);
    if (result.changed && result.operation) {
      await this.#life.run((r) => r.zrem(this.#keys.staleOps(cardId), requestId));
      await this.#expireFinished(cardId, result.operation.code, requestId);
    }
    return result;
  }

  listPendingOperations(cardId: string, code: string): Promise<T.Operation[]> {
    return listPendingOperations(this.#ctx, cardId, code);
  }

  async listAudit(cardId: string, code: string, limit: number): Promise<T.AuditEntry[]> {
    const n = Math.floor(limit);
    if (n <= 0) return [];
    const lines = await this.#life.run((r) => r.lrange(this.#keys.audit(cardId, code), 0, n - 1));
    return lines.map((line) => JSON.parse(line) as T.AuditEntry);
  }

  async takeTokens(key: string, bucket: T.BucketSpec, cost = 1): Promise<T.TakeResult> {
    checkTake(key, bucket, cost);
    const [allowed, tokens, retryAfterMs] = await this.#life.run((r) =>
      r.mcTakeTokens(this.#keys.rateLimit(key), bucket.capacity, bucket.refillPerSecond, cost),
    );
    const remaining = Number(tokens);
    return allowed === 1 ? { allowed: true, remaining } : { allowed: false, remaining, retryAfterMs };
  }

  async putMemberCode(hash: string, entry: T.MemberCodeEntry): Promise<void> {
    const ttl = Math.ceil(entry.expiresAt - Date.now());
    if (ttl <= 0) return;
    const value: T.MemberCodeEntry = {
      cardId: entry.cardId,
      code: entry.code,
      userOpenid: entry.userOpenid,
      expiresAt: entry.expiresAt,
    };
    const codeKey = this.#keys.memberCode(hash);
    // Stored, then named the card's newest (which alone is valid), then the previous one dropped.
    await this.#life.run((r) => r.set(codeKey, JSON.stringify(value), 'PX', ttl));
    const previous = await this.#life.run((r) =>
      r.mcSwapMemberCode(this.#keys.memberCodePointer(entry.cardId, entry.code), hash, ttl),
    );
    if (previous !== null && previous !== hash) await this.#life.run((r) => r.del(this.#keys.memberCode(previous)));
  }

  async consumeMemberCode(hash: string): Promise<T.MemberCodeEntry | undefined> {
    const raw = await this.#life.run((r) => r.mcConsumeMemberCode(this.#keys.memberCode(hash)));
    if (!raw) return undefined;
    const entry = JSON.parse(raw) as T.MemberCodeEntry;
    // The PX TTL already drops it; this closes the sub-millisecond gap.
    if (entry.expiresAt <= Date.now()) return undefined;
    // Only the card's newest code is valid (a newer one may have been issued since).
    const newest = await this.#life.run((r) => r.get(this.#keys.memberCodePointer(entry.cardId, entry.code)));
    return newest === hash ? entry : undefined;
  }

  async listAuditPage(
    cardId: string,
    code: string,
    page: { limit: number; before?: number; kinds: readonly T.AuditKind[] },
  ): Promise<T.AuditPage> {
    const [next, ...lines] = await this.#life.run((r) =>
      r.mcAuditPage(
        this.#keys.audit(cardId, code),
        page.before ?? -1,
        Math.max(0, Math.floor(page.limit)),
        `,${page.kinds.join(',')},`,
      ),
    );
    const result: T.AuditPage = { entries: lines.map((line) => JSON.parse(String(line)) as T.AuditEntry) };
    if (Number(next) >= 0) result.next = Number(next);
    return result;
  }

  issueOuterStr(cardId: string, user: T.UserIdentity, candidate: string, expiresAt: number): Promise<string> {
    return issueOuterStr(this.#ctx, cardId, user, candidate, expiresAt);
  }

  prune(now: number, limits: RetentionLimits, batch: number): Promise<PruneCounts> {
    return this.#life.run((r) => redisPrune(r, this.#keys, now, limits, Math.max(1, Math.floor(batch))));
  }

  async listStalePendingOperations(cardId: string, before: number, limit: number): Promise<T.Operation[]> {
    const n = Math.floor(limit);
    if (n <= 0) return [];
    const key = this.#keys.staleOps(cardId);
    const ids = await this.#life.run((r) => r.zrangebyscore(key, '-inf', before, 'LIMIT', 0, n));
    const ops = await Promise.all(ids.map((id) => this.getOperation(cardId, id)));
    const settled = ids.filter((_, i) => ops[i]?.state !== 'pending');
    if (settled.length > 0) await this.#life.run((r) => r.zrem(key, ...settled));
    return ops.filter((op): op is T.Operation => op !== undefined && op.state === 'pending');
  }

  /**
   * A finished journal entry, and the index that names its code, live `journal` more (no TTL when
   * the journal is kept forever). They sit in two slots, so two commands.
   */
  async #expireFinished(cardId: string, code: string, requestId: string): Promise<void> {
    const keep = this.#keep.journalMs;
    if (keep <= 0) return;
    await this.#life.run((r) => r.pexpire(this.#keys.operation(cardId, code, requestId), keep));
    await this.#life.run((r) => r.pexpire(this.#keys.operationIndex(cardId, requestId), keep));
  }

  async #putWithExpiry(key: string, value: string, expiresAt: number): Promise<void> {
    const ttl = Math.ceil(expiresAt - Date.now());
    await this.#life.run<unknown>((r) => (ttl > 0 ? r.set(key, value, 'PX', ttl) : r.del(key)));
  }

  async createTopupOrder(order: T.TopupOrder, reuseSince: number): Promise<T.CreateTopupResult> {
    const data = JSON.stringify(order);
    const k = this.#keys;
    const [created, found, version] = await this.#life.run((r) =>
      r.mcCreateTopup(
        k.topupOrder(order.cardId, order.outTradeNo),
        k.topupsOfUser(order.cardId, order.openid),
        k.topupsDue(order.cardId),
        k.topupOrderPrefix(order.cardId),
        reuseSince,
        order.amount,
        order.code,
        data,
        order.version,
        order.createdAt,
        order.outTradeNo,
        order.nextCheckAt ?? '',
        order.state,
      ),
    );
    if (Number(created) === 1) {
      // The user's index only serves reuse within minutes: it forgets orders past their retention.
      const userIndex = k.topupsOfUser(order.cardId, order.openid);
      const keep = this.#keep.topupsMs;
      await this.#life.run((r) =>
        r
          .multi()
          .zremrangebyscore(userIndex, '-inf', order.createdAt - keep - 1)
          .pexpire(userIndex, Math.max(1, keep))
          .exec(),
      );
      return { created: true, order: toTopup({ data, version: order.version }) };
    }
    return { created: false, order: toTopup({ data: String(found), version: Number(version) }) };
  }

  async getTopupOrder(cardId: string, outTradeNo: string): Promise<T.TopupOrder | undefined> {
    const [data, version] = await this.#life.run((r) =>
      r.hmget(this.#keys.topupOrder(cardId, outTradeNo), 'data', 'version'),
    );
    return data ? toTopup({ data, version: Number(version) }) : undefined;
  }

  async updateTopupOrder(order: T.TopupOrder): Promise<T.TopupOrder | undefined> {
    const next = toTopup({ data: JSON.stringify(order), version: order.version + 1 });
    const changed = await this.#life.run((r) =>
      r.mcUpdateTopup(
        this.#keys.topupOrder(order.cardId, order.outTradeNo),
        this.#keys.topupsDue(order.cardId),
        order.version,
        JSON.stringify(next),
        next.version,
        next.state,
        next.nextCheckAt ?? '',
        order.outTradeNo,
      ),
    );
    if (changed !== 1) return undefined;
    const keep = topupKeep(next, this.#keep);
    if (keep !== undefined) {
      await this.#life.run((r) =>
        r.pexpire(this.#keys.topupOrder(order.cardId, order.outTradeNo), ttlFrom(next.createdAt, keep)),
      );
    }
    return next;
  }

  async listDueTopupOrders(cardId: string, now: number, limit: number): Promise<T.TopupOrder[]> {
    const n = Math.floor(limit);
    if (n <= 0) return [];
    const ids = await this.#life.run((r) => r.zrangebyscore(this.#keys.topupsDue(cardId), '-inf', now, 'LIMIT', 0, n));
    const orders = await Promise.all(ids.map((id) => this.getTopupOrder(cardId, id)));
    return orders.filter((o): o is T.TopupOrder => o !== undefined);
  }
}

/** How long an ended order is kept from its creation (undefined while it is not ended, or kept forever). */
function topupKeep(order: T.TopupOrder, keep: RetentionLimits): number | undefined {
  if (order.nextCheckAt !== undefined) return undefined;
  if (order.state === 'credited' || order.state === 'closed') return keep.topupsMs;
  return order.state === 'failed' && keep.journalMs > 0 ? keep.journalMs : undefined;
}
