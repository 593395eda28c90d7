// Test bed for the mini-program side, in Node: the components compiled from TypeScript
// (compile.ts), WeChat's runtime rules (wechat.ts: each package its own wx, domain lists, page
// permission, taps, requirePlugin), jsdom globals for miniprogram-simulate, and what a test does with
// a rendered component (mount, read, tap, wait). Only wx APIs that cannot run outside WeChat
// (wx.navigateToMiniProgram's jump, wx.login) are recording stubs in the tests.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { compiledMiniprogram } from './compile.js';
import {
  declarePlugin,
  duringTap,
  installCanvasNodes,
  registerPackage,
  requirePlugin,
  screen,
  type Side,
} from './wechat.js';

const require = createRequire(import.meta.url);

/**
 * The mini-program as WeChat loads it: JavaScript compiled from the .ts, with the .json, .wxml
 * and .wxss beside it. Loading from there (not from the sources) also keeps tsx out of the way:
 * under tsx, a require of `x.js` resolves to `x.ts` whenever that exists.
 */
export const MINIPROGRAM = compiledMiniprogram();
export const PLUGIN = join(MINIPROGRAM, 'plugin');
export const MEMBER_CARD = join(PLUGIN, 'components/member-card/member-card');
export const MY_CARD_PAGE = join(PLUGIN, 'pages/my-card/my-card');

/** The alias the demo's app.json gives the plugin (`plugins.memberCard`). */
export const PLUGIN_ALIAS = Object.keys(
  (JSON.parse(readFileSync(join(MINIPROGRAM, 'app.json'), 'utf8')) as { plugins: Record<string, unknown> }).plugins,
)[0] as string;

registerPackage(MINIPROGRAM, 'host');
declarePlugin(PLUGIN_ALIAS, PLUGIN);

// ---------------------------------------------------------------- jsdom + miniprogram-simulate

/** The few DOM members used here (the root tsconfig has no DOM lib; jsdom ships no types). */
export interface DomNode {
  textContent: string | null;
  innerHTML: string;
  outerHTML: string;
  appendChild(child: DomNode): DomNode;
}
interface DomWindow {
  document: { body: DomNode; head: DomNode; createElement(tag: string): DomNode };
  [name: string]: unknown;
}
const { JSDOM } = require('jsdom') as {
  JSDOM: new (html: string, options: Record<string, unknown>) => { window: DomWindow };
};

const jsdom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
  pretendToBeVisual: true,
  url: 'https://servicewechat.com/',
});
export const document = jsdom.window.document;
const g = globalThis as unknown as Record<string, unknown>;
g.window = jsdom.window;
g.document = jsdom.window.document;
// What j-component / miniprogram-exparser reach for as bare globals. CustomEvent must be jsdom's
// even though Node 20 has its own: j-component dispatches `new CustomEvent('tap')` on jsdom nodes.
for (const name of [
  'Node',
  'Element',
  'HTMLElement',
  'MutationObserver',
  'getComputedStyle',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'TouchEvent',
]) {
  if (!(name in g) && name in jsdom.window) g[name] = jsdom.window[name];
}
g.CustomEvent = jsdom.window.CustomEvent;

/** A rendered component as j-component gives it (only what these tests use). */
export interface Rendered {
  dom: DomNode;
  data: Record<string, any>;
  instance: Record<string, any>;
  querySelector(selector: string): Rendered | undefined;
  querySelectorAll(selector: string): Rendered[];
  dispatchEvent(name: string, options?: Record<string, unknown>): void;
  triggerPageLifeTime(name: string, ...args: unknown[]): void;
  attach(parent: DomNode): void;
  detach(): void;
  toJSON(): JsonNode;
}

export interface JsonNode {
  tagName: string;
  attrs: { name: string; value: unknown }[];
  children: (JsonNode | string)[];
}

interface Simulate {
  load(path: string | Record<string, unknown>, tagName?: string | Record<string, unknown>, options?: object): string;
  render(id: string, props?: Record<string, unknown>): Rendered;
  sleep(ms: number): Promise<void>;
}

