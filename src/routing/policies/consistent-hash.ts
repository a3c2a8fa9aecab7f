/**
 * consistent-hash: a hash ring keyed by the request's session (or user), with bounded loads.
 * Semantics: SGLang `consistent_hashing` ring (150 virtual nodes per worker, binary search, then
 * a clockwise walk past unavailable workers), keyed by a routing key; the key comes from the
 * request's `sessionId` or `userId` field (`serve` fills them from the session/user headers, a
 * trace from its session_id/user fields).
 * Bounded load (Mirrokni et al., "consistent hashing with bounded loads", as in SGLang's
 * prefix_hash and #33791): a worker is skipped when taking the request would put it above
 * ceil(load_factor × (total in-flight + 1) / workers); the walk continues clockwise, so a hot key spills
 * to the same next worker every time. load_factor 0 disables the bound.
 * Deviations: virtual-node positions use a 32-bit hash (our chained block hash) of "name#i" rather than
 * blake3 (any well-mixed hash gives the same balance); a request without a key goes to the
 * least-loaded worker (SGLang: random).
 */
import type { PolicyFactory, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';
import { argminRandomTie } from '../pick.js';
import { num, str } from '../options.js';
import { CandidateSet, ensureIndex, inFlight } from '../candidates.js';
import { chainHash } from '../../workload/block-hash.js';

const NAME = 'consistent-hash';

/** A well-mixed 32-bit hash of a string (the chained block hash over its UTF-16 code units). */
export function hashString32(s: string): number {
  const codes = new Array<number>(s.length);
  for (let i = 0; i < s.length; i++) codes[i] = s.charCodeAt(i);
  return chainHash(0, codes, 0, codes.length) % 4294967296;
}

export type AffinityKey = 'session' | 'user';

export function affinityKey(req: RouteRequest, key: AffinityKey): string | undefined {
  return key === 'session' ? req.sessionId : req.userId;
}

/** Ring of virtual nodes over every worker seen, keyed by worker name so indexes may change. */
export class HashRing {
  private points = new Uint32Array(0);
  private owners: number[] = [];
  private readonly members = new Map<number, string>();

  constructor(readonly virtualNodes: number) {}

  /** Adds any candidate not yet on the ring; returns true if the ring changed. */
  ensure(workers: readonly WorkerView[]): boolean {
    let changed = false;
    for (const w of workers) {
      if (this.members.get(w.index) !== w.name) {
        this.members.set(w.index, w.name);
        changed = true;
      }
    }
    if (changed) this.rebuild();
    return changed;
  }

  remove(index: number): void {
    if (this.members.delete(index)) this.rebuild();
  }

  private rebuild(): void {
    const pts: { p: number; w: number }[] = [];
    for (const [w, name] of this.members) for (let i = 0; i < this.virtualNodes; i++) pts.push({ p: hashString32(`${name}#${i}`), w });
    pts.sort((a, b) => a.p - b.p || a.w - b.w);
    this.points = Uint32Array.from(pts, (x) => x.p);
    this.owners = pts.map((x) => x.w);
  }

  /** Walks clockwise from the key's position; returns the first worker `accept` takes, or -1. */
  walk(key: string, accept: (w: number) => boolean): number {
    const n = this.points.length;
    if (n === 0) return -1;
    const h = hashString32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    const tried = new Set<number>();
    for (let k = 0; k < n && tried.size < this.members.size; k++) {
      const w = this.owners[(lo + k) % n];
      if (tried.has(w)) continue;
      tried.add(w);
      if (accept(w)) return w;
    }
    return -1;
  }
}

export const consistentHashPolicy: PolicyFactory = {
  name: NAME,
  description: 'Hash ring (virtual nodes) on the session or user id with bounded loads; keyless requests go to the least loaded.',
  options: [
    { name: 'key', type: 'string', default: 'session', values: ['session', 'user'], description: 'request field to hash: session or user' },
    { name: 'virtual_nodes', type: 'integer', default: 150, min: 1, description: 'ring points per worker (SGLang: 150)' },
    { name: 'load_factor', type: 'number', default: 1.25, min: 0, description: 'skip a worker above this × mean in-flight (0 = no bound)' },
  ],
  create: (o) => {
    const key = str(o, 'key', ['session', 'user'] as const);
    const ring = new HashRing(num(o, 'virtual_nodes'));
    const factor = num(o, 'load_factor');
    const cands = new CandidateSet();
    const byIndex: WorkerView[] = [];
    return {
      name: NAME,
      usesPrefix: false,
      pick(req, candidates, ctx) {
        const k = affinityKey(req, key);
        // A keyless request goes to the least loaded: the router's index gives the scan's pick in O(log n).
        if (k === undefined) return { worker: (ctx.inFlightIndex?.(candidates)?.argminRandomTie(ctx.rng) ?? argminRandomTie(candidates, inFlight, ctx.rng)).index, branch: 'no-key' };
        ring.ensure(candidates);
        cands.reset(candidates);
        let total = 0;
        for (const c of candidates) {
          total += c.inFlight;
          ensureIndex(byIndex, c.index, c);
          byIndex[c.index] = c;
        }
        // CHWBL capacity: ceil(c · (m + 1) / n), so an idle fleet always has room.
        const bound = factor > 0 ? Math.ceil((factor * (total + 1)) / candidates.length) : Infinity;
        const home = ring.walk(k, cands.has);
        if (home < 0) return { worker: argminRandomTie(candidates, inFlight, ctx.rng).index, branch: 'no-key' };
        if (byIndex[home].inFlight + 1 <= bound) return { worker: home, branch: 'home' };
        const w = ring.walk(k, (x) => cands.has(x) && byIndex[x].inFlight + 1 <= bound);
        if (w >= 0) return { worker: w, branch: 'spill' };
        return { worker: argminRandomTie(candidates, inFlight, ctx.rng).index, branch: 'spill' };
      },
      onWorkerRemoved(w) {
        ring.remove(w.index);
        // Views are refilled on every pick; dropping the tail keeps no reference to the removed one.
        if (byIndex.length > w.index) byIndex.length = w.index;
      },
    };
  },
};
