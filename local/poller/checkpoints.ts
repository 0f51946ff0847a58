import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import type { Checkpoint, CheckpointStore } from './types.ts';

/** Checkpoints that live as long as the process. For tests, and for runs that need no resume. */
export class InMemoryCheckpointStore implements CheckpointStore {
  private readonly entries = new Map<string, Checkpoint>();

  async load(mappingId: string, shardId: string): Promise<Checkpoint | undefined> {
    return this.entries.get(key(mappingId, shardId));
  }

  async save(mappingId: string, shardId: string, checkpoint: Checkpoint): Promise<void> {
    this.entries.set(key(mappingId, shardId), { ...checkpoint });
  }

  /** The stored checkpoint, for assertions. */
  get(mappingId: string, shardId: string): Checkpoint | undefined {
    return this.entries.get(key(mappingId, shardId));
  }
}

function key(mappingId: string, shardId: string): string {
  return `${mappingId}\u0000${shardId}`;
}

/**
 * One JSON file per mapping and shard, `<directory>/<mappingId>/<shardId>.json`, replaced atomically
 * (temporary file, fsync, rename) on every save, so a crash leaves the previous or the new checkpoint.
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  pathOf(mappingId: string, shardId: string): string {
    return join(this.directory, safeName(mappingId), `${safeName(shardId)}.json`);
  }

  async load(mappingId: string, shardId: string): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(mappingId, shardId), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as Checkpoint & { updatedAt?: string };
    return {
      ...(parsed.sequenceNumber !== undefined ? { sequenceNumber: parsed.sequenceNumber } : {}),
      ...(parsed.shardEnded ? { shardEnded: true } : {}),
      ...(parsed.shardStartingSequenceNumber !== undefined
        ? { shardStartingSequenceNumber: parsed.shardStartingSequenceNumber }
        : {}),
    };
  }

  async save(mappingId: string, shardId: string, checkpoint: Checkpoint): Promise<void> {
    const body = { ...checkpoint, updatedAt: new Date().toISOString() };
    await writeFileAtomic(this.pathOf(mappingId, shardId), `${JSON.stringify(body, null, 2)}\n`);
  }
}

/** Keeps a name usable as one path segment on every platform. */
export function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? `_${cleaned}` : cleaned;
}
