import { OptionsError } from '../errors.js';
import type { StoreOptions } from './options.js';
import { isSqliteDriver, SQLITE_DRIVERS, type SqliteDriverName } from './sqlite-driver.js';

export const ACCEPTED_URLS =
  'memory:, sqlite:<path> (e.g. sqlite:./data/membercard.db, sqlite::memory:), ' +
  'postgres://…, postgresql://…, redis://… or rediss://…';

/** A store URL as the options of the engine it names; our own query parameters become options. */
export function parseStoreUrl(spec: string): StoreOptions {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(spec.trim());
  const scheme = match?.[1]?.toLowerCase();
  const rest = match ? spec.trim().slice(match[0].length) : '';
  switch (scheme) {
    case 'memory':
      return { engine: 'memory' };
    case 'sqlite': {
      // sqlite:./rel.db, sqlite:/abs.db, sqlite::memory:, and the URL-ish sqlite:///abs.db; `?driver=…` may follow.
      const q = rest.indexOf('?');
      const path = q < 0 ? rest : rest.slice(0, q);
      const filename = path.startsWith('//') ? path.slice(2) : path;
      if (!filename)
        throw new OptionsError(
          `store: "sqlite:" needs a file path, e.g. sqlite:./data/membercard.db or sqlite::memory:`,
        );
      const driver = q < 0 ? undefined : sqliteDriverParam(rest.slice(q + 1));
      return { engine: 'sqlite', filename, ...(driver ? { driver } : {}) };
    }
    case 'postgres':
    case 'postgresql': {
      const url = parseUrl(spec);
      const schema = takeParam(url, 'schema');
      return { engine: 'postgres', connectionString: url.toString(), ...(schema ? { schema } : {}) };
    }
    case 'redis':
    case 'rediss': {
      const url = parseUrl(spec);
      const prefix = takeParam(url, 'prefix');
      return { engine: 'redis', url: url.toString(), ...(prefix !== undefined ? { prefix } : {}) };
    }
    default:
      throw new OptionsError(
        scheme
          ? `store: unsupported scheme "${scheme}:" (in ${redactUrl(spec)}); accepted: ${ACCEPTED_URLS}`
          : `store: ${JSON.stringify(redactUrl(spec))} has no scheme; accepted: ${ACCEPTED_URLS}`,
      );
  }
}

/** The one parameter a sqlite: URL takes; anything else is refused, not taken as part of the file name. */
function sqliteDriverParam(query: string): SqliteDriverName | undefined {
  const params = new URLSearchParams(query);
  for (const name of params.keys()) {
    if (name !== 'driver')
      throw new OptionsError(`store: unknown parameter "${name}" in a sqlite: URL; accepted: driver`);
  }
  const driver = params.get('driver');
  if (driver === null || isSqliteDriver(driver)) return driver ?? undefined;
  throw new OptionsError(`store: ?driver= must be ${SQLITE_DRIVERS.join(' or ')}, got "${driver}"`);
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

/** Hides credentials in a connection URL before it appears in a message. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
