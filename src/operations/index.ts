export { createOperations, outRequestNo } from './operations.js';
export type * from './types.js';
