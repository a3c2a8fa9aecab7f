import type { Request } from './request.js';
import { createRng, exponential, type Rng } from '../util/rng.js';

export interface LengthDist {
  /** `fixed` always gives `mean`; `exponential` and `lognormal` are clamped to [min, max]. */
  kind: 'fixed' | 'exponential' | 'lognormal';
  mean: number;
  /** Shape of the lognormal (standard deviation of the underlying normal). */
  sigma?: number;
  min?: number;
  max?: number;
}

export interface SyntheticOptions {
  seed: number;
  /** Mean arrival rate, requests per second (Poisson process). */
  rate: number;
  count: number;
  input: LengthDist;
  output: LengthDist;
  /**
   * Shared-prefix groups: each request belongs to one of `groups` groups (uniformly) and starts
   * with that group's `prefixTokens`-token prefix. Prefix identity is carried as block ids of
   * `blockTokens` tokens.
   */
  sharedPrefix?: { groups: number; prefixTokens: number; blockTokens?: number };
}

/** Standard normal variate (Box–Muller). */
export function gaussian(rng: Rng): number {
  const u = Math.max(rng.next(), Number.MIN_VALUE);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

export function sampleLength(rng: Rng, d: LengthDist): number {
  return lengthSampler(d)(rng);
}

/**
 * `sampleLength` for one distribution with its constants worked out once: a stream of millions
 * of requests pays the logarithm of the mean once. The same arithmetic, so the same lengths.
 */
export function lengthSampler(d: LengthDist): (rng: Rng) => number {
  const max = d.max ?? Infinity;
  const min = d.min ?? 1;
  const clamp = (v: number): number => Math.round(Math.min(max, Math.max(min, v)));
  switch (d.kind) {
    case 'fixed':
      return () => clamp(d.mean);
    case 'exponential': {
      const rate = 1 / d.mean;
      return (rng) => clamp(exponential(rng, rate));
    }
    case 'lognormal': {
      const sigma = d.sigma ?? 1;
      // (log(mean) − σ²/2) + σ·z, evaluated in the order sampleLength always did.
      const mu = Math.log(d.mean) - (sigma * sigma) / 2;
      return (rng) => clamp(Math.exp(mu + sigma * gaussian(rng)));
    }
  }
}

/**
 * A seeded Poisson workload; the same options always give the same requests. An iterator object
 * rather than a generator: a simulated day reads tens of millions of requests, and a plain
 * `next()` costs less than resuming a generator.
 */
export function syntheticRequests(o: SyntheticOptions): IterableIterator<Request> {
  return new SyntheticStream(o);
}

class SyntheticStream implements IterableIterator<Request> {
  private readonly rng: Rng;
  private readonly blockTokens: number;
  private readonly outputLength: (rng: Rng) => number;
  private readonly inputLength: (rng: Rng) => number;
  private t = 0;
  private i = 0;
  // Block ids: group prefixes use small ids; unique tails count up from 2^40 so they never collide.
  private nextUnique = 2 ** 40;

  constructor(private readonly o: SyntheticOptions) {
    this.rng = createRng(o.seed);
    this.blockTokens = o.sharedPrefix?.blockTokens ?? 16;
    this.outputLength = lengthSampler(o.output);
    this.inputLength = lengthSampler(o.input);
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Request> {
    const o = this.o;
    if (this.i >= o.count) return { done: true, value: undefined };
    const rng = this.rng;
    const i = this.i++;
    this.t += exponential(rng, o.rate);
    const out = this.outputLength(rng);
    let input = this.inputLength(rng);
    let prefix: Request['prefix'];
    if (o.sharedPrefix) {
      const g = rng.int(o.sharedPrefix.groups);
      input += o.sharedPrefix.prefixTokens;
      const shared = Math.floor(o.sharedPrefix.prefixTokens / this.blockTokens);
      const total = Math.ceil(input / this.blockTokens);
      const ids = new Array<number>(total);
      for (let b = 0; b < total; b++) ids[b] = b < shared ? g * 1_000_000 + b : this.nextUnique++;
      prefix = { kind: 'blocks', blockTokens: this.blockTokens, hashIds: ids };
    }
    return { done: false, value: { id: `syn-${i}`, arrivalS: this.t, inputTokens: input, outputTokens: out, prefix } };
  }
}
