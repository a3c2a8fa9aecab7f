/** The tokenizers serve and the mock worker count with: `fast` (below) or the exact Llama 3 BPE (./tokenizer.ts). */
export type TokenizerName = 'fast' | 'llama3';
export const TOKENIZERS: readonly TokenizerName[] = ['fast', 'llama3'];

const PIECE = / ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+(?!\S)|\s+/gu;

function fnv1a(s: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Ids of text[from, to) appended to `out` (growing it). The alternatives of PIECE between them
 * match every code point and none matches the empty string, so each piece starts where the last
 * ended: `test` (which builds no match array) and `lastIndex` give its bounds.
 */
export function idsInto(text: string, from: number, to: number, out: { buf: Uint32Array; n: number }): void {
  PIECE.lastIndex = from;
  let start = from;
  while (start < to && PIECE.test(text)) {
    const end = PIECE.lastIndex;
    for (let i = start; i < end; i += 10) {
      if (out.n === out.buf.length) {
        const bigger = new Uint32Array(out.buf.length * 2);
        bigger.set(out.buf);
        out.buf = bigger;
      }
      out.buf[out.n++] = fnv1a(text, i, Math.min(end, i + 10));
    }
    start = end;
  }
}

/**
 * The `fast` tokenizer: a deterministic piece splitter, a few µs per request. Letter runs (with
 * their leading space), 1–3 digits, single punctuation marks and whitespace runs are pieces;
 * a piece of up to 10 characters is one token, longer ones one per 10 characters. On 1,500
 * ShareGPT messages it counts 1.095× the Llama 3 tokenizer's total (median 1.07×, p10–p90
 * 0.97–1.19×). Whitespace runs leave their last space to the next word, as tiktoken does.
 * Ids are FNV-1a hashes of the pieces, so equal text prefixes share id prefixes.
 * Used by serve (src/serve/tokenize.ts) and by the mock worker, which must count as serve does.
 */
export function fastTokenIds(text: string): Uint32Array {
  const out = { buf: new Uint32Array(Math.max(16, text.length >> 2)), n: 0 };
  idsInto(text, 0, text.length, out);
  return out.buf.subarray(0, out.n);
}

/** The count `fastTokenIds(text).length` without computing ids (count-only policies); pieces as in idsInto. */
export function fastTokenCount(text: string): number {
  PIECE.lastIndex = 0;
  let n = 0;
  let start = 0;
  while (PIECE.test(text)) {
    const end = PIECE.lastIndex;
    n += Math.ceil((end - start) / 10);
    start = end;
  }
  return n;
}
