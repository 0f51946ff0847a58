/** Adapter: the `ShardSource` port over Kinesis Data Streams (the AWS SDK), for the poller run against an emulator or AWS. */
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import { classifyAwsError } from '../../functions/shared/aws-errors.ts';
import { streamNameFromArn } from './config.ts';
import { SourceReadError } from './errors.ts';
import type { ReadResult, ShardInfo, ShardPosition, ShardSource, SourceRecord } from './types.ts';

export interface KinesisShardSourceOptions {
  /** Built by the caller (endpoint, credentials, HTTP handler), so the same one serves every mapping. */
  readonly client: Pick<KinesisClient, 'send'>;
  /** Stream name or ARN. Requests carry the name, which emulators without ARN support understand. */
  readonly stream: string;
}

interface CachedIterator {
  /** The position this iterator reads from next. */
  readonly key: string;
  /** Undefined once the shard is closed and read to its end. */
  readonly iterator: string | undefined;
}

/**
 * `ShardSource` over Kinesis Data Streams: ListShards, GetShardIterator (TRIM_HORIZON, LATEST,
 * AFTER_SEQUENCE_NUMBER) and GetRecords. A shard's iterator is kept between reads that continue
 * where the previous one stopped, and renewed when it expires. SDK errors become `SourceReadError`,
 * marked throttled by the one AWS error classifier (functions/shared/aws-errors.ts).
 */
export class KinesisShardSource implements ShardSource {
  readonly streamName: string;
  private readonly client: Pick<KinesisClient, 'send'>;
  private readonly iterators = new Map<string, CachedIterator>();

  constructor(options: KinesisShardSourceOptions) {
    this.client = options.client;
    this.streamName = streamNameFromArn(options.stream);
  }

  async listShards(): Promise<ShardInfo[]> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: this.streamName }),
        );
        shards.push(...(page.Shards ?? []));
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (error) {
      throw readError(`ListShards on ${this.streamName} failed`, error);
    }
    return shards.flatMap((shard) =>
      shard.ShardId
        ? [
            {
              shardId: shard.ShardId,
              ...(shard.ParentShardId ? { parentShardId: shard.ParentShardId } : {}),
              ...(shard.AdjacentParentShardId ? { adjacentParentShardId: shard.AdjacentParentShardId } : {}),
              ...(shard.SequenceNumberRange?.StartingSequenceNumber
                ? { startingSequenceNumber: shard.SequenceNumberRange.StartingSequenceNumber }
                : {}),
            },
          ]
        : [],
    );
  }

  async read(shardId: string, position: ShardPosition, limit: number): Promise<ReadResult> {
    const key = positionKey(position);
    const cached = this.iterators.get(shardId);
    if (cached?.key === key && cached.iterator === undefined) return { records: [], shardEnded: true, millisBehindLatest: 0 };

    let iterator = cached?.key === key ? cached.iterator : undefined;
    iterator ??= await this.shardIterator(shardId, position);
    let output;
    try {
      output = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.max(1, Math.min(limit, 10_000)) }));
    } catch (error) {
      if ((error as { name?: string }).name !== 'ExpiredIteratorException') {
        throw readError(`GetRecords on ${this.streamName}/${shardId} failed`, error, shardId);
      }
      this.iterators.delete(shardId);
      iterator = await this.shardIterator(shardId, position);
      try {
        output = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.max(1, Math.min(limit, 10_000)) }));
      } catch (retryError) {
        throw readError(`GetRecords on ${this.streamName}/${shardId} failed`, retryError, shardId);
      }
    }

    const records: SourceRecord[] = (output.Records ?? []).map((r) => ({
      sequenceNumber: r.SequenceNumber ?? '',
      partitionKey: r.PartitionKey ?? '',
      data: r.Data ?? new Uint8Array(),
      approximateArrivalTimestamp: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
    }));
    const last = records.at(-1);
    const nextKey = last ? positionKey({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: last.sequenceNumber }) : key;
    this.iterators.set(shardId, { key: nextKey, iterator: output.NextShardIterator ?? undefined });
    return {
      records,
      ...(output.MillisBehindLatest !== undefined ? { millisBehindLatest: output.MillisBehindLatest } : {}),
      ...(output.NextShardIterator ? {} : { shardEnded: true }),
    };
  }

  private async shardIterator(shardId: string, position: ShardPosition): Promise<string> {
    try {
      const output = await this.client.send(
        new GetShardIteratorCommand({
          StreamName: this.streamName,
          ShardId: shardId,
          ShardIteratorType: position.type,
          ...(position.type === 'AFTER_SEQUENCE_NUMBER' ? { StartingSequenceNumber: position.sequenceNumber } : {}),
        }),
      );
      if (!output.ShardIterator) throw new Error('GetShardIterator returned no iterator');
      return output.ShardIterator;
    } catch (error) {
      throw readError(`GetShardIterator ${position.type} on ${this.streamName}/${shardId} failed`, error, shardId);
    }
  }
}

function positionKey(position: ShardPosition): string {
  return position.type === 'AFTER_SEQUENCE_NUMBER' ? `after:${position.sequenceNumber}` : position.type;
}

function readError(message: string, error: unknown, shardId?: string): SourceReadError {
  const name = (error as { name?: string }).name ?? 'Error';
  const detail = error instanceof Error ? error.message : String(error);
  return new SourceReadError(`${message}: ${name}: ${detail}`, {
    ...(shardId ? { shardId } : {}),
    throttled: classifyAwsError(error).throttled,
    cause: error,
  });
}
