import type { PruneCounts, RetentionLimits } from './retention.js';

/**
 * Everything the module keeps lives behind these interfaces, one per role (lifecycle, sessions,
 * bindings, notifications, locks, journal), so a host can run one instance on the embedded
 * SQLite file or many on PostgreSQL or Redis, and each consumer asks only for the role it uses.
 * Every method is async, even where an engine is synchronous, so callers never care which
 * engine they hold.
 *
 * Atomicity is the adapter's job: each method below is one indivisible step in every engine.
 */

/** Who is asking, as the host's session knows them (the mini-program openid). */
export interface UserIdentity {
  openid: string;
  unionid?: string;
}

export type BindingStatus = 'active' | 'retired' | 'flagged';

/** A user ↔ card code link, made from WeChat Pay's card notifications. */
export interface Binding {
  cardId: string;
  code: string;
  /** The person's unionid, when the notification carried one. */
  unionid?: string;
  /** The card's openid: the 服务号's openid for this person (never the mini-program's). */
  oaOpenid?: string;
  /** The mini-program openid of the session user who opened the card through our outer_str. */
  userOpenid?: string;
  /** active: in use; retired: the user deleted the card; flagged: the card's openid did not match. */
  status: BindingStatus;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** A processed notification, kept to de-duplicate redeliveries. */
export interface NotificationRecord {
  /** WeChat Pay's notification id. */
  id: string;
  /** The envelope's event_type, e.g. MEMBERCARD.ACCEPT_CARD. */
  eventType: string;
  cardId?: string;
  code?: string;
  /** ms since the epoch. */
  receivedAt: number;
}

/** What a notification does to the bindings, applied in the same atomic step as its de-duplication. */
export type NotificationEffect =
  | {
      kind: 'bind';
      cardId: string;
      code: string;
      unionid?: string;
      oaOpenid?: string;
      /**
       * Our outer_str echoed back by WeChat Pay in ACCEPT_CARD (never ACTIVATE_CARD: effectOf
       * leaves it out). When it is still pending (issued and not expired) and its owner may have
       * the code (see outerStrRefusal in effect.ts), it is consumed and the binding's userOpenid
       * (and unionid, if the binding has none) come from the identity it was issued to.
       */
      outerStr?: string;
    }
  | { kind: 'retire'; cardId: string; code: string }
  | { kind: 'none' };

/**
 * Why a pending outer_str named by a bind effect was not used (it stays pending for its owner):
 * the notification's unionid is not its owner's, or the code is actively held by someone else.
 */
export type OuterStrRefusal = 'unionid_mismatch' | 'code_held';

/** What applyNotification may tell its caller besides its answer (a host's own store may ignore it). */
export interface ApplyObserver {
  /** The effect's pending outer_str was refused, and why. */
  outerStrRefused?(reason: OuterStrRefusal): void;
}

/** A login-kit session; the token itself is never stored, only its hash. */
export interface Session {
  openid: string;
  unionid?: string;
  /** ms since the epoch. */
  expiresAt: number;
}

// --- merchant operations (src/operations/) ------------------------------------------------------

/** What a merchant operation changes on a card. */
export type OperationKind = 'balance' | 'points' | 'level' | 'membership_number';

/**
 * pending: prepared and maybe sent (its outcome at WeChat Pay is not known yet);
 * applied: WeChat Pay accepted it; failed: refused for good (nothing changed).
 */
export type OperationState = 'pending' | 'applied' | 'failed';

/** One journal entry: a merchant operation, keyed by (cardId, requestId), the caller's idempotency key. */
export interface Operation {
  cardId: string;
  requestId: string;
  code: string;
  kind: OperationKind;
  /** balance (fen) and points: the signed change. */
  amount?: number;
  /** level and membership_number: the value set. */
  value?: string;
  remark?: string;
  /** Who asked (free text chosen by the caller: a cashier id, "admin", …). */
  actor?: string;
  state: OperationState;
  /** Sent as WeChat Pay's out_request_no; derived from the requestId, so a re-send is recognised. */
  outRequestNo: string;
  /** The card's value before the change (absent when the card had none, e.g. no level). */
  before?: number | string;
  /** The card's value after the change. */
  after: number | string;
  /** failed: why (one of our error codes, and a message safe to show). */
  error?: { code: string; message: string };
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** How a pending operation ended: WeChat Pay applied it, or refused it for good (and why). */
export type OperationOutcome = { state: 'applied' } | { state: 'failed'; error: { code: string; message: string } };

/** What finishOperation did: the entry as stored afterwards (if any), and whether this call changed it. */
export interface FinishOperationResult {
  changed: boolean;
  operation: Operation | undefined;
}

/** What insertOperation did. */
export type InsertOperationResult =
  | { outcome: 'inserted' }
  /** An entry with this (cardId, requestId) exists already: it is returned, nothing changed. */
  | { outcome: 'exists'; operation: Operation }
  /** The fence lock is no longer held by the token: nothing changed. */
  | { outcome: 'lock_lost' };

/** What an audit line records: a change WeChat Pay applied, or a binding a merchant made (bind). */
export type AuditKind = OperationKind | 'bind';

/**
 * One line of the audit trail: a change that WeChat Pay applied, or a binding the merchant made
 * by hand (kind 'bind': before/after are the mini-program openids bound before and after).
 */
export interface AuditEntry {
  cardId: string;
  code: string;
  requestId: string;
  kind: AuditKind;
  actor?: string;
  amount?: number;
  value?: string;
  remark?: string;
  before?: number | string;
  after: number | string;
  /** ms since the epoch: when the change was recorded as applied. */
  at: number;
}

/** A binding the merchant makes by hand, after its own check (the admin bind route). */
export interface MerchantBinding {
  cardId: string;
  code: string;
  /** The mini-program user the code is bound to. */
  user: UserIdentity;
  /** The card's 服务号 openid, as WeChat Pay answered it (absent for a member synced by phone). */
  oaOpenid?: string;
  /** Who bound it (kept in the audit line). */
  actor: string;
  /** The audit line's id. */
  requestId: string;
}

/**
 * What bindByMerchant did. bound: the binding was made or changed, and an audit line appended;
 * unchanged: it was already active for this user as given, nothing written; conflict: it is
 * active for another user, nothing written. `binding` is the binding as stored afterwards.
 */
export interface MerchantBindResult {
  outcome: 'bound' | 'unchanged' | 'conflict';
  binding: Binding;
}

// --- roles ---------------------------------------------------------------------------------------

/** Connecting, health and shutting down: what a host starts, probes and stops. */
export interface StoreLifecycle {
  /**
   * Creates tables / checks the connection. Idempotent and cheap once done: callers call it before
   * each use. A failed attempt must not be remembered, so the next call tries again.
   */
  init(): Promise<void>;
  /** Resolves when the engine answers; rejects otherwise (for health checks). */
  ping(): Promise<void>;
  /**
   * Releases what the store opened (never a client the host passed in). Idempotent; every later
   * call of any method rejects with STORE_UNAVAILABLE.
   */
  close(): Promise<void>;
}

/** The login kit's sessions (wechatLogin()). */
export interface SessionStore {
  /** Stores a session under the hash of its token, replacing one stored under the same hash. */
  putSession(tokenHash: string, session: Session): Promise<void>;
  /** The session, or undefined when absent or expired. */
  getSession(tokenHash: string): Promise<Session | undefined>;
  /** Forgets a session (logout); deleting one that is absent is not an error. */
  deleteSession(tokenHash: string): Promise<void>;
}

/** Who holds which card code, and the outer_str values of the open-card flow that make those links. */
export interface BindingStore {
  /** The most recently updated *active* binding made for this mini-program user on this card. */
  findBindingByUser(cardId: string, userOpenid: string): Promise<Binding | undefined>;
  /** The most recently updated *active* binding for this unionid on this card. */
  findBindingByUnionid(cardId: string, unionid: string): Promise<Binding | undefined>;
  /** Any binding for this code, whatever its status. */
  getBinding(cardId: string, code: string): Promise<Binding | undefined>;
  /** Marks a binding flagged (the card's openid did not match it), so it is no longer used. */
  flagBinding(cardId: string, code: string): Promise<void>;
  /** Remembers an outer_str we issued to this user, until expiresAt (ms since the epoch). */
  putOuterStr(outerStr: string, user: UserIdentity, expiresAt: number): Promise<void>;
}

/** WeChat Pay's card notifications: de-duplicated, and applied to the bindings in the same step. */
export interface NotificationStore {
  /**
   * De-duplicates and applies in one atomic step: if `record.id` was never seen, records it and
   * applies `effect`, then resolves true; if it was seen, changes nothing and resolves false.
   * If the step fails, nothing is recorded, so WeChat Pay's redelivery is processed again.
   *
   * A `bind` effect upserts by (cardId, code): status becomes active; unionid/oaOpenid are set
   * when given; userOpenid is kept unless a pending outerStr provides one (then that outerStr
   * is deleted, so it can bind once only). A pending outerStr whose owner may not have the code
   * (another unionid in the notification, or the code actively held by someone else) changes
   * nothing, stays pending, and is reported to `observer`. A `retire` effect sets status retired.
   */
  applyNotification(record: NotificationRecord, effect: NotificationEffect, observer?: ApplyObserver): Promise<boolean>;
  /** The record of a processed notification, if any. */
  getNotification(id: string): Promise<NotificationRecord | undefined>;
}

/** Leases that serialise merchant operations on one card across instances (src/operations/). */
export interface LockStore {
  /**
   * Takes the lock `name` for `token`, for `ttlMs`, when it is free or expired; true when taken.
   * A lock is a lease: it ends by itself after ttlMs unless extended (a crashed holder frees it).
   */
  acquireLock(name: string, token: string, ttlMs: number): Promise<boolean>;
  /** Extends the lock to now + ttlMs when `token` still holds it (and it has not expired); true when extended. */
  extendLock(name: string, token: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock when `token` still holds it; true when released. Never touches another holder's lock. */
  releaseLock(name: string, token: string): Promise<boolean>;
}

/** The journal of merchant operations and the audit trail of the ones WeChat Pay applied. */
export interface JournalStore {
  /**
   * Inserts a journal entry if its (cardId, requestId) is absent, in one atomic step with a
   * fencing check: only while the lock `fence.lock` is held by `fence.token` and not expired.
   * An existing entry is returned unchanged (outcome 'exists'), whatever the lock.
   */
  insertOperation(operation: Operation, fence: { lock: string; token: string }): Promise<InsertOperationResult>;
  /** The journal entry for (cardId, requestId), whatever its state, if any. */
  getOperation(cardId: string, requestId: string): Promise<Operation | undefined>;
  /**
   * Moves a *pending* entry to applied or failed, once; when it becomes applied, an audit entry
   * is appended in the same atomic step. An entry that is not pending is left as it is.
   * Resolves with the entry as stored afterwards (undefined if there is none) and whether this
   * call changed it.
   */
  finishOperation(cardId: string, requestId: string, outcome: OperationOutcome): Promise<FinishOperationResult>;
  /** The pending entries of one card code, oldest first. */
  listPendingOperations(cardId: string, code: string): Promise<Operation[]>;
  /** The audit trail of one card code, newest first, at most `limit` entries. */
  listAudit(cardId: string, code: string, limit: number): Promise<AuditEntry[]>;
}

/**
 * Bindings a merchant makes by hand, when notifications were lost for longer than WeChat Pay
 * retries them. Every engine has it; a host's own store object may leave it out (then the admin
 * bind answers 501 NOT_IMPLEMENTED), so objects made before it existed keep working.
 */
export interface MerchantBindingStore {
  /**
   * In one atomic step: conflict when an *active* binding of this code may belong to another user
   * (another userOpenid; another unionid when both are known; or, without a userOpenid, a unionid
   * that is not the user's); otherwise the binding becomes active for this user (userOpenid;
   * unionid and oaOpenid when given, else kept from an active binding only) and, unless nothing
   * changed, an audit line of kind 'bind' is appended (actor, before/after userOpenid).
   */
  bindByMerchant(bind: MerchantBinding): Promise<MerchantBindResult>;
}

// --- member codes and the member's history (issue 14) --------------------------------------------

/** Whose card a rotating member code stands for (the code itself is never stored, only its keyed hash). */
export interface MemberCodeEntry {
  cardId: string;
  /** The card code the member code stands for. */
  code: string;
  /** The mini-program user it was issued to. */
  userOpenid: string;
  /** ms since the epoch. */
  expiresAt: number;
}

/** One-time member codes shown at the till: stored hashed, so every instance can verify one, once. */
export interface MemberCodeStore {
  /**
   * Keeps `hash` for the card until entry.expiresAt, replacing the card's earlier one in the same
   * step: only the newest code of a card is valid (a screenshot of an older one is worth nothing).
   */
  putMemberCode(hash: string, entry: MemberCodeEntry): Promise<void>;
  /**
   * In one atomic step, across instances: the entry under `hash` if it is there and not expired,
   * removed so that no other call gets it; otherwise undefined.
   */
  consumeMemberCode(hash: string): Promise<MemberCodeEntry | undefined>;
}

/** A page of one card's audit trail, newest first. */
export interface AuditPage {
  entries: AuditEntry[];
  /**
   * Where the next (older) page starts, as `before` of the next call; absent when there is none.
   * A position in the engine's own order (never a row's content), stable while lines are appended.
   */
  next?: number;
}

/** The audit trail in pages, for the member's own history. */
export interface HistoryStore {
  /**
   * The card's audit lines of the given kinds, newest first: at most `limit`, older than the
   * position `before` when given (a `next` of an earlier page).
   */
  listAuditPage(
    cardId: string,
    code: string,
    page: { limit: number; before?: number; kinds: readonly AuditKind[] },
  ): Promise<AuditPage>;
}

// --- what each consumer asks for -----------------------------------------------------------------

/**
 * What memberCard() needs: everything but the login kit's sessions. The merchant bind, member codes
 * and paged history are optional for a host's own object (their routes then answer 501); so are
 * top-up orders (needed only when the `topup` option is on).
 */
export interface CardStore
  extends
    StoreLifecycle,
    BindingStore,
    NotificationStore,
    LockStore,
    JournalStore,
    Partial<MerchantBindingStore>,
    Partial<RateLimitStore>,
    Partial<MemberCodeStore>,
    Partial<HistoryStore>,
    Partial<TopupOrderStore>,
    Partial<OuterStrIssuer> {}

/** A token bucket: how many tokens it holds when full, and how fast it refills. */
export interface BucketSpec {
  /** Tokens when full: the largest burst allowed. */
  capacity: number;
  /** Tokens added per second, continuously, up to capacity: the sustained rate allowed. */
  refillPerSecond: number;
}

/** What a take from a bucket gave. */
export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this take (a fraction while refilling). */
  remaining: number;
  /** When refused: ms until the bucket holds the cost again. */
  retryAfterMs?: number;
}

/**
 * Rate limits shared by every instance: one token bucket per key (a client address, a user, the
 * mini-program's appid, our calls to WeChat Pay), measured by one clock (the store's where it has
 * one). A bucket unused long enough to be full again may be forgotten.
 */
export interface RateLimitStore {
  /**
   * Takes `cost` tokens (default 1) from the bucket `key` when it holds that many, in one atomic
   * step; otherwise takes nothing and says how long until it would hold them. A cost of 0 takes
   * nothing: it says how many tokens the bucket holds (a throttle that counts only failures looks
   * before it lets an attempt through).
   */
  takeTokens(key: string, bucket: BucketSpec, cost?: number): Promise<TakeResult>;
}

/**
 * What wechatLogin() needs: sessions. A host's own object may leave the lifecycle out (then the
 * login kit neither initialises nor closes it).
 */
export interface LoginStore extends SessionStore, Partial<StoreLifecycle>, Partial<RateLimitStore> {}

/**
 * Every role, so one store can serve memberCard() and wechatLogin(). The four engines also
 * implement MerchantBindingStore; a host's own object may leave it out.
 */
export interface Store
  extends Omit<CardStore, 'takeTokens' | 'issueOuterStr'>, SessionStore, RateLimitStore, OuterStrIssuer {}

/**
 * GET /open's outer_str: at most one live per user and card, so repeated calls do not pile them up
 * (issue 12, finding 4). Every engine has it; a host's own store without it gets a fresh outer_str
 * per call through putOuterStr.
 */
export interface OuterStrIssuer {
  /**
   * In one atomic step: the user's pending outer_str for this card (issued, neither consumed nor
   * expired), its expiry moved to `expiresAt` and its owner's unionid set to `user.unionid`; or,
   * when there is none, `candidate`, stored for this user and card until `expiresAt`. Resolves with
   * the outer_str to hand out. An outer_str issued for a card binds only that card.
   */
  issueOuterStr(cardId: string, user: UserIdentity, candidate: string, expiresAt: number): Promise<string>;
}

// --- top-ups (src/topup/) ------------------------------------------------------------------------

/**
 * pending: ordered at WeChat Pay (or being ordered), not known to be paid; paid: WeChat Pay says it
 * was paid, the card is not credited yet; credited: the card holds the credit; closed: never paid,
 * closed at WeChat Pay; failed: will not be credited automatically (see `error`).
 */
export type TopupState = 'pending' | 'paid' | 'credited' | 'closed' | 'failed';

/** One top-up: a JSAPI order at WeChat Pay and the credit it buys, keyed by (cardId, outTradeNo). */
export interface TopupOrder {
  cardId: string;
  /** Our out_trade_no (letters and digits), also the order id the mini-program sees. */
  outTradeNo: string;
  /** The payer: the session user's mini-program openid. */
  openid: string;
  unionid?: string;
  /** The card code credited. */
  code: string;
  /** Fen paid. */
  amount: number;
  /** Fen credited on top of what was paid. */
  bonus: number;
  /** What the order was made with; WeChat Pay's answers and notifications must match them. */
  appid: string;
  mchid: string;
  description: string;
  /** time_expire, ms since the epoch (whole seconds, so the order can be sent again unchanged). */
  expiresAt: number;
  state: TopupState;
  prepayId?: string;
  transactionId?: string;
  /** ms since the epoch: success_time as WeChat Pay gave it, or when we learnt it was paid. */
  paidAt?: number;
  /**
   * Which credit this is: 0 first, so its journal requestId is the outTradeNo itself; bumped only
   * after a credit was refused without changing the card (then the requestId is `outTradeNo-N`).
   */
  creditAttempt: number;
  /** The balance after the credit. */
  balanceAfter?: number;
  /** The delivery report to 小程序发货信息管理, when the merchant turned it on. */
  shipping?: 'pending' | 'reported';
  /** When the reconciler should look at it next (ms since the epoch); absent when nothing is left to do. */
  nextCheckAt?: number;
  /** How often the reconciler looked at it, for its back-off. */
  checks: number;
  /** The last problem: one of our error codes and a message, for the merchant. */
  error?: { code: string; message: string };
  createdAt: number;
  updatedAt: number;
  /** Bumped by every update: updateTopupOrder is a compare-and-set on it. */
  version: number;
}

/** What createTopupOrder did: made `order`, or found a pending one to reuse. */
export interface CreateTopupResult {
  created: boolean;
  order: TopupOrder;
}

/** The top-up orders (src/topup/). */
export interface TopupOrderStore {
  /**
   * In one atomic step: the newest order of this card with the same openid, code and amount that is
   * still `pending` and was created at or after `reuseSince` (created: false); or else `order`
   * inserted as given (created: true).
   */
  createTopupOrder(order: TopupOrder, reuseSince: number): Promise<CreateTopupResult>;
  /** The order, whatever its state, if any. */
  getTopupOrder(cardId: string, outTradeNo: string): Promise<TopupOrder | undefined>;
  /**
   * Compare-and-set: replaces the stored order when its version equals `order.version`, storing
   * version + 1; resolves with the order as stored, or undefined when the version differs (another
   * change came first: read it again) or there is no such order. Only the mutable fields change
   * (state, prepayId, transactionId, paidAt, creditAttempt, balanceAfter, shipping, nextCheckAt,
   * checks, error, updatedAt); the caller keeps the others as read.
   */
  updateTopupOrder(order: TopupOrder): Promise<TopupOrder | undefined>;
  /** Orders of this card whose nextCheckAt is at or before `now`, soonest first, at most `limit`. */
  listDueTopupOrders(cardId: string, now: number, limit: number): Promise<TopupOrder[]>;
}

// --- retention and sweeps (issue 18) -------------------------------------------------------------

/**
 * Bounded storage: what outlived its retention goes, in small batches. Every engine has it (its
 * background pass calls it under a lease); a host's own store object may leave it out.
 */
export interface RetentionStore {
  /**
   * Deletes, per kind, at most `batch` records that outlived `limits` at `now` (ms since the
   * epoch): notification records received before the cut; expired outer_strs, sessions, member
   * codes, locks and rate-limit buckets; ended top-up orders; finished journal entries and audit
   * lines (unless limits.journalMs is 0). Never a binding, a pending journal entry or a top-up
   * still in progress. Resolves with how many of each went; an engine that lets records expire by
   * themselves (Redis key TTLs) counts only what it deleted here.
   */
  prune(now: number, limits: RetentionLimits, batch: number): Promise<PruneCounts>;
}

/** The pending-operation sweep's query: entries left pending, across the codes of one card template. */
export interface PendingOperationStore {
  /** Pending journal entries of `cardId` created at or before `before`, oldest first, at most `limit`. */
  listStalePendingOperations(cardId: string, before: number, limit: number): Promise<Operation[]>;
}

/** Told about invalidations published by any instance sharing the store (this one too). */
export interface InvalidationSubscriber {
  /** A card changed somewhere: drop it from this instance's cache. */
  invalidated(cardId: string, code: string): void;
  /**
   * The subscription is live (true) or lost (false, until it is back): while lost, changes made on
   * other instances go unheard, so the cache falls back to its short TTL.
   */
  live(up: boolean): void;
}

/**
 * Optional (issue 15): the bus that keeps the read caches of many instances coherent, Redis
 * pub/sub or PostgreSQL LISTEN/NOTIFY on a connection of its own. The memory and SQLite stores
 * serve one process and have none. Messages carry a card id and code: never logged.
 */
export interface CacheBusStore {
  /** Tells every subscribed instance that this card changed. */
  publishInvalidation(cardId: string, code: string): Promise<void>;
  /** Subscribes on a dedicated connection that reconnects by itself; answers the unsubscribe. */
  subscribeInvalidations(subscriber: InvalidationSubscriber): () => Promise<void>;
}

/** A card as the shared cache keeps it: WeChat Pay's JSON, and when it was read (ms since the epoch). */
export interface SharedCardEntry {
  card: string;
  readAt: number;
}

/** What claimCardRead answers: a fresh card another instance read, or whether this caller is to read it. */
export interface SharedClaim {
  entry?: SharedCardEntry;
  claimed: boolean;
}

/**
 * Optional (issue 15): a second cache level every instance reads (Redis), so a card read by one
 * serves the others. What it keeps is personal data: kept per card id and code, with a TTL, never
 * logged. A drop wins over a read that started before it (a late put of that read is refused).
 */
export interface SharedCacheStore {
  getCachedCard(cardId: string, code: string): Promise<SharedCardEntry | undefined>;
  /**
   * The card if it was read at or after `freshFrom` (ms since the epoch); else the claim to read it
   * from WeChat Pay, which one caller per card and `ttlMs` gets (claimed false: another has it).
   */
  claimCardRead(cardId: string, code: string, ttlMs: number, freshFrom: number): Promise<SharedClaim>;
  /** Keeps a card read; ends the claim to read it, whether the entry is kept or refused. */
  putCachedCard(cardId: string, code: string, entry: SharedCardEntry, ttlMs: number): Promise<void>;
  /** Ends a claim whose read failed, so the others need not wait out its TTL. */
  releaseCardRead(cardId: string, code: string): Promise<void>;
  dropCachedCard(cardId: string, code: string): Promise<void>;
}

/**
 * Every role our own engines play (memory, SQLite, PostgreSQL, Redis); the shared ones add the cache
 * bus, and Redis the shared cache level. A host's own object may have less (roles.ts).
 */
export type EngineStore = Store &
  MerchantBindingStore &
  MemberCodeStore &
  HistoryStore &
  TopupOrderStore &
  RetentionStore &
  PendingOperationStore;
