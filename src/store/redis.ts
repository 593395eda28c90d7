import type { Redis as RedisClient } from 'ioredis';
import { loadIoredis } from './drivers.js';
import { Lifecycle } from './lifecycle.js';
import {
  checkStoreOptions,
  type RedisConnectionOptions,
  type RedisStoreOptions,
  type StoreCommonOptions,
} from './options.js';
import { bindAudit } from './effect.js';
import { auditOf } from './rows.js';
import { toTopup } from './topup-rows.js';
import {
  APPLY_NOTIFICATION,
  AUDIT_PAGE,
  CONSUME_MEMBER_CODE,
  PUT_MEMBER_CODE,
  BIND_BY_MERCHANT,
  CREATE_TOPUP,
  EXTEND_LOCK,
  FIND_LATEST_ACTIVE,
  FINISH_OPERATION,
  INSERT_OPERATION,
  ISSUE_OUTER_STR,
  RELEASE_LOCK,
  SET_STATUS,
  TAKE_TOKENS,
  UPDATE_TOPUP,
} from './redis-scripts.js';
import { publishRedis, subscribeRedis } from './redis-bus.js';
import { dropShared, getShared, putShared } from './redis-shared-cache.js';
import { checkTake } from './token-bucket.js';
import type * as T from './types.js';
import { storeUnavailable } from './unavailable.js';

interface Scripted {
  mcApply(...args: (string | number)[]): Promise<[number, string]>;
  mcFind(...args: (string | number)[]): Promise<string[] | null>;
  mcSetStatus(...args: (string | number)[]): Promise<number>;
  mcExtendLock(...args: (string | number)[]): Promise<number>;
  mcReleaseLock(...args: (string | number)[]): Promise<number>;
  mcInsertOp(...args: (string | number)[]): Promise<number>;
  mcFinishOp(...args: (string | number)[]): Promise<number>;
  mcBindByMerchant(...args: (string | number)[]): Promise<string[]>;
  mcCreateTopup(...args: (string | number)[]): Promise<(number | string)[]>;
  mcUpdateTopup(...args: (string | number)[]): Promise<number>;
  mcTakeTokens(...args: (string | number)[]): Promise<[number, string, number]>;
  mcPutMemberCode(...args: (string | number)[]): Promise<number>;
  mcConsumeMemberCode(...args: (string | number)[]): Promise<string | null>;
  mcAuditPage(...args: (string | number)[]): Promise<(string | number)[]>;
  mcIssueOuterStr(...args: (string | number)[]): Promise<string>;
}

/** The immutable part of a journal entry, as stored in the op hash's body field. */
type OperationBody = Omit<T.Operation, 'state' | 'error' | 'updatedAt'>;

function toOperation(h: Record<string, string>): T.Operation | undefined {
  if (!h['body']) return undefined;
  const op: T.Operation = {
    ...(JSON.parse(h['body']) as OperationBody),
    state: h['state'] as T.Operation['state'],
    updatedAt: Number(h['updatedAt']),
  };
  if (h['errorCode']) op.error = { code: h['errorCode'], message: h['errorMessage'] ?? '' };
  return op;
}

const DAY = 86_400_000;

/** Percent-encodes every byte outside [A-Za-z0-9_.-]; the Lua `enc` does exactly the same. */
export function encodeKeyPart(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

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

function toBinding(flat: string[]): T.Binding {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i] as string] = flat[i + 1] as string;
  const binding: T.Binding = {
    cardId: h['cardId'] ?? '',
    code: h['code'] ?? '',
    status: (h['status'] ?? 'active') as T.BindingStatus,
    createdAt: Number(h['createdAt']),
    updatedAt: Number(h['updatedAt']),
  };
  if (h['unionid']) binding.unionid = h['unionid'];
  if (h['oaOpenid']) binding.oaOpenid = h['oaOpenid'];
  if (h['userOpenid']) binding.userOpenid = h['userOpenid'];
  return binding;
}

