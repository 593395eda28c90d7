// One SQLite file, written by one driver and then by the other: the halves of that test, so the
// second can run in this process or in another on a different Node.
import assert from 'node:assert/strict';
import type { SqliteStore } from '../../src/store/sqlite.js';

const notification = (id: string) => ({ id, eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() });

/** Writes a binding, a notification id and a session. */
export async function firstHalf(store: SqliteStore): Promise<void> {
  await store.init();
  try {
    const bind = { kind: 'bind', cardId: 'card', code: 'first', unionid: 'u-first' } as const;
    assert.equal(await store.applyNotification(notification('n-first'), bind), true);
    await store.putSession('token-first', { openid: 'o-first', expiresAt: Date.now() + 60_000 });
  } finally {
    await store.close();
  }
}

/** Reads what firstHalf() wrote and writes its own; returns what it read. */
export async function secondHalf(store: SqliteStore): Promise<{ unionid?: string; openid?: string; again: boolean }> {
  await store.init();
  try {
    const binding = await store.getBinding('card', 'first');
    const session = await store.getSession('token-first');
    const again = await store.applyNotification(notification('n-first'), { kind: 'none' });
    const bind = { kind: 'bind', cardId: 'card', code: 'second', unionid: 'u-second' } as const;
    assert.equal(await store.applyNotification(notification('n-second'), bind), true);
    return {
      ...(binding?.unionid ? { unionid: binding.unionid } : {}),
      ...(session ? { openid: session.openid } : {}),
      again,
    };
  } finally {
    await store.close();
  }
}

/** What the first driver then reads back of the second's write. */
export async function checkBack(store: SqliteStore): Promise<void> {
  await store.init();
  try {
    assert.equal((await store.getBinding('card', 'second'))?.unionid, 'u-second');
    assert.equal(await store.applyNotification(notification('n-second'), { kind: 'none' }), false);
  } finally {
    await store.close();
  }
}
