import type { Context, Next } from 'koa';

/**
 * Every error a client of ours can see. The code is stable (clients branch on it); the message
 * is for people and may change.
 */
export const ERRORS = {
  UNAUTHENTICATED: 401,
  INVALID_REQUEST: 400,
  FORBIDDEN: 403,
  CARD_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CARD_NOT_EDITABLE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  UPSTREAM_ERROR: 502,
  UPSTREAM_BUSY: 503,
  STORE_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
  // notifications (POST /notify)
  NOTIFICATION_INVALID: 401,
  NOTIFICATION_UNREADABLE: 400,
  // login kit
  INVALID_LOGIN_CODE: 400,
  LOGIN_BLOCKED: 403,
  // merchant operations
  INSUFFICIENT_BALANCE: 400,
  OPERATION_CONFLICT: 409,
  /** Another change to the same card holds its lock longer than the caller may wait. */
  CARD_BUSY: 503,
  // member codes (issue 14)
  /** A member code that is unknown, expired or already verified: nothing more is said. */
  MEMBER_CODE_INVALID: 404,
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetail {
  /** The field (dotted path) that was wrong. */
  field: string;
  issue: string;
}

/** An error with an HTTP status and one of our stable codes; its message is safe to show. */
export class MemberCardError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | undefined;
  /** Seconds, sent as Retry-After. */
  readonly retryAfter: number | undefined;
  readonly expose = true;

  constructor(
    code: ErrorCode,
    message: string,
    extra: { details?: ErrorDetail[]; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'MemberCardError';
    this.code = code;
    this.status = ERRORS[code];
    this.details = extra.details;
    this.retryAfter = extra.retryAfter;
  }
}

/** Which factory was given a wrong option, and the option's dotted path. */
export interface OptionPlace {
  /** e.g. 'memberCard()' or 'wechatLogin()'. */
  factory: string;
  /** e.g. 'wechatpay.privateKey'; left out when the options as a whole are wrong. */
  option?: string;
}

/**
 * Thrown when an option is wrong; the message names the option. With a place, it is also in
 * fields, so a caller that knows the option by another name (serve: an environment variable)
 * can say `problem` under that name without reading the message.
 */
export class OptionsError extends Error {
  readonly factory: string | undefined;
  readonly option: string | undefined;
  /** What is wrong, without the factory or option names, e.g. 'must be exactly 32 bytes'. */
  readonly problem: string;

  constructor(problem: string, place?: OptionPlace) {
    const where = place ? `${place.factory}: ${place.option ? `option "${place.option}" ` : ''}` : '';
    super(`${where}${problem}`);
    this.name = 'OptionsError';
    this.factory = place?.factory;
    this.option = place?.option;
    this.problem = problem;
  }
}

export interface ErrorBody {
  code: string;
  message: string;
  details?: ErrorDetail[];
}

/** What a status that Koa or a dependency raised (not us) becomes. */
function fromHttpStatus(status: number): MemberCardError {
  switch (status) {
    case 400:
      return new MemberCardError('INVALID_REQUEST', 'The request could not be read.');
    case 401:
      return new MemberCardError('UNAUTHENTICATED', 'Log in first.');
    case 403:
      return new MemberCardError('FORBIDDEN', 'Not allowed.');
    case 404:
      return new MemberCardError('NOT_FOUND', 'No such route.');
    case 405:
      return new MemberCardError('METHOD_NOT_ALLOWED', 'This method is not allowed here.');
    case 413:
      return new MemberCardError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
    case 415:
      return new MemberCardError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.');
    case 501:
      return new MemberCardError('NOT_IMPLEMENTED', 'This method is not implemented.');
    default:
      return new MemberCardError('INTERNAL_ERROR', 'Something went wrong on our side.');
  }
}

/** Turns anything thrown into a MemberCardError; unknown errors become INTERNAL_ERROR. */
export function toMemberCardError(err: unknown): MemberCardError {
  if (err instanceof MemberCardError) return err;
  const status =
    (err as { status?: unknown; statusCode?: unknown } | null)?.status ??
    (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return fromHttpStatus(status);
  if (status === 405 || status === 501) return fromHttpStatus(status);
  return new MemberCardError('INTERNAL_ERROR', 'Something went wrong on our side.', { cause: err });
}

export function errorBody(err: MemberCardError): ErrorBody {
  const body: ErrorBody = { code: err.code, message: err.message };
  if (err.details?.length) body.details = err.details;
  return body;
}

export type ErrorReporter = (err: unknown, ctx: Context) => void;

/**
 * Koa middleware: answers every error below it as JSON `{ code, message, details? }`.
 * Unexpected errors are reported through `onError` (by name and message only, so a secret in a
 * stack or an upstream body never reaches a log) and answered with a generic message.
 */
export function errorHandler(onError?: ErrorReporter) {
  return async function memberCardErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      // A route below us matched nothing: say so in JSON too.
      if (ctx.status === 404 && ctx.body == null) throw new MemberCardError('NOT_FOUND', 'No such route.');
    } catch (err) {
      const error = toMemberCardError(err);
      if (error.code === 'INTERNAL_ERROR' && onError) onError(err, ctx);
      ctx.status = error.status;
      ctx.set('Cache-Control', 'no-store');
      if (error.retryAfter !== undefined) ctx.set('Retry-After', String(error.retryAfter));
      if (err && typeof err === 'object' && 'headers' in err && error.status === 405) {
        const allow = (err as { headers?: Record<string, string> }).headers?.['Allow'];
        if (allow) ctx.set('Allow', allow);
      }
      ctx.body = errorBody(error);
    }
  };
}