/**
 * Redis, for several instances behind a load balancer. Every multi-key step is one Lua script.
 * Durability is Redis's: run it with appendonly yes (appendfsync everysec or always) if losing the
 * last second of bindings on a Redis crash matters.
 */
export class RedisStore
  implements
    T.Store,
    T.MerchantBindingStore,
    T.MemberCodeStore,
    T.HistoryStore,
    T.TopupOrderStore,
    T.CacheBusStore,
    T.SharedCacheStore
{
  readonly #options: RedisStoreOptions;
  readonly #prefix: string;
  readonly #life: Lifecycle<Client>;
  /** Cache-bus subscriptions opened through this store, ended by close(). */
  readonly #subscriptions = new Set<() => Promise<void>>();

  constructor(options: RedisStoreOptions & StoreCommonOptions) {
    checkStoreOptions('redis', options);
    this.#options = options;
    this.#prefix = options.prefix ?? 'membercard:';
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
    });
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
    await Promise.all([...this.#subscriptions].map((unsubscribe) => unsubscribe()));
    return this.#life.close();
  }

  // The cache bus (redis-bus.ts): pub/sub, the subscriber on a duplicate of this client.
  async publishInvalidation(cardId: string, code: string): Promise<void> {
    await this.#life.run((r) => publishRedis(r, this.#prefix, cardId, code));
  }

  subscribeInvalidations(subscriber: T.InvalidationSubscriber): () => Promise<void> {
    const stop = subscribeRedis(() => this.#life.run((r) => r), this.#prefix, subscriber);
    // close() ends the subscriptions too, so a host that closes only the store leaves nothing open.
    const unsubscribe = async () => {
      this.#subscriptions.delete(unsubscribe);
      await stop();
    };
    this.#subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  // The shared second cache level (redis-shared-cache.ts): a card read by one instance serves all.
  getCachedCard(cardId: string, code: string): Promise<T.SharedCardEntry | undefined> {
    return this.#life.run((r) => getShared(r, this.#cardKey('rc', cardId, code)));
  }

  async claimCardRead(cardId: string, code: string, ttlMs: number): Promise<boolean> {
    const ok = await this.#life.run((r) =>
      r.set(this.#cardKey('rcl', cardId, code), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
    );
    return ok === 'OK';
  }

  async putCachedCard(cardId: string, code: string, entry: T.SharedCardEntry, ttlMs: number): Promise<void> {
    await this.#life.run((r) => putShared(r, this.#cardKey('rc', cardId, code), entry, ttlMs));
  }

  async dropCachedCard(cardId: string, code: string): Promise<void> {
    // The claim goes too: a read claimed before the change must not make the next one wait for it.
    await this.#life.run((r) =>
      Promise.all([dropShared(r, this.#cardKey('rc', cardId, code)), r.del(this.#cardKey('rcl', cardId, code))]),
    );
  }

  findBindingByUser(cardId: string, userOpenid: string): Promise<T.Binding | undefined> {
    return this.#latestActive('u', 'userOpenid', cardId, userOpenid);
  }

  findBindingByUnionid(cardId: string, unionid: string): Promise<T.Binding | undefined> {
    return this.#latestActive('x', 'unionid', cardId, unionid);
  }

  async getBinding(cardId: string, code: string): Promise<T.Binding | undefined> {
    const h = await this.#life.run((r) => r.hgetall(this.#bindingKey(cardId, code)));
    if (!h['status']) return undefined;
    return toBinding(Object.entries(h).flat());
  }

  async flagBinding(cardId: string, code: string): Promise<void> {
    await this.#life.run((r) => r.mcSetStatus(this.#bindingKey(cardId, code), 'flagged', Date.now()));
  }

  async putOuterStr(outerStr: string, user: T.UserIdentity, expiresAt: number): Promise<void> {
    const value: Record<string, unknown> = { openid: user.openid, expiresAt };
    if (user.unionid) value['unionid'] = user.unionid;
    await this.#putWithExpiry(this.#key('o', outerStr), JSON.stringify(value), expiresAt);
  }

  async applyNotification(
    record: T.NotificationRecord,
    effect: T.NotificationEffect,
    observer?: T.ApplyObserver,
  ): Promise<boolean> {
    const rec: T.NotificationRecord = { id: record.id, eventType: record.eventType, receivedAt: record.receivedAt };
    if (record.cardId !== undefined) rec.cardId = record.cardId;
    if (record.code !== undefined) rec.code = record.code;
    const hasTarget = effect.kind !== 'none';
    const cardId = hasTarget ? effect.cardId : '';
    const code = hasTarget ? effect.code : '';
    const bind = effect.kind === 'bind' ? effect : undefined;
    const outerStr = bind?.outerStr;
    const notificationKey = this.#key('n', record.id);
    const [applied, refused] = await this.#life.run((r) =>
      r.mcApply(
        notificationKey,
        hasTarget ? this.#bindingKey(cardId, code) : notificationKey,
        outerStr !== undefined ? this.#key('o', outerStr) : notificationKey,
        this.#prefix,
        JSON.stringify(rec),
        this.#options.notificationTtlMs ?? 30 * DAY,
        Date.now(),
        effect.kind,
        cardId,
        code,
        bind?.unionid ?? '',
        bind?.oaOpenid ?? '',
        outerStr !== undefined ? '1' : '0',
      ),
    );
    if (refused === 'unionid_mismatch' || refused === 'code_held') observer?.outerStrRefused?.(refused);
    return applied === 1;
  }

  async bindByMerchant(bind: T.MerchantBinding): Promise<T.MerchantBindResult> {
    const now = Date.now();
    // The line without `before`: the script adds it from the binding as it finds it.
    const line = bindAudit(undefined, bind, now);
    const [outcome, ...flat] = await this.#life.run((r) =>
      r.mcBindByMerchant(
        this.#bindingKey(bind.cardId, bind.code),
        this.#cardKey('a', bind.cardId, bind.code),
        this.#prefix,
        bind.cardId,
        bind.code,
        bind.user.openid,
        bind.user.unionid ?? '',
        bind.oaOpenid ?? '',
        now,
        JSON.stringify(line),
      ),
    );
    return { outcome: outcome as T.MerchantBindResult['outcome'], binding: toBinding(flat) };
  }

  async getNotification(id: string): Promise<T.NotificationRecord | undefined> {
    const raw = await this.#life.run((r) => r.get(this.#key('n', id)));
    return raw ? (JSON.parse(raw) as T.NotificationRecord) : undefined;
  }

  async putSession(tokenHash: string, session: T.Session): Promise<void> {
    const value: T.Session = { openid: session.openid, expiresAt: session.expiresAt };
    if (session.unionid) value.unionid = session.unionid;
    await this.#putWithExpiry(this.#key('s', tokenHash), JSON.stringify(value), session.expiresAt);
  }

  async getSession(tokenHash: string): Promise<T.Session | undefined> {
    const raw = await this.#life.run((r) => r.get(this.#key('s', tokenHash)));
    if (!raw) return undefined;
    const session = JSON.parse(raw) as T.Session;
    // The PX TTL already drops it; this closes the sub-millisecond gap and any clock rounding.
    return session.expiresAt > Date.now() ? session : undefined;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.#life.run((r) => r.del(this.#key('s', tokenHash)));
  }

  async acquireLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const ok = await this.#life.run((r) =>
      r.set(this.#key('l', name), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
    );
    return ok === 'OK';
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (
      (await this.#life.run((r) => r.mcExtendLock(this.#key('l', name), token, Math.max(1, Math.ceil(ttlMs))))) === 1
    );
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    return (await this.#life.run((r) => r.mcReleaseLock(this.#key('l', name), token))) === 1;
  }

  async insertOperation(
    operation: T.Operation,
    fence: { lock: string; token: string },
  ): Promise<T.InsertOperationResult> {
    const { state, error, updatedAt, ...body } = operation;
    const opKey = this.#opKey(operation.cardId, operation.requestId);
    // A failed entry written directly (refused before anything was sent) keeps its reason.
    const result = await this.#life.run((r) =>
      r.mcInsertOp(
        opKey,
        this.#key('l', fence.lock),
        this.#cardKey('opp', operation.cardId, operation.code),
        JSON.stringify(body),
        fence.token,
        operation.requestId,
        operation.createdAt,
        state,
        updatedAt,
        error?.code ?? '',
        error?.message ?? '',
      ),
    );
    if (result === 2) return { outcome: 'lock_lost' };
    if (result === 1) return { outcome: 'inserted' };
    const existing = await this.getOperation(operation.cardId, operation.requestId);
    return { outcome: 'exists', operation: existing as T.Operation };
  }

  async getOperation(cardId: string, requestId: string): Promise<T.Operation | undefined> {
    return toOperation(await this.#life.run((r) => r.hgetall(this.#opKey(cardId, requestId))));
  }

  async finishOperation(
    cardId: string,
    requestId: string,
    outcome: T.OperationOutcome,
  ): Promise<T.FinishOperationResult> {
    const current = await this.getOperation(cardId, requestId);
    if (!current || current.state !== 'pending') return { changed: false, operation: current };
    const now = Date.now();
    const error = outcome.state === 'failed' ? outcome.error : undefined;
    // The body never changes, so the audit line can be built here; the script decides atomically.
    const changed = await this.#life.run((r) =>
      r.mcFinishOp(
        this.#opKey(cardId, requestId),
        this.#cardKey('opp', cardId, current.code),
        this.#cardKey('a', cardId, current.code),
        outcome.state,
        error?.code ?? '',
        error?.message ?? '',
        now,
        requestId,
        JSON.stringify(auditOf(current, now)),
      ),
    );
    return { changed: changed === 1, operation: await this.getOperation(cardId, requestId) };
  }

  async listPendingOperations(cardId: string, code: string): Promise<T.Operation[]> {
    const ids = await this.#life.run((r) => r.zrange(this.#cardKey('opp', cardId, code), 0, -1));
    const ops = await Promise.all(ids.map((id) => this.getOperation(cardId, id)));
    return ops.filter((op): op is T.Operation => op !== undefined && op.state === 'pending');
  }

  async listAudit(cardId: string, code: string, limit: number): Promise<T.AuditEntry[]> {
    const n = Math.floor(limit);
    if (n <= 0) return [];
    const lines = await this.#life.run((r) => r.lrange(this.#cardKey('a', cardId, code), 0, n - 1));
    return lines.map((line) => JSON.parse(line) as T.AuditEntry);
  }

  async takeTokens(key: string, bucket: T.BucketSpec, cost = 1): Promise<T.TakeResult> {
    checkTake(key, bucket, cost);
    const [allowed, tokens, retryAfterMs] = await this.#life.run((r) =>
      r.mcTakeTokens(this.#key('rl', key), bucket.capacity, bucket.refillPerSecond, cost),
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
    await this.#life.run((r) =>
      r.mcPutMemberCode(
        this.#key('mc', hash),
        this.#cardKey('mcc', entry.cardId, entry.code),
        JSON.stringify(value),
        ttl,
        `${this.#prefix}mc:`,
        encodeKeyPart(hash),
      ),
    );
  }

  async consumeMemberCode(hash: string): Promise<T.MemberCodeEntry | undefined> {
    const raw = await this.#life.run((r) => r.mcConsumeMemberCode(this.#key('mc', hash)));
    if (!raw) return undefined;
    const entry = JSON.parse(raw) as T.MemberCodeEntry;
    // The PX TTL already drops it; this closes the sub-millisecond gap.
    return entry.expiresAt > Date.now() ? entry : undefined;
  }

  async listAuditPage(
    cardId: string,
    code: string,
    page: { limit: number; before?: number; kinds: readonly T.AuditKind[] },
  ): Promise<T.AuditPage> {
    const [next, ...lines] = await this.#life.run((r) =>
      r.mcAuditPage(
        this.#cardKey('a', cardId, code),
        page.before ?? -1,
        Math.max(0, Math.floor(page.limit)),
        `,${page.kinds.join(',')},`,
      ),
    );
    const result: T.AuditPage = { entries: lines.map((line) => JSON.parse(String(line)) as T.AuditEntry) };
    if (Number(next) >= 0) result.next = Number(next);
    return result;
  }

  async issueOuterStr(cardId: string, user: T.UserIdentity, candidate: string, expiresAt: number): Promise<string> {
    const ttl = Math.max(1, Math.ceil(expiresAt - Date.now()));
    return this.#life.run((r) =>
      r.mcIssueOuterStr(
        this.#cardKey('ou', cardId, user.openid),
        this.#key('o', candidate),
        this.#prefix,
        cardId,
        user.openid,
        user.unionid ?? '',
        candidate,
        expiresAt,
        ttl,
      ),
    );
  }

  #opKey(cardId: string, requestId: string): string {
    return `${this.#prefix}op:${encodeKeyPart(cardId)}:${encodeKeyPart(requestId)}`;
  }

  #cardKey(kind: string, cardId: string, code: string): string {
    return `${this.#prefix}${kind}:${encodeKeyPart(cardId)}:${encodeKeyPart(code)}`;
  }

  #key(kind: string, id: string): string {
    return `${this.#prefix}${kind}:${encodeKeyPart(id)}`;
  }

  #bindingKey(cardId: string, code: string): string {
    return `${this.#prefix}b:${encodeKeyPart(cardId)}:${encodeKeyPart(code)}`;
  }

  async #latestActive(index: 'u' | 'x', field: string, cardId: string, value: string): Promise<T.Binding | undefined> {
    const indexKey = `${this.#prefix}${index}:${encodeKeyPart(cardId)}:${encodeKeyPart(value)}`;
    const flat = await this.#life.run((r) => r.mcFind(indexKey, this.#prefix, encodeKeyPart(cardId), field, value));
    return flat ? toBinding(flat) : undefined;
  }

  async #putWithExpiry(key: string, value: string, expiresAt: number): Promise<void> {
    const ttl = Math.ceil(expiresAt - Date.now());
    await this.#life.run<unknown>((r) => (ttl > 0 ? r.set(key, value, 'PX', ttl) : r.del(key)));
  }

  async createTopupOrder(order: T.TopupOrder, reuseSince: number): Promise<T.CreateTopupResult> {
    const card = encodeKeyPart(order.cardId);
    const data = JSON.stringify(order);
    const [created, found, version] = await this.#life.run((r) =>
      r.mcCreateTopup(
        this.#topupKey(order.cardId, order.outTradeNo),
        `${this.#prefix}tuu:${card}:${encodeKeyPart(order.openid)}`,
        `${this.#prefix}tud:${card}`,
        `${this.#prefix}tu:${card}:`,
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
    if (Number(created) === 1) return { created: true, order: toTopup({ data, version: order.version }) };
    return { created: false, order: toTopup({ data: String(found), version: Number(version) }) };
  }

  async getTopupOrder(cardId: string, outTradeNo: string): Promise<T.TopupOrder | undefined> {
    const [data, version] = await this.#life.run((r) => r.hmget(this.#topupKey(cardId, outTradeNo), 'data', 'version'));
    return data ? toTopup({ data, version: Number(version) }) : undefined;
  }

  async updateTopupOrder(order: T.TopupOrder): Promise<T.TopupOrder | undefined> {
    const next = toTopup({ data: JSON.stringify(order), version: order.version + 1 });
    const changed = await this.#life.run((r) =>
      r.mcUpdateTopup(
        this.#topupKey(order.cardId, order.outTradeNo),
        `${this.#prefix}tud:${encodeKeyPart(order.cardId)}`,
        order.version,
        JSON.stringify(next),
        next.version,
        next.state,
        next.nextCheckAt ?? '',
        order.outTradeNo,
      ),
    );
    return changed === 1 ? next : undefined;
  }

  async listDueTopupOrders(cardId: string, now: number, limit: number): Promise<T.TopupOrder[]> {
    const n = Math.floor(limit);
    if (n <= 0) return [];
    const ids = await this.#life.run((r) =>
      r.zrangebyscore(`${this.#prefix}tud:${encodeKeyPart(cardId)}`, '-inf', now, 'LIMIT', 0, n),
    );
    const orders = await Promise.all(ids.map((id) => this.getTopupOrder(cardId, id)));
    return orders.filter((o): o is T.TopupOrder => o !== undefined);
  }

  #topupKey(cardId: string, outTradeNo: string): string {
    return `${this.#prefix}tu:${encodeKeyPart(cardId)}:${encodeKeyPart(outTradeNo)}`;
  }
}

