// Builds dist/esm (ESM + .d.ts) and dist/cjs (CommonJS + .d.ts) from one source tree, the two
// compilations side by side. Each half gets its own package.json so Node and TypeScript read
// its files in the right format.
//
// `--if-changed` (what `npm start` uses) skips the build when dist/ was built from exactly the
// current sources: a hash of every file that goes into it is kept in dist/.source-hash. A hash
// rather than modification times, so a checkout or a copy that touches every file does not fool it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const HASH_FILE = 'dist/.source-hash';

function sourceHash() {
  const files = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) files.push(path);
    }
  };
  walk('src');
  const hash = createHash('sha256');
  for (const file of files.sort()) hash.update(`${file}\n`).update(readFileSync(file)).update('\n');
  return hash.digest('hex');
}

const hash = sourceHash();
if (process.argv.includes('--if-changed') && existsSync(HASH_FILE) && readFileSync(HASH_FILE, 'utf8') === hash) {
  process.exit(0);
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compile = (...args) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', ...args], { stdio: 'inherit' });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tsc ${args.join(' ')} exited with ${code}`)),
    );
  });

rmSync('dist', { recursive: true, force: true });
try {
  await Promise.all([
    compile(),
    compile('--module', 'commonjs', '--moduleResolution', 'node10', '--outDir', 'dist/cjs'),
  ]);
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
for (const [dir, type] of [
  ['dist/esm', 'module'],
  ['dist/cjs', 'commonjs'],
]) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/package.json`, JSON.stringify({ type }) + '\n');
}
writeFileSync(HASH_FILE, hash);
