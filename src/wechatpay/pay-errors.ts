import { MemberCardError } from '../errors.js';
import type { UpstreamFailure } from './upstream-errors.js';

// WeChat Pay's payment answers (the error table of the JSAPI, query and close pages) as our errors.
// Undefined: the card mapping (toClientError) says it as well (timeouts, 5xx, 429, signatures).

/** Codes that say our merchant configuration is wrong: the order will never go through as it is. */
const CONFIGURATION = new Set(['APPID_MCHID_NOT_MATCH', 'MCH_NOT_EXISTS', 'NO_AUTH', 'NOAUTH', 'SIGN_ERROR']);

export function payError(failure: UpstreamFailure): MemberCardError | undefined {
  if (failure.status === undefined || failure.status >= 500 || failure.status === 429) return undefined;
  if (failure.code === 'ORDER_NOT_EXIST' || failure.code === 'ORDERNOTEXIST' || failure.status === 404)
    return new MemberCardError('NOT_FOUND', 'WeChat Pay has no such order.');
  if (failure.code === 'FREQUENCY_LIMITED')
    return new MemberCardError('RATE_LIMITED', 'WeChat Pay is rate limiting us. Try again shortly.', { retryAfter: 1 });
  const configuration = CONFIGURATION.has(failure.code);
  // The failure (status and WeChat Pay's code, never its body) rides along as the cause, for our logs.
  return new MemberCardError(
    'UPSTREAM_ERROR',
    configuration ? 'WeChat Pay refused the payment: check the merchant settings.' : 'WeChat Pay refused the payment.',
    { cause: failure },
  );
}
