import { MemberCardError, OptionsError } from '../errors.js';
import { defaultLog, errorName, toLog, type Log, type LogOption } from '../log.js';
import { storeClosed } from './unavailable.js';

/** What an engine tells its Lifecycle: how to open, shut and read its errors. */
export interface LifecycleHooks<H> {
  /** The engine's name, for the outage log lines. */
  engine: string;
  /** Where an outage's start and end are told, once each (default: JSON lines on stderr). */
  log?: LogOption | undefined;
  /** Connects / opens and migrates; resolves with the handle every call then runs with. */
  open(): Promise<H>;
  /** Releases what open() made (and leaves a client the host passed in alone). */
  shut(handle: H): Promise<void> | void;
  /** An engine error as we report it: STORE_UNAVAILABLE when the engine cannot serve now, else as is. */
  wrap(err: unknown): unknown;
  /**
   * The retention pass (src/store/prune-runner.ts) every `everyMs` while open, on an unref'd
   * timer; close() clears it and calls stop(). It only bounds growth, so failures are ignored.
   */
  sweep?: { everyMs: number; run(handle: H): unknown; stop?(): void };
}

/**
 * The part every engine shares, written once: open once and share the result, forgetting a failed
 * attempt so the next call retries (a store that was down when the host started recovers by
 * itself); the closed state (every call after close() rejects STORE_UNAVAILABLE, so a
 * shutting-down host answers 503, not 500); and error wrapping around each call.
 */
export class Lifecycle<H> {
  readonly #hooks: LifecycleHooks<H>;
  readonly #log: Log;
  #handle: H | undefined;
  #opening: Promise<H> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Since when the engine could not be reached (ms), while it cannot. */
  #downSince: number | undefined;

  constructor(hooks: LifecycleHooks<H>) {
    this.#hooks = hooks;
    // A pino-style logger given to an engine directly is adapted here, once for every engine.
    this.#log = toLog(hooks.log) ?? defaultLog;
  }

  async init(): Promise<void> {
    await this.#ready();
  }

  /** Runs one store call on the open handle (opening it first if need be), its errors wrapped. */
  async run<T>(fn: (handle: H) => T | Promise<T>): Promise<T> {
    const handle = this.#handle ?? (await this.#ready());
    let result: T;
    try {
      result = await fn(handle);
    } catch (err) {
      throw this.#wrap(err);
    }
    if (this.#downSince !== undefined) this.#up();
    return result;
  }

  /**
   * The open handle (opening it first if need be), for a connection of its own such as the cache
   * bus's listener. Not a store call: it neither ends an outage nor is wrapped.
   */
  handle(): Promise<H> {
    return this.#handle !== undefined ? Promise.resolve(this.#handle) : this.#ready();
  }

  /**
   * Tells the lifecycle the engine's client reported an error by itself (a dropped connection, say):
   * the start of an outage, if it is not already known; the next call that works ends it.
   */
  noteClientError(err: unknown): void {
    if (!this.#closed) this.#down(err);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#hooks.sweep?.stop?.();
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
    if (this.#downSince !== undefined) this.#up();
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
    const wrapped = err instanceof MemberCardError || err instanceof OptionsError ? err : this.#hooks.wrap(err);
    if (wrapped instanceof MemberCardError && wrapped.code === 'STORE_UNAVAILABLE' && !this.#closed) {
      this.#down(wrapped.cause ?? err);
    }
    return wrapped;
  }

  // An outage is told once when it starts and once when it ends, not once per request: a store that
  // is down for a minute under load would otherwise write thousands of identical lines.
  #down(cause: unknown): void {
    if (this.#downSince !== undefined) return;
    this.#downSince = Date.now();
    this.#log('error', 'store unavailable', {
      engine: this.#hooks.engine,
      error: causeName(cause),
    });
  }

  #up(): void {
    const since = this.#downSince ?? Date.now();
    this.#downSince = undefined;
    this.#log('warn', 'store available again', {
      engine: this.#hooks.engine,
      downMs: Date.now() - since,
    });
  }
}

/** A name for what made the store unavailable, safe to log: an error code (ECONNREFUSED) or class name. */
function causeName(cause: unknown): string {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : errorName(cause);
}
