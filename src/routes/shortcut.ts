import type Router from '@koa/router';
import compose from 'koa-compose';
import type { Context, Middleware, Next } from 'koa';

type Routes = ReturnType<Router['routes']>;
type Layer = Router['stack'][number];
/** The context fields @koa/router sets, which Koa's own types do not name. */
type Routed = Context & Record<string, unknown>;

/** What the router would run for one GET path, composed once. */
interface Prepared {
  run: (ctx: Context, next: Next) => Promise<unknown>;
  /** Every layer whose path matches, as the router lists them in ctx.matched. */
  matched: Layer[];
  /** The route's layer (the last one with methods): its path and name are the matched route's. */
  route: Layer;
}

/**
 * The router's middleware, with a shortcut for GET routes that take no parameters (the member's
 * card above all, most of our traffic). On each request @koa/router tests every layer and composes
 * a new chain; for these paths both are always the same, so the chain is composed once, from the
 * router's own layers, and run as the router runs it: each layer first sets the context's captures,
 * params, routerPath and _matchedRoute through the layer's own methods. Anything else (another
 * method, HEAD, a path that differs in case, a nested router's path) goes to the router. Built on
 * first use: every route is mounted by then.
 */
export function routesWithShortcut(router: Router): Routes {
  const dispatch = router.routes();
  let prepared: Map<string, Prepared> | undefined;

  const prepare = (): Map<string, Prepared> => {
    const paths = new Map<string, Prepared>();
    // Options under which the router chooses differently: no shortcut at all.
    if (router.opts.host || router.opts.exclusive || router.opts.routerPath) return paths;
    for (const layer of router.stack) {
      if (typeof layer.path !== 'string' || !layer.methods.includes('GET') || layer.paramNames.length > 0) continue;
      // The router answers a route with and without a trailing slash (strict: false).
      const base = layer.path.length > 1 && layer.path.endsWith('/') ? layer.path.slice(0, -1) : layer.path;
      for (const path of [base, `${base}/`]) {
        const { route, pathAndMethod, path: matched } = router.match(path, 'GET');
        // Only where the router would run exactly this: every matched layer free of parameters.
        if (!route || paths.has(path) || pathAndMethod.some((l) => l.paramNames.length > 0)) continue;
        const routeLayer = pathAndMethod.findLast((l) => l.methods.length > 0);
        if (!routeLayer) continue;
        const chain = pathAndMethod.flatMap((l) => [enter(l, path), ...(l.stack as Middleware[])]);
        paths.set(path, { run: compose(chain), matched, route: routeLayer });
      }
    }
    return paths;
  };

  const routes = function memberCardRoutes(ctx: Context, next: Next) {
    const c = ctx as Routed;
    const hit =
      ctx.method === 'GET' && c.newRouterPath === undefined ? (prepared ??= prepare()).get(ctx.path) : undefined;
    if (!hit) return dispatch(ctx as Parameters<Routes>[0], next) as Promise<unknown>;
    // What the router's dispatch sets before it runs the chain (a fresh ctx.matched: others push to it).
    if (Array.isArray(c.matched)) (c.matched as Layer[]).push(...hit.matched);
    else c.matched = [...hit.matched];
    c.router = router;
    c.routeMatched = true;
    c._matchedRoute = hit.route.path;
    if (hit.route.name) c._matchedRouteName = hit.route.name;
    return hit.run(ctx, next);
  } as Routes;
  routes.router = router;
  return routes;
}

/** What the router does on entering each matched layer, through the layer's own methods. */
function enter(layer: Layer, path: string): Middleware {
  return (ctx, next) => {
    const c = ctx as Routed;
    const captures = layer.captures(path);
    c.captures = captures;
    ctx.params = layer.params(path, captures, ctx.params as Record<string, string>);
    (ctx.request as { params?: unknown }).params = ctx.params;
    c.routerPath = layer.path;
    c.routerName = layer.name || undefined;
    c._matchedRoute = layer.path;
    if (layer.name) c._matchedRouteName = layer.name;
    return next();
  };
}
