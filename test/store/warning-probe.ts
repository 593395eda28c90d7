// A separate process for the warning tests; its stderr is what a host's log would get.
//   store: opens a SQLite store on this Node's default driver (node:sqlite prints an
//     ExperimentalWarning on Node 22 when it loads), then emits a warning of the host's own;
//   filter: calls withoutWarning() around warnings that must and must not be dropped.
import { withoutWarning } from '../../src/store/mute-warning.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const SQLITE = 'SQLite is an experimental feature and might change at any time';

if (process.argv[2] === 'store') {
  const store = new SqliteStore({ filename: ':memory:' });
  await store.init();
  await store.ping();
  process.stdout.write(String(store.driver));
  await store.close();
  process.emitWarning('the host says hello', 'ExperimentalWarning');
} else {
  withoutWarning('ExperimentalWarning', /^SQLite is an experimental feature/, () => {
    process.emitWarning(SQLITE, 'ExperimentalWarning'); // dropped
    process.emitWarning(`kept 1: ${SQLITE}`, 'ExperimentalWarning'); // another message
    process.emitWarning(SQLITE, 'DeprecationWarning'); // another type
    process.emitWarning(SQLITE, { type: 'ExperimentalWarning' }); // dropped: the options form
    process.emitWarning('kept 2: something else entirely');
  });
  process.emitWarning(SQLITE, 'ExperimentalWarning'); // after the call: kept
}
