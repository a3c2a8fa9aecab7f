import { getGpu } from '../profiles/catalog.js';
import { parseFleet } from '../profiles/fleet.js';
import { UserError } from '../util/errors.js';

/** A GPU type the plan may buy, at most `max` of. */
export interface GpuChoice {
  id: string;
  max: number;
  /** Price of one worker, micro-USD per hour (integers, so equal-cost fleets compare equal). */
  costMicro: number;
  /** The engine's concurrent-sequence limit on this GPU (for the capacity bound). */
  maxNumSeqs: number;
}

/** A fleet composition: a count per GPU type, in `--gpus` order. */
export interface Composition {
  /** Position in enumeration order (the plan's and the exhaustive sweep's tie-break). */
  index: number;
  counts: number[];
  costMicro: number;
  /** `--fleet` spec, e.g. `l20:2,a10:1` (types with count 0 left out). */
  fleet: string;
}

/** `--gpus l20,a10,h100-sxm:2`: types and optional per-type maxima (default: the total cap). */
export function parseGpuChoices(spec: string, maxTotal: number): GpuChoice[] {
  const parts = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UserError(`--gpus: expected GPU[:MAX],... (e.g. l20,a10,h100-sxm:2), got "${spec}"`);
  const seen = new Set<string>();
  return parts.map((p) => {
    const m = /^([A-Za-z0-9._@-]+)(?::(\d+))?$/.exec(p);
    if (!m) throw new UserError(`--gpus "${p}": expected GPU[:MAX] (e.g. h100-sxm:2)`);
    getGpu(m[1], `--gpus ${p}`);
    if (seen.has(m[1])) throw new UserError(`--gpus: ${m[1]} is listed twice`);
    seen.add(m[1]);
    const max = m[2] === undefined ? maxTotal : Number(m[2]);
    if (max < 1) throw new UserError(`--gpus "${p}": MAX must be at least 1`);
    const d = parseFleet(`${m[1]}:1`)[0].deployment;
    return { id: m[1], max: Math.min(max, maxTotal), costMicro: Math.round(d.costUsdPerHour * 1e6), maxNumSeqs: d.engine.maxNumSeqs };
  });
}

export function fleetSpec(types: readonly GpuChoice[], counts: readonly number[]): string {
  return types
    .map((t, i) => (counts[i] > 0 ? `${t.id}:${counts[i]}` : ''))
    .filter((s) => s !== '')
    .join(',');
}

/** Every composition of 1..maxTotal workers within the per-type maxima, first type varying slowest. */
export function enumerateCompositions(types: readonly GpuChoice[], maxTotal: number): Composition[] {
  const out: Composition[] = [];
  const counts = types.map(() => 0);
  const rec = (t: number, left: number): void => {
    if (t === types.length) {
      const total = counts.reduce((a, b) => a + b, 0);
      if (total === 0) return;
      out.push({ index: out.length, counts: [...counts], costMicro: counts.reduce((a, c, i) => a + c * types[i].costMicro, 0), fleet: fleetSpec(types, counts) });
      return;
    }
    for (let c = 0; c <= Math.min(types[t].max, left); c++) {
      counts[t] = c;
      rec(t + 1, left - c);
    }
    counts[t] = 0;
  };
  rec(0, maxTotal);
  return out;
}
