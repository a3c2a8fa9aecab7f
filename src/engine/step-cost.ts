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
}
