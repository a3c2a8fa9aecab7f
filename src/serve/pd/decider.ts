import type { WorkerView } from '../../routing/types.js';
import type { Request } from '../../workload/request.js';
import { ApproximatePrefixIndex } from '../../routing/prefix/approximate-index.js';

/**
 * llm-d's prefix-based PD decider: decode is always scheduled; the request is sent to a prefill
 * worker only when the prompt tokens the chosen decode worker does not already hold reach the
 * threshold, else the decode worker prefills locally. What a decode worker holds is estimated the
 * way the approximate prefix index does (a dispatched prompt is assumed cached on its worker),
 * since both a local prefill and a received transfer leave the prompt's KV there.
 */
export class PdDecider {
  private readonly index: ApproximatePrefixIndex;
  private readonly out = [0];

  constructor(
    /** Uncached prompt tokens from which a request is disaggregated; 0 = always. */
    readonly thresholdTokens: number,
    readonly blockSize: number,
  ) {
    this.index = new ApproximatePrefixIndex({ blockSize, lruBlocks: 0 });
  }

  /** Uncached prompt tokens of `req` on `decode` (all of them when the prompt has no token ids). */
  uncachedTokens(req: Request, decode: WorkerView): number {
    if (req.prefix?.kind !== 'tokens') return req.inputTokens;
    this.out[0] = 0;
    this.index.match(req, [decode], this.out);
    return Math.max(0, req.inputTokens - this.out[0] * this.blockSize);
  }

  /** Decides for a request placed on `decode`, and records that its prompt ends up cached there. */
  disaggregate(req: Request, decode: WorkerView): boolean {
    if (this.thresholdTokens <= 0) return true;
    const split = this.uncachedTokens(req, decode) >= this.thresholdTokens;
    if (req.prefix?.kind === 'tokens') this.index.recordRouted(req, decode);
    return split;
  }

  removeWorker(w: WorkerView): void {
    this.index.removeWorker(w);
  }

  /** Decode workers the index holds blocks for (leak checks). */
  workerCount(): number {
    return this.index.workerCount();
  }
}