// Loaded after the globals exist: it registers Component/Behavior and global.wx at require time.
export const simulate = require('miniprogram-simulate') as Simulate;
installCanvasNodes();
const exparser = require('miniprogram-exparser') as {
  Event: {
    create(name: string, detail: object, options: object): unknown;
    dispatchEvent(el: unknown, e: unknown): void;
  };
};

/**
 * The global wx: miniprogram-simulate's mock, where tests install stand-ins for what cannot run
 * outside WeChat. Mini-program code never sees it: each package gets its side's wx (wechat.ts).
 */
export const wx = g.wx as Record<string, any>;
wx.request = () => {
  throw new Error('wx.request from outside a registered mini-program package (see wechat.ts registerPackage)');
};

/** The plugin's `main`, as `requirePlugin('memberCard')` hands it to a host. */
export interface PluginMain {
  configure(config: {
    baseUrl: string;
    getToken?: () => string | null | undefined | Promise<string | null | undefined>;
    request?: (options: any) => Promise<{ statusCode: number; data: unknown; header?: Record<string, string> }>;
    onUnauthenticated?: () => void;
    timeout?: number;
    confirmWindowMs?: number;
  }): unknown;
  getConfig(): ({ baseUrl: string } & Record<string, unknown>) | null;
  refresh(): number;
}
export const plugin = requirePlugin(PLUGIN_ALIAS) as unknown as PluginMain;

/** Renders a component (or page) and attaches it to a page-like parent so its lifetimes run. */
export function mount(path: string, options?: Record<string, unknown>, properties?: Record<string, unknown>): Rendered {
  return attach(simulate.render(simulate.load(path, options), properties));
}

function attach(component: Rendered): Rendered {
  const parent = jsdom.window.document.createElement('parent-wrapper');
  jsdom.window.document.body.appendChild(parent);
  component.attach(parent);
  return component;
}

/** Puts a page on screen: whose page it is decides what WeChat lets each side do. */
export function mountPage(side: Side, path: string, options?: Record<string, unknown>): Rendered {
  screen.page = side;
  return mount(path, options);
}

/** Puts a page built from a definition (template, usingComponents ids, methods …) on screen. */
export function mountDefinedPage(side: Side, definition: Record<string, unknown>): Rendered {
  screen.page = side;
  return attach(simulate.render(simulate.load(definition)));
}

/** The text a user reads inside the first element matching `selector` ('' when absent). */
export function text(component: Rendered, selector: string): string {
  return component.querySelector(selector)?.dom.textContent?.trim() ?? '';
}

/** An attribute as written in the WXML (e.g. an <image>'s src), from j-component's JSON tree. */
export function attr(component: Rendered, selector: string, name: string): unknown {
  const node = component.querySelector(selector);
  if (!node) return undefined;
  return node.toJSON().attrs.find((a) => a.name === name)?.value;
}

/**
 * A user's tap: the handlers run synchronously inside the gesture, as in WeChat (j-component's own
 * dispatchEvent defers them to a microtask, which would put them outside any gesture).
 */
export function tap(component: Rendered, selector: string): void {
  const node = component.querySelector(selector);
  if (!node) throw new Error(`nothing to tap: ${selector}`);
  const element = (node.dom as unknown as { __wxElement?: unknown }).__wxElement;
  if (!element) throw new Error(`not a mini-program element: ${selector}`);
  const event = exparser.Event.create(
    'tap',
    {},
    { bubbles: true, composed: true, capturePhase: true, extraFields: { touches: {}, changedTouches: {} } },
  );
  duringTap(() => exparser.Event.dispatchEvent(element, event));
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : JSON.stringify(err);
}

/** Polls until `check` returns a truthy value (rendering and HTTP are asynchronous). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 8000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${reason(last)}` : ''}`);
    await simulate.sleep(15);
  }
}
