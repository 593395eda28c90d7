import { MemberCardError, OptionsError } from '../errors.js';
import { storeClosed } from './unavailable.js';

/** What an engine tells its Lifecycle: how to open, shut and read its errors. */
export interface LifecycleHooks<H> {
  /** Connects / opens and migrates; resolves with the handle every call then runs with. */
  open(): Promise<H>;
  /** Releases what open() made (and leaves a client the host passed in alone). */
  shut(handle: H): Promise<void> | void;
  /** An engine error as we report it: STORE_UNAVAILABLE when the engine cannot serve now, else as is. */
  wrap(err: unknown): unknown;
  /** Housekeeping (expired rows) every `everyMs` while open; it only bounds growth, so failures are ignored. */
  sweep?: { everyMs: number; run(handle: H): unknown };
}

/**
 * The part every engine shares, written once: open once and share the result, forgetting a failed
 * attempt so the next call retries (a store that was down when the host started recovers by
 * itself); the closed state (every call after close() rejects STORE_UNAVAILABLE, so a
 * shutting-down host answers 503, not 500); and error wrapping around each call.
 */
export class Lifecycle<H> {
  readonly #hooks: LifecycleHooks<H>;
  #handle: H | undefined;
  #opening: Promise<H> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(hooks: LifecycleHooks<H>) {
    this.#hooks = hooks;
  }

  async init(): Promise<void> {
    await this.#ready();
  }

  /** Runs one store call on the open handle (opening it first if need be), its errors wrapped. */
  async run<T>(fn: (handle: H) => T | Promise<T>): Promise<T> {
    const handle = this.#handle ?? (await this.#ready());
    try {
      return await fn(handle);
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle !== undefined) await this.#hooks.shut(handle);
  }

  #ready(): Promise<H> {
    if (this.#closed) return Promise.reject(storeClosed());
    if (this.#handle !== undefined) return Promise.resolve(this.#handle);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<H> {
    let handle: H;
    try {
      handle = await this.#hooks.open();
    } catch (err) {
      throw this.#wrap(err);
    }
    if (this.#closed) {
      // close() was called while we were opening: leave nothing behind.
      await Promise.resolve()
        .then(() => this.#hooks.shut(handle))
        .catch(() => undefined);
      throw storeClosed();
    }
    this.#handle = handle;
    const sweep = this.#hooks.sweep;
    if (sweep) {
      this.#timer = setInterval(() => {
        Promise.resolve()
          .then(() => sweep.run(handle))
          .catch(() => undefined);
      }, sweep.everyMs);
      // unref: housekeeping must not keep Node alive.
      this.#timer.unref();
    }
    return handle;
  }

  /** Ours (already STORE_UNAVAILABLE, or a missing driver) pass as they are; the engine maps the rest. */
  #wrap(err: unknown): unknown {
    return err instanceof MemberCardError || err instanceof OptionsError ? err : this.#hooks.wrap(err);
  }
}
