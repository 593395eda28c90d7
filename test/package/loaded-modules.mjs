// Prints (as JSON) every module that loading one entry point of the package brings in: ESM URLs
// through a resolve hook, CommonJS files through require.cache (packages such as koa or pg load
// their inner files with require, which the ESM hook does not see).
// Usage: node loaded-modules.mjs <file> <esm|cjs> <log file>
import { createRequire, register } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [entry, kind, log] = process.argv.slice(2);
const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
const require = createRequire(import.meta.url);
if (kind === 'esm') await import(pathToFileURL(entry).href);
else require(entry);
// A CommonJS entry may resolve nothing through the ESM loader: then there is no log at all.
const esm = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
const cjs = Object.keys(require.cache).map((f) => pathToFileURL(f).href);
process.stdout.write(JSON.stringify([...new Set([...esm, ...cjs])]));
