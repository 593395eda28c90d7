import { OptionsError } from '../errors.js';
import type { StoreOptions } from './options.js';

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
      // sqlite:./rel.db, sqlite:/abs.db, sqlite::memory:, and the URL-ish sqlite:///abs.db.
      const filename = rest.startsWith('//') ? rest.slice(2) : rest;
      if (!filename)
        throw new OptionsError(
          `store: "sqlite:" needs a file path, e.g. sqlite:./data/membercard.db or sqlite::memory:`,
        );
      return { engine: 'sqlite', filename };
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
