/**
 * Section `emulators`: what the embedded stack (local/emulators.ts) can carry, through the same
 * SDK clients the functions use.
 *
 * - kinesalite PutRecords: 10,000 records of 1 KiB in calls of 500, one call in flight, with
 *   LevelDB persistence (what `npm start` runs) beside kinesalite in memory.
 * - dynalite UpdateItem (ADD count/sum, SET max, over 100 items): one at a time and 16 in flight,
 *   persisted, beside in memory one at a time.
 *
 *   npx tsx bench/emulators.ts [--quick]     this section alone, printed as a table
 *   npm run bench -- --only emulators         through the harness (own process, results.json)
 *
 * kinesis-local (kinesis-mock on Scala.js, the alternative to kinesalite) is not measured here:
 * it is not a dependency. Measured by hand on this machine: see the README.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient, kinesisClient, resetClients } from '../functions/shared/clients.ts';
import { startEmulators, type Emulators } from '../local/emulators.ts';
import { provisionResources, type ProvisionResult } from '../local/provision.ts';
import { defineSection, measureRates, rateFigure, runIfMain } from './harness.ts';
import { EMULATORS } from './ids.ts';

const RECORDS = 10_000;
const PER_CALL = 500;
const RECORD_BYTES = 1024;
const UPDATES = 200;
const ITEMS = 100;
const IN_FLIGHT = 16;

interface Stack {
  readonly emulators: Emulators;
  readonly resources: ProvisionResult;
  readonly dir: string;
}

async function startStack(memory: boolean): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), `streamfold-bench-emulators-${memory ? 'mem' : 'disk'}-`));
  const emulators = await startEmulators({ dataDir: dir, memory });
  const resources = await provisionResources(emulators.env);
  return { emulators, resources, dir };
}

async function stopStack(stack: Stack): Promise<void> {
  await stack.emulators.stop();
  await rm(stack.dir, { recursive: true, force: true });
}

/** Puts every record, in calls of `PER_CALL`, resending only the records that failed. */
async function putAll(stack: Stack, records: readonly PutRecordsRequestEntry[]): Promise<number> {
  const kinesis = kinesisClient(stack.emulators.env);
  for (let i = 0; i < records.length; i += PER_CALL) {
    let pending = records.slice(i, i + PER_CALL);
    while (pending.length > 0) {
      const out = await kinesis.send(
        new PutRecordsCommand({ StreamName: stack.resources.names.stream, Records: pending }),
      );
      pending = pending.filter((_, j) => out.Records?.[j]?.ErrorCode !== undefined);
    }
  }
  return records.length;
}

/** `UPDATES` rollup-like UpdateItem calls spread over `ITEMS` items, `inFlight` at a time. */
async function updateItems(stack: Stack, inFlight: number): Promise<number> {
  const dynamo = dynamoClient(stack.emulators.env);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < UPDATES; i = next++) {
      await dynamo.send(
        new UpdateCommand({
          TableName: stack.resources.names.tables.rollups,
          Key: { pk: `bench#${i % ITEMS}`, sk: '1m#2026-11-28T00:00' },
          UpdateExpression: 'ADD #count :one, #sum :v SET #max = :v, #ver = :ver',
          ExpressionAttributeNames: { '#count': 'count', '#sum': 'sum', '#max': 'max', '#ver': 'version' },
          ExpressionAttributeValues: { ':one': 1, ':v': i * 0.5, ':ver': i },
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return UPDATES;
}

const section = defineSection({
  name: EMULATORS.section,
  description: 'kinesalite PutRecords and dynalite UpdateItem through the SDK, persisted vs in memory',
  packages: ['kinesalite', 'dynalite', 's3rver', '@aws-sdk/client-kinesis', '@aws-sdk/client-dynamodb'],
  run: async (ctx) => {
    const records: PutRecordsRequestEntry[] = Array.from({ length: RECORDS }, (_, i) => ({
      PartitionKey: `tenant-${i % 13}#${i % 64}`,
      Data: randomBytes(RECORD_BYTES),
    }));
    ctx.info('putRecords', { records: RECORDS, perCall: PER_CALL, recordBytes: RECORD_BYTES, inFlight: 1 });
    ctx.info('updateItem', { calls: UPDATES, items: ITEMS, inFlight: [1, IN_FLIGHT] });

    const disk = await startStack(false);
    let memory: Stack | undefined;
    try {
      memory = await startStack(true);
      const reps = ctx.quick ? 2 : 5;
      const puts = await measureRates(ctx, {
        units: RECORDS,
        reps,
        warmup: 1,
        fns: { persisted: () => putAll(disk, records), inMemory: () => putAll(memory!, records) },
      });
      const updates = await measureRates(ctx, {
        units: UPDATES,
        reps,
        warmup: 1,
        fns: {
          persisted: () => updateItems(disk, 1),
          persistedConcurrent: () => updateItems(disk, IN_FLIGHT),
          inMemory: () => updateItems(memory!, 1),
        },
      });
      return [
        rateFigure({
          ...EMULATORS.figures.kinesalitePut,
          unit: 'records/s',
          stats: puts.persisted,
          baseline: { name: 'kinesalite in memory', stats: puts.inMemory },
        }),
        rateFigure({
          ...EMULATORS.figures.dynaliteUpdate,
          unit: 'calls/s',
          stats: updates.persisted,
          baseline: { name: 'dynalite in memory, 1 in flight', stats: updates.inMemory },
        }),
        rateFigure({
          ...EMULATORS.figures.dynaliteUpdateConcurrent(IN_FLIGHT),
          unit: 'calls/s',
          stats: updates.persistedConcurrent,
          baseline: { name: 'LevelDB, 1 in flight', stats: updates.persisted },
        }),
      ];
    } finally {
      resetClients();
      await Promise.allSettled([stopStack(disk), ...(memory ? [stopStack(memory)] : [])]);
    }
  },
});

export default section;
await runIfMain(import.meta.url, section);
