// One server of the benchmark, in its own process: `node --import tsx bench/server.ts MODE`.
// MODE: module (cache from BENCH_CACHE_TTL, BENCH_COHERENT_TTL, BENCH_SWR) | handwritten | bare. Settings come from the
// environment (BENCH_CREDS: the sandbox credentials JSON; BENCH_STORE: the prepared store).
// It prints its URL as one JSON line and answers {"type":"memory"} IPC messages with its RSS.
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { Decorator } from 'wechatpay-axios-plugin';
// The package as built (dist/), as a merchant runs it: not the sources through tsx, whose
// transform adds work of its own to every function (keepNames).
import { createStore, memberCard, wechatLogin } from 'koa-wechat-membercard';
import { wechatpayOptions, type SandboxCredentials } from 'koa-wechat-membercard/sandbox';

const mode = process.argv[2];
const creds = JSON.parse(process.env.BENCH_CREDS ?? '{}') as SandboxCredentials;
const app = new Koa();
app.silent = true;

if (mode === 'module') {
  const store = createStore(process.env.BENCH_STORE ?? 'memory:');
  const cards = memberCard({
    cardId: creds.cardId,
    appid: creds.appid,
    wechatpay: wechatpayOptions(creds),
    store,
    cache: {
      ttl: Number(process.env.BENCH_CACHE_TTL ?? 0),
      // The scale bench (bench/scale.ts) sets these; unset, the defaults.
      ...(process.env.BENCH_COHERENT_TTL ? { coherentTtlMs: Number(process.env.BENCH_COHERENT_TTL) } : {}),
      ...(process.env.BENCH_SWR ? { staleWhileRevalidateMs: Number(process.env.BENCH_SWR) } : {}),
    },
    ...(process.env.BENCH_BACKGROUNDS
      ? { selfService: { backgrounds: process.env.BENCH_BACKGROUNDS.split(',') } }
      : {}),
    log: () => {},
    // The till's routes (POST /member-card/admin/codes/verify), for the member-code measures.
    ...(process.env.BENCH_ADMIN_TOKEN
      ? { authorizeAdmin: (ctx: Koa.Context) => ctx.get('x-admin-token') === process.env.BENCH_ADMIN_TOKEN }
      : {}),
    // The per-user limit is measured (a store write per code), not hit: each user gets 18 codes here.
    memberCode: { burst: 1000, perMinute: 6000 },
  });
  const login = wechatLogin({
    appid: creds.miniProgramAppid,
    secret: creds.miniProgramSecret,
    baseURL: creds.baseURL,
    store,
    log: () => {},
  });
  await cards.ready();
  app.use(login.middleware());
  app.use(cards.routes()).use(cards.allowedMethods());
} else if (mode === 'handwritten') {
  // What a developer writes instead: the same signed, verified upstream call, no identity, no store.
  const { readFileSync } = await import('node:fs');
  const wxpay = new Decorator({
    mchid: creds.mchid,
    serial: creds.serial,
    privateKey: readFileSync(creds.privateKey),
    certs: { [creds.publicKeyId as string]: readFileSync(creds.publicKey as string) },
    baseURL: creds.baseURL,
  } as never);
  const code = process.env.BENCH_CODE as string;
  const router = new Router();
  router.get('/member-card', async (ctx) => {
    const { data } = await (
      wxpay.v3 as unknown as { get(url: string): Promise<{ data: Record<string, unknown> }> }
    ).get(`v3/marketing/membercard-open/cards/${creds.cardId}/codes/${code}`);
    const { openid: _hidden, ...card } = data;
    ctx.body = { card };
  });
  app.use(router.routes());
} else if (mode === 'bare') {
  // The ceiling of the HTTP stack: the same answer our module gives, as a fixed body.
  const body = {
    card: {
      card_id: creds.cardId,
      code: '113241997269',
      membership_number: '113241997269',
      level: '金卡会员',
      nickname: '演示用户',
      head_image_url: 'https://thirdwx.qlogo.cn/mmopen/sandbox/GorXRFi6WighzNe7/132',
      background_picture_url: 'https://wxpaylogo.qpic.cn/sandbox/default.png',
      balance: 888,
      bonus_value: 0,
      user_card_status: 'EFFECTIVE',
      user_information: {
        common_field_list: [{ name: 'USER_FORM_FLAG_NAME', value: '演示用户' }],
        custom_field_list: [],
      },
    },
    editable: {},
  };
  // BENCH_BARE_BODY: the exact answer of the module for one member, answered as the string it is.
  const fixed = process.env.BENCH_BARE_BODY;
  app.use((ctx) => {
    if (fixed === undefined) ctx.body = body;
    else {
      ctx.type = 'application/json';
      ctx.body = fixed;
    }
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
// BENCH_SERVER_TIMES: each answer's time inside this process, from the request's arrival to the
// last byte handed to the socket: what the server adds, without the client's own delays.
const times: number[] = [];
if (process.env.BENCH_SERVER_TIMES) {
  server.on('request', (_req, res: import('node:http').ServerResponse) => {
    const arrived = performance.now();
    res.once('finish', () => times.push(performance.now() - arrived));
  });
}
process.on('message', (message: { type?: string }) => {
  if (message?.type === 'times') {
    process.send?.({ type: 'times', times: times.splice(0) });
    return;
  }
  if (message?.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ type: 'cpu', micros: user + system });
    return;
  }
  if (message?.type !== 'memory') return;
  (globalThis as { gc?: () => void }).gc?.();
  process.send?.({ type: 'memory', rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
