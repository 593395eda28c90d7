// Builds dist/esm (ESM + .d.ts) and dist/cjs (CommonJS + .d.ts) from one source tree, the two
// compilations side by side. Each half gets its own package.json so Node and TypeScript read
// its files in the right format.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

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
