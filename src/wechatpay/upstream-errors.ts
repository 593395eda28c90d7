import { MemberCardError } from '../errors.js';

/** What we learn from a failed upstream call, without its body (which may echo our data). */
export interface UpstreamFailure {
  /** HTTP status, when WeChat Pay answered. */
  status?: number;
  /** WeChat Pay's error code (e.g. PARAM_ERROR), or the transport / verification error code. */
  code: string;
  requestId?: string;
  /**
   * What a 400 names, read from its message or detail.field (neither is kept): the card_id
   * ("会员卡ID无效", the documented answer for a card_id not ours) or the code.
   */
  names?: 'card_id' | 'code';
}

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT']);
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
/** An answer whose signature could not be checked or did not verify (a signature probe among them). */
const SIGNATURE_CODES = new Set([
  'EV3_RES_HEADERS_INCOMPLATE',
  'EV3_RES_HEADER_PLATFORM_SERIAL',
  'EV3_RES_HEADER_SIGNATURE_DIGEST',
]);
const VERIFY_CODES = new Set([...SIGNATURE_CODES, 'EV3_RES_HEADER_TIMESTAMP_OFFSET']);

interface AxiosLikeError {
  code?: string;
  response?: { status?: number; data?: unknown; headers?: Record<string, unknown> };
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Reduces an axios / wechatpay-axios-plugin error to the few facts we act on. */
export function describeFailure(err: unknown): UpstreamFailure {
  const e = (err ?? {}) as AxiosLikeError;
  const transport = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  const response = e.response;
  const requestId = text(response?.headers?.['request-id']);
  if (!response || VERIFY_CODES.has(transport)) {
    return {
      code: transport,
      ...(response?.status ? { status: response.status } : {}),
      ...(requestId ? { requestId } : {}),
    };
  }
  const data = response.data && typeof response.data === 'object' ? (response.data as Record<string, unknown>) : {};
  const names = response.status === 400 ? namedIn(data) : undefined;
  return {
    code: text(data.code) ?? `HTTP_${response.status ?? 0}`,
    ...(response.status ? { status: response.status } : {}),
    ...(requestId ? { requestId } : {}),
    ...(names ? { names } : {}),
  };
}

/**
 * Whether a 400's body names the card_id or the code. No membercard-open page lists a 404, and
 * what an unknown code gets is not documented: a 400 whose detail.field is code, or whose
 * message speaks of the code (卡号), means no such card as much as a 404 does.
 */
function namedIn(data: Record<string, unknown>): UpstreamFailure['names'] {
  const detail = data.detail && typeof data.detail === 'object' ? (data.detail as Record<string, unknown>) : {};
  const field = text(detail.field);
  const message = text(data.message) ?? '';
  if (field === 'card_id' || /会员卡ID|card_id/i.test(message)) return 'card_id';
  if (field === 'code' || /(^|[^A-Za-z_])code([^A-Za-z_]|$)|卡号/i.test(message)) return 'code';
  return undefined;
}

/** Faults worth one more try with the same request (safe only for idempotent calls). */
export function isTransient(failure: UpstreamFailure): boolean {
  if (TIMEOUT_CODES.has(failure.code) || CONNECTION_CODES.has(failure.code)) return true;
  return failure.status !== undefined && failure.status >= 500;
}

/**
 * An answer that failed verification: WeChat Pay sends signature probes (WECHATPAY/SIGNTEST/…)
 * in a few answers on purpose (doc/v3/merchant/4016241880). Its body cannot be trusted, so the
 * outcome is unknown, and a repeatable call may be tried once more.
 */
export function isSignatureFailure(failure: UpstreamFailure): boolean {
  return SIGNATURE_CODES.has(failure.code);
}

/**
 * Errors that say WeChat Pay is unavailable now (5xx, 429, a timeout, no connection), as opposed to
 * an answer about the request: a card read shortly before may then be answered stale (cache/).
 */
const unavailableErrors = new WeakSet<MemberCardError>();

/** Whether an error is WeChat Pay being unavailable (5xx, 429, timeout, unreachable), not an answer. */
export function isUpstreamUnavailable(err: unknown): boolean {
  return err instanceof MemberCardError && unavailableErrors.has(err);
}

/** Marks an error of ours as "WeChat Pay unavailable" (also the upstream budget's refusal, cache/budget.ts). */
export function markUnavailable(err: MemberCardError): MemberCardError {
  unavailableErrors.add(err);
  return err;
}

/**
 * Maps an upstream failure to the answer our client sees. The message never carries the
 * upstream body: it may hold personal data, and its wording is WeChat Pay's, not our contract.
 * `onCode` is true for calls on one card code (GET / PATCH …/codes/{code}).
 */
export function toClientError(failure: UpstreamFailure, cause?: unknown, onCode = false): MemberCardError {
  const err = clientError(failure, cause, onCode);
  const down =
    TIMEOUT_CODES.has(failure.code) ||
    (failure.status === undefined && !VERIFY_CODES.has(failure.code)) ||
    failure.status === 429 ||
    (failure.status !== undefined && failure.status >= 500 && !VERIFY_CODES.has(failure.code));
  return down ? markUnavailable(err) : err;
}

function clientError(failure: UpstreamFailure, cause: unknown, onCode: boolean): MemberCardError {
  const extra = cause === undefined ? {} : { cause };
  if (TIMEOUT_CODES.has(failure.code)) {
    return new MemberCardError('UPSTREAM_TIMEOUT', 'WeChat Pay did not answer in time. Try again.', extra);
  }
  if (VERIFY_CODES.has(failure.code)) {
    return new MemberCardError('UPSTREAM_ERROR', "WeChat Pay's answer could not be verified.", extra);
  }
  if (failure.status === undefined) {
    return new MemberCardError('UPSTREAM_ERROR', 'WeChat Pay could not be reached.', extra);
  }
  if (failure.status === 429) {
    return new MemberCardError('RATE_LIMITED', 'WeChat Pay is rate limiting us. Try again shortly.', {
      ...extra,
      retryAfter: 1,
    });
  }
  if (failure.status === 404 || (onCode && failure.names === 'code')) {
    return new MemberCardError('CARD_NOT_FOUND', 'No member card was found for you.', extra);
  }
  if (failure.status >= 500) {
    return new MemberCardError('UPSTREAM_BUSY', 'WeChat Pay is busy. Try again shortly.', { ...extra, retryAfter: 2 });
  }
  if (failure.names === 'card_id') {
    // Our card_id is not this merchant's card: configuration, not the user's request.
    return new MemberCardError('UPSTREAM_ERROR', 'WeChat Pay refused the request.', extra);
  }
  if (failure.status === 400 && (failure.code === 'PARAM_ERROR' || failure.code === 'INVALID_REQUEST')) {
    return new MemberCardError('INVALID_REQUEST', 'WeChat Pay refused the change.', extra);
  }
  // 401/403 and the rest: our merchant configuration is wrong, not the user's request.
  return new MemberCardError('UPSTREAM_ERROR', 'WeChat Pay refused the request.', extra);
}
