/** Lambda entry point: the query function bound to the function's environment. */
import { createQueryHandler } from './app.ts';

export const handler = createQueryHandler(process.env);
