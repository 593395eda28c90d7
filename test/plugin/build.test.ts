// The mini-program is TypeScript only. WeChat DevTools compiles it without type-checking, so the
// types are checked here (strict, under tsconfig.plugin.json); the compiled output the other plugin
// tests load (compile.ts) is checked to be ES2017 CommonJS the mini-program runtime runs; and git
// keeps compiled .js out of the source folders.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { compiledMiniprogram, pluginConfig, ROOT, sourceFiles } from './compile.js';

const OUT = compiledMiniprogram();
const require = createRequire(import.meta.url);

function format(list: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(list, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => '\n',
  });
}

function filesIn(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .sort();
}

test('the mini-program TypeScript (plugin, demo app, its page) type-checks, strict, under tsconfig.plugin.json', () => {
  const config = pluginConfig();
  assert.deepEqual(config.errors, []);
  assert.equal(config.options.strict, true);
  assert.equal(config.options.noEmit, true, '`tsc -p tsconfig.plugin.json` must not write .js beside the sources');
  // DevTools compiles each file on its own (Babel): what only a whole-program compile can do fails here.
  assert.equal(config.options.isolatedModules, true);
  const program = ts.createProgram(config.fileNames, config.options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  assert.equal(diagnostics.length, 0, format(diagnostics));
  const sources = program.getRootFileNames().map((f) => relative(ROOT, f));
  for (const expected of [
    'app.ts',
    'app.config.ts',
    'pages/index/index.ts',
    'plugin/index.ts',
    'plugin/components/member-card/member-card.ts',
    'plugin/pages/my-card/my-card.ts',
  ]) {
    assert.ok(sources.includes(expected), `${expected} is compiled by tsconfig.plugin.json`);
  }
});

test('the compiled mini-program has a .js for every .ts, and the .json/.wxml/.wxss beside it', () => {
  const sources = sourceFiles().filter((f) => f.endsWith('.ts'));
  assert.ok(sources.length >= 7, `the mini-program's .ts files: ${sources.join(', ')}`);
  for (const source of sources) {
    const base = source.replace(/\.ts$/, '');
    assert.ok(existsSync(join(OUT, `${base}.js`)), `${base}.js is compiled`);
    for (const ext of ['.json', '.wxml', '.wxss']) {
      if (existsSync(join(ROOT, base + ext))) {
        assert.equal(readFileSync(join(OUT, base + ext), 'utf8'), readFileSync(join(ROOT, base + ext), 'utf8'));
      }
    }
  }
  for (const file of ['app.json', 'app.wxss', 'sitemap.json', 'plugin/plugin.json']) {
    assert.ok(existsSync(join(OUT, file)), `${file} is copied`);
  }
  assert.deepEqual(
    filesIn(OUT, '.ts').filter((f) => !f.endsWith('.d.ts')),
    [],
    'no TypeScript in the output',
  );
});

test('the compiled JS is ES2017 CommonJS: exports/require, async stays async, app.js needs only its config', () => {
  const read = (file: string) => readFileSync(join(OUT, file), 'utf8');
  for (const file of [...filesIn(join(OUT, 'plugin'), '.js').map((f) => `plugin/${f}`), 'app.js']) {
    assert.doesNotMatch(read(file), /^\s*(import|export)\s/m, `${file} has no ES module syntax`);
  }
  assert.match(read('plugin/index.js'), /exports\.configure = /);
  assert.match(read('plugin/components/member-card/member-card.js'), /require\("\.\.\/\.\.\/lib\/api"\)/);
  // ES2017 keeps async functions (an older target would turn them into __awaiter generators).
  const card = read('plugin/components/member-card/member-card.js');
  assert.match(card, /async load\(\)/);
  assert.doesNotMatch(card, /__awaiter/);
  // app.js reads its addresses from app.config.js and nothing else of its own package: the plugin
  // comes through requirePlugin, never through a path.
  assert.deepEqual(
    [...read('app.js').matchAll(/\brequire\(([^)]*)\)/g)].map((m) => m[1]),
    ['"./app.config"'],
  );
  // The plugin's main loads as CommonJS and is the interface a host gets: configure, getConfig,
  // refresh, topupResult.
  const main = require(join(OUT, 'plugin/index.js')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(main).sort(), ['configure', 'getConfig', 'refresh', 'topupResult']);
  for (const name of Object.keys(main)) assert.equal(typeof main[name], 'function', name);
});

test('errors are told apart by their `kind` field: no instanceof and no Error subclass in the plugin', () => {
  // A subclass of Error compiled to ES5 loses its prototype chain, and an error from the host's own
  // `request` was never made by our constructor: instanceof would misfile both.
  const found: string[] = [];
  for (const file of filesIn(join(ROOT, 'plugin'), '.ts').filter((f) => !f.startsWith('npm'))) {
    const source = ts.createSourceFile(file, readFileSync(join(ROOT, 'plugin', file), 'utf8'), ts.ScriptTarget.ES2017);
    const visit = (node: ts.Node): void => {
      if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.InstanceOfKeyword) {
        found.push(`plugin/${file}: ${node.getText(source)}`);
      }
      if (ts.isHeritageClause(node) && node.token === ts.SyntaxKind.ExtendsKeyword && ts.isClassLike(node.parent)) {
        found.push(`plugin/${file}: class ${node.getText(source)}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.deepEqual(found, []);
});

test('git keeps compiled .js out of plugin/, pages/ and the root app, and the real .js sources in', (t) => {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (err) {
      // check-ignore answers 1 for "not ignored"
      if ((err as { status?: number }).status === 1) return '';
      throw err;
    }
  };
  try {
    git('rev-parse', '--git-dir');
  } catch {
    t.skip('not a git checkout');
    return;
  }
  const tracked = git('ls-files', '--', 'plugin', 'pages', 'app.js').split('\n').filter(Boolean);
  assert.deepEqual(
    tracked.filter((f) => f.endsWith('.js')),
    [],
    'the mini-program is TypeScript only: no compiled .js is committed',
  );
  const inPlace = ['app.js', 'app.config.js', 'plugin/index.js', 'plugin/lib/api.js', 'pages/index/index.js'];
  assert.deepEqual(
    git('check-ignore', '--no-index', ...inPlace)
      .split('\n')
      .filter(Boolean),
    inPlace,
  );
  const sources = ['bin/wechat-membercard.js', 'eslint.config.js', 'scripts/test.mjs'];
  assert.equal(git('check-ignore', '--no-index', ...sources), '', 'real JavaScript sources stay tracked');
});
