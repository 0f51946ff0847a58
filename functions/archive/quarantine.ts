/**
 * Quarantine objects: for each Kinesis record with rejected pieces (an undecodable record, a line
 * that is not JSON, an event that fails validation), one NDJSON object at
 * `quarantine/dt=<arrival date>/<shardId>-<seq>.ndjson` with one line per rejected piece, in
 * sub-index order:
 *
 * ```json
 * {"lineage":{"shardId":"shardId-000000000000","sequenceNumber":"4966…","subIndex":3},
 *  "reason":"ts: must be a finite number, got NaN","encoding":"utf8","raw":"{\"name\":…}",
 *  "arrival":"2026-11-28T12:00:01.234Z"}
 * ```
 *
 * `raw` holds the exact bytes: as text when they are valid UTF-8 (`encoding: "utf8"`), else base64
 * (`encoding: "base64"`). Content depends only on the record, so a retry overwrites the object with
 * the same bytes. Pure: no I/O.
 */
import type { Lineage, RecordRejectedError } from '../shared/errors.ts';
import { quarantineKey } from '../shared/archive/keys.ts';

export interface QuarantineLine {
  readonly lineage: Lineage;
  readonly reason: string;
  readonly encoding: 'utf8' | 'base64';
  readonly raw: string;
  /** When the record reached Kinesis (ISO 8601, UTC). */
  readonly arrival: string;
}

export interface QuarantineObject {
  readonly key: string;
  readonly body: Uint8Array;
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** Rejected pieces (lines) in the object. */
  readonly pieces: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The raw bytes as a JSON-safe string and how to turn it back into bytes. */
export function encodeRaw(raw: Uint8Array): { encoding: 'utf8' | 'base64'; raw: string } {
  try {
    return { encoding: 'utf8', raw: utf8.decode(raw) };
  } catch {
    return { encoding: 'base64', raw: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  }
}

/** Inverse of {@link encodeRaw}. */
export function decodeRaw(line: Pick<QuarantineLine, 'encoding' | 'raw'>): Uint8Array {
  return line.encoding === 'utf8' ? Buffer.from(line.raw, 'utf8') : Buffer.from(line.raw, 'base64');
}

/**
 * Groups rejected pieces by record into quarantine objects, ordered by shard and sequence number
 * as given. `arrivalOf` returns the record's Kinesis arrival time (epoch ms).
 */
export function buildQuarantineObjects(
  rejected: readonly RecordRejectedError[],
  arrivalOf: (shardId: string, sequenceNumber: string) => number,
): QuarantineObject[] {
  const byRecord = new Map<string, RecordRejectedError[]>();
  for (const r of rejected) {
    const k = `${r.lineage.shardId}\u0000${r.lineage.sequenceNumber}`;
    let list = byRecord.get(k);
    if (list === undefined) byRecord.set(k, (list = []));
    list.push(r);
  }
  const out: QuarantineObject[] = [];
  for (const pieces of byRecord.values()) {
    pieces.sort((a, b) => a.lineage.subIndex - b.lineage.subIndex);
    const { shardId, sequenceNumber } = pieces[0]!.lineage;
    const arrivalMs = arrivalOf(shardId, sequenceNumber);
    const arrival = new Date(arrivalMs).toISOString();
    let text = '';
    for (const p of pieces) {
      const line: QuarantineLine = {
        lineage: { shardId: p.lineage.shardId, sequenceNumber: p.lineage.sequenceNumber, subIndex: p.lineage.subIndex },
        reason: p.reason,
        ...encodeRaw(p.raw),
        arrival,
      };
      text += `${JSON.stringify(line)}\n`;
    }
    out.push({
      key: quarantineKey(arrivalMs, shardId, sequenceNumber),
      body: Buffer.from(text, 'utf8'),
      shardId,
      sequenceNumber,
      pieces: pieces.length,
    });
  }
  return out;
}

/** Parses a quarantine object back into its lines (tests, operators' tools). */
export function parseQuarantineObject(body: Uint8Array): QuarantineLine[] {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as QuarantineLine);
}
