export { createOperations, outRequestNo } from './operations.js';
export type {
  AdjustInput,
  CardTarget,
  HistoryInput,
  Operations,
  OperationsSettings,
  SetLevelInput,
  SetMembershipNumberInput,
} from './types.js';
