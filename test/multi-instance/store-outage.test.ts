// The store goes away under a running `serve` (PostgreSQL, then Redis), for real: a TCP proxy
// between serve and the server drops every connection and closes its port (or keeps the
// connections open and silent), and later passes traffic again on the same port. The machine's
// PostgreSQL / Redis keep running for everyone else.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type Reply } from '../support/http.js';
import { sleep, waitFor } from '../support/poll.js';
import { CuttableProxy } from '../support/proxy.js';
import type { SandboxUser, TestSandbox } from '../support/sandbox.js';
import { deliver, Deployment, type NotifyBalancer, type ServeProcess } from '../support/serve.js';
import { serverAddress, unavailable, type ServerEngine } from '../support/services.js';

/** Longest a request may take while the store is cut (the port refuses at once). */
const CUT_BOUND_MS = 4000;
/**
 * Longest a request may take while the store is silent: the store's own timeouts (PostgreSQL
 * 3 s connect / 4 s statement + 1 s; Redis 5 s per command) plus slack for a loaded machine.
 */
const SILENT_BOUND_MS = 8000;

function assertUnavailable(reply: Reply, boundMs: number, what: string): void {
  assert.equal(reply.status, 503, `${what}: ${reply.status} ${reply.text}`);
  assert.equal(reply.body?.code, 'STORE_UNAVAILABLE', `${what}: ${reply.text}`);
  assert.ok(reply.ms < boundMs, `${what} answered after ${reply.ms} ms, expected < ${boundMs} ms`);
}

const engines: ServerEngine[] = ['postgres', 'redis'];

