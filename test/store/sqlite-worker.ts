// A separate process for the SQLite multi-process test: applies one notification id N times
// at once on the given file and prints how many of its calls returned true.
import { SqliteStore } from '../../src/store/sqlite.js';

const [filename = '', id = '', cardId = ''] = process.argv.slice(2);
const store = new SqliteStore({ filename });
await store.init();
const results = await Promise.all(
  Array.from({ length: 20 }, () =>
    store.applyNotification(
      { id, eventType: 'MEMBERCARD.ACCEPT_CARD', cardId, code: '1', receivedAt: Date.now() },
      { kind: 'bind', cardId, code: '1', unionid: `u-${process.pid}` },
    ),
  ),
);
await store.close();
process.stdout.write(String(results.filter(Boolean).length));
