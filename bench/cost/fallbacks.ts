/**
 * The cost model's fallback figures, used field by field where the results file lacks a
 * measurement (`figures.ts`).
 */
import type { Measured } from './model.ts';

/**
 * Fallbacks: intake from a full run and archive from a quick run, 2026-11-28, 2-vCPU AMD EPYC,
 * Node 20.20 (`npm run bench`); rollup rates and write points from the full run of 09:19 UTC that
 * day (packed minutes, item cache). Used per field when results.json lacks the figure.
 */
export const FALLBACK: Measured = {
  intakeAvgEventBytes: 204.6,
  recordsPerEvent: 3.5 / 1000,
  naiveRecordsPerEvent: 1,
  streamBytesPerEvent: 19.19,
  naiveStreamBytesPerEvent: 222.89,
  intakeRate: 111_710,
  naiveIntakeRate: 433_123,
  rollupRate: 320_287,
  naiveRollupRate: 289_416,
  archiveRate: 62_982,
  naiveArchiveRate: 146_106,
  writePoints: [
    { seriesPerBatch: 100, eventsPerBatch: 10_000, writesPer1k: 13.6, wcuPer1k: 14.74, rcuPer1k: 3.77, naiveWcuPer1k: 2000, storedPerSeriesHour: { '1m': 12_010, '1h': 1_034 }, naiveStoredPerSeriesHour: { '1m': 16_595, '1h': 278 } },
    { seriesPerBatch: 1000, eventsPerBatch: 10_000, writesPer1k: 136, wcuPer1k: 147.6, rcuPer1k: 37.67, naiveWcuPer1k: 2000, storedPerSeriesHour: { '1m': 9_097, '1h': 1_034 }, naiveStoredPerSeriesHour: { '1m': 16_544, '1h': 278 } },
    { seriesPerBatch: 10_000, eventsPerBatch: 10_000, writesPer1k: 1360, wcuPer1k: 1470.5, rcuPer1k: 376.7, naiveWcuPer1k: 2000, storedPerSeriesHour: { '1m': 8_642, '1h': 921 }, naiveStoredPerSeriesHour: { '1m': 16_442, '1h': 276 } },
  ],
  archiveAvgEventBytes: 204.6,
  parquetBytesPerEvent: 15.5,
  ndjsonGzipBytesPerEvent: 21.8,
};
