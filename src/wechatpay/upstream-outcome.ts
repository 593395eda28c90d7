import type { UpstreamOutcome } from '../metrics/metrics.js';
import { isSignatureFailure, type UpstreamFailure } from './upstream-errors.js';

/**
 * How one failed attempt at WeChat Pay ended, in a few words fit for a metric label: the status
 * classes we act on, a timeout, no answer at all, or an answer that failed verification.
 */
export function outcomeOf(failure: UpstreamFailure): UpstreamOutcome {
  if (isSignatureFailure(failure) || failure.code === 'EV3_RES_HEADER_TIMESTAMP_OFFSET') return 'bad_signature';
  if (failure.code === 'ECONNABORTED' || failure.code === 'ETIMEDOUT') return 'timeout';
  const { status } = failure;
  if (status === undefined) return 'network';
  if (status >= 500) return '5xx';
  switch (status) {
    case 400:
    case 401:
    case 403:
    case 404:
    case 429:
      return String(status) as UpstreamOutcome;
    default:
      return status >= 400 ? '4xx' : 'error';
  }
}
