/**
 * The size DynamoDB bills an item by (developer guide, "Item sizes and formats"): attribute names
 * plus values, numbers by their significant digits. Used by the benches that price writes and reads.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S, 'utf8');
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.M !== undefined) {
    let n = 3;
    for (const [k, x] of Object.entries(v.M)) n += Buffer.byteLength(k, 'utf8') + valueSize(x) + 1;
    return n;
  }
  return 1;
}

export function itemSize(item: Record<string, AttributeValue>): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) n += Buffer.byteLength(k, 'utf8') + valueSize(v);
  return n;
}

