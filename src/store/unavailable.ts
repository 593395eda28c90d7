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

/**
 * Runs `init` once and shares the result; a failed attempt is forgotten so the next call retries
 * (a store that was down when the host started recovers by itself once it returns).
 */
export class InitOnce {
  #pending: Promise<void> | undefined;
  #done = false;

  constructor(private readonly run: () => Promise<void>) {}

  get done(): boolean {
    return this.#done;
  }

  call(): Promise<void> {
    if (this.#done) return Promise.resolve();
    this.#pending ??= this.run().then(
      () => {
        this.#done = true;
      },
      (err: unknown) => {
        this.#pending = undefined;
        throw err;
      },
    );
    return this.#pending;
  }
}
