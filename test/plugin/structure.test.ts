// The mini-program's files hang together the way WeChat DevTools expects: every page and
// component named in app.json, plugin.json and each usingComponents exists with .ts (DevTools
// compiles it to the .js the runtime loads), .json, .wxml and .wxss; plugin:// references resolve;
// every JSON file parses; project.config.json compiles the TypeScript and packs its sources.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, posix, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT, sourceFiles } from './compile.js';

const PLUGIN_ROOT = join(ROOT, 'plugin');
const PARTS = ['.ts', '.json', '.wxml', '.wxss'];

function readJson(file: string): any {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${relative(ROOT, file)} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

const project = readJson(join(ROOT, 'project.config.json'));
const appJson = readJson(join(ROOT, 'app.json'));
const pluginJson = readJson(join(PLUGIN_ROOT, 'plugin.json'));

/** A page or component in one of the two packages ("host" at the root, "plugin" under plugin/). */
interface Unit {
  pkg: 'host' | 'plugin';
  /** Absolute path without extension. */
  path: string;
  /** Who named it, for messages. */
  from: string;
}

function assertComplete(unit: Unit): void {
  for (const ext of PARTS) {
    assert.ok(existsSync(unit.path + ext), `${relative(ROOT, unit.path)}${ext} (named in ${unit.from}) is missing`);
  }
}

/** Where a usingComponents value points: relative, package-absolute ("/…") or plugin://. */
function resolveComponent(owner: Unit, value: string, usingIn: string): Unit {
  const plugin = /^plugin:\/\/([^/]+)\/(.+)$/.exec(value);
  if (plugin) {
    assert.equal(owner.pkg, 'host', `${usingIn}: only a host uses plugin:// components`);
    const [, alias, name] = plugin as unknown as [string, string, string];
    assert.ok(appJson.plugins?.[alias], `${usingIn}: plugin "${alias}" is not declared in app.json plugins`);
    const path = pluginJson.publicComponents?.[name];
    assert.ok(path, `${usingIn}: "${name}" is not among plugin.json publicComponents`);
    return { pkg: 'plugin', path: join(PLUGIN_ROOT, path), from: usingIn };
  }
  assert.doesNotMatch(value, /^plugin-private:/, `${usingIn}: unexpected plugin-private reference`);
  const base = owner.pkg === 'host' ? ROOT : PLUGIN_ROOT;
  const path = value.startsWith('/') ? join(base, value) : join(dirname(owner.path), value);
  return { pkg: owner.pkg, path, from: usingIn };
}

function collectUnits(): Unit[] {
  const start: Unit[] = [
    ...(appJson.pages as string[]).map((p): Unit => ({ pkg: 'host', path: join(ROOT, p), from: 'app.json pages' })),
    ...Object.entries(pluginJson.pages ?? {}).map(([name, p]): Unit => ({
      pkg: 'plugin',
      path: join(PLUGIN_ROOT, p as string),
      from: `plugin.json pages.${name}`,
    })),
    ...Object.entries(pluginJson.publicComponents ?? {}).map(([name, p]): Unit => ({
      pkg: 'plugin',
      path: join(PLUGIN_ROOT, p as string),
      from: `plugin.json publicComponents.${name}`,
    })),
  ];
  // app.json's global usingComponents apply to every host page.
  const appRoot: Unit = { pkg: 'host', path: join(ROOT, 'app'), from: 'app.json' };
  for (const [tag, value] of Object.entries(appJson.usingComponents ?? {})) {
    start.push(resolveComponent(appRoot, value as string, `app.json usingComponents.${tag}`));
  }
  const seen = new Map<string, Unit>();
  const queue = [...start];
  while (queue.length) {
    const unit = queue.shift() as Unit;
    if (seen.has(unit.path)) continue;
    seen.set(unit.path, unit);
    assertComplete(unit);
    const json = readJson(`${unit.path}.json`);
    for (const [tag, value] of Object.entries(json.usingComponents ?? {})) {
      queue.push(resolveComponent(unit, value as string, `${relative(ROOT, unit.path)}.json usingComponents.${tag}`));
    }
  }
  return [...seen.values()];
}

test('every page and component named in app.json, plugin.json and usingComponents has .ts, .json, .wxml, .wxss', () => {
  const units = collectUnits().map((u) => posix.normalize(relative(ROOT, u.path).split('\\').join('/')));
  assert.deepEqual(units.sort(), [
    'pages/index/index',
    'plugin/components/member-card/member-card',
    'plugin/pages/my-card/my-card',
  ]);
});

test('plugin.json: a public member-card component, a my-card page, main index.js', () => {
  assert.deepEqual(Object.keys(pluginJson.publicComponents), ['member-card']);
  assert.deepEqual(Object.keys(pluginJson.pages), ['my-card']);
  // main names the file the runtime loads: DevTools compiles it from index.ts.
  assert.equal(pluginJson.main, 'index.js');
  assert.ok(existsSync(join(PLUGIN_ROOT, 'index.ts')));
  for (const path of Object.values<string>(pluginJson.publicComponents)) {
    assert.equal(readJson(join(PLUGIN_ROOT, `${path}.json`)).component, true, `${path}.json says component: true`);
  }
});

test('app.json uses the plugin in dev version from the project’s plugin AppID', () => {
  assert.deepEqual(Object.keys(appJson.plugins), ['memberCard']);
  assert.equal(appJson.plugins.memberCard.version, 'dev');
  assert.match(appJson.plugins.memberCard.provider, /^wx[0-9a-f]{16}$/);
  assert.equal(
    appJson.plugins.memberCard.provider,
    project.pluginAppid,
    'provider is the plugin developed in this project',
  );
  assert.equal(appJson.usingComponents['member-card'], 'plugin://memberCard/member-card');
  if (appJson.sitemapLocation) assert.ok(existsSync(join(ROOT, appJson.sitemapLocation)));
});

test('the AppIDs are the placeholder, and say so (a real AppID is the merchant’s to put in)', () => {
  const PLACEHOLDER = 'wx0000000000000000';
  assert.equal(project.appid, PLACEHOLDER);
  assert.equal(project.pluginAppid, PLACEHOLDER);
  assert.equal(appJson.plugins.memberCard.provider, PLACEHOLDER);
  assert.match(project.description, new RegExp(`${PLACEHOLDER} is a PLACEHOLDER AppID`));
  for (const doc of ['doc/README.md', 'docs/plugin.md']) {
    assert.match(readFileSync(join(ROOT, doc), 'utf8'), new RegExp(`${PLACEHOLDER}`), `${doc} names the placeholder`);
  }
});

test('doc/README.md, the plugin’s documentation WeChat shows hosts, uses only images inside doc/', () => {
  const readme = readFileSync(join(ROOT, 'doc/README.md'), 'utf8');
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1] as string);
  assert.ok(images.length >= 7, 'a picture of each state');
  for (const image of images) {
    assert.doesNotMatch(image, /^(https?:)?\/\/|^\.\.|^\//, `${image}: local, inside doc/`);
    assert.ok(existsSync(join(ROOT, 'doc', image)), `doc/${image} exists`);
  }
});

