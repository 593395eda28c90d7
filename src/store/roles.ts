import type {
  BindingStore,
  CacheBusStore,
  SharedCacheStore,
  CardStore,
  JournalStore,
  LockStore,
  HistoryStore,
  LoginStore,
  MemberCodeStore,
  MerchantBindingStore,
  NotificationStore,
  OuterStrIssuer,
  PendingOperationStore,
  RateLimitStore,
  RetentionStore,
  SessionStore,
  Store,
  StoreLifecycle,
  TopupOrderStore,
} from './types.js';

/** Every method of an interface, once: the compiler says when one is added, renamed or left out. */
type Methods<T> = { readonly [K in keyof T]-?: true };

const lifecycle: Methods<StoreLifecycle> = { init: true, ping: true, close: true };
const sessions: Methods<SessionStore> = { putSession: true, getSession: true, deleteSession: true };
const bindings: Methods<BindingStore> = {
  findBindingByUser: true,
  findBindingByUnionid: true,
  getBinding: true,
  flagBinding: true,
  putOuterStr: true,
};
const notifications: Methods<NotificationStore> = { applyNotification: true, getNotification: true };
const merchantBindings: Methods<MerchantBindingStore> = { bindByMerchant: true };
const memberCodes: Methods<MemberCodeStore> = { putMemberCode: true, consumeMemberCode: true };
const history: Methods<HistoryStore> = { listAuditPage: true };
const locks: Methods<LockStore> = { acquireLock: true, extendLock: true, releaseLock: true };
const rateLimits: Methods<RateLimitStore> = { takeTokens: true };
const outerStrs: Methods<OuterStrIssuer> = { issueOuterStr: true };
const journal: Methods<JournalStore> = {
  insertOperation: true,
  getOperation: true,
  finishOperation: true,
  listPendingOperations: true,
  listAudit: true,
};
const cacheBus: Methods<CacheBusStore> = { publishInvalidation: true, subscribeInvalidations: true };
const sharedCache: Methods<SharedCacheStore> = {
  getCachedCard: true,
  claimCardRead: true,
  putCachedCard: true,
  releaseCardRead: true,
  dropCachedCard: true,
};
const topups: Methods<TopupOrderStore> = {
  createTopupOrder: true,
  getTopupOrder: true,
  updateTopupOrder: true,
  listDueTopupOrders: true,
};

const retention: Methods<RetentionStore> = { prune: true };
const pendingOperations: Methods<PendingOperationStore> = { listStalePendingOperations: true };

/** The roles a host's own object can be passed for, by the type it must then have. */
export interface StoreRoles {
  /** createStore(): every method. */
  store: Store;
  /** memberCard(). */
  card: CardStore;
  /** wechatLogin(). */
  login: LoginStore;
}
export type StoreRole = keyof StoreRoles;

const ROLES: Record<StoreRole, { name: string; required: object[]; optional: object[] }> = {
  store: {
    name: 'Store',
    required: [lifecycle, sessions, bindings, notifications, locks, journal, rateLimits, outerStrs],
    optional: [merchantBindings, memberCodes, history, topups, retention, pendingOperations, cacheBus, sharedCache],
  },
  card: {
    name: 'card store',
    required: [lifecycle, bindings, notifications, locks, journal],
    optional: [
      merchantBindings,
      rateLimits,
      memberCodes,
      history,
      topups,
      outerStrs,
      retention,
      pendingOperations,
      cacheBus,
      sharedCache,
    ],
  },
  login: { name: 'session store', required: [sessions], optional: [lifecycle, rateLimits] },
};

const names = (groups: object[]): string[] => groups.flatMap((group) => Object.keys(group));

/** The methods an object passed for `role` must have. */
export function methodsOf(role: StoreRole): string[] {
  return names(ROLES[role].required);
}

/** Whether an object passed as a store can keep top-up orders (memberCard() checks it when `topup` is on). */
export function keepsTopups(value: object): value is TopupOrderStore {
  return Object.keys(topups).every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

/** Whether a store can list stale pending operations for the sweep. */
export function listsStaleOperations(value: object): value is PendingOperationStore {
  return typeof (value as Record<string, unknown>)['listStalePendingOperations'] === 'function';
}

/** Whether a store carries the cache bus (Redis, PostgreSQL, or a host's object with both methods). */
export function hasCacheBus(value: object): value is CacheBusStore {
  return Object.keys(cacheBus).every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

/** Whether a store keeps the shared second cache level (Redis, or a host's object with its three methods). */
export function hasSharedCache(value: object): value is SharedCacheStore {
  return Object.keys(sharedCache).every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

/** What a host's object lacks for `role`: required methods that are missing, optional ones that are not functions. */
export function missingMethods(value: object, role: StoreRole): string[] {
  const has = (m: string): unknown => (value as Record<string, unknown>)[m];
  const { required, optional } = ROLES[role];
  return [
    ...names(required).filter((m) => typeof has(m) !== 'function'),
    ...names(optional).filter((m) => has(m) !== undefined && typeof has(m) !== 'function'),
  ];
}

/** Duck-typed, as hosts bring their own objects: true when nothing is missing for `role`. */
export function fitsRole<R extends StoreRole>(value: object, role: R): value is StoreRoles[R] {
  return missingMethods(value, role).length === 0;
}

/** The role's name, for messages ("card store", "session store"). */
export function roleName(role: StoreRole): string {
  return ROLES[role].name;
}
