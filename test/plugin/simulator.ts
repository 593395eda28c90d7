// Test bed for the mini-program side, in Node: the components compiled from TypeScript
// (compile.ts), jsdom globals for miniprogram-simulate, and what a test does with a rendered
// component (mount, read, tap, wait). Only wx APIs that cannot run outside WeChat
// (wx.navigateToMiniProgram, wx.login) are replaced, by recording stubs in the tests.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { compiledMiniprogram } from './compile.js';

const require = createRequire(import.meta.url);

/**
 * The mini-program as WeChat loads it: JavaScript compiled from the .ts, with the .json, .wxml
 * and .wxss beside it. Loading from there (not from the sources) also keeps tsx out of the way:
 * under tsx, a require of `x.js` resolves to `x.ts` whenever that exists.
 */
export const MINIPROGRAM = compiledMiniprogram();
export const PLUGIN = join(MINIPROGRAM, 'plugin');
export const MEMBER_CARD = join(PLUGIN, 'components/member-card/member-card');

// ---------------------------------------------------------------- jsdom + miniprogram-simulate

/** The few DOM members used here (the root tsconfig has no DOM lib; jsdom ships no types). */
export interface DomNode {
  textContent: string | null;
  innerHTML: string;
  appendChild(child: DomNode): DomNode;
}
interface DomWindow {
  document: { body: DomNode; createElement(tag: string): DomNode };
  [name: string]: unknown;
}
const { JSDOM } = require('jsdom') as {
  JSDOM: new (html: string, options: Record<string, unknown>) => { window: DomWindow };
};

const jsdom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
  pretendToBeVisual: true,
  url: 'https://servicewechat.com/',
});
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
  load(path: string, options?: Record<string, unknown>): string;
  render(id: string, props?: Record<string, unknown>): Rendered;
  sleep(ms: number): Promise<void>;
}

// Loaded after the globals exist: it registers Component/Behavior and global.wx at require time.
export const simulate = require('miniprogram-simulate') as Simulate;

/** Every wx.* API is miniprogram-simulate's mock unless a test replaces it. */
export const wx = g.wx as Record<string, any>;

/** The plugin's `main`, as `requirePlugin('memberCard')` hands it to a host. */
export interface PluginMain {
  configure(config: {
    baseUrl: string;
    getToken: () => string | null | undefined | Promise<string | null | undefined>;
    onUnauthenticated?: () => void;
    timeout?: number;
  }): unknown;
  getConfig(): { baseUrl: string } | null;
}
export const plugin = require(join(PLUGIN, 'index.js')) as PluginMain;

/** Renders a component and attaches it to a page-like parent so its lifetimes run. */
export function mount(path: string, options?: Record<string, unknown>): Rendered {
  const component = simulate.render(simulate.load(path, options));
  const parent = jsdom.window.document.createElement('parent-wrapper');
  jsdom.window.document.body.appendChild(parent);
  component.attach(parent);
  return component;
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

export function tap(component: Rendered, selector: string): void {
  const node = component.querySelector(selector);
  if (!node) throw new Error(`nothing to tap: ${selector}`);
  node.dispatchEvent('tap');
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
