/** The shape of one engine step, enough to price it. */
export interface StepShape {
  /** New tokens computed: prefill chunk tokens plus one per decoding sequence. */
  tokens: number;
  /** Sequences in the batch. */
  seqs: number;
  /** Σ over prefill chunks of l·(c + l/2): causal-attention token pairs (c = cached/computed context). */
  prefillAttnPairs: number;
  /** Σ over prefill chunks of (c + l): KV entries prefill attention reads. */
  prefillKvTokens: number;
  /** Σ over decoding sequences of their context length. */
  decodeKvTokens: number;
  /** Prefill chunks in the step (sequences that are not decoding); 1 when absent and prefillKvTokens > 0. */
  prefillChunks?: number;
}

/** Prices a step in seconds. `decodeSeconds(b, kv)` must equal `seconds` of the all-decode shape exactly. */
export interface StepCost {
  seconds(shape: StepShape): number;
  decodeSeconds(seqs: number, decodeKvTokens: number): number;
  /**
   * Optional: the end times of `m` pure-decode steps of `seqs` sequences back to back after
   * `ends[0]`, the first with `decodeKvTokens` of context and each next one with `seqs` more:
   * `ends[i] = ends[i − 1] + decodeSeconds(seqs, decodeKvTokens + (i − 1)·seqs)` for i = 1..m,
   * the same sums in the same order (so the same bits). Returns `ends[m]`.
   */
  decodeEnds?(seqs: number, decodeKvTokens: number, m: number, ends: Float64Array): number;
}
