// dynalite on its own thread (started by local/emulators.ts): the emulated DynamoDB parses,
// validates and reads LevelDB on another core and in another heap than the functions that call it.
// Plain CommonJS so the worker needs no TypeScript loader.
//
// workerData: { options, region, account, host }. Messages to the parent: { port } once
// listening, { error } if it could not start, { stopped, error? } after 'stop'.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');

// dynalite reads the account and region for its ARNs from process.env when its store is created;
// a worker's process.env is its own copy.
process.env.AWS_REGION = workerData.region;
process.env.AWS_ACCOUNT_ID = workerData.account;
const dynalite = require('dynalite');

const server = dynalite(workerData.options);
const fail = (error) => {
  // Best effort to release the database opened with the server before reporting.
  server.close(() => parentPort.postMessage({ error: String(error && error.stack ? error.stack : error) }));
};
server.once('error', fail);
server.listen(0, workerData.host, () => {
  server.off('error', fail);
  parentPort.postMessage({ port: server.address().port });
});

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  // dynalite's close() also closes its LevelDB; SDK clients keep sockets alive, so drop them.
  server.close((error) => {
    parentPort.postMessage({ stopped: true, ...(error ? { error: String(error) } : {}) });
    parentPort.close();
  });
  server.closeAllConnections();
});
