import seedrandom from 'seedrandom';

/** Seeded randomness, injected everywhere a decision may be random (never Math.random). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

export function createRng(seed: number | string): Rng {
  const prng = seedrandom(String(seed));
  return {
    next: () => prng.quick(),
    int: (n: number) => Math.floor(prng.quick() * n),
  };
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
