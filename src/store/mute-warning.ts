/**
 * Runs a synchronous `load` with one process warning dropped: the one of type `type` whose message
 * matches `message`. Every other warning passes, as does that one outside the call.
 *
 * Why this way: Node prints a warning from process.emitWarning(), which its own modules call
 * through the process object, so replacing it for the length of one synchronous call is the only
 * way to keep one known warning out of the host's stderr. A 'warning' listener cannot (Node's own
 * printer is a listener too), and --no-warnings would hide every warning, including the host's.
 */
export function withoutWarning<T>(type: string, message: RegExp, load: () => T): T {
  // Kept to be put back as it was, and called with `process` as its `this`.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const emit = process.emitWarning;
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]): void {
    if (typeOf(warning, rest[0]) === type && message.test(typeof warning === 'string' ? warning : warning.message))
      return;
    Reflect.apply(emit, process, [warning, ...rest]);
  };
  try {
    return load();
  } finally {
    process.emitWarning = emit;
  }
}

/** emitWarning(warning, type), emitWarning(warning, { type }), or an Error whose name is the type. */
function typeOf(warning: string | Error, second: unknown): string {
  if (typeof second === 'string') return second;
  const option = (second as { type?: unknown } | null | undefined)?.type;
  if (typeof option === 'string') return option;
  return typeof warning === 'string' ? 'Warning' : warning.name;
}
