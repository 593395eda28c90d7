import { MemberCardError } from '../errors.js';

/**
 * The one error every adapter throws when its engine cannot be reached, so routes answer 503
 * (and /notify a 5xx, which makes WeChat Pay redeliver) instead of hanging or crashing.
 */
export function storeUnavailable(cause?: unknown): MemberCardError {
  return new MemberCardError('STORE_UNAVAILABLE', 'The store is unavailable.', { cause });
}

/** Thrown by every method called after close(): a shutting-down host answers 503, not 500. */
export function storeClosed(): MemberCardError {
  return storeUnavailable(new Error('The store is closed.'));
}
