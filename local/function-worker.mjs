// Entry of a function's worker thread (local/function-thread.ts): loads the TypeScript host with
// tsx's scoped loader, so the worker needs no loader flag from whoever started the process (npm
// start runs under tsx, the tests under vitest).
import { tsImport } from 'tsx/esm/api';

await tsImport('./function-host.ts', import.meta.url);
