// One emulator on its own thread (started by local/emulators.ts): dynalite or kinesalite parses,
// validates and reads its LevelDB on another core and in another heap than the functions that
// call it. Plain CommonJS so the worker needs no TypeScript loader.
//
// workerData: { emulator: 'dynalite' | 'kinesalite', options, region, account, host }. Messages to
// the parent: { port, tid } once listening, { error } if it could not start, { stopped, error? } after
// 'stop'.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');

// Both emulators read the account and region for their ARNs from process.env when their store is
// created; a worker's process.env is its own copy.
process.env.AWS_REGION = workerData.region;
process.env.AWS_ACCOUNT_ID = workerData.account;
const emulators = { dynalite: () => require('dynalite'), kinesalite: () => require('kinesalite') };
const create = emulators[workerData.emulator];
if (create === undefined) throw new Error(`unknown emulator ${workerData.emulator}`);

const server = create()(workerData.options);
const fail = (error) => {
  // Best effort to release the database opened with the server before reporting.
  server.close(() => parentPort.postMessage({ error: String(error && error.stack ? error.stack : error) }));
};
server.once('error', fail);
server.listen(0, workerData.host, () => {
  server.off('error', fail);
  parentPort.postMessage({ port: server.address().port, tid: threadId() });
});

/** This thread's kernel id (Linux), so the parent can tell its CPU time from the others'. */
function threadId() {
  try {
    const m = /\/task\/(\d+)$/.exec(require('node:fs').readlinkSync('/proc/thread-self'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  // close() also closes the emulator's LevelDB; SDK clients keep sockets alive, so drop them.
  server.close((error) => {
    parentPort.postMessage({ stopped: true, ...(error ? { error: String(error) } : {}) });
    parentPort.close();
  });
  server.closeAllConnections();
});
