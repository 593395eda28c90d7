#!/usr/bin/env node
// The command line: `wechat-membercard serve | sandbox`. The work is in src/cli.ts (built to dist/).
import { main } from '../dist/esm/cli.js';

main(process.argv.slice(2)).catch((err) => {
  // Options errors and start-up failures carry a message meant for people; nothing else is printed.
  console.error(`wechat-membercard: ${err && err.message ? err.message : String(err)}`);
  process.exit(1);
});
