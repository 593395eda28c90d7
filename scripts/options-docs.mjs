// Writes the README option and environment tables (both languages) from their declarations:
// `node --import tsx scripts/options-docs.mjs`. With --check it only says which README is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { READMES, readmeTables, withTables } from './readme/readme.ts';

const check = process.argv.includes('--check');
let stale = 0;
for (const [lang, file] of Object.entries(READMES)) {
  const text = readFileSync(file, 'utf8');
  const next = withTables(text, readmeTables(lang));
  if (next === text) continue;
  stale++;
  if (check) console.error(`${file}: option tables are stale; run node --import tsx scripts/options-docs.mjs`);
  else writeFileSync(file, next);
}
process.exit(check && stale ? 1 : 0);
