import { MemberCardError } from '../errors.js';
import type { AdjustInput, Operations, SetLevelInput, SetMembershipNumberInput } from '../operations/types.js';
import type { Metrics } from './metrics.js';

/**
 * cards.operations, counted: each call of a change by kind and outcome, `applied` or the error code
 * it answered (`insufficient_balance`, `card_busy`, `upstream_timeout`…). A retry with the same
 * requestId is a call too: the series counts calls, the journal counts changes.
 */
export function countedOperations<O extends Operations>(operations: O, metrics: Metrics): O {
  const counted =
    <I>(kind: string, change: (input: I) => ReturnType<Operations['adjustBalance']>) =>
    async (input: I) => {
      try {
        const op = await change(input);
        metrics.operation(kind, 'applied');
        return op;
      } catch (err) {
        metrics.operation(kind, err instanceof MemberCardError ? err.code.toLowerCase() : 'error');
        throw err;
      }
    };
  return {
    ...operations,
    adjustBalance: counted('balance', (input: AdjustInput) => operations.adjustBalance(input)),
    adjustPoints: counted('points', (input: AdjustInput) => operations.adjustPoints(input)),
    setLevel: counted('level', (input: SetLevelInput) => operations.setLevel(input)),
    setMembershipNumber: counted('membership_number', (input: SetMembershipNumberInput) =>
      operations.setMembershipNumber(input),
    ),
  };
}