for (const engine of engines) {
  const skip = await unavailable(engine, `store outage on ${engine}`);

  describe(`serve on ${engine} while the store goes away and comes back`, { skip: skip ?? false }, () => {
    let deployment: Deployment;
    let wechat: TestSandbox;
    let balancer: NotifyBalancer;
    let proxy: CuttableProxy;
    let serve: ServeProcess;
    let user: SandboxUser;
    let token: string;
    let code: string;

    before(async () => {
      deployment = await Deployment.start(engine);
      ({ wechat, balancer } = deployment);
      // The member-card schedule (11 deliveries 60 s apart: 0.6 s at this retryFactor) ends before
      // this outage does; this test is about a store that comes back while WeChat Pay still retries,
      // so it takes the longer payment schedule. An outage longer than WeChat Pay's window is the
      // merchant bind's case (test/conformance/lost-notifications.test.ts).
      await wechat.control('PUT', 'behaviour', { retrySchedule: 'payment' });
      proxy = new CuttableProxy(serverAddress(engine));
      await proxy.start();
      serve = await deployment.serve(deployment.store.via(proxy.port));
      balancer.route = serve.url;
      user = await wechat.newUser();
      token = await wechat.login(`${serve.url}/api/login`, user);
      const given = await wechat.giveCard(user);
      await wechat.waitDelivered(given.notification_id);
      code = given.code;
    });

    /** Polls /readyz until `instance` answers 200: it recovered by itself, without a restart. */
    const readyAgain = (withinMs: number, instance = serve) =>
      waitFor(
        '/readyz to answer 200 again',
        withinMs,
        async () => (await call('GET', `${instance.url}/readyz`)).status === 200,
        200,
      );
    const outageLines = () => serve.logs.filter((l) => /^store (unavailable|available again)$/.test(l.message));

    after(async () => {
      await deployment?.close();
      await proxy?.cut();
    });

    it(
      'cut: 503 STORE_UNAVAILABLE at once, /notify 5xx so WeChat Pay retries, ' + 'and nothing is lost once it is back',
      async () => {
        assert.equal((await call('GET', `${serve.url}/readyz`)).status, 200);
        assert.equal((await call('GET', `${serve.url}/api/member-card`, { token })).status, 200);
        const linesBefore = outageLines().length;
        // A session this instance has not read yet: its requests need the store. (The first token
        // was just read, so this instance may serve it from its caches for up to their TTL.)
        const unread = await wechat.login(`${serve.url}/api/login`, user);

        await proxy.cut();
        const cutAt = Date.now();
        const ready = await call('GET', `${serve.url}/readyz`);
        assert.equal(ready.status, 503, ready.text);
        assert.equal(ready.body.code, 'STORE_UNAVAILABLE');
        assert.ok(ready.ms < CUT_BOUND_MS, `/readyz took ${ready.ms} ms`);
        // Alive all the same: a supervisor must not restart an instance because its store is away.
        assert.deepEqual((await call('GET', `${serve.url}/healthz`)).body, { status: 'ok' });
        assertUnavailable(
          await call('GET', `${serve.url}/api/member-card`, { token: unread }),
          CUT_BOUND_MS,
          'GET /api/member-card',
        );
        assertUnavailable(
          await call('GET', `${serve.url}/api/member-card/open`, { token }),
          CUT_BOUND_MS,
          'GET /api/member-card/open',
        );
        const newcomer = await wechat.newUser();
        const login = await call('POST', `${serve.url}/api/login`, {
          body: { code: await wechat.loginCode(newcomer) },
        });
        assertUnavailable(login, CUT_BOUND_MS, 'POST /api/login');
        assert.match(login.text, /^\{.*\}$/s, 'a JSON error, never a stack');

        // WeChat Pay sends the newcomer's card while the store is down: refused with 5xx, retried.
        const given = await wechat.giveCard(newcomer, { balance: 77 });
        const refused = await waitFor('two refused attempts', 10_000, async () => {
          const n = await wechat.notification(given.notification_id);
          return n && n.attempts >= 2 ? n : undefined;
        });
        assert.equal(refused.delivered, false);
        assert.ok((refused.last_status ?? 0) >= 500, `answered ${refused.last_status} during the outage`);
        assert.ok(
          balancer.forwarded.filter((f) => f.id === given.notification_id).every((f) => f.status >= 500),
          'every attempt during the outage answered 5xx',
        );
        assert.ok(serve.alive, 'serve is still running');
        await sleep(Math.max(0, 1500 - (Date.now() - cutAt))); // an outage of a moment, not an instant

        // The server is back on the same address: serve recovers without a restart.
        await proxy.start();
        await readyAgain(10_000);
        const delivered = await wechat.waitDelivered(given.notification_id, 15_000);
        assert.ok(delivered.attempts > 2, `delivered by a retry (attempt ${delivered.attempts})`);

        const newToken = await wechat.login(`${serve.url}/api/login`, newcomer);
        const theirs = await call('GET', `${serve.url}/api/member-card`, { token: newToken });
        assert.equal(theirs.status, 200, `the notification refused during the outage was applied: ${theirs.text}`);
        assert.equal(theirs.body.card.code, given.code);
        assert.equal(theirs.body.card.balance, 77);
        const mine = await call('GET', `${serve.url}/api/member-card`, { token });
        assert.equal(mine.status, 200, mine.text);
        assert.equal(mine.body.card.code, code);
        assert.ok(serve.alive);
        // Dozens of requests failed during the outage: it was told once when it began, once when it ended.
        assert.deepEqual(
          outageLines()
            .slice(linesBefore)
            .map((l) => [l.level, l.message, l.engine]),
          [
            ['error', 'store unavailable', engine],
            ['warn', 'store available again', engine],
          ],
        );
      },
    );

    it(
      'silent: a store that stops answering gives 503 / 5xx within its timeouts, ' + 'never a hang, then recovers',
      async () => {
        const newcomer = await wechat.newUser();
        balancer.route = 'capture';
        const given = await wechat.giveCard(newcomer);
        const notification = await balancer.take(given.notification_id);
        const unread = await wechat.login(`${serve.url}/api/login`, user);

        proxy.freeze();
        // All at once, as they would arrive.
        const [health, mine, notify] = await Promise.all([
          call('GET', `${serve.url}/readyz`),
          call('GET', `${serve.url}/api/member-card`, { token: unread }),
          (async () => {
            const started = Date.now();
            const status = await deliver(`${serve.url}/api/member-card/notify`, notification);
            return { status, ms: Date.now() - started };
          })(),
        ]);
        assert.equal(health.status, 503, health.text);
        assert.ok(health.ms < SILENT_BOUND_MS, `/readyz took ${health.ms} ms`);
        assertUnavailable(mine, SILENT_BOUND_MS, 'GET /api/member-card');
        assert.ok(notify.status >= 500, `/notify answered ${notify.status}`);
        assert.ok(notify.ms < SILENT_BOUND_MS, `/notify took ${notify.ms} ms`);
        assert.ok(serve.alive);

        // The silent connections are dropped and the server answers again.
        await proxy.cut();
        await proxy.start();
        await readyAgain(15_000);
        // WeChat Pay's redelivery of the refused notification is applied now.
        assert.equal(await deliver(`${serve.url}/api/member-card/notify`, notification), 204);
        const theirs = await call('GET', `${serve.url}/api/member-card`, {
          token: await wechat.login(`${serve.url}/api/login`, newcomer),
        });
        assert.equal(theirs.status, 200, theirs.text);
        assert.equal(theirs.body.card.code, given.code);
        assert.equal((await call('GET', `${serve.url}/api/member-card`, { token })).status, 200);
      },
    );

    it('starts while its store is down: alive, not ready, then ready without a restart', async () => {
      const late = new CuttableProxy(serverAddress(engine));
      await late.start();
      await late.cut(); // the port is known, nothing listens on it
      const second = await deployment.serve(deployment.store.via(late.port));
      try {
        assert.equal((await call('GET', `${second.url}/healthz`)).status, 200);
        const ready = await call('GET', `${second.url}/readyz`);
        assert.equal(ready.status, 503, ready.text);
        assert.equal(ready.body.code, 'STORE_UNAVAILABLE');
        assertUnavailable(await call('GET', `${second.url}/api/member-card`, { token }), CUT_BOUND_MS, 'card');
        await late.start();
        await readyAgain(15_000, second);
        const mine = await call('GET', `${second.url}/api/member-card`, { token });
        assert.equal(mine.status, 200, mine.text);
        assert.equal(mine.body.card.code, code);
        assert.deepEqual(
          second.logs.filter((l) => l.message === 'unexpected error'),
          [],
        );
      } finally {
        await second.stop();
        await late.cut();
      }
    });

    it('serve stayed up and logged no unexpected error', () => {
      assert.ok(serve.alive);
      assert.deepEqual(
        serve.logs.filter((l) => l.message === 'unexpected error'),
        [],
      );
    });
  });
}
