/** Adapter: the `RecordSink` port over the Kinesis PutRecords API. */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { PutRecord, PutResult, RecordSink } from './put-records.ts';

export class KinesisRecordSink implements RecordSink {
  constructor(
    private readonly client: Pick<KinesisClient, 'send'>,
    private readonly streamName: string,
  ) {}

  async putRecords(records: readonly PutRecord[]): Promise<PutResult[]> {
    const res = await this.client.send(
      new PutRecordsCommand({
        StreamName: this.streamName,
        Records: records.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })),
      }),
    );
    const entries = res.Records ?? [];
    return records.map((_, i) => {
      const e = entries[i];
      if (e === undefined) return { ok: false, code: 'MissingResult', message: 'PutRecords returned fewer results than records' };
      return e.ErrorCode ? { ok: false, code: e.ErrorCode, message: e.ErrorMessage ?? '' } : { ok: true };
    });
  }
}
