/**
 * Reading `bench/results.json` into the cost model's `Measured` figures: each figure found by its
 * id (`bench/ids.ts`) in a section that ran, each field taken over the fallbacks (`fallbacks.ts`)
 * only when the results hold a usable value, and which fields came from where. Pure except
 * `loadMeasured`, which reads the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ARCHIVE, INTAKE, isFigure, ROLLUP, type FigureName, type RecordedFigureName, type WriteCostInfo } from '../ids.ts';
import { committedFallbacks } from './fallbacks.ts';
import type { Measured, WritePoint } from './model.ts';

const pos = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

/** Event time a full write-cost run covers (120 batches of 5 s); --quick covers 2 minutes. */
const FULL_RUN_SECONDS = 600;

/**
 * Stored bytes per series-hour from a full write-cost run (its items scaled to an hour of data,
 * bench/rollup.ts). Otherwise (quick runs): one item per minute and one per hour, each of the p99
 * item size plus 100 B; naive the same.
 */
function storedOf(c: Partial<WriteCostInfo>, seconds: number): Pick<WritePoint, 'storedPerSeriesHour' | 'naiveStoredPerSeriesHour'> {
  const { stored1m, stored1h, naiveStored1m, naiveStored1h } = c;
  if (seconds >= FULL_RUN_SECONDS && typeof stored1m === 'number' && pos(stored1h) && pos(naiveStored1m) && pos(naiveStored1h)) {
    return {
      storedPerSeriesHour: { '1m': stored1m, '1h': stored1h },
      naiveStoredPerSeriesHour: { '1m': naiveStored1m, '1h': naiveStored1h },
    };
  }
  const item = (c.p99ItemBytes ?? 0) + 100;
  const per = { '1m': 60 * item, '1h': item };
  return { storedPerSeriesHour: per, naiveStoredPerSeriesHour: per };
}

/** The `WriteCostInfo` fields a write point is made of (results of the first layout's bench lack them). */
const WRITE_COST_FIELDS = [
  'events',
  'batches',
  'batchSeconds',
  'foldSeconds',
  'itemsPerBatch',
  'segments',
  'manifests',
  'bytesPerEntry',
  'logWcu',
  'headWrites',
  'headWcu',
  'folds',
  'foldItemsWritten',
  'foldWcu',
  'naiveWcu',
] as const satisfies readonly (keyof WriteCostInfo)[];

/** A rollup write-cost run (info `writeCost<series>`) as a write point, or undefined when it lacks a field the model needs. */
function writePointOf(series: number, raw: unknown): WritePoint | undefined {
  const c = raw as Partial<WriteCostInfo> | null;
  if (!c || !WRITE_COST_FIELDS.every((k) => pos(c[k]))) return undefined;
  const w = c as WriteCostInfo;
  const perBatch = (n: number) => n / w.batches;
  return {
    seriesPerBatch: series,
    eventsPerBatch: perBatch(w.events),
    batchSeconds: w.batchSeconds,
    foldSeconds: w.foldSeconds,
    itemsPerBatch: w.itemsPerBatch,
    segmentsPerBatch: perBatch(w.segments),
    bytesPerEntry: w.bytesPerEntry,
    logWcuPerBatch: perBatch(w.logWcu),
    headWcuPerWrite: w.headWcu / w.headWrites,
    headWritesPerBatch: perBatch(w.headWrites),
    foldItemsPerFold: w.foldItemsWritten / w.folds,
    foldWcuPerItem: w.foldWcu / w.foldItemsWritten,
    rcuPerBatch: perBatch(w.rcu ?? 0),
    p99ItemBytes: w.p99ItemBytes ?? 0,
    maxItemBytes: w.maxItemBytes ?? 0,
    maxLogItemBytes: w.maxLogItemBytes ?? 0,
    naiveWcuPer1k: (w.naiveWcu * 1000) / w.events,
    ...storedOf(c, w.batches * w.batchSeconds),
  };
}

