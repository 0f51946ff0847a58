/** Lambda entry point: the intake bound to the function's environment. */
import { createIntakeHandler } from './app.ts';

export const handler = createIntakeHandler(process.env);
