// Failures the component can show, told apart by their `kind` field. Never by `instanceof`: a
// subclass of Error compiled to ES5 loses its prototype, and an error made in the host's code (its
// `request` function) was never built by our constructor anyway.

/**
 * config: configure() was not called; login: the host has no session for this user (no token,
 * getToken failed, or the host's request rejected with `kind: 'login'`); unauthenticated: the back
 * end answered 401; network: no answer at all; http: any other answer that is not 2xx; open: the
 * card-opening mini-program could not be opened.
 */
export type ErrorKind = 'config' | 'login' | 'unauthenticated' | 'network' | 'http' | 'open';

const KINDS: readonly string[] = ['config', 'login', 'unauthenticated', 'network', 'http', 'open'];

export interface MemberCardError extends Error {
  kind: ErrorKind;
  /** The HTTP status, 0 when there was no answer. */
  status: number;
  /** The back end's error code (e.g. CARD_NOT_FOUND), or ours: NOT_CONFIGURED, NO_SESSION, NETWORK … */
  code: string;
}

/** What an `error` event carries: plain data, safe to hand to the host. */
export interface ErrorDetail {
  kind: ErrorKind;
  status: number;
  code: string;
  message: string;
  /**
   * What the component was doing: loading the card, getting the card-opening ready, saving an edit,
   * fetching the member code, or a page of the history.
   */
  during: 'load' | 'open' | 'save' | 'code' | 'history';
}

export function memberCardError(kind: ErrorKind, code: string, message: string, status = 0): MemberCardError {
  return Object.assign(new Error(message), { kind, code, status });
}

/** The `kind` of anything thrown or rejected, when it carries one of ours. */
export function kindOf(err: unknown): ErrorKind | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const kind = (err as { kind?: unknown }).kind;
  return typeof kind === 'string' && KINDS.includes(kind) ? (kind as ErrorKind) : undefined;
}

function field(err: unknown, name: string): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const value = (err as Record<string, unknown>)[name];
  return typeof value === 'string' && value ? value : undefined;
}

/** Anything thrown or rejected (an Error, a wx `{ errMsg }`, a string …) as a MemberCardError of `kind`. */
export function toMemberCardError(err: unknown, kind: ErrorKind, fallbackCode: string): MemberCardError {
  const message = field(err, 'errMsg') ?? field(err, 'message') ?? (typeof err === 'string' ? err : fallbackCode);
  const status = err && typeof err === 'object' ? (err as { status?: unknown }).status : undefined;
  return memberCardError(kind, field(err, 'code') ?? fallbackCode, message, typeof status === 'number' ? status : 0);
}

/** Ours as they are; anything else (a bug, a host callback's throw) as an `http` error the user can retry. */
export function asMemberCardError(err: unknown): MemberCardError {
  return kindOf(err) && typeof (err as MemberCardError).code === 'string'
    ? (err as MemberCardError)
    : toMemberCardError(err, 'http', 'UNEXPECTED');
}

export function errorDetail(err: MemberCardError, during: ErrorDetail['during']): ErrorDetail {
  return { kind: err.kind, status: err.status, code: err.code, message: err.message, during };
}