interface FigureLike extends RecordedFigureName {
  readonly section: string;
  readonly value: number;
  readonly clock?: string;
  readonly baseline?: { readonly value: number };
}
interface SectionLike {
  readonly section: string;
  readonly ok?: boolean;
  readonly info?: Record<string, unknown>;
  readonly figures?: readonly FigureLike[];
}

export interface LoadedMeasured {
  readonly measured: Measured;
  /** Fields taken from the results file; every other field is a fallback. */
  readonly fromResults: readonly (keyof Measured)[];
  readonly source: string | null;
}

/** Merges the figures found in a parsed results.json over `fallback`. Pure. */
export function measuredFromResults(results: unknown, fallback: Measured = committedFallbacks().measured): LoadedMeasured {
  const m: { -readonly [K in keyof Measured]: Measured[K] } = { ...fallback };
  const from = new Set<keyof Measured>();
  const sections = (results as { sections?: SectionLike[] } | null)?.sections ?? [];
  const section = (name: string) => sections.find((s) => s.section === name && s.ok !== false);
  const fig = (s: SectionLike | undefined, f: FigureName) => s?.figures?.find((r) => isFigure(r, f));
  const set = <K extends keyof Measured>(k: K, v: unknown) => {
    if (pos(v)) {
      (m as Record<K, unknown>)[k] = v;
      from.add(k);
    }
  };
  // Every rate read here is on the CPU clock (one core): Lambda bills the time the handler runs,
  // and the model adds its I/O-wait factor on top.

  const intake = section(INTAKE.section);
  if (intake) {
    set('intakeAvgEventBytes', intake.info?.[INTAKE.info.avgEventBytes]);
    const rec = fig(intake, INTAKE.figures.recordsPer1k);
    set('recordsPerEvent', rec && rec.value / 1000);
    set('naiveRecordsPerEvent', rec?.baseline && rec.baseline.value / 1000);
    const bytes = fig(intake, INTAKE.figures.bytesPerEvent);
    set('streamBytesPerEvent', bytes?.value);
    set('naiveStreamBytesPerEvent', bytes?.baseline?.value);
    const enc = fig(intake, INTAKE.figures.encodeRate);
    set('intakeRate', enc?.value);
    set('naiveIntakeRate', enc?.baseline?.value);
  }

  const rollup = section(ROLLUP.section);
  if (rollup) {
    const r = fig(rollup, ROLLUP.figures.steadyRate);
    set('rollupRate', r?.value);
    set('naiveRollupRate', r?.baseline?.value);
    set('rollupFoldRate', fig(rollup, ROLLUP.figures.foldRate)?.value);
    const points: WritePoint[] = [];
    for (const [key, raw] of Object.entries(rollup.info ?? {})) {
      const series = ROLLUP.info.writeCostSeries(key);
      const point = series === undefined ? undefined : writePointOf(series, raw);
      if (point) points.push(point);
    }
    if (points.length > 0) {
      m.writePoints = points.sort((a, b) => a.seriesPerBatch - b.seriesPerBatch);
      from.add('writePoints');
    }
  }

  const archive = section(ARCHIVE.section);
  if (archive) {
    const fixture = archive.info?.[ARCHIVE.info.fixture] as Record<string, unknown> | undefined;
    set('archiveAvgEventBytes', fixture?.['avgEventBytes']);
    const size = fig(archive, ARCHIVE.figures.bytesPerEvent);
    set('parquetBytesPerEvent', size?.value);
    set('ndjsonGzipBytesPerEvent', size?.baseline?.value);
    set('archiveRate', fig(archive, ARCHIVE.figures.batchRate)?.value);
    set('naiveArchiveRate', fig(archive, ARCHIVE.figures.encodeRate)?.baseline?.value);
  }
  return { measured: m, fromResults: [...from], source: null };
}

/** Reads a results file when it exists; otherwise all fallbacks. */
export function loadMeasured(path: string, fallback: Measured = committedFallbacks().measured): LoadedMeasured {
  if (!existsSync(path)) return { measured: fallback, fromResults: [], source: null };
  const loaded = measuredFromResults(JSON.parse(readFileSync(path, 'utf8')), fallback);
  return { ...loaded, source: path };
}
