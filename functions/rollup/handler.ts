/** Lambda entry point: the rollup bound to the function's environment. */
import { createRollupHandler } from './app.ts';

export const handler = createRollupHandler(process.env);
