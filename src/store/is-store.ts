import type { Store } from './types.js';

/** Every method of the Store interface: a host's own store must have them all. */
export const STORE_METHODS = [
  'init',
  'ping',
  'close',
  'findBindingByUser',
  'findBindingByUnionid',
  'getBinding',
  'flagBinding',
  'putOuterStr',
  'applyNotification',
  'getNotification',
  'putSession',
  'getSession',
  'deleteSession',
  'acquireLock',
  'extendLock',
  'releaseLock',
  'insertOperation',
  'getOperation',
  'finishOperation',
  'listPendingOperations',
  'listAudit',
] as const satisfies readonly (keyof Store)[];

/** The Store methods an object lacks (duck-typed: hosts may bring their own store). */
export function missingStoreMethods(value: object): string[] {
  return STORE_METHODS.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function');
}

export function isStore(value: unknown): value is Store {
  return typeof value === 'object' && value !== null && missingStoreMethods(value).length === 0;
}
