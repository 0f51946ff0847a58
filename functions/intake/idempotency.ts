/**
 * Idempotency-Key handling for the intake: a retried request with the same key (per tenant, 24 h)
 * is not ingested twice and gets the first answer back; another body under the same key is a 422.
 *
 * Item (idempotency table, lib/resources.ts): pk = `<tenant>#<sha256(key)>`,
 *   { bodyHash, status: 'in_progress' | 'failed' | 'done', version, lockUntil (epoch ms), response?,
 *     recordsHash?, written?, expiresAt (epoch s, TTL) }.
 * A request claims the key with a conditional put on the version it read; a claim left by a
 * crashed invocation expires at `lockUntil` (the function's time budget). An attempt that fails
 * after writing some records stores which ones, so the retry writes only the others: a request
 * retried under its key lands in the stream once, even after a partial failure. An attempt that
 * wrote every record but could not store its answer stores the same progress (every index), so
 * its retry claims the key at once, writes nothing and answers 202 (core.ts storeAnswer).
 */
import { createHash, randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { classifyAwsError } from '../shared/aws-errors.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
export const IDEMPOTENCY_KEY_MAX_CHARS = 255;

export interface StoredResponse {
  readonly statusCode: number;
  readonly body: string;
}

/** Records a failed attempt already wrote, so a retry under the same key writes only the rest. */
export interface Progress {
  /** Hash of the encoded record set; progress applies only to the same records. */
  readonly recordsHash: string;
  /** Indexes of the records already in the stream. */
  readonly written: readonly number[];
}

export type Claim =
  | { readonly kind: 'claimed'; readonly progress?: Progress }
  | { readonly kind: 'replay'; readonly response: StoredResponse }
  | { readonly kind: 'mismatch' }
  | { readonly kind: 'in_progress' };

/** The slice of idempotency the intake uses. */
export interface IdempotencyStore {
  claim(tenant: string, key: string, bodyHash: string, now: number, lockMs: number): Promise<Claim>;
  complete(tenant: string, key: string, bodyHash: string, response: StoredResponse, now: number): Promise<void>;
  /** The attempt failed after writing some records: keep what it wrote, free the key for a retry. */
  fail(tenant: string, key: string, bodyHash: string, progress: Progress, now: number): Promise<void>;
}

export function hashBody(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async claim(tenant: string, key: string, bodyHash: string, now: number, lockMs: number): Promise<Claim> {
    const pk = itemKey(tenant, key);
    const nowS = Math.floor(now / 1000);
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk }, ConsistentRead: true }));
      const item = res.Item;
      const live = item !== undefined && (item.expiresAt as number) >= nowS;
      let progress: Progress | undefined;
      if (live) {
        if (item.bodyHash !== bodyHash) return { kind: 'mismatch' };
        if (item.status === 'done') return { kind: 'replay', response: item.response as StoredResponse };
        if (item.status === 'in_progress' && (item.lockUntil as number) >= now) return { kind: 'in_progress' };
        // A failed attempt (or one that crashed and whose lock ran out): take over its progress.
        if (item.recordsHash !== undefined) {
          progress = { recordsHash: item.recordsHash as string, written: (item.written as number[]) ?? [] };
        }
      }
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk,
              bodyHash,
              status: 'in_progress',
              lockUntil: now + lockMs,
              version: randomUUID(),
              ...(progress ?? {}),
              expiresAt: Math.ceil((now + IDEMPOTENCY_TTL_MS) / 1000),
            },
            ...(live
              ? { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': item.version } }
              : item === undefined
                ? { ConditionExpression: 'attribute_not_exists(pk)' }
                : { ConditionExpression: 'expiresAt < :nowS', ExpressionAttributeValues: { ':nowS': nowS } }),
          }),
        );
        return progress === undefined ? { kind: 'claimed' } : { kind: 'claimed', progress };
      } catch (err) {
        if (!classifyAwsError(err).conditionFailed) throw err;
        // Another request moved first: look again.
      }
    }
    return { kind: 'in_progress' };
  }

  async complete(tenant: string, key: string, bodyHash: string, response: StoredResponse, now: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: itemKey(tenant, key), bodyHash, status: 'done', version: randomUUID(), response, expiresAt: Math.ceil((now + IDEMPOTENCY_TTL_MS) / 1000) },
      }),
    );
  }

  async fail(tenant: string, key: string, bodyHash: string, progress: Progress, now: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: itemKey(tenant, key),
          bodyHash,
          status: 'failed',
          version: randomUUID(),
          recordsHash: progress.recordsHash,
          written: [...progress.written],
          expiresAt: Math.ceil((now + IDEMPOTENCY_TTL_MS) / 1000),
        },
      }),
    );
  }
}

function itemKey(tenant: string, key: string): string {
  return `${tenant}#${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}
