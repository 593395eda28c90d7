// `wechat-membercard serve` for the multi-instance tests: the same startServer() and walkthrough
// line as src/cli.ts, with every log line (info included: "notification applied" / "duplicate
// notification ignored") written as JSON on stderr, so a test can count what each instance did.
import { startServer, walkthrough } from '../../src/server/serve.js';
import type { Log } from '../../src/log.js';

const log: Log = (level, message, fields) => {
  process.stderr.write(`${JSON.stringify({ level, message, ...fields, time: new Date().toISOString() })}\n`);
};

const running = await startServer(process.env, log);
process.stdout.write(walkthrough(running));
const stop = (): void => {
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
