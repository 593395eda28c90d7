// Builds the npm form of the <member-card> component (package `koa-wechat-membercard-miniprogram`)
// from the plugin's own sources: plugin/index.ts, plugin/lib/ and plugin/components/, compiled by
// tsc with tsconfig.plugin.json's options (ES2017, CommonJS) into miniprogram_dist/, the folder the
// package's `"miniprogram"` field names and WeChat DevTools' 构建 npm copies into miniprogram_npm/.
// The plugin's page and plugin.json stay out: a host page is the host's own.
//
//   node scripts/build-miniprogram-npm.mjs            writes plugin/npm/miniprogram_dist/ (then
//                                                      `cd plugin/npm && npm publish`)
//   node scripts/build-miniprogram-npm.mjs --out DIR  writes a whole package to DIR: package.json,
//                                                      README.md and miniprogram_dist/
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PLUGIN = join(ROOT, 'plugin');
const PACKAGE = join(PLUGIN, 'npm');
/** What the component is made of, relative to plugin/. */
const PARTS = ['index.ts', 'lib', 'components'];
const DIST = 'miniprogram_dist';

function fail(message) {
  console.error(`build-miniprogram-npm: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
if (outAt >= 0 && !args[outAt + 1]) fail('--out needs a folder');
const out = outAt >= 0 ? resolve(args[outAt + 1]) : PACKAGE;

// The package carries the component and nothing a server needs.
const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8'));
for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies']) {
  if (pkg[field] && Object.keys(pkg[field]).length) fail(`plugin/npm/package.json must have no ${field}`);
}
if (pkg.miniprogram !== DIST) fail(`plugin/npm/package.json "miniprogram" must be "${DIST}"`);

function filesUnder(part) {
  const path = join(PLUGIN, part);
  if (!existsSync(path)) fail(`plugin/${part} is missing`);
  if (
    !readdirSync(PLUGIN, { withFileTypes: true })
      .find((e) => e.name === part)
      ?.isDirectory()
  )
    return [path];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}
const files = PARTS.flatMap(filesUnder);
const sources = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
const assets = files.filter((f) => /\.(json|wxml|wxss)$/.test(f));

const dist = join(out, DIST);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const tsconfig = join(ROOT, 'tsconfig.plugin.json');
const read = ts.readConfigFile(tsconfig, (path) => ts.sys.readFile(path));
if (read.error) fail(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
const { options } = ts.parseJsonConfigFileContent(
  read.config,
  ts.sys,
  ROOT,
  { noEmit: false, outDir: dist, rootDir: PLUGIN, declaration: true },
  tsconfig,
);
const program = ts.createProgram(sources, options);
const diagnostics = ts.getPreEmitDiagnostics(program);
if (diagnostics.length) {
  fail(
    ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => '\n',
    }),
  );
}
if (program.emit().emitSkipped) fail('tsc emitted nothing');
for (const asset of assets) {
  const target = join(dist, relative(PLUGIN, asset));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(asset, target);
}

// Only relative requires: a mini-program resolves nothing else without another npm package.
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
  const code = readFileSync(join(entry.parentPath, entry.name), 'utf8');
  for (const [, id] of code.matchAll(/\brequire\(["']([^"']+)["']\)/g)) {
    if (!id.startsWith('.')) fail(`${relative(out, join(entry.parentPath, entry.name))} requires "${id}"`);
  }
}

if (out !== PACKAGE) {
  for (const file of ['package.json', 'README.md']) cpSync(join(PACKAGE, file), join(out, file));
}
console.log(`${pkg.name}@${pkg.version}: ${relative(process.cwd(), dist) || '.'} (${sources.length} modules)`);
