import { setFlagsFromString } from 'node:v8';

/**
 * V8's old-generation growing factor for `router serve`, set once at startup.
 *
 * Why: after each mark-compact V8 sets the next old-generation limit to the live size times a
 * factor it derives from how fast the old generation fills (between 1.1 and 4), at least 8 MB
 * more, plus the young generation's capacity; and it starts the next incremental marking, from a
 * task after a scavenge, once less than about two semi-spaces of room are left under that limit
 * (observed with `--trace-incremental-marking` on Node 20: marking starts with 23–32 MB of slack
 * and 16 MB semi-spaces). Serve's old generation is mostly code and long-lived state (~19 MB live
 * under load) and fills slowly (~200 B per request: the young generation takes the rest), so V8
 * picks a factor near 1.1: the room after a mark-compact (8 + 16 MB) is already below the trigger,
 * and every scavenge starts another mark-compact until the factor drifts up. In `npm run
 * bench:proxy` at 128 connections that was 14–24 mark-compacts in 30 s of load, in bursts of one
 * every 200–400 ms, each freeing 1–2 MB; node-min (a fast-filling, smaller heap, factor near the
 * top) did one. Each marking runs ~50 ms next to the event loop, its concurrent markers taking
 * CPU from the main thread, and the event loop's 30–50 ms stalls sat on those markings.
 *
 * A fixed factor of 3 (`--heap-growing-percent=200`) leaves ~2 × live − 16 MB (~23 MB for serve)
 * of room above the trigger after each mark-compact, so one runs when that much old garbage has
 * built up: in 20 s runs of the bench's stream load (5000–8000 req/s, loaded machine) once per run
 * (main before this: 0–10 per run, 3.25 on average over 8 runs, in bursts; a factor of 2 left only
 * ~3 MB of room and ran one every ~6 s). The memory cost is bounded: the old-generation limit
 * becomes three times its live size plus the young generation (V8 still caps it halfway to the
 * heap's maximum), which V8's own dynamic factor (up to 4) reaches when the old generation fills fast.
 *
 * The factor is read by V8 each time it recomputes the limit, so setting it after startup
 * (v8.setFlagsFromString) takes effect from the next garbage collection. A user's own
 * `--heap-growing-percent` (node option or NODE_OPTIONS) wins; percent 0 leaves V8's dynamic
 * factor alone.
 */
export function tuneHeapGrowth(percent: number, execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): boolean {
  if (percent <= 0 || heapGrowingGiven(execArgv, nodeOptions)) return false;
  setFlagsFromString(`--heap-growing-percent=${Math.round(percent)}`);
  return true;
}

/** Whether the node process was started with its own heap growing factor (V8 accepts _ or -). */
export function heapGrowingGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = (arg: string): boolean => /^--heap[-_]growing[-_]percent(=|$)/.test(arg);
  return execArgv.some(given) || (nodeOptions ?? '').split(/\s+/).some(given);
}