type Client = RedisClient & Scripted;

/** Our scripts, as commands on the client (ioredis sends EVALSHA, and the script on a cache miss). */
function withScripts(client: RedisClient): Client {
  client.defineCommand('mcApply', { numberOfKeys: 3, lua: APPLY_NOTIFICATION });
  client.defineCommand('mcFind', { numberOfKeys: 1, lua: FIND_LATEST_ACTIVE });
  client.defineCommand('mcSetStatus', { numberOfKeys: 1, lua: SET_STATUS });
  client.defineCommand('mcExtendLock', { numberOfKeys: 1, lua: EXTEND_LOCK });
  client.defineCommand('mcReleaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
  client.defineCommand('mcInsertOp', { numberOfKeys: 3, lua: INSERT_OPERATION });
  client.defineCommand('mcFinishOp', { numberOfKeys: 3, lua: FINISH_OPERATION });
  client.defineCommand('mcBindByMerchant', { numberOfKeys: 2, lua: BIND_BY_MERCHANT });
  client.defineCommand('mcCreateTopup', { numberOfKeys: 3, lua: CREATE_TOPUP });
  client.defineCommand('mcUpdateTopup', { numberOfKeys: 2, lua: UPDATE_TOPUP });
  client.defineCommand('mcTakeTokens', { numberOfKeys: 1, lua: TAKE_TOKENS });
  client.defineCommand('mcPutMemberCode', { numberOfKeys: 2, lua: PUT_MEMBER_CODE });
  client.defineCommand('mcConsumeMemberCode', { numberOfKeys: 1, lua: CONSUME_MEMBER_CODE });
  client.defineCommand('mcAuditPage', { numberOfKeys: 1, lua: AUDIT_PAGE });
  client.defineCommand('mcIssueOuterStr', { numberOfKeys: 2, lua: ISSUE_OUTER_STR });
  return client as Client;
}

/** The host's client, once it answers (a lazyConnect client connects on this first command). */
async function checked(client: Client): Promise<Client> {
  await client.ping();
  return client;
}

/** Our own client, from a URL, with timeouts that make a hung server fail fast. */
async function connect(options: RedisConnectionOptions): Promise<Client> {
  const Redis = await loadIoredis();
  const connectTimeout = options.connectTimeoutMs ?? 3000;
  const client = withScripts(
    new Redis(options.url, {
      lazyConnect: true,
      connectTimeout,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      // Fail fast while disconnected (routes answer 503) instead of queueing without bound;
      // the client keeps reconnecting in the background, so the store recovers by itself.
      enableOfflineQueue: false,
      // A command that timed out has already been answered as a failure (503 / 5xx): it must
      // not run later, after a reconnect, or a "failed" step would be recorded after all.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * times, 2000),
      ...options.redis,
    }),
  );
  // Without a listener, a connection error would be an unhandled 'error' event: a crash.
  client.on('error', (err: Error) => options.onError?.(err));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Redis connect timed out')), connectTimeout + 1000);
      }),
    ]);
  } catch (err) {
    client.disconnect();
    throw storeUnavailable(err);
  } finally {
    clearTimeout(timer);
  }
  return client;
}

async function quit(client: Client): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
