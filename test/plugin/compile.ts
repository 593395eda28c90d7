// The mini-program as a runtime loads it, compiled from the TypeScript sources: tsc with
// tsconfig.plugin.json (emit turned on, outDir in the system's temporary folder) plus the
// .json/.wxml/.wxss beside them. WeChat DevTools does the same compile itself; the repository
// holds no .js. The folder is keyed by a hash of everything that goes into it, so the test files
// (each its own process) share one build, and a later run with the same sources reuses it.
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSCONFIG = join(ROOT, 'tsconfig.plugin.json');

/** The mini-program's folders and root files (the rest of the repository is the back end). */
const FOLDERS = ['plugin', 'pages'];
const ROOT_FILES = ['app.ts', 'app.config.ts', 'app.json', 'app.wxss', 'sitemap.json', 'project.config.json'];
/** plugin/npm/ packages the component for npm (scripts/build-miniprogram-npm.mjs): not mini-program code. */
const NOT_SOURCES = [join('plugin', 'npm')];

/** Every source file of the mini-program, relative to ROOT, sorted. */
export function sourceFiles(): string[] {
  const files = ROOT_FILES.filter((f) => existsSync(join(ROOT, f)));
  for (const folder of FOLDERS) {
    for (const entry of readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })) {
      const file = relative(ROOT, join(entry.parentPath, entry.name));
      if (entry.isFile() && !NOT_SOURCES.some((dir) => file.startsWith(dir + sep))) files.push(file);
    }
  }
  return files.sort();
}

/** tsconfig.plugin.json as tsc reads it, with `overrides` on top. */
export function pluginConfig(overrides: ts.CompilerOptions = {}): ts.ParsedCommandLine {
  const read = ts.readConfigFile(TSCONFIG, (path) => ts.sys.readFile(path));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  return ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, overrides, TSCONFIG);
}

/** Compiles into `outDir` (which must exist): TypeScript to JavaScript, everything else copied. */
function compileInto(outDir: string, sources: string[]): void {
  // A .js in a source folder is a leftover of an in-place compile: never copy it over the output.
  for (const file of sources.filter((f) => !f.endsWith('.ts') && !f.endsWith('.js'))) {
    mkdirSync(dirname(join(outDir, file)), { recursive: true });
    cpSync(join(ROOT, file), join(outDir, file));
  }
  // Emit even when the types are wrong, as DevTools does: build.test.ts reports type errors, and the
  // component tests still say what the code does.
  const config = pluginConfig({ noEmit: false, outDir });
  const emitted = ts.createProgram(config.fileNames, config.options).emit();
  if (emitted.emitSkipped) throw new Error('tsc emitted nothing for tsconfig.plugin.json');
  // Node reads the output as CommonJS even under a package.json that says "type": "module".
  writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
}

const PREFIX = 'membercard-miniprogram-';
/** This module's folders, finished or half-built, in the temporary folder. */
const OURS = /^membercard-miniprogram-[0-9a-f]{16}(\.building-\w+)?$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Hashes what goes into the build: the sources, tsconfig.plugin.json, tsc's version, this file. */
function buildKey(sources: string[]): string {
  const hash = createHash('sha256')
    .update(ts.version)
    .update(readFileSync(fileURLToPath(import.meta.url)));
  for (const file of [...sources, 'tsconfig.plugin.json']) {
    hash.update(`\0${file}\0`).update(readFileSync(join(ROOT, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Removes builds no test run has used for a day (each run touches the one it uses). */
function pruneStale(keep: string): void {
  for (const name of readdirSync(tmpdir())) {
    const path = join(tmpdir(), name);
    if (path === keep || !OURS.test(name)) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > DAY_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Another process removed it first.
    }
  }
}

let built: string | undefined;

/** The compiled mini-program's folder, built on first use. */
export function compiledMiniprogram(): string {
  if (built) return built;
  const sources = sourceFiles();
  const target = join(tmpdir(), PREFIX + buildKey(sources));
  if (existsSync(target)) {
    const now = new Date();
    utimesSync(target, now, now);
  } else {
    // Built aside and renamed into place: a folder under the final name is always complete, and of
    // two processes building at once, the second one's rename fails and it uses the first one's.
    const work = mkdtempSync(`${target}.building-`);
    try {
      compileInto(work, sources);
      renameSync(work, target);
    } catch (err) {
      rmSync(work, { recursive: true, force: true });
      if (!existsSync(target)) throw err;
    }
    pruneStale(target);
  }
  built = target;
  return target;
}
