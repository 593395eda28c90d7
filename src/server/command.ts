import { OptionsError } from '../errors.js';
import { startServer, walkthrough } from './serve.js';

/** `wechat-membercard serve`: runs until SIGINT/SIGTERM, configured by the environment only. */
export async function runServeCommand(argv: string[]): Promise<void> {
  if (argv.length) {
    throw new OptionsError(`serve takes no arguments (it reads environment variables), got "${argv[0]}"`);
  }
  const running = await startServer(process.env);
  process.stdout.write(walkthrough(running));
  const stop = (): void => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
