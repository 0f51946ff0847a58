/**
 * Where tenant keys are administered from this machine: a deployed stack's table
 * (TENANTS_TABLE_NAME set, standard AWS credentials), the running embedded stack (its endpoints
 * from the data directory's run file), or the embedded stack's emulators started just for the
 * command.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dynamoClient, resetClients } from '../functions/shared/clients.ts';
import { TenantStore } from '../functions/shared/tenants.ts';
import { TABLES } from '../lib/resources.ts';
import { startEmulators } from './emulators.ts';
import { RUN_FILE } from './index.ts';
import { LOCAL_ACCOUNT, provisionResources } from './provision.ts';

/** The embedded stack running on this data directory, if one is: its URL, environment and operator key. */
export function runningStack(dataDirOpt?: string): { url: string; env: Record<string, string>; operatorKey?: string } | undefined {
  const dataDir = resolve(dataDirOpt ?? process.env.STREAMFOLD_DATA_DIR ?? '.streamfold');
  const runFile = join(dataDir, RUN_FILE);
  if (!existsSync(runFile)) return undefined;
  const run = JSON.parse(readFileSync(runFile, 'utf8')) as { pid: number; url: string; env: Record<string, string>; operatorKey?: string };
  if (!isAlive(run.pid)) return undefined;
  return { url: run.url, env: run.env, ...(typeof run.operatorKey === 'string' ? { operatorKey: run.operatorKey } : {}) };
}

/** A deployed table (TENANTS_TABLE_NAME), the running embedded stack, or its emulators started for this command. */
export async function openTenantStore(dataDirOpt: string | undefined): Promise<{ store: TenantStore; close(): Promise<void> }> {
  const deployed = process.env[TABLES.tenants.envVar];
  if (deployed) return { store: new TenantStore(dynamoClient(), deployed), close: async () => resetClients() };

  const run = runningStack(dataDirOpt);
  if (run !== undefined) {
    return { store: new TenantStore(dynamoClient(run.env), run.env[TABLES.tenants.envVar]!), close: async () => resetClients() };
  }
  const dataDir = resolve(dataDirOpt ?? process.env.STREAMFOLD_DATA_DIR ?? '.streamfold');
  const emulators = await startEmulators({ dataDir: join(dataDir, 'emulators') });
  const { names } = await provisionResources(emulators.env, { account: LOCAL_ACCOUNT });
  return {
    store: new TenantStore(dynamoClient(emulators.env), names.tables.tenants),
    close: async () => {
      resetClients();
      await emulators.stop();
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

