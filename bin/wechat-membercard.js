#!/usr/bin/env node
// The command line: `wechat-membercard serve | sandbox`. Each command loads only its own entry point
// of this package (koa-wechat-membercard/server or /sandbox, through Node's package self-reference),
// so the sandbox never loads Koa and serve loads only the store engine it is configured for.
const USAGE = `Usage:
  wechat-membercard serve              the member-card back end (configured by environment variables; see README)
  wechat-membercard sandbox [--port 3100] [--host 127.0.0.1] [--state DIR] [--certificate] [--retry-factor F]
                                       a local WeChat Pay APIv3 sandbox`;

const [command, ...rest] = process.argv.slice(2);

async function main() {
  switch (command) {
    case 'serve':
      return (await import('koa-wechat-membercard/server')).runServeCommand(rest);
    case 'sandbox':
      return (await import('koa-wechat-membercard/sandbox')).runSandboxCommand(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new Error(`unknown command "${command}"\n${USAGE}`);
  }
}

main().catch((err) => {
  // Options errors and start-up failures carry a message meant for people; nothing else is printed.
  console.error(`wechat-membercard: ${err && err.message ? err.message : String(err)}`);
  process.exit(1);
});
