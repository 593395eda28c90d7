// A separate process for the SQLite multi-process tests, on the given driver:
//   apply FILE DRIVER ID CARD: applies one notification id 20 times at once and prints how many
//     of its calls returned true;
//   hold FILE DRIVER MS: takes the write lock (BEGIN IMMEDIATE), prints "locked", holds it MS ms.
import { loadSqlite } from '../../src/store/drivers.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { isSqliteDriver } from '../../src/store/sqlite-driver.js';

const [mode = '', filename = '', driver = '', ...rest] = process.argv.slice(2);
if (!isSqliteDriver(driver)) throw new Error(`not a driver: ${driver}`);

if (mode === 'hold') {
  const db = (await loadSqlite(driver)).open(filename, 5000);
  db.exec('BEGIN IMMEDIATE');
  process.stdout.write('locked\n');
  // Blocks this process, as a long transaction would.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(rest[0]));
  db.exec('COMMIT');
  db.close();
} else {
  const [id = '', cardId = ''] = rest;
  const store = new SqliteStore({ filename, driver });
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
}
