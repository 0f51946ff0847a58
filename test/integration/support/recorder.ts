import type { KinesisStreamEvent } from 'aws-lambda';
import { decodeBatch } from '../../../functions/shared/batch.ts';
import type { LineagedEvent } from '../../../functions/shared/codec.ts';
import type { LocalConsumer } from '../../../local/index.ts';

/**
 * A consumer for the embedded stack that decodes each batch as the product's consumers do and
 * hands its valid events, in delivery order, to `onEvents`.
 */
export function recordingConsumer(onEvents: (events: LineagedEvent[]) => void): LocalConsumer {
  return {
    name: 'recorder',
    timeoutSeconds: 10,
    settings: {
      batchSize: 500,
      maxBatchingWindowSeconds: 0,
      parallelizationFactor: 1,
      retryAttempts: 3,
      maxRecordAgeSeconds: -1,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
    },
    create: () => async (event: KinesisStreamEvent) => {
      onEvents(decodeBatch(event.Records, Date.now()).events);
    },
  };
}
