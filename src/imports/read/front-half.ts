import { batchRows, type Batch, type BatchOptions } from './batch.js';
import { dedupeEmails, type DedupeOptions } from './dedupe.js';
import { parseRows, type CsvOptions, type ImportFormat } from './parse.js';
import { countRows } from '../jobs/report.js';
import type { Stage } from './rows.js';
import { readSource, type SourceOptions } from './source.js';
import { validateRows } from './validate.js';

export interface FrontHalfOptions extends CsvOptions, Omit<SourceOptions, 'counters'> {
  readonly format: ImportFormat;
  readonly dedupe?: DedupeOptions;
  readonly batch?: BatchOptions;
  /** Bytes read, rows read and rows rejected so far, for progress (an ImportCounters). */
  readonly counters?: { bytes: number; read: number; failed: number };
}

/**
 * The whole front half as one stage: bytes → source → parse → validate → dedupe → batches,
 * for `pipeline(input, importBatches(options), writer, { signal })`. The inner stages pull
 * from each other directly (backpressure is the pull), share the signal, and are finished in
 * turn when the consumer stops or anything throws.
 */
export function importBatches(options: FrontHalfOptions): Stage<Uint8Array, Batch> {
  const { format, dedupe, batch, counters, ...rest } = options;
  return (input, { signal } = {}) => {
    const context = signal === undefined ? {} : { signal };
    const chunks = readSource(counters === undefined ? rest : { ...rest, counters })(input, context);
    const checked = dedupeEmails(dedupe)(validateRows()(parseRows(format, rest)(chunks, context), context), context);
    return batchRows(batch)(counters === undefined ? checked : countRows(counters)(checked, context), context);
  };
}
