// A separate process, possibly on another Node (and so on the other SQLite driver), for the
// same-file test: opens FILE with the driver its Node gives by default, reads what the test wrote,
// writes its own, and prints what it saw as JSON.
import { SqliteStore } from '../../src/store/sqlite.js';
import { secondHalf } from './sqlite-file.js';

const [filename = ''] = process.argv.slice(2);
const store = new SqliteStore({ filename });
const seen = await secondHalf(store);
process.stdout.write(JSON.stringify({ ...seen, driver: store.driver, node: process.version }));