test('project.config.json: a plugin project rooted here, back-end folders left out of the upload', () => {
  assert.equal(project.compileType, 'plugin', '"version": "dev" works only in a plugin project');
  assert.equal(project.miniprogramRoot, './');
  assert.equal(project.pluginRoot, 'plugin/');
  assert.ok(existsSync(join(ROOT, project.miniprogramRoot, 'app.json')));
  assert.ok(existsSync(join(ROOT, project.pluginRoot, 'plugin.json')));
  const ignored = new Set(
    (project.packOptions.ignore as { type: string; value: string }[])
      .filter((i) => i.type === 'folder')
      .map((i) => i.value),
  );
  const folders = ['src', 'test', 'node_modules', 'dist', 'data', 'scripts', 'bench', 'bin', 'docs', '.ci'];
  // doc/ is the plugin's documentation (uploaded on its own); plugin/npm/ is the npm package.
  for (const folder of [...folders, 'doc', 'plugin/npm']) {
    assert.ok(ignored.has(folder), `packOptions.ignore leaves out ${folder}/`);
  }
});

/** Whether a packOptions.ignore rule drops `file` (a path relative to miniprogramRoot, which is ROOT). */
function dropped(rule: { type: string; value: string }, file: string): boolean {
  const value = rule.value.replace(/^\.?\//, '').replace(/\/$/, '');
  switch (rule.type) {
    case 'folder':
      return file.startsWith(`${value}/`);
    case 'file':
      return file === value;
    case 'suffix':
      return file.endsWith(value);
    case 'prefix':
      return basename(file).startsWith(value) || file.startsWith(value);
    default:
      throw new Error(`packOptions.ignore: no check here for rules of type ${rule.type}`);
  }
}

test('project.config.json: DevTools compiles the TypeScript, and the upload keeps every mini-program source', () => {
  assert.ok(
    (project.setting.useCompilerPlugins as unknown[]).includes('typescript'),
    'setting.useCompilerPlugins has "typescript": the .ts are the only sources of the runtime .js',
  );
  const sources = sourceFiles();
  assert.ok(sources.includes('app.ts') && sources.includes('plugin/index.ts'), 'the sources include the .ts');
  for (const rule of project.packOptions.ignore as { type: string; value: string }[]) {
    for (const file of sources)
      assert.ok(!dropped(rule, file), `packOptions.ignore ${JSON.stringify(rule)} drops ${file}`);
  }
});

test('every JSON file of the mini-program is valid JSON', () => {
  const files = sourceFiles().filter((f) => f.endsWith('.json'));
  assert.deepEqual(files, [
    'app.json',
    'pages/index/index.json',
    'plugin/components/member-card/member-card.json',
    'plugin/pages/my-card/my-card.json',
    'plugin/plugin.json',
    'project.config.json',
    'sitemap.json',
  ]);
  for (const file of files) assert.doesNotThrow(() => readJson(join(ROOT, file)), file);
});

test('the card stays readable at 320px: rpx/% sizes only, no text under 26rpx (≈11px at 320px)', () => {
  const wxss = readFileSync(join(PLUGIN_ROOT, pluginJson.publicComponents['member-card'] + '.wxss'), 'utf8').replace(
    /\/\*[\s\S]*?\*\//g,
    '',
  );
  assert.deepEqual(wxss.match(/[\d.]+px\b/g), null, 'fixed px sizes do not scale with the screen');
  const sizes = [...wxss.matchAll(/font-size:\s*(\d+)rpx/g)].map((m) => Number(m[1]));
  assert.ok(sizes.length > 5);
  assert.ok(Math.min(...sizes) >= 26, `smallest font-size ${Math.min(...sizes)}rpx`);
  // Component WXSS may not use tag, id or attribute selectors (WeChat ignores or rejects them).
  const selectors = wxss
    .replace(/\{[^}]*\}/g, ',')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const selector of selectors) assert.match(selector, /^\.[\w-]+$/, `class selectors only: ${selector}`);
});
