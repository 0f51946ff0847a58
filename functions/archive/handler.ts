/** Lambda entry point: the archive bound to the function's environment. */
import { createArchiveHandler } from './app.ts';

export const handler = createArchiveHandler(process.env);
