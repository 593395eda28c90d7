// The mini-program runtime loads .js, so the compiled JS is committed next to its .ts. This test
// compiles tsconfig.plugin.json in memory and fails when the TypeScript has errors or a committed
// .js differs from what tsc makes of its .ts (fix: `npx tsc -p tsconfig.plugin.json`).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIX = 'run `npx tsc -p tsconfig.plugin.json` and commit the .js';

function compile(): { program: ts.Program; outputs: Map<string, string>; diagnostics: readonly ts.Diagnostic[] } {
  const configPath = join(ROOT, 'tsconfig.plugin.json');
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  assert.equal(read.error, undefined, 'tsconfig.plugin.json parses');
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath);
  assert.deepEqual(parsed.errors, []);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const outputs = new Map<string, string>();
  const emitted = program.emit(undefined, (fileName, text) => outputs.set(fileName, text));
  return { program, outputs, diagnostics: [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics] };
}

const { program, outputs, diagnostics } = compile();

function format(list: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(list, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => '\n',
  });
}

function jsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(ROOT, dir, f));
}

test('the mini-program TypeScript (plugin, demo app, its page) compiles without errors', () => {
  assert.equal(diagnostics.length, 0, format(diagnostics));
  const sources = program
    .getRootFileNames()
    .map((f) => relative(ROOT, f))
    .sort();
  for (const expected of [
    'app.ts',
    'pages/index/index.ts',
    'plugin/index.ts',
    'plugin/components/member-card/member-card.ts',
    'plugin/pages/my-card/my-card.ts',
  ]) {
    assert.ok(sources.includes(expected), `${expected} is compiled by tsconfig.plugin.json`);
  }
});

test('every committed .js is exactly what tsc makes of its .ts', () => {
  assert.ok(outputs.size >= 5);
  for (const [file, text] of outputs) {
    const name = relative(ROOT, file);
    assert.ok(existsSync(file), `${name} is missing: ${FIX}`);
    assert.equal(readFileSync(file, 'utf8'), text, `${name} is stale: ${FIX}`);
  }
});

test('no .js in the mini-program folders lacks its .ts (a leftover would ship)', () => {
  const compiled = new Set(outputs.keys());
  for (const file of [...jsFiles('plugin'), ...jsFiles('pages'), join(ROOT, 'app.js')]) {
    assert.ok(compiled.has(file), `${relative(ROOT, file)} has no .ts source`);
  }
});

test('the emitted JS is CommonJS that Node reads as such (plugin/ and pages/ say "type": "commonjs")', () => {
  for (const dir of ['plugin', 'pages']) {
    assert.deepEqual(JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')), { type: 'commonjs' });
  }
  const main = outputs.get(join(ROOT, 'plugin/index.js')) ?? '';
  assert.match(main, /exports\.configure = /);
  assert.doesNotMatch(main, /^\s*(import|export)\s/m);
  // app.js is a plain script (no require/exports): the runtime and `vm` both run it as one.
  assert.doesNotMatch(outputs.get(join(ROOT, 'app.js')) ?? '', /\b(exports|require)\b/);
});
