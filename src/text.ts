/**
 * Text we accept from callers. It must be well-formed Unicode: a lone UTF-16 surrogate cannot be
 * stored as is (SQLite and PostgreSQL turn it into U+FFFD), so the text read back would differ from
 * the text given, and a retry with the same request id would look like another request. Lengths are
 * counted in characters (code points), as people count them: three emoji are three characters.
 */

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `value` holds no lone surrogate (String.prototype.isWellFormed, for the lib we target). */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** How many characters (code points) `value` holds. */
export function characters(value: string): number {
  let n = 0;
  for (const _ of value) n += 1;
  return n;
}

/**
 * The dotted path of the first string (a value or a key) in a parsed JSON body that is not
 * well-formed, e.g. `remark` or `items.2.name`; undefined when every string is.
 */
export function malformedTextAt(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return isWellFormed(value) ? undefined : path || '(body)';
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (!isWellFormed(key)) return at;
    const found = malformedTextAt(inner, at);
    if (found !== undefined) return found;
  }
  return undefined;
}
