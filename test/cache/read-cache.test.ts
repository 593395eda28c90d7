// Unit tests of the per-instance read cache: pure logic, no servers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReadCache } from '../../src/cache/read-cache.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A load whose answer the test releases by hand, counting how often it ran. */
function gate<V>() {
  let calls = 0;
  const waiting: Array<(value: V) => void> = [];
  const load = () => {
    calls += 1;
    return new Promise<V>((resolve) => waiting.push(resolve));
  };
  return { load, calls: () => calls, release: (value: V) => waiting.shift()?.(value) };
}

describe('ReadCache', () => {
  test('keeps a loaded value for ttl ms, then loads again', async () => {
    const cache = new ReadCache<number>({ ttl: 40, max: 10 });
    let n = 0;
    const load = async () => ++n;
    assert.equal(await cache.get('a', load), 1);
    assert.equal(await cache.get('a', load), 1);
    assert.equal(cache.peek('a'), 1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(cache.peek('a'), undefined, 'expired');
    assert.equal(await cache.get('a', load), 2);
  });

  test('concurrent reads of one key share a single load', async () => {
    const cache = new ReadCache<string>({ ttl: 1000, max: 10 });
    const g = gate<string>();
    const reads = [cache.get('k', g.load), cache.get('k', g.load), cache.get('k', g.load)];
    await tick();
    assert.equal(g.calls(), 1);
    g.release('v');
    assert.deepEqual(await Promise.all(reads), ['v', 'v', 'v']);
  });

  test('invalidate() during a load: the answer reaches its callers but is not kept', async () => {
    const cache = new ReadCache<string>({ ttl: 1000, max: 10 });
    const g = gate<string>();
    const read = cache.get('k', g.load);
    await tick();
    cache.invalidate('k');
    g.release('old');
    assert.equal(await read, 'old');
    assert.equal(cache.peek('k'), undefined, 'an answer from before the change is never kept');
    assert.equal(cache.size, 0);
  });

  test('invalidateWhere() drops matching entries and stops reads in flight from being kept', async () => {
    const cache = new ReadCache<{ code: string }>({ ttl: 1000, max: 10 });
    await cache.get('u1', async () => ({ code: 'A' }));
    await cache.get('u2', async () => ({ code: 'B' }));
    const g = gate<{ code: string }>();
    const inflight = cache.get('u3', g.load);
    await tick();
    cache.invalidateWhere((v) => v.code === 'A');
    g.release({ code: 'C' });
    await inflight;
    assert.equal(cache.peek('u1'), undefined);
    assert.deepEqual(cache.peek('u2'), { code: 'B' });
    assert.equal(cache.peek('u3'), undefined);
  });

  test('a failed load is not kept and does not block the next read', async () => {
    const cache = new ReadCache<number>({ ttl: 1000, max: 10 });
    await assert.rejects(
      cache.get('k', async () => {
        throw new Error('upstream down');
      }),
      /upstream down/,
    );
    assert.equal(await cache.get('k', async () => 7), 7);
  });

  test('keep() decides what is kept: "no value yet" is answered but not remembered', async () => {
    const cache = new ReadCache<number | undefined>({ ttl: 1000, max: 10 });
    const keep = (v: number | undefined) => v !== undefined;
    assert.equal(await cache.get('k', async () => undefined, keep), undefined);
    assert.equal(cache.size, 0);
    assert.equal(await cache.get('k', async () => 3, keep), 3);
    assert.equal(cache.size, 1);
  });

  test('bounded: beyond max, the least recently read entry goes first', async () => {
    const cache = new ReadCache<string>({ ttl: 1000, max: 2 });
    await cache.get('a', async () => 'A');
    await cache.get('b', async () => 'B');
    cache.peek('a'); // a is now the most recently read
    await cache.get('c', async () => 'C');
    assert.equal(cache.size, 2);
    assert.equal(cache.peek('b'), undefined, 'b was the least recently read');
    assert.equal(cache.peek('a'), 'A');
    assert.equal(cache.peek('c'), 'C');
  });
});
