/**
 * Tenants and API keys. A key is shown once, at creation; only its SHA-256 hash is stored. Each
 * key belongs to one tenant and carries scopes (`write` to ingest, `read` to query).
 *
 * Item layout in the tenants table (lib/resources.ts): one item per key,
 *   pk = `key#<sha256 hex>`, sk = `key`, { tenant, keyId, scopes, createdAt, revokedAt? }.
 * and one item per tenant with limits of its own (functions/intake/limits.ts),
 *   pk = `tenant#<tenant>`, sk = `limits`, { tenant, <limit name>: number, ..., updatedAt }.
 * Authentication is one strongly consistent GetItem by hash; listing and revoking are admin
 * operations and scan the (small) table.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { checkTenant } from './event.ts';
import { StreamfoldError } from './errors.ts';
import { settingProblem, TENANT_LIMITS } from '../../lib/settings.ts';

type LimitKey = keyof typeof TENANT_LIMITS;

export const SCOPES = ['write', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKeyRecord {
  readonly tenant: string;
  /** Public identifier of the key (not the key): safe to log and to show in `tenants list`. */
  readonly keyId: string;
  readonly scopes: readonly Scope[];
  readonly createdAt: string;
  readonly revokedAt?: string;
}

export class TenantAdminError extends StreamfoldError {}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key (`sf_` + 32 random bytes, base64url) and its public id. */
export function generateApiKey(): { key: string; keyId: string } {
  return { key: `sf_${randomBytes(32).toString('base64url')}`, keyId: `k_${randomBytes(6).toString('hex')}` };
}

export function parseScopes(s: string): Scope[] {
  const scopes = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (scopes.length === 0) throw new TenantAdminError('scopes: give at least one of write, read');
  for (const sc of scopes) {
    if (!(SCOPES as readonly string[]).includes(sc)) throw new TenantAdminError(`scopes: unknown scope "${sc}" (allowed: write, read)`);
  }
  return [...new Set(scopes)] as Scope[];
}

/**
 * Parses `STREAMFOLD_TENANTS="acme:KEY1,globex:KEY2"` (optionally `acme:KEY1:read` to narrow the
 * scopes, `+`-separated: `acme:KEY1:write+read`).
 */
export function parseTenantSpec(spec: string): Array<{ tenant: string; key: string; scopes: Scope[] }> {
  const out: Array<{ tenant: string; key: string; scopes: Scope[] }> = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [tenant, key, scopes] = part.split(':');
    if (!tenant || !key) throw new TenantAdminError(`STREAMFOLD_TENANTS: "${part}" is not tenant:key`);
    const problem = checkTenant(tenant);
    if (problem) throw new TenantAdminError(`STREAMFOLD_TENANTS: tenant "${tenant}": ${problem}`);
    if (key.length < 8) throw new TenantAdminError(`STREAMFOLD_TENANTS: the key for "${tenant}" is shorter than 8 chars`);
    out.push({ tenant, key, scopes: scopes ? parseScopes(scopes.replaceAll('+', ',')) : ['write', 'read'] });
  }
  return out;
}

