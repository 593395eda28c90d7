import { MemberCardError } from '../errors.js';

/** What we learn from a failed upstream call, without its body (which may echo our data). */
export interface UpstreamFailure {
  /** HTTP status, when WeChat Pay answered. */
  status?: number;
  /** WeChat Pay's error code (e.g. PARAM_ERROR), or the transport / verification error code. */
  code: string;
  requestId?: string;
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
const VERIFY_CODES = new Set([
  'EV3_RES_HEADERS_INCOMPLATE',
  'EV3_RES_HEADER_TIMESTAMP_OFFSET',
  'EV3_RES_HEADER_PLATFORM_SERIAL',
  'EV3_RES_HEADER_SIGNATURE_DIGEST',
]);

interface AxiosLikeError {
  code?: string;
  response?: { status?: number; data?: unknown; headers?: Record<string, unknown> };
}

/** Reduces an axios / wechatpay-axios-plugin error to the few facts we act on and may log. */
export function describeFailure(err: unknown): UpstreamFailure {
  const e = (err ?? {}) as AxiosLikeError;
  const transport = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  const response = e.response;
  const requestId = typeof response?.headers?.['request-id'] === 'string' ? response.headers['request-id'] : undefined;
  if (!response || VERIFY_CODES.has(transport)) {
    return {
      code: transport,
      ...(response?.status ? { status: response.status } : {}),
      ...(requestId ? { requestId } : {}),
    };
  }
  const data = response.data;
  const upstreamCode =
    data && typeof data === 'object' && typeof (data as { code?: unknown }).code === 'string'
      ? (data as { code: string }).code
      : `HTTP_${response.status ?? 0}`;
  return {
    code: upstreamCode,
    ...(response.status ? { status: response.status } : {}),
    ...(requestId ? { requestId } : {}),
  };
}

/** Faults worth one more try with the same request (safe only for idempotent calls). */
export function isTransient(failure: UpstreamFailure): boolean {
  if (TIMEOUT_CODES.has(failure.code) || CONNECTION_CODES.has(failure.code)) return true;
  return failure.status !== undefined && failure.status >= 500;
}

/**
 * Maps an upstream failure to the answer our client sees. The message never carries the
 * upstream body: it may hold personal data, and its wording is WeChat Pay's, not our contract.
 */
export function toClientError(failure: UpstreamFailure, cause?: unknown): MemberCardError {
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
  if (failure.status === 404) {
    return new MemberCardError('CARD_NOT_FOUND', 'No member card was found for you.', extra);
  }
  if (failure.status >= 500) {
    return new MemberCardError('UPSTREAM_BUSY', 'WeChat Pay is busy. Try again shortly.', { ...extra, retryAfter: 2 });
  }
  if (failure.status === 400 && (failure.code === 'PARAM_ERROR' || failure.code === 'INVALID_REQUEST')) {
    return new MemberCardError('INVALID_REQUEST', 'WeChat Pay refused the change.', extra);
  }
  // 401/403 and the rest: our merchant configuration is wrong, not the user's request.
  return new MemberCardError('UPSTREAM_ERROR', 'WeChat Pay refused the request.', extra);
}
