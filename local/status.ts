/**
 * The embedded stack's operator status, `GET /v1/status`: per consumer and shard, events behind
 * the intake and the age of the oldest unprocessed record (the bookkeeping is local/lag.ts).
 *
 * - The intake's Kinesis client is wrapped (`countingKinesis`): each record a PutRecords call
 *   wrote is registered with its shard, sequence number and event count. The count is the
 *   record's lines: the intake writes gzip'd NDJSON, one event per line, so counting needs a
 *   gunzip but no parsing (~1 ms per 10,000 events).
 * - The pollers report the records they are done with (PollerOptions.onRecordsDone).
 * - The route takes the operator key generated at start (`operatorKey`, kept in the data
 *   directory's running.json, never printed); tenant keys are refused (403), no key or another
 *   key is 401. The tenant-scoped view is issue 20's.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { PutRecordsCommand, type KinesisClient, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { EventLedger, StackStatus } from './lag.ts';

/** The header the operator key travels in (the same as tenant keys). */
export const OPERATOR_KEY_HEADER = 'x-api-key';

/** A new operator key: 32 random bytes, base64url, with a prefix that says what it is. */
export function generateOperatorKey(): string {
  return `sfop_${randomBytes(32).toString('base64url')}`;
}

/** Events in a record the intake wrote: lines of its (gzip'd) NDJSON. */
export function eventsInRecord(data: Uint8Array): number {
  const text = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let lines = 0;
  for (let i = text.indexOf(0x0a); i !== -1; i = text.indexOf(0x0a, i + 1)) lines++;
  if (text.length > 0 && text[text.length - 1] !== 0x0a) lines++;
  return lines;
}

type KinesisSend = Pick<KinesisClient, 'send'>;

/**
 * The client, with every record a PutRecords call wrote registered in `ledger`. Other calls, and
 * records Kinesis refused, pass through untouched.
 */
export function countingKinesis(client: KinesisSend, ledger: Pick<EventLedger, 'written'>): KinesisSend {
  const send = async (command: Parameters<KinesisClient['send']>[0]): Promise<unknown> => {
    const out = await client.send(command as never);
    if (command instanceof PutRecordsCommand) {
      const written = (out as PutRecordsCommandOutput).Records ?? [];
      (command.input.Records ?? []).forEach((r, i) => {
        const e = written[i];
        if (e?.ShardId !== undefined && e.SequenceNumber !== undefined && e.ErrorCode === undefined && r.Data !== undefined) {
          ledger.written(e.ShardId, e.SequenceNumber, eventsInRecord(r.Data));
        }
      });
    }
    return out;
  };
  return { send } as unknown as KinesisSend;
}

export type KeyKind = 'tenant' | 'unknown';

export interface StatusRouteOptions {
  readonly operatorKey: string;
  readonly status: () => StackStatus;
  /** Tells a tenant's key (403) from an unknown one (401). */
  readonly classify: (key: string) => Promise<KeyKind>;
}

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

/** The handler of GET /v1/status on the local HTTP front. */
export function statusRoute(opts: StatusRouteOptions): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> {
  const expected = digest(opts.operatorKey);
  return async (event) => {
    const key = event.headers?.[OPERATOR_KEY_HEADER]?.trim();
    if (!key) return json(401, { error: 'missing API key: GET /v1/status takes the operator key (operatorKey in the data directory\'s running.json) in the x-api-key header' });
    if (timingSafeEqual(digest(key), expected)) return json(200, opts.status());
    if (key.length <= 512 && (await opts.classify(key)) === 'tenant') {
      return json(403, { error: 'GET /v1/status takes the operator key (operatorKey in the data directory\'s running.json), not a tenant\'s key' });
    }
    return json(401, { error: 'invalid API key' });
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
