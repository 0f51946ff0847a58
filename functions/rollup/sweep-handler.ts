/** Lambda entry point of the scheduled sweeper: the rollup's fold of shards no container folds. */
import { createSweepHandler } from './app.ts';

export const handler = createSweepHandler(process.env);
