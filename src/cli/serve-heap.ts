import { setFlagsFromString } from 'node:v8';

/**
 * V8's garbage-collection policy for `roster serve`, set when this module is evaluated: cli.ts
 * imports it before any module of the app, as import-heap.ts, so no allocation site has been
 * judged yet. Other commands keep V8's defaults.
 *
 * Allocation-site pretenuring is off. V8 allocates the objects of a literal straight into the old
 * generation once nearly all of that literal's objects survived young collections. In a server
 * the same literal makes objects that live long (at start-up, in a burst) and objects that live
 * for one request: pg's row and field arrays are the same literals for every query. On Node 20,
 * once they were judged long-lived, every GET's row was made in the old generation, dead as soon
 * as the response was written but kept until the next full collection, and it kept its field
 * strings alive through young collections, which copied and then promoted them. At 50 connections
 * on PostgreSQL that was ~270 kB promoted per young collection (fastify + pg: ~0), young
 * collections of 1.7 ms instead of 1.0, and a heap that filled with dead rows between full
 * collections (bench/RESULTS.md, issue 14, seventeenth pass, with the cost on each route).
 */
export const SERVE_HEAP_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** Applies SERVE_HEAP_FLAGS to this process (bench/servers.ts's Roster too, to run as `roster serve` does). */
export function tuneServeHeap(): void {
  for (const flag of SERVE_HEAP_FLAGS) setFlagsFromString(flag);
}

// `roster serve`: the command is the first argument (cli.ts).
if (process.argv[2] === 'serve') tuneServeHeap();
