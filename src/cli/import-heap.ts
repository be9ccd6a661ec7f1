import { setFlagsFromString } from 'node:v8';

/**
 * V8's heap sizing for `roster import`, set when this module is evaluated. It is cli.ts's first
 * import, and ES modules evaluate their imports in order, so the settings apply before any other
 * module is loaded; other commands (`serve` above all) keep V8's defaults.
 *
 * An import's batches live until they commit (~250 ms on SQLite, up to 20,000 rows), long enough
 * to be promoted to the old generation, where they die. With V8's defaults the young generation
 * grew to 32 MB (two 16 MB semi-spaces) and the old one filled with dead batches to 80–90 MB
 * between full collections, 30–40 MB of it live: the peak RSS of a 300k-row import was 254 MB.
 * Bounded as below it was 163 MB (bench/RESULTS.md, "Import memory, issue 15, 2026-12-05, second
 * pass", with the CPU this costs):
 *   - the young generation keeps the size it starts with (1 MB semi-spaces): `--semi-space-growth-factor`
 *     is read each time V8 would grow it, so setting it to 1 before anything is allocated keeps it
 *     there (`--max-semi-space-size` is read once when the heap is made, and cannot be set from
 *     inside the process);
 *   - the old generation may grow by half of what survived the last full collection before the
 *     next one (`--heap-growing-percent`, read after each full collection), not up to 4× as V8
 *     allows itself on a machine with a few GB of memory.
 */
export const IMPORT_HEAP_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--heap-growing-percent=50'];

/** Applies IMPORT_HEAP_FLAGS to this process (bench/import.ts's children too, to run as `roster import` does). */
export function boundImportHeap(): void {
  for (const flag of IMPORT_HEAP_FLAGS) setFlagsFromString(flag);
}

// `roster import …`: the command is the first argument (cli.ts).
if (process.argv[2] === 'import') boundImportHeap();
