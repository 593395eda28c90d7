// Runs every test/**/*.test.ts with Node's own test runner (through tsx), which closes with a
// pass/fail count, then the member-card integration tests once more on a Koa 2 host (koa@2 under
// the npm alias `koa2`). Arguments: file filters (substrings) and runner flags, e.g.
// `npm test -- --test-name-pattern=notify`, `npm test -- test/store`, and `--coverage` (c8: a
// summary, an lcov report in coverage/, and the floor from .c8rc.json).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith('.test.ts')) files.push(path);
  }
};
walk('test');
files.sort();

const args = process.argv.slice(2);
const coverage = args.includes('--coverage');
const only = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-') && a !== '--coverage');
const chosen = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const koa2 = chosen.filter((f) => f.startsWith(join('test', 'member-card')));

const c8 = createRequire(import.meta.url).resolve('c8/bin/c8.js');
/**
 * One run of the runner over `list`. With --coverage it runs under c8, which also covers the child
 * processes tests spawn; the first run only collects, the last one adds its data and reports.
 */
function run(list, env, { report }) {
  const runner = [process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2'];
  const command = coverage
    ? [process.execPath, c8, ...(report ? ['--no-clean'] : ['--reporter=none', '--check-coverage=false']), ...runner]
    : runner;
  const result = spawnSync(command[0], [...command.slice(1), ...flags, ...list], {
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'test', ...env },
  });
  return result.status ?? 1;
}

const koa3 = run(chosen, { MEMBERCARD_TEST_KOA: '3' }, { report: koa2.length === 0 });
if (koa2.length === 0) process.exit(koa3);
console.log(`\n# the member-card integration tests again, on a Koa 2 host (${koa2.length} files)\n`);
const koa2Status = run(koa2, { MEMBERCARD_TEST_KOA: '2' }, { report: true });
console.log(`\n# Koa 3 host: ${koa3 === 0 ? 'pass' : 'FAIL'}; Koa 2 host: ${koa2Status === 0 ? 'pass' : 'FAIL'}`);
process.exit(koa3 || koa2Status);
