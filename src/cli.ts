import { OptionsError } from './errors.js';
import { runSandboxCommand } from './sandbox/cli.js';
import { startServer, walkthrough } from './server/serve.js';

const USAGE = `Usage:
  wechat-membercard serve              the member-card back end (configured by environment variables; see README)
  wechat-membercard sandbox [--port 3100] [--host 127.0.0.1] [--state DIR] [--certificate] [--retry-factor F]
                                       a local WeChat Pay APIv3 sandbox`;

async function serve(): Promise<void> {
  const running = await startServer(process.env);
  process.stdout.write(walkthrough(running));
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The command line; errors with a message meant for people are thrown as OptionsError. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      if (rest.length)
        throw new OptionsError(`serve takes no arguments (it reads environment variables), got "${rest[0]}"`);
      return serve();
    case 'sandbox':
      return runSandboxCommand(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new OptionsError(`unknown command "${command}"\n${USAGE}`);
  }
}
