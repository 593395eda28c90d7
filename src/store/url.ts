import { OptionsError } from '../errors.js';
import type { StoreOptions } from './options.js';
import { isSqliteDriver, SQLITE_DRIVERS, type SqliteDriverName } from './sqlite-driver.js';

export const ACCEPTED_URLS =
  'memory:, sqlite:<path> (e.g. sqlite:./data/membercard.db, sqlite::memory:), ' +
  'postgres://…, postgresql://…, redis://…, rediss://…, redis+cluster://host:port,host:port/… or rediss+cluster://…';

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
    case 'redis+cluster':
    case 'rediss+cluster':
      return parseClusterUrl(spec.trim(), scheme === 'rediss+cluster');
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

/**
 * redis+cluster://[user:password@]host:port,host:port[/][?prefix=…]: a Redis Cluster's seed nodes
 * (a URL cannot hold several hosts, so this is split by hand); rediss+cluster:// connects with TLS.
 */
function parseClusterUrl(spec: string, tls: boolean): StoreOptions {
  const shown = redactUrl(spec);
  const m = /^[^:]+:\/\/(?:([^@/?#]*)@)?([^/?#]*)\/?(\?[^#]*)?$/.exec(spec);
  if (!m)
    throw new OptionsError(`store: ${shown} is not a valid Redis Cluster URL (redis+cluster://host:port,host:port/)`);
  const [, auth, hosts = '', query] = m;
  const cluster = hosts.split(',').filter((h) => h !== '');
  if (cluster.length === 0)
    throw new OptionsError(`store: ${shown} names no node (redis+cluster://host:port,host:port/)`);
  const params = new URLSearchParams(query ?? '');
  for (const name of params.keys()) {
    if (name !== 'prefix')
      throw new OptionsError(`store: unknown parameter "${name}" in a redis+cluster: URL; accepted: prefix`);
  }
  const prefix = params.get('prefix');
  const redis: { username?: string; password?: string; tls?: object } = {};
  if (auth !== undefined) {
    const colon = auth.indexOf(':');
    const user = decodePart(colon < 0 ? auth : auth.slice(0, colon), shown);
    if (user) redis.username = user;
    if (colon >= 0) redis.password = decodePart(auth.slice(colon + 1), shown);
  }
  if (tls) redis.tls = {};
  return {
    engine: 'redis',
    cluster,
    ...(prefix !== null ? { prefix } : {}),
    ...(Object.keys(redis).length ? { redis } : {}),
  };
}

function decodePart(part: string, shown: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new OptionsError(`store: ${shown} has a user name or password that is not percent-encoded`);
  }
}

/** Hides credentials in a connection URL before it appears in a message. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // Keeps the user name, as URL does for the URLs it can read (a cluster URL's host list it cannot).
    return url.replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@');
  }
}
