/**
 * pg and ioredis are optional peer dependencies: the embedded default (SQLite) must work without
 * them, so their adapters import them only when chosen, and say how to fix a missing one.
 */
export async function loadOptional<T>(name: 'pg' | 'ioredis', spec: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `MEMBERCARD_STORE is ${spec} but the optional dependency "${name}" is not installed: npm install ${name}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** A CommonJS package seen through import(): its exports sit on `default` (ESM) or on the namespace (our CJS build). */
export function interopDefault<T>(mod: T | { default: T }): T {
  const inner = (mod as { default?: T }).default;
  return inner ?? (mod as T);
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
