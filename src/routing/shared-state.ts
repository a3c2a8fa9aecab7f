import type { RemoteLoad, WorkerView } from './types.js';

export type { RemoteLoad } from './types.js';

/**
 * Several router replicas in front of one fleet (issue 15): the state each must see from the
 * others, as a pure overlay on the local one. The transport (Redis in serve, a modelled sync in
 * the simulator) lives in the drivers; the routing core only adds what they report.
 *
 * What is shared and what stays local (docs/replicas.md has the reasons):
 * - in-flight requests, their prompt tokens and requests in prefill, per worker: shared (every
 *   load-aware policy reads them; without them N replicas each see 1/N of the load);
 * - session-affinity pins: shared (a session's next request may reach another replica);
 * - the pull-mode queue's length, counted against its bound: shared (the bound is the fleet's);
 * - worker health and circuit breakers: local (each replica probes and judges its own path to
 *   the worker; a breaker opened by one replica's failures says nothing of another's link, and a
 *   dead worker is found by every replica's own checks within one health interval);
 * - engine metrics scrapes: local (each replica scrapes the same engine; sharing adds delay);
 * - routing decisions: shared (each dispatch's prompt block hashes; the others replay it in
 *   their prefix indexes through `recordRemote`: an approximate index records it as its own, a
 *   precise index inserts it speculatively, as Dynamo's replica sync shares active blocks and
 *   sgl-router's mesh replicates its tree by operation). Without them an approximate index
 *   knows only its replica's share of the traffic, and even precise replicas, which hear the
 *   same engine events, place one new prefix on several workers in the window before the
 *   first event (bench:replicas, simulate --router-replicas).
 * - the prefix indexes themselves: local (each is rebuilt from the shared decisions and, for
 *   the precise one, from the engines, which every replica hears).
 */

export const NO_REMOTE_LOAD: RemoteLoad = Object.freeze({ inFlight: 0, promptTokens: 0, inPrefill: 0 });

/** The counts this replica placed itself: the view's counts minus the remote overlay. */
export function localLoad(w: WorkerView): RemoteLoad {
  const r = w.remote;
  if (!r) return { inFlight: w.inFlight, promptTokens: w.inFlightPromptTokens, inPrefill: w.inPrefill };
  return { inFlight: w.inFlight - r.inFlight, promptTokens: w.inFlightPromptTokens - r.promptTokens, inPrefill: w.inPrefill - r.inPrefill };
}

/** Requests this replica has in flight on `w` (drains and removals wait for these only). */
export function localInFlight(w: WorkerView): number {
  return w.inFlight - (w.remote?.inFlight ?? 0);
}

/** How replicas name a worker to each other: its URL in serve, its name in the simulator. */
export function workerKey(w: Pick<WorkerView, 'url' | 'name'>): string {
  return w.url ?? w.name;
}
