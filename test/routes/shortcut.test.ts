// GET routes without parameters (the member's card above all) skip @koa/router's per-request
// matching (routes/shortcut.ts). The shortcut must run what the router runs and leave on the
// context what the router leaves, and hand everything else to the router.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { routesWithShortcut } from '../../src/routes/shortcut.js';
import { call, listen } from '../support/http.js';
import { startHarness, type Harness } from '../support/harness.js';

/** What a host sees on the context after our routes ran, and the answer. */
interface Seen {
  status: number;
  text: string;
  allow: string | null;
  context: Record<string, unknown>;
}

function build() {
  const router = new Router({ prefix: '/p' });
  const order: string[] = [];
  router.use(async (ctx, next) => {
    order.push(`use:${String(ctx._matchedRoute)}`);
    await next();
  });
  router.get('card', '/', (ctx) => {
    order.push('card');
    ctx.body = { route: ctx._matchedRoute, routerPath: ctx.routerPath, params: ctx.params };
  });
  router.put('/', (ctx) => {
    ctx.body = { put: true };
  });
  router.get('/code', (ctx) => {
    ctx.body = { code: true };
  });
  router.get('/cards/:code', (ctx) => {
    ctx.body = { code: ctx.params.code };
  });
  let matches = 0;
  const match = router.match.bind(router);
  router.match = (path, method) => {
    matches += 1;
    return match(path, method);
  };
  return { router, order, matches: () => matches };
}

async function serve(routes: (router: Router) => unknown) {
  const built = build();
  const app = new Koa();
  const seen: Array<Record<string, unknown>> = [];
  app.use(async (ctx: Context, next) => {
    await next();
    const c = ctx as Context & Record<string, unknown>;
    seen.push({
      matched: (c.matched as Array<{ path: unknown }> | undefined)?.map((l) => l.path),
      _matchedRoute: c._matchedRoute,
      _matchedRouteName: c._matchedRouteName,
      routerPath: c.routerPath,
      routerName: c.routerName,
      routeMatched: c.routeMatched,
      captures: c.captures,
      params: ctx.params,
      router: c.router === built.router,
    });
  });
  app.use(routes(built.router) as Koa.Middleware).use(built.router.allowedMethods() as Koa.Middleware);
  const server = await listen(app.callback());
  const ask = async (method: string, path: string): Promise<Seen> => {
    const reply = await call(method, `${server.url}${path}`);
    return { status: reply.status, text: reply.text, allow: reply.headers.get('allow'), context: seen.at(-1) ?? {} };
  };
  return { ...built, server, ask };
}

describe('the shortcut for GET routes without parameters', () => {
  let plain: Awaited<ReturnType<typeof serve>>;
  let short: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    plain = await serve((router) => router.routes());
    short = await serve((router) => routesWithShortcut(router));
  });
  after(async () => {
    await plain?.server.close();
    await short?.server.close();
  });

  test('answers and context as the router leaves them, for every kind of request', async () => {
    const requests: Array<[string, string]> = [
      ['GET', '/p'],
      ['GET', '/p/'],
      ['GET', '/p/code'],
      ['GET', '/p/code/'],
      ['GET', '/P'],
      ['HEAD', '/p'],
      ['PUT', '/p'],
      ['POST', '/p'],
      ['GET', '/p/cards/abc'],
      ['GET', '/p/nope'],
      ['GET', '/elsewhere'],
      ['GET', '/p?x=1'],
    ];
    for (const [method, path] of requests) {
      const [a, b] = [await plain.ask(method, path), await short.ask(method, path)];
      assert.deepEqual(b, a, `${method} ${path}`);
    }
    assert.deepEqual(short.order, plain.order, 'the router-level middleware ran as often, in order');
  });

  test('the router matches nothing for them; everything else still goes through it', async () => {
    const before = short.matches();
    await short.ask('GET', '/p');
    await short.ask('GET', '/p/');
    await short.ask('GET', '/p/code');
    // Built on the first request: the router's own match, once per path and its slash variant.
    const built = short.matches() - before;
    await short.ask('GET', '/p');
    await short.ask('GET', '/p/code');
    assert.equal(short.matches() - before, built, 'no match for a shortcut path');
    await short.ask('GET', '/p/cards/abc');
    await short.ask('HEAD', '/p');
    assert.equal(short.matches() - before, built + 2, 'a parameter or another method: the router');
  });
});

describe("memberCard()'s routes take the shortcut for the member's card", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  test('GET {prefix}/ answers without the router matching; the route template is still the route', async () => {
    const user = await h.sandbox.newUser();
    const given = await h.giveCard(user, { balance: 12 });
    const token = await h.login(user);
    await h.api('GET', h.prefix, { token }); // builds the shortcut
    let matches = 0;
    const match = h.cards.router.match.bind(h.cards.router);
    h.cards.router.match = (path, method) => {
      matches += 1;
      return match(path, method);
    };
    try {
      const reply = await h.api('GET', h.prefix, { token });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.card.code, given.code);
      assert.equal(matches, 0);
      const history = await h.api('GET', `${h.prefix}/history`, { token });
      assert.equal(history.status, 200, history.text);
      const head = await h.api('HEAD', h.prefix, { token });
      assert.equal(head.status, 200);
      assert.equal(matches, 1, 'HEAD goes through the router');
    } finally {
      h.cards.router.match = match;
    }
    const metrics = await h.cards.metrics.metrics();
    assert.match(metrics, /membercard_http_requests_total\{method="GET",route="\/",status="200"\} [1-9]/);
  });
});
