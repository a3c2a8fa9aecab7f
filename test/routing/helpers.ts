import { VirtualClock } from '../../src/util/clock.js';
import { createRng } from '../../src/util/rng.js';
import type { PolicyContext, ScrapedMetrics, WorkerView } from '../../src/routing/types.js';
import type { Request } from '../../src/workload/request.js';

export function workers(n: number, extra: Partial<WorkerView> = {}): WorkerView[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    index: i,
    name: `w-${i}`,
    gpu: 'l20',
    model: 'llama-3.1-8b',
    profile: 'llama-3.1-8b@l20',
    costUsdPerHour: 1,
    kvCapacityTokens: 16 * 1000,
    blockSize: 16,
    healthy: true,
    inFlight: 0,
    inFlightPromptTokens: 0,
    inPrefill: 0,
    ...extra,
  }));
}

export function ctx(seed = 1, clock = new VirtualClock()): PolicyContext & { clock: VirtualClock } {
  return { clock, rng: createRng(seed) };
}

export function scraped(m: Partial<ScrapedMetrics>): ScrapedMetrics {
  return { running: 0, waiting: 0, kvUsage: 0, atS: 0, ...m };
}

let nextId = 0;

/** A request whose prompt is `blocks` Mooncake-style block ids of 16 tokens. */
export function blockReq(ids: number[], extra: Partial<Request> = {}): Request {
  return {
    id: `r${nextId++}`,
    arrivalS: 0,
    inputTokens: ids.length * 16,
    outputTokens: 10,
    prefix: { kind: 'blocks', blockTokens: 16, hashIds: ids },
    ...extra,
  };
}

export function textReq(text: string, extra: Partial<Request> = {}): Request {
  return { id: `r${nextId++}`, arrivalS: 0, inputTokens: Math.ceil(text.length / 4), outputTokens: 10, text, ...extra };
}

export function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}
