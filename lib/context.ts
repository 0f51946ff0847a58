/**
 * Deploy-time choices read from CDK context (`cdk deploy -c key=value`), so that the capacity the
 * cost model prices for a steady load (README "Cost and scale") is one command away, without
 * editing bin/streamfold.ts:
 *
 *   -c prefix=sf-stage                     names (lib/resources.ts resourceNames)
 *   -c streamShards=18                     a provisioned stream of 18 shards (default: on demand)
 *   -c rollupsWriteCapacity=2000-8000      the rollups table provisioned, auto scaling between
 *   -c rollupsReadCapacity=500-2000          these capacity units (both, or neither: on demand)
 *   -c rollupsTargetUtilization=70         auto scaling's target, percent (default 70)
 *
 * A malformed value fails the synth with a message naming the key. Pure: no construct is built here.
 */
import { StreamMode } from 'aws-cdk-lib/aws-kinesis';
import type { EventStreamProps } from './constructs/event-stream.ts';
import type { StorageProps } from './constructs/storage.ts';
import type { ProvisionedCapacity } from './resources.ts';

export interface ContextProps {
  readonly prefix?: string;
  readonly stream?: Pick<EventStreamProps, 'streamMode' | 'shardCount'>;
  readonly storage?: Pick<StorageProps, 'rollupsCapacity'>;
}

export class ContextError extends Error {}

/** The stack props the context asks for; `get` is `app.node.tryGetContext`. */
export function propsFromContext(get: (key: string) => unknown): ContextProps {
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined || v === null || v === '') return undefined;
    // `-c k=18` arrives as a string; cdk.json may hold a number.
    if (typeof v !== 'string' && typeof v !== 'number') throw new ContextError(`context ${key}: expected a string or a number, got ${JSON.stringify(v)}`);
    return String(v).trim();
  };
  const out: { -readonly [K in keyof ContextProps]: ContextProps[K] } = {};
  const prefix = str('prefix');
  if (prefix !== undefined) out.prefix = prefix;

  const shards = str('streamShards');
  if (shards !== undefined) {
    if (!/^[1-9][0-9]*$/.test(shards)) throw new ContextError(`context streamShards: expected a whole number of shards ≥ 1, got "${shards}"`);
    out.stream = { streamMode: StreamMode.PROVISIONED, shardCount: Number(shards) };
  }

  const write = str('rollupsWriteCapacity');
  const read = str('rollupsReadCapacity');
  const target = str('rollupsTargetUtilization');
  if ((write === undefined) !== (read === undefined)) {
    throw new ContextError('context rollupsWriteCapacity and rollupsReadCapacity: give both (min-max capacity units each) to provision the rollups table, or neither to keep it on demand');
  }
  if (target !== undefined && write === undefined) {
    throw new ContextError('context rollupsTargetUtilization: applies to a provisioned rollups table; give rollupsWriteCapacity and rollupsReadCapacity too');
  }
  if (write !== undefined && read !== undefined) {
    const capacity: { -readonly [K in keyof ProvisionedCapacity]: ProvisionedCapacity[K] } = {
      write: range('rollupsWriteCapacity', write),
      read: range('rollupsReadCapacity', read),
    };
    if (target !== undefined) {
      const t = Number(target);
      if (!/^[0-9]+(\.[0-9]+)?$/.test(target) || !Number.isFinite(t)) throw new ContextError(`context rollupsTargetUtilization: expected a percentage, got "${target}"`);
      capacity.targetUtilizationPercent = t;
    }
    out.storage = { rollupsCapacity: capacity };
  }
  return out;
}

/** `min-max` (or one number for both) in whole capacity units; the Storage construct checks the bounds. */
function range(key: string, v: string): { min: number; max: number } {
  const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(v);
  if (m === null) throw new ContextError(`context ${key}: expected min-max capacity units (e.g. 1000-8000), got "${v}"`);
  const min = Number(m[1]);
  return { min, max: m[2] === undefined ? min : Number(m[2]) };
}
