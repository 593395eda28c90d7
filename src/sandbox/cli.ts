import { resolve as resolvePath } from 'node:path';
import { parseBehaviourFlag } from './behaviour.js';
import { startSandbox } from './index.js';
import type { SandboxOptions } from './types.js';

// `wechat-membercard sandbox [--port 3100] [--host 127.0.0.1] [--state DIR] [--certificate |
// --migrating] [--retry-factor F] [--retry-schedule membercard|payment] [--behaviour name=value]…`:
// the first stdout line is the credentials JSON, for scripts to read.

export const SANDBOX_USAGE =
  'usage: wechat-membercard sandbox [--port 3100] [--host 127.0.0.1] [--state DIR] [--certificate | --migrating] ' +
  '[--retry-factor F] [--retry-schedule membercard|payment] [--behaviour name=value]…';

/** Turns the arguments after `sandbox` into options; throws an Error naming a bad flag. */
export function parseSandboxArgs(argv: string[]): SandboxOptions & { help?: boolean } {
  const options: SandboxOptions & { help?: boolean } = { port: 3100, host: '127.0.0.1', stateDir: './.sandbox' };
  const args = argv[0] === 'sandbox' ? argv.slice(1) : [...argv];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? args[(i += 1)];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('--')))
        throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': {
        const v = value();
        const port = /^\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isInteger(port) || port > 65535) throw new Error(`--port must be a port number 0..65535, got ${v}`);
        options.port = port;
        break;
      }
      case '--host':
        options.host = value();
        break;
      case '--state':
        options.stateDir = value();
        break;
      case '--retry-factor': {
        const v = value();
        const factor = Number(v);
        if (!Number.isFinite(factor) || factor < 0) throw new Error(`--retry-factor must be a number ≥ 0, got ${v}`);
        options.retryFactor = factor;
        break;
      }
      case '--certificate':
      case '--migrating': {
        if (inline !== undefined) throw new Error(`${flag} takes no value`);
        const mode = flag === '--certificate' ? 'certificate' : 'migrating';
        if (options.platformMode !== undefined && options.platformMode !== mode)
          throw new Error('--certificate and --migrating exclude each other');
        options.platformMode = mode;
        break;
      }
      case '--retry-schedule':
        options.behaviour = { ...options.behaviour, ...parseBehaviourFlag(`retrySchedule=${value()}`) };
        break;
      case '--behaviour':
        options.behaviour = { ...options.behaviour, ...parseBehaviourFlag(value()) };
        break;
      case '--help':
      case '-h':
        options.help = true;
        break;
      default:
        throw new Error(`unknown flag ${arg} (${SANDBOX_USAGE})`);
    }
  }
  return options;
}

/** Runs the sandbox until SIGINT/SIGTERM; resolves once it has closed. */
export async function runSandboxCommand(argv: string[]): Promise<void> {
  const { help, ...options } = parseSandboxArgs(argv);
  if (help) {
    process.stdout.write(`${SANDBOX_USAGE}\n`);
    return;
  }
  const sandbox = await startSandbox(options);
  const c = sandbox.credentials;
  process.stdout.write(`${JSON.stringify(c)}\n`);
  const state = resolvePath(options.stateDir ?? '.sandbox');
  const mode =
    c.publicKeyId && c.platformCertificateSerial ? 'migrating' : c.publicKeyId ? 'public key' : 'certificate';
  const url = sandbox.url;
  process.stdout.write(
    [
      `WeChat Pay sandbox listening on ${url} (state in ${state}, platform ${mode} mode)`,
      `  signed APIs under ${url}v3/marketing/membercard-open/, mini-program login at ${url}sns/jscode2session`,
      `  control API (loopback only): POST ${url}sandbox/users, /sandbox/cards/${c.cardId}/codes,`,
      '    PUT|GET /sandbox/behaviour, PUT /sandbox/faults, GET /sandbox/requests …',
      '  Ctrl-C to stop',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      sandbox.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
