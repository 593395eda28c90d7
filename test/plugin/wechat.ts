// WeChat's runtime rules, as strict as WeChat, for mini-program code running in Node:
// - each package (the host mini-program, the plugin) sees its own `wx`, lexically, as WeChat's own
//   module wrapper gives it: a function the host passes to the plugin keeps the host's `wx`;
// - wx.request checks the caller's own request-domain list: the plugin's is not the host's;
// - wx.navigateToMiniProgram needs a tap in progress and page permission: plugin code only on a
//   plugin page, host code only on a host page;
// - wx.requestPayment is the host's only: "小程序插件: 不支持" (wx.requestPayment.html);
// - requirePlugin hands a host what the plugin's `main` exports and nothing else, and no package
//   can require another package's files.
// Sources: docs/plugin.md, "What WeChat enforces".
import Module, { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { readFileSync } from 'node:fs';

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
    requestPayment(options: Callbacks & Record<string, unknown>) {
      if (side === 'plugin') {
        // WeChat documents the refusal ("小程序插件: 不支持"), not its wording: this is ours.
        refuse({ api: 'requestPayment', side, errMsg: 'requestPayment:fail not supported in a plugin' }, options);
        return;
      }
      const pay = base().requestPayment as ((o: unknown) => void) | undefined;
      if (!pay) throw new Error('the test installs wx.requestPayment (WeChat Pay cannot run outside WeChat)');
      pay(options);
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
