import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemberCardError } from '../errors.js';
import type { LockStore } from '../store/types.js';

export interface HeldLock {
  lock: string;
  token: string;
}

function busy(): MemberCardError {
  return new MemberCardError('CARD_BUSY', 'Another change to this card is in progress. Try again.', { retryAfter: 1 });
}

/**
 * Per-card locks that work across instances: a lease in the store (taken only when free or
 * expired, released only by its token, renewed while held), plus a FIFO queue per card in this
 * process so that one instance's callers wait in line instead of all polling the store.
 *
 * A lease can still be lost (a long pause, a store outage): correctness does not rest on it.
 * The journal insert is fenced by the token, and every new holder first settles the pending
 * entries of the card (see operations.ts).
 */
export class CardLocks {
  readonly #queues = new Map<string, Promise<void>>();

  constructor(private readonly settings: { lockTtlMs: number; lockWaitMs: number }) {}

  async run<T>(store: LockStore, name: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
    const { lockTtlMs, lockWaitMs } = this.settings;
    const deadline = Date.now() + lockWaitMs;
    const previous = this.#queues.get(name) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = previous.then(() => mine);
    this.#queues.set(name, tail);
    let timer: NodeJS.Timeout | undefined;
    try {
      // Our turn in this process, or give up at the deadline (then the next in line waits for
      // `previous` only: our `mine` is settled in finally).
      const turn = await Promise.race([
        previous.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
          timer.unref?.();
        }),
      ]);
      clearTimeout(timer);
      if (!turn) throw busy();
      const token = randomUUID();
      let delay = 2;
      while (!(await store.acquireLock(name, token, lockTtlMs))) {
        // Another instance holds it: poll with jittered back-off, 2 ms → 20 ms.
        if (Date.now() + delay > deadline) throw busy();
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(delay * 2, 20);
      }
      const renew = setInterval(
        () => {
          store.extendLock(name, token, lockTtlMs).catch(() => undefined);
        },
        Math.max(10, Math.floor(lockTtlMs / 3)),
      );
      renew.unref?.();
      try {
        return await fn({ lock: name, token });
      } finally {
        clearInterval(renew);
        await store.releaseLock(name, token).catch(() => undefined);
      }
    } finally {
      clearTimeout(timer);
      done();
      if (this.#queues.get(name) === tail) this.#queues.delete(name);
    }
  }
}
