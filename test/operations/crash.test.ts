// A process killed (SIGKILL) after WeChat Pay applied its PATCH but before it recorded the answer
// does not double-apply when the same requestId is retried after a restart.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { createStore } from '../../src/store/index.js';
import { waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { freshStore, unavailable } from '../support/services.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

interface Running {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the line that has this key. */
  line(key: string): Promise<Record<string, unknown>>;
}

function run(config: unknown): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  const waiters: (() => void)[] = [];
  const exited = once(child, 'exit');
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffer.slice(0, i)) as Record<string, unknown>);
      buffer = buffer.slice(i + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  return {
    child,
    lines,
    line: async (key) => {
      for (;;) {
        const found = lines.find((l) => key in l);
        if (found) return found;
        if (child.exitCode !== null)
          throw new Error(`child exited (${child.exitCode}) without "${key}": ${JSON.stringify(lines)}`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), exited, new Promise((r) => setTimeout(r, 200))]);
      }
    },
  };
}

for (const engine of ['sqlite', 'postgres'] as const) {
  const skip = await unavailable(engine, `crash on ${engine}`);
  describe(`crash between sending and recording, on ${engine}`, { skip: skip ?? false }, () => {
    const store = freshStore(engine, 'ops');
    let world: TestSandbox;
    const children: ChildProcess[] = [];
    before(async () => {
      world = await TestSandbox.start();
    });
    afterEach(async () => {
      await world.clearFaults();
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
    after(async () => {
      await world?.close();
      await store.cleanup();
    });

    const config = (op: { kind: 'balance' | 'points'; code: string; amount: number; requestId: string }) => {
      const options = world.cardOptions(store.url);
      return {
        options: {
          ...options,
          log: undefined,
          wechatpay: { ...options.wechatpay, timeout: 20_000, retries: 0 },
          operations: { lockTtlMs: 1000, lockWaitMs: 15_000 },
        },
        op,
      };
    };

    for (const kind of ['balance', 'points'] as const) {
      it(
        `${kind}: killed while the applied PATCH's answer is in flight; ` +
          `the retry after restart applies nothing more`,
        async () => {
          const field = kind === 'balance' ? 'balance' : 'bonus_value';
          const { code } = await world.personWithCard({ [field]: 1000 });
          const requestId = `crash-${kind}-${Date.now()}`;
          const base = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}`;
          // Points: only PATCH …/rights is slow. Balance: the GET shares the PATCH's path, so both are
          // held a little; the sandbox applies the PATCH first, then holds its answer.
          await world.fault(
            kind === 'points'
              ? { latency_ms: 30_000, path: `${base}/rights` }
              : { latency_ms: 1500, times: 2, path: base },
          );

          const first = run(config({ kind, code, amount: -250, requestId }));
          children.push(first.child);
          await first.line('ready');
          // Applied upstream: the answer is being held, so the child cannot have recorded it.
          await waitFor(
            'the sandbox to apply the PATCH',
            15_000,
            async () => (await world.card(code))[field] === 750,
            10,
          );
          first.child.kill('SIGKILL');
          await once(first.child, 'exit');
          assert.equal(first.lines.length, 1, 'the child printed no outcome');

          // What the dead process left: a pending entry with the numbers it sent.
          const journal = createStore(store.url);
          try {
            const left = await journal.getOperation(world.credentials.cardId, requestId);
            assert.deepEqual([left?.state, left?.before, left?.after], ['pending', 1000, 750]);
          } finally {
            await journal.close();
          }
          await world.clearFaults();

          // Restart: a new process retries the same requestId. It waits out the dead holder's lease,
          // re-sends the same PATCH (same out_request_no, same numbers): 204, nothing changes.
          const second = run(config({ kind, code, amount: -250, requestId }));
          children.push(second.child);
          const outcome = await second.line('ok').catch(async (err) => {
            throw new Error(`${(err as Error).message}; lines: ${JSON.stringify(second.lines)}`);
          });
          const op = outcome['ok'] as { state: string; before: number; after: number };
          assert.deepEqual([op.state, op.before, op.after], ['applied', 1000, 750]);
          assert.equal((await world.card(code))[field], 750, 'applied exactly once');
          const sent = (await world.requests(code)).filter((r) => r.method === 'PATCH');
          assert.equal(sent.at(-1)?.status, 204, 'the re-sent PATCH was answered as a replay');
          const applied = (await world.card(code)).applied[kind === 'balance' ? 'card' : 'rights'];
          assert.equal(applied.length, 1);
        },
      );
    }
  });
}
