/**
 * Ascending in-place sort of a Float64Array in the order `Float64Array.prototype.sort` gives
 * (−0 before +0, NaN last), by a least-significant-digit radix sort of the doubles' bit patterns:
 * a summary sorts four columns of a million latencies, where the comparison sort's n·log n is
 * most of the summary's time. A sort's output is fixed by its order, so this one's output is the
 * built-in's, element for element (the test compares them on random and edge-case arrays).
 *
 * Keys: a non-negative double's bits with the sign bit set, a negative double's bits inverted,
 * compare as unsigned 64-bit integers in the doubles' order; every NaN becomes the largest key.
 * Four passes of 16 bits over the (low, high) 32-bit words, a pass skipped when every key holds
 * the same digit there.
 */

/** Below this length the built-in sort is cheaper than clearing four 65,536-entry histograms. */
const RADIX_FROM = 32_768;
const DIGITS = 65_536;

export function sortFloat64(a: Float64Array): Float64Array {
  return a.length < RADIX_FROM ? a.sort() : radixSortFloat64(a);
}

/** `sortFloat64` by the radix passes whatever the length (exported for the tests' small cases). */
export function radixSortFloat64(a: Float64Array): Float64Array {
  const n = a.length;
  const n2 = 2 * n;
  // The doubles' native byte order: little-endian on every platform Node 20 ships for.
  const u = new Uint32Array(a.buffer, a.byteOffset, n2);
  const hist = new Int32Array(4 * DIGITS);
  for (let i = 0; i < n2; i += 2) {
    let lo = u[i];
    let hi = u[i + 1];
    if ((hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) | lo) !== 0) {
      lo = 0xffffffff;
      hi = 0xffffffff;
      u[i] = lo;
    } else if (hi & 0x80000000) {
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
      u[i] = lo;
    } else hi = (hi | 0x80000000) >>> 0;
    u[i + 1] = hi;
    hist[lo & 0xffff]++;
    hist[DIGITS + (lo >>> 16)]++;
    hist[2 * DIGITS + (hi & 0xffff)]++;
    hist[3 * DIGITS + (hi >>> 16)]++;
  }
  let src: Uint32Array = u;
  let dst: Uint32Array = new Uint32Array(n2);
  const offsets = new Int32Array(DIGITS);
  for (let p = 0; p < 4; p++) {
    const base = p * DIGITS;
    let sum = 0;
    let trivial = false;
    for (let d = 0; d < DIGITS; d++) {
      const c = hist[base + d];
      if (c === n) {
        trivial = true;
        break;
      }
      offsets[d] = sum;
      sum += 2 * c;
    }
    if (trivial) continue;
    scatter(src, dst, n2, p >> 1, (p & 1) * 16, offsets);
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== u) u.set(src);
  for (let i = 0; i < n2; i += 2) {
    const hi = u[i + 1];
    if (hi & 0x80000000) u[i + 1] = hi & 0x7fffffff;
    else {
      u[i] = ~u[i];
      u[i + 1] = ~hi;
    }
  }
  return a;
}

/** One stable counting pass on the 16-bit digit at `shift` of word `word` (0 low, 1 high). */
function scatter(src: Uint32Array, dst: Uint32Array, n2: number, word: number, shift: number, offsets: Int32Array): void {
  for (let i = 0; i < n2; i += 2) {
    const lo = src[i];
    const hi = src[i + 1];
    const d = ((word === 0 ? lo : hi) >>> shift) & 0xffff;
    const k = offsets[d];
    offsets[d] = k + 2;
    dst[k] = lo;
    dst[k + 1] = hi;
  }
}
