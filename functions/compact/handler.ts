/** Lambda entry point: compaction bound to the function's environment. */
import { createCompactHandler } from './app.ts';

export const handler = createCompactHandler(process.env);
