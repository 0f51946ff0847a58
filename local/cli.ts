/**
 * streamfold's local command line.
 *
 *   npm start [-- --port N] [--data-dir DIR]    the embedded stack (defaults: PORT or 8787,
 *                                               STREAMFOLD_DATA_DIR or .streamfold; STREAMFOLD_TENANTS)
 *   npm run tenants -- create <tenant> [--scopes write,read]
 *   npm run tenants -- list [<tenant>]
 *   npm run tenants -- revoke <keyId>
 *
 * `tenants` works against the embedded stack's data directory (through the running stack's
 * endpoints, or by starting its emulators for the command), or against a deployed stack when
 * TENANTS_TABLE_NAME is set (standard AWS credentials and region).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StreamfoldError } from '../functions/shared/errors.ts';
import { generateApiKey, parseScopes } from '../functions/shared/tenants.ts';
import { DEFAULT_LIMITS, LIMIT_FLAGS, type LimitName } from '../functions/intake/limits.ts';
import { startStack } from './index.ts';
import { openTenantStore } from './tenant-admin.ts';

// The SDK warns that its Node 20 support ends in 2027 (see README, "Node versions"); the lock pins it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'tenants':
      return tenants(rest);
    default:
      console.error('usage: cli.ts start [--port N] [--data-dir DIR] | tenants <create|list|revoke> ...');
      return 2;
  }
}

async function start(args: string[]): Promise<number> {
  const usage = 'usage: start [--port N] [--data-dir DIR]';
  let values: { port?: string; 'data-dir'?: string };
  try {
    ({ values } = parseArgs({ args, strict: true, allowPositionals: false, options: { port: { type: 'string' }, 'data-dir': { type: 'string' } } }));
  } catch (err) {
    throw new StreamfoldError(`${(err as Error).message}; ${usage}`);
  }
  const port = values.port === undefined ? undefined : parsePort('--port', values.port, usage);
  const dir = values['data-dir'];
  if (dir !== undefined && dir.trim() === '') throw new StreamfoldError(`--data-dir must name a directory; ${usage}`);
  // npm runs scripts from the package root; a relative path means the caller's directory.
  const dataDir = dir === undefined ? undefined : resolve(process.env.INIT_CWD ?? process.cwd(), dir);
  const envPort = process.env.PORT === undefined || process.env.PORT === '' ? undefined : parsePort('PORT', process.env.PORT, usage);
  const stack = await startStack({ ...((port ?? envPort) !== undefined ? { port: port ?? envPort } : {}), ...(dataDir !== undefined ? { dataDir } : {}) });
  console.log(`streamfold is running at ${stack.url}  (state in ${stack.dataDir}; Ctrl-C stops it)`);
  console.log(`  send:  curl -s -X POST ${stack.url}/v1/events -H "x-api-key: $KEY" -d '[{"name":"http.requests","ts":'$(date +%s000)',"tags":{"env":"dev"}}]'`);
  await new Promise<void>((resolveStop) => {
    const onSignal = (signal: string) => {
      console.log(`\n${signal}: stopping…`);
      resolveStop();
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  await stack.stop();
  return 0;
}

function parsePort(what: string, raw: string, usage: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65_535) {
    throw new StreamfoldError(`${what} must be a whole number 0..65535 (0 picks a free port), got ${JSON.stringify(raw)}; ${usage}`);
  }
  return port;
}

async function tenants(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      scopes: { type: 'string', default: 'write,read' },
      'data-dir': { type: 'string' },
      ...Object.fromEntries(Object.values(LIMIT_FLAGS).map((f) => [f, { type: 'string' as const }])),
    },
  });
  const [sub, arg] = positionals;
  const { store, close } = await openTenantStore(values['data-dir']);
  try {
    switch (sub) {
      case 'create': {
        if (!arg) throw new StreamfoldError('usage: tenants create <tenant> [--scopes write,read]');
        const { key, keyId } = generateApiKey();
        const rec = await store.putKey(arg, key, parseScopes(values.scopes!), keyId);
        console.log(`tenant:  ${rec.tenant}\nkey id:  ${rec.keyId}\nscopes:  ${rec.scopes.join(',')}\nAPI key: ${key}\n(shown once: only its hash is stored)`);
        return 0;
      }
      case 'list': {
        const keys = await store.list(arg);
        if (keys.length === 0) console.log('no keys');
        for (const k of keys) {
          console.log(`${k.tenant}\t${k.keyId}\t${k.scopes.join(',')}\tcreated ${k.createdAt}${k.revokedAt ? `\trevoked ${k.revokedAt}` : ''}`);
        }
        return 0;
      }
      case 'revoke': {
        if (!arg) throw new StreamfoldError('usage: tenants revoke <keyId>');
        const rec = await store.revoke(arg);
        console.log(`revoked ${rec.keyId} of tenant ${rec.tenant} at ${rec.revokedAt} (running functions may accept it for up to 60 s more: their key cache)`);
        return 0;
      }
      case 'limits': {
        const usage = `usage: tenants limits <tenant> [${Object.values(LIMIT_FLAGS).map((f) => `--${f} N`).join(' ')}]`;
        if (!arg) throw new StreamfoldError(usage);
        const set: Partial<Record<LimitName, number>> = {};
        for (const [k, flag] of Object.entries(LIMIT_FLAGS) as Array<[LimitName, string]>) {
          const raw = (values as Record<string, unknown>)[flag];
          if (raw === undefined) continue;
          const n = Number(raw);
          if (!/^\d+$/.test(String(raw))) throw new StreamfoldError(`--${flag} must be a whole number, got ${JSON.stringify(raw)}; ${usage}`);
          set[k] = n;
        }
        const stored = Object.keys(set).length > 0 ? await store.setLimits(arg, set) : await store.getLimits(arg);
        console.log(`limits of tenant ${arg}${Object.keys(set).length > 0 ? ' (stored; running intakes use them within 10 s)' : ''}:`);
        for (const [k, flag] of Object.entries(LIMIT_FLAGS) as Array<[LimitName, string]>) {
          const own = stored[k];
          console.log(`  ${flag.padEnd(22)} ${String(own ?? DEFAULT_LIMITS[k]).padStart(10)}  ${own === undefined ? '(default)' : ''}`.trimEnd());
        }
        return 0;
      }
      default:
        throw new StreamfoldError('usage: tenants <create|list|revoke|limits> ...');
    }
  } finally {
    await close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof StreamfoldError ? `error: ${err.message}` : err);
    process.exit(1);
  },
);
