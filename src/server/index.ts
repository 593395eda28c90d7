/**
 * koa-wechat-membercard/server: the ready back end `wechat-membercard serve` runs (login kit,
 * member-card routes, health check), configured from the environment. Kept apart from the package
 * root so a host that mounts the middleware never loads Koa's application, the sandbox or a store
 * engine it does not use.
 */
export { startServer, walkthrough, type RunningServer, type DemoUser } from './serve.js';
export { ENV, type Env, type EnvName } from './config.js';
export { runServeCommand } from './command.js';
