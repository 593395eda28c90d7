export { createOperations, outRequestNo, type OperationsService } from './operations.js';
export type { SweepReport } from './sweep.js';
export type * from './types.js';
