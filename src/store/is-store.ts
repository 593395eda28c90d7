import type { Store } from './types.js';

const METHODS = ['init', 'findBindingByUser', 'findBindingByUnionid', 'applyNotification', 'putOuterStr', 'getSession'] as const;

/** True for an object that implements the Store interface (duck-typed: hosts may bring their own). */
export function isStore(value: unknown): value is Store {
  if (!value || typeof value !== 'object') return false;
  return METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}
