import { OptionsError } from '../errors.js';
import { defaultLog } from '../log.js';
import { MemoryStore } from './memory.js';
import { isStoreOptions, type StoreCommonOptions, type StoreOptions, type StoreSpec } from './options.js';
import { PostgresStore } from './postgres.js';
import { RedisStore } from './redis.js';
import { fitsRole, missingMethods, roleName, type StoreRole, type StoreRoles } from './roles.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';
import { ACCEPTED_URLS, parseStoreUrl } from './url.js';

/**
 * A Store from a URL or from an engine's options ({ engine: 'postgres', pool }, …), or the host's
 * own Store object as is. Synchronous: nothing connects, and no driver (better-sqlite3, pg,
 * ioredis) is loaded, until init().
 */
export function createStore(spec: StoreSpec, defaults: StoreCommonOptions = {}): Store {
  return storeForRole(spec, 'store', defaults);
}

/**
 * The store a consumer uses for its role: ours, made from a URL or options, or the host's own
 * object, checked once, here, for the methods of that role only (memberCard() needs no sessions,
 * wechatLogin() nothing else).
 */
export function storeForRole<R extends StoreRole>(
  spec: StoreSpec<StoreRoles[R]>,
  role: R,
  defaults: StoreCommonOptions = {},
): StoreRoles[R] {
  if (typeof spec === 'string') return ourStore(parseStoreUrl(spec), defaults);
  if (typeof spec !== 'object' || spec === null) {
    const what = `a URL (${ACCEPTED_URLS}), options ({ engine, … }) or a ${roleName(role)} object`;
    throw new OptionsError(`store must be ${what}, got ${typeof spec}`);
  }
  if (isStoreOptions(spec)) return ourStore(spec, defaults);
  if (fitsRole(spec, role)) return spec;
  const missing = missingMethods(spec, role).join(', ');
  throw new OptionsError(`store: the object given is not a ${roleName(role)}: it lacks the method(s) ${missing}`);
}

function ourStore(given: StoreOptions, defaults: StoreCommonOptions): Store {
  const options = { ...given, log: given.log ?? defaults.log ?? defaultLog };
  // A URL carries no retention: the caller's defaults (serve's variables) fill in what is not given.
  const retention = given.retention ?? defaults.retention;
  if (retention !== undefined) options.retention = retention;
  const sweepIntervalMs = given.sweepIntervalMs ?? defaults.sweepIntervalMs;
  if (sweepIntervalMs !== undefined) options.sweepIntervalMs = sweepIntervalMs;
  switch (options.engine) {
    case 'memory':
      return new MemoryStore(options);
    case 'sqlite':
      return new SqliteStore(options);
    case 'postgres':
      return new PostgresStore(options);
    case 'redis':
      return new RedisStore(options);
    default: {
      const engine: unknown = (options as { engine?: unknown }).engine;
      throw new OptionsError(
        `store: "engine" must be memory, sqlite, postgres or redis, got ${JSON.stringify(engine)}`,
      );
    }
  }
}
