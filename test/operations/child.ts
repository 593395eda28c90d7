// A separate process running one merchant operation, so a test can SIGKILL it mid-flight and
// "restart" it. Config as JSON in argv[2]; prints one JSON line with the outcome.
import { memberCard } from '../../src/member-card.js';
import type { MemberCardOptions } from '../../src/options.js';

interface ChildConfig {
  options: MemberCardOptions;
  op: { kind: 'balance' | 'points'; code: string; amount: number; requestId: string };
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const cards = memberCard({ ...config.options, log: () => undefined });
await cards.ready();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const { kind, ...input } = config.op;
try {
  const op =
    kind === 'balance' ? await cards.operations.adjustBalance(input) : await cards.operations.adjustPoints(input);
  process.stdout.write(`${JSON.stringify({ ok: op })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: (err as { code?: string }).code ?? String(err) })}\n`);
}
await cards.close();
