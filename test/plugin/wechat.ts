// WeChat's runtime rules, as strict as WeChat, for mini-program code running in Node:
// - each package (the host mini-program, the plugin) sees its own `wx`, lexically, as WeChat's own
//   module wrapper gives it: a function the host passes to the plugin keeps the host's `wx`;
// - wx.request checks the caller's own request-domain list: the plugin's is not the host's;
// - wx.navigateToMiniProgram needs a tap in progress and page permission: plugin code only on a
//   plugin page, host code only on a host page;
// - requirePlugin hands a host what the plugin's `main` exports and nothing else, and no package
//   can require another package's files.
// Sources: docs/plugin.md, "What WeChat enforces".
import Module, { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { readFileSync } from 'node:fs';
import { StandInCanvas } from './canvas.js';

export type Side = 'host' | 'plugin';

interface Package {
  root: string;
  side: Side;
}

/** Compiled mini-program folders and whose code they hold; the longest root containing a file wins. */
const packages: Package[] = [];

export function registerPackage(root: string, side: Side): void {
  if (packages.some((p) => p.root === root)) return;
  packages.push({ root, side });
  packages.sort((a, b) => b.root.length - a.root.length);
}

function packageOf(file: string): Package | undefined {
  return packages.find((p) => file === p.root || file.startsWith(p.root + sep));
}

// ---------------------------------------------------------------- the rules' state

/** Request-domain lists (origins, e.g. https://api.example.com:8443): one per side, kept apart. */
export const domains: Record<Side, Set<string>> = { host: new Set(), plugin: new Set() };

/** Whose page is on screen: decides who may open another mini-program. */
export const screen: { page: Side } = { page: 'host' };

let tapping = false;

/** Runs `handlers` as a user's tap: WeChat's gesture lasts while the tap's handlers run, not after. */
export function duringTap<T>(handlers: () => T): T {
  tapping = true;
  try {
    return handlers();
  } finally {
    tapping = false;
  }
}

/** What WeChat refused, in order (a test asserts on it, and that the code under test coped). */
export interface Refusal {
  api: string;
  side: Side;
  errMsg: string;
  url?: string;
}
export const refusals: Refusal[] = [];

export interface WxRequestOptions {
  url: string;
  method?: string;
  data?: unknown;
  header?: Record<string, string>;
  dataType?: string;
  timeout?: number;
  success?: (res: unknown) => void;
  fail?: (res: unknown) => void;
  complete?: (res: unknown) => void;
}

type Network = (options: WxRequestOptions, side: Side) => unknown;
let network: Network | undefined;

/** Where allowed requests go (backend.ts: real HTTP), told which side sent them. */
export function routeRequests(handler: Network): void {
  network = handler;
}

// ---------------------------------------------------------------- each side's wx

type Callbacks = { fail?: (res: unknown) => void; complete?: (res: unknown) => void };

function refuse(refusal: Refusal, options: Callbacks): void {
  refusals.push(refusal);
  // WeChat answers asynchronously, like any API result.
  setTimeout(() => {
    options.fail?.({ errMsg: refusal.errMsg });
    options.complete?.({ errMsg: refusal.errMsg });
  }, 0);
}

function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return /^https?:$/.test(parsed.protocol) ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The global wx is miniprogram-simulate's mock plus the tests' stand-ins (wx.login, the jump's recorder). */
const base = () => (globalThis as unknown as { wx: Record<string, any> }).wx;

function sideWx(side: Side): Record<string, any> {
  const rules: Record<string, unknown> = {
    request(options: WxRequestOptions) {
      const origin = originOf(options.url);
      if (!origin || !domains[side].has(origin)) {
        // DevTools' "不校验合法域名" aside, WeChat refuses any origin not on the caller's own list.
        refuse({ api: 'request', side, errMsg: 'request:fail url not in domain list', url: options.url }, options);
        return { abort() {} };
      }
      if (!network) throw new Error('no network: call routeRequests() first');
      return network(options, side);
    },
    navigateToMiniProgram(options: Callbacks & Record<string, unknown>) {
      if (!tapping) {
        const errMsg = 'navigateToMiniProgram:fail can only be invoked by user TAP gesture.';
        refuse({ api: 'navigateToMiniProgram', side, errMsg }, options);
        return;
      }
      if (screen.page !== side) {
        // The plugin's message is WeChat's; the host's mirrors it (WeChat documents the rule, not its text).
        const errMsg = `navigateToMiniProgram:fail rejected due to no permission currently in ${screen.page}`;
        refuse({ api: 'navigateToMiniProgram', side, errMsg }, options);
        return;
      }
      const navigate = base().navigateToMiniProgram as ((o: unknown) => void) | undefined;
      if (!navigate) throw new Error('the test installs wx.navigateToMiniProgram (it cannot run outside WeChat)');
      navigate(options);
    },
  };
  return new Proxy(rules, {
    get: (target, name: string) => (name in target ? target[name] : base()[name]),
  });
}

export const hostWx = sideWx('host');
export const pluginWx = sideWx('plugin');

// ---------------------------------------------------------------- requirePlugin and package boundaries

interface PluginEntry {
  root: string;
  exports?: Readonly<Record<string, unknown>>;
}
const plugins = new Map<string, PluginEntry>();

/** Declares a plugin under the alias a host's app.json gives it; its `main` comes from plugin.json. */
export function declarePlugin(alias: string, root: string): void {
  registerPackage(root, 'plugin');
  plugins.set(alias, { root });
}

const nodeRequire = createRequire(import.meta.url);

/** The host's requirePlugin: the plugin's `main` exports, copied and frozen (nothing else is reachable). */
export function requirePlugin(alias: string): Readonly<Record<string, unknown>> {
  const entry = plugins.get(alias);
  if (!entry) throw new Error(`requirePlugin: plugin "${alias}" is not declared in app.json`);
  if (!entry.exports) {
    const main = (JSON.parse(readFileSync(join(entry.root, 'plugin.json'), 'utf8')) as { main: string }).main;
    const exports = nodeRequire(join(entry.root, main)) as Record<string, unknown>;
    entry.exports = Object.freeze({ ...exports });
  }
  return entry.exports;
}

type NodeRequire = ((id: string) => unknown) & { resolve(id: string): string };

/** A package's `require`: its own files only (WeChat has no path from the host into a plugin, or back). */
function packageRequire(req: NodeRequire, filename: string): (id: string) => unknown {
  const own = packageOf(filename);
  return (id: string) => {
    const target = req.resolve(id);
    const theirs = packageOf(target);
    if (!own || !theirs || theirs.root !== own.root) {
      throw new Error(`module "${relative(own?.root ?? '', target)}" is not defined (outside this package)`);
    }
    return req(id);
  };
}

const runtime = { wx: { host: hostWx, plugin: pluginWx }, requirePlugin, packageRequire };
(globalThis as unknown as Record<string, unknown>).__wechatRuntime = runtime;

/** What WeChat's module wrapper gives each file, put in front of the compiled code on its first line. */
function prelude(side: Side): string {
  const common = `var wx = __wechatRuntime.wx.${side}, require = __wechatRuntime.packageRequire(require, __filename)`;
  return side === 'host' ? `${common}, requirePlugin = __wechatRuntime.requirePlugin;` : `${common};`;
}

interface CjsModule {
  _compile(content: string, filename: string): unknown;
}
type Loader = (module: CjsModule, filename: string) => void;
const extensions = (Module as unknown as { _extensions: Record<string, Loader> })._extensions;
const loadJs = extensions['.js'] as Loader;
extensions['.js'] = (module, filename) => {
  const pkg = packageOf(filename);
  if (!pkg) {
    loadJs(module, filename);
    return;
  }
  // Our _compile, just for this file; the prototype's takes over again once it has run.
  module._compile = (content: string, file: string) => {
    delete (module as Partial<CjsModule>)._compile;
    // After a "use strict" directive, so the file stays strict; same line, so line numbers hold.
    return module._compile(
      content.replace(/^(\s*(["'])use strict\2;)?/, (directive) => directive + prelude(pkg.side)),
      file,
    );
  };
  loadJs(module, filename);
};

// ---------------------------------------------------------------- <canvas type="2d"> and the screen

/**
 * SelectorQuery's `fields({ node: true })` (base 2.7.0): the node of a `<canvas type="2d">`, one per
 * element for as long as it lives (a stand-in that keeps its pixels: canvas.ts). j-component has
 * no `node`; WeChat gives none for anything but a 2d (or webgl) canvas, and neither do we.
 */
const canvases = new WeakMap<object, StandInCanvas>();

interface QueryItem {
  selector: string;
  exparserNode: { shadowRoot: { querySelector(s: string): unknown; querySelectorAll(s: string): unknown[] } } | 0;
  isSelectSingle: boolean;
  fields: Record<string, unknown>;
}
type Exec = (this: JSelectorQuery, callback?: (res: unknown[]) => void) => void;
interface JSelectorQuery {
  _queue: QueryItem[];
  exec: Exec;
}

function canvasNode(element: unknown): StandInCanvas | undefined {
  const node = element as { $$?: { tagName?: string }; data?: { type?: unknown } } | null;
  const dom = node?.$$;
  if (!dom || dom.tagName?.toLowerCase() !== 'wx-canvas' || node?.data?.type !== '2d') return undefined;
  let canvas = canvases.get(dom);
  if (!canvas) canvases.set(dom, (canvas = new StandInCanvas()));
  return canvas;
}

/**
 * Gives j-component's SelectorQuery the `node` field. Called by simulator.ts once jsdom's globals
 * exist: loading j-component (and miniprogram-exparser with it) earlier would break its rendering.
 */
export function installCanvasNodes(): void {
  // miniprogram-simulate registers <canvas> with no properties, so `type` would be dropped: WeChat's has it.
  const jComponent = nodeRequire('j-component') as { register(definition: Record<string, unknown>): string };
  jComponent.register({
    id: 'canvas',
    tagName: 'wx-canvas',
    template: '<slot/>',
    properties: { type: { type: String, value: '' } },
  });
  const SelectorQuery = nodeRequire('j-component/src/tool/selectorquery.js') as { prototype: JSelectorQuery };
  const proto = SelectorQuery.prototype;
  // Called with the query as `this` below, as the original expects.
  const exec = proto.exec;
  proto.exec = function execWithNodes(this: JSelectorQuery, callback?: (res: unknown[]) => void) {
    execWith.call(this, exec, callback);
  };
}

function execWith(this: JSelectorQuery, exec: Exec, callback: ((res: unknown[]) => void) | undefined): void {
  const queue = [...this._queue];
  exec.call(this, (res: unknown[]) => {
    queue.forEach((item, i) => {
      if (!item.fields.node || item.exparserNode === 0) return;
      const root = item.exparserNode.shadowRoot;
      if (item.isSelectSingle) {
        const answer = res[i] as Record<string, unknown> | null;
        if (answer) answer.node = canvasNode(root.querySelector(item.selector));
      } else {
        const answers = res[i] as Record<string, unknown>[];
        root.querySelectorAll(item.selector).forEach((el, j) => {
          if (answers[j]) answers[j].node = canvasNode(el);
        });
      }
    });
    callback?.(res);
  });
}

/** The canvas a `<canvas type="2d">` element (a rendered node's dom) draws on, once it was asked for. */
export function canvasOf(dom: unknown): StandInCanvas | undefined {
  return canvases.get(dom as object);
}

/**
 * The phone's screen brightness (0-1): wx.setScreenBrightness and wx.getScreenBrightness (base 1.2.0,
 * plugins 1.9.6) act on it, and refuse a value outside 0-1. Nothing restores it by itself.
 */
export const display = { brightness: 0.4, changes: [] as number[] };

type AsyncOptions = { success?: (res: any) => void; fail?: (res: any) => void; complete?: (res: any) => void };
function answer(options: AsyncOptions, ok: boolean, res: Record<string, unknown>): void {
  setTimeout(() => {
    (ok ? options.success : options.fail)?.(res);
    options.complete?.(res);
  }, 0);
}
// Installed before miniprogram-simulate loads (simulator.ts), which keeps a global wx's members over its mocks.
const globals = globalThis as unknown as { wx?: Record<string, unknown> };
globals.wx = Object.assign(globals.wx ?? {}, {
  setScreenBrightness(options: AsyncOptions & { value?: unknown }) {
    const { value } = options;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
      answer(options, false, { errMsg: 'setScreenBrightness:fail invalid value' });
      return;
    }
    display.brightness = value;
    display.changes.push(value);
    answer(options, true, { errMsg: 'setScreenBrightness:ok' });
  },
  getScreenBrightness(options: AsyncOptions) {
    answer(options, true, { errMsg: 'getScreenBrightness:ok', value: display.brightness });
  },
});
