import seedrandom from 'seedrandom';

/** Seeded randomness, injected everywhere a decision may be random (never Math.random). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/**
 * seedrandom's ARC4 stream (its `quick()`: four bytes over 2^32), read from the state the library
 * keyed: the same numbers, without the library's per-draw closure calls and byte loop (a simulated
 * day draws hundreds of millions). test/util/rng.test.ts compares the two draw for draw.
 */
class Arc4Rng implements Rng {
  private readonly s = new Int32Array(256);
  private i: number;
  private j: number;

  constructor(state: { i: number; j: number; S: number[] }) {
    for (let k = 0; k < 256; k++) this.s[k] = state.S[k];
    this.i = state.i;
    this.j = state.j;
  }

  next(): number {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    i = (i + 1) & 255;
    let t = s[i];
    j = (j + t) & 255;
    s[i] = s[j];
    s[j] = t;
    let r = s[(s[i] + t) & 255];
    i = (i + 1) & 255;
    t = s[i];
    j = (j + t) & 255;
    s[i] = s[j];
    s[j] = t;
    r = r * 256 + s[(s[i] + t) & 255];
    i = (i + 1) & 255;
    t = s[i];
    j = (j + t) & 255;
    s[i] = s[j];
    s[j] = t;
    r = r * 256 + s[(s[i] + t) & 255];
    i = (i + 1) & 255;
    t = s[i];
    j = (j + t) & 255;
    s[i] = s[j];
    s[j] = t;
    r = r * 256 + s[(s[i] + t) & 255];
    this.i = i;
    this.j = j;
    return r / 0x100000000;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

export function createRng(seed: number | string): Rng {
  return new Arc4Rng(seedrandom(String(seed), { state: true }).state());
}

/** Derives an independent stream from a parent seed, so adding one consumer does not shift another. */
export function childRng(seed: number | string, label: string): Rng {
  return createRng(`${seed}/${label}`);
}

/** Exponential variate with the given rate (events per unit time). */
export function exponential(rng: Rng, rate: number): number {
  let u = rng.next();
  if (u <= 0) u = Number.MIN_VALUE;
  return -Math.log(u) / rate;
}
