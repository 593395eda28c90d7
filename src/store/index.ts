import { OptionsError } from '../errors.js';
import { MemoryStore } from './memory.js';
import { redactUrl } from './optional-dependency.js';
import { PostgresStore } from './postgres.js';
import { RedisStore } from './redis.js';
import { SqliteStore } from './sqlite.js';
import { missingStoreMethods } from './is-store.js';
import type { Store } from './types.js';

export type * from './types.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';

const ACCEPTED =
  'memory:, sqlite:<path> (e.g. sqlite:./data/membercard.db, sqlite::memory:), postgres://…, postgresql://…, redis://… or rediss://…';

/**
 * A Store from MEMBERCARD_STORE's value, or the host's own Store object as is. Synchronous:
 * nothing connects until init() (which also loads pg / ioredis, optional dependencies).
 */
export function createStore(spec: string | Store): Store {
  if (typeof spec === 'object' && spec !== null) {
    const missing = missingStoreMethods(spec);
    if (missing.length)
      throw new OptionsError(`store: the object given lacks the Store method(s) ${missing.join(', ')}`);
    return spec;
  }
  if (typeof spec !== 'string')
    throw new OptionsError(`store must be a string (${ACCEPTED}) or a Store object, got ${typeof spec}`);
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(spec.trim());
  const scheme = match?.[1]?.toLowerCase();
  const rest = match ? spec.trim().slice(match[0].length) : '';
  switch (scheme) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite': {
      // sqlite:./rel.db, sqlite:/abs.db, sqlite::memory:, and the URL-ish sqlite:///abs.db.
      const filename = rest.startsWith('//') ? rest.slice(2) : rest;
      if (!filename)
        throw new OptionsError(
          `store: "sqlite:" needs a file path, e.g. sqlite:./data/membercard.db or sqlite::memory:`,
        );
      return new SqliteStore({ filename });
    }
    case 'postgres':
    case 'postgresql': {
      const url = parseUrl(spec);
      const schema = takeParam(url, 'schema');
      return new PostgresStore(
        schema ? { connectionString: url.toString(), schema } : { connectionString: url.toString() },
      );
    }
    case 'redis':
    case 'rediss': {
      const url = parseUrl(spec);
      const prefix = takeParam(url, 'prefix');
      return new RedisStore(prefix !== undefined ? { url: url.toString(), prefix } : { url: url.toString() });
    }
    default:
      throw new OptionsError(
        scheme
          ? `store: unsupported scheme "${scheme}:" (in ${redactUrl(spec)}); accepted: ${ACCEPTED}`
          : `store: ${JSON.stringify(redactUrl(spec))} has no scheme; accepted: ${ACCEPTED}`,
      );
  }
}

function parseUrl(spec: string): URL {
  try {
    return new URL(spec.trim());
  } catch {
    throw new OptionsError(`store: ${redactUrl(spec)} is not a valid URL`);
  }
}

/** Our own query parameters are removed, so the driver never sees an option it does not know. */
function takeParam(url: URL, name: string): string | undefined {
  const value = url.searchParams.get(name);
  url.searchParams.delete(name);
  return value ?? undefined;
}