/** Port used by the intake and query functions and by the admin CLI. */
export class TenantStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Stores a key (its hash only). Returns the record. */
  async putKey(tenant: string, key: string, scopes: readonly Scope[], keyId = generateApiKey().keyId): Promise<ApiKeyRecord> {
    const problem = checkTenant(tenant);
    if (problem) throw new TenantAdminError(`tenant "${tenant}": ${problem}`);
    const record: ApiKeyRecord = { tenant, keyId, scopes: [...scopes], createdAt: new Date().toISOString() };
    await this.db.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: `key#${hashApiKey(key)}`, sk: 'key', ...record } }),
    );
    return record;
  }

  /** Looks a presented key up by its hash; undefined when unknown or revoked. */
  async authenticate(key: string): Promise<ApiKeyRecord | undefined> {
    const hash = hashApiKey(key);
    const res = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `key#${hash}`, sk: 'key' }, ConsistentRead: true }),
    );
    const item = res.Item;
    if (item === undefined || item.revokedAt !== undefined) return undefined;
    // The lookup is by hash already; compare again in constant time so no code path branches on a
    // partial match.
    const stored = Buffer.from(String(item.pk).slice(4), 'hex');
    if (stored.length !== 32 || !timingSafeEqual(stored, Buffer.from(hash, 'hex'))) return undefined;
    return toRecord(item);
  }

  /** The limits stored for `tenant` (only those set; the defaults fill the rest). */
  async getLimits(tenant: string): Promise<Partial<Record<LimitKey, number>>> {
    const res = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: `tenant#${tenant}`, sk: 'limits' } }));
    const out: Partial<Record<LimitKey, number>> = {};
    for (const k of Object.keys(TENANT_LIMITS) as LimitKey[]) {
      const v = res?.Item?.[k];
      if (typeof v === 'number') out[k] = v;
    }
    return out;
  }

  /** Stores limits of `tenant` (each checked against its range in lib/settings.ts); returns all it has stored. */
  async setLimits(tenant: string, limits: Partial<Record<LimitKey, number>>): Promise<Partial<Record<LimitKey, number>>> {
    const problem = checkTenant(tenant);
    if (problem) throw new TenantAdminError(`tenant "${tenant}": ${problem}`);
    const names: Record<string, string> = { '#t': 'tenant', '#u': 'updatedAt' };
    const values: Record<string, unknown> = { ':t': tenant, ':u': new Date().toISOString() };
    const sets = ['#t = :t', '#u = :u'];
    for (const [k, v] of Object.entries(limits) as Array<[LimitKey, number]>) {
      const bad = settingProblem(TENANT_LIMITS[k], v);
      if (bad) throw new TenantAdminError(`${k}: ${bad}`);
      names[`#${k}`] = k;
      values[`:${k}`] = v;
      sets.push(`#${k} = :${k}`);
    }
    await this.db.send(new UpdateCommand({
      TableName: this.tableName,
      Key: { pk: `tenant#${tenant}`, sk: 'limits' },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    }));
    return this.getLimits(tenant);
  }

  async list(tenant?: string): Promise<ApiKeyRecord[]> {
    const out: ApiKeyRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.db.send(new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start, ConsistentRead: true }));
      for (const item of res.Items ?? []) {
        if (item.sk !== 'key') continue;
        if (tenant === undefined || item.tenant === tenant) out.push(toRecord(item));
      }
      start = res.LastEvaluatedKey;
    } while (start !== undefined);
    return out.sort((a, b) => a.tenant.localeCompare(b.tenant) || a.createdAt.localeCompare(b.createdAt));
  }

  async revoke(keyId: string): Promise<ApiKeyRecord> {
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.db.send(new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start, ConsistentRead: true }));
      const item = (res.Items ?? []).find((i) => i.sk === 'key' && i.keyId === keyId);
      if (item !== undefined) {
        const revokedAt = new Date().toISOString();
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: item.pk, sk: 'key' },
            UpdateExpression: 'SET revokedAt = if_not_exists(revokedAt, :t)',
            ExpressionAttributeValues: { ':t': revokedAt },
          }),
        );
        return { ...toRecord(item), revokedAt: (item.revokedAt as string | undefined) ?? revokedAt };
      }
      start = res.LastEvaluatedKey;
    } while (start !== undefined);
    throw new TenantAdminError(`no key with id ${keyId}`);
  }
}

function toRecord(item: Record<string, unknown>): ApiKeyRecord {
  const r: ApiKeyRecord = {
    tenant: String(item.tenant),
    keyId: String(item.keyId),
    scopes: (item.scopes as Scope[]) ?? [],
    createdAt: String(item.createdAt),
  };
  return item.revokedAt === undefined ? r : { ...r, revokedAt: String(item.revokedAt) };
}
