/** Per-request latency targets. Any may be absent; a request meets its SLO when all present ones hold. */
export interface Slo {
  ttftMs?: number;
  tpotMs?: number;
  e2eMs?: number;
  /** Time per all tokens (AIBrix "tpat"): e2e / (input + output tokens). */
  tpatMs?: number;
}

/**
 * What identifies a prompt's content for prefix caching.
 * - `tokens`: the prompt's token ids; block hashes are exact for any block size.
 * - `blocks`: opaque ids of fixed-size blocks (Mooncake's `hash_ids`, or a trace recorded by
 *   `serve`); equal leading ids mean a shared prefix.
 */
export type PrefixIdentity =
  | { kind: 'tokens'; ids: ArrayLike<number> }
  | { kind: 'blocks'; blockTokens: number; hashIds: ArrayLike<number> };

/** What a router may see of a request: everything but the true output length. */
export interface RouteRequest {
  readonly id: string;
  /** Arrival time in seconds from the start of the trace. */
  readonly arrivalS: number;
  readonly inputTokens: number;
  readonly prefix?: PrefixIdentity;
  /** Prompt text when known (chat messages joined); text-based prefix policies use it. */
  readonly text?: string;
  readonly sessionId?: string;
  readonly userId?: string;
  readonly slo?: Slo;
  /** Name of the trace source in a mix. */
  readonly source?: string;
  /** The model asked for (OpenAI `model`); absent = any worker (a single-model fleet). */
  readonly model?: string;
  /** LoRA adapter asked for, on top of `model`; absent = the base model. */
  readonly adapter?: string;
  /** Who sent it (serve: the API key's tenant; trace field `tenant`). */
  readonly tenant?: string;
  /** Priority class (`x-priority`; trace field `priority`), e.g. critical, standard, sheddable. */
  readonly priority?: string;
}

/** A request as the workload knows it; the engine stops generating at `outputTokens`. */
export interface Request extends RouteRequest {
  readonly outputTokens: number;
  /**
   * Token ids of the answer, when the trace knows them (multi-turn ShareGPT, vLLM-bench
   * `output_tok_ids`). The engine then caches generated blocks under their content, so the next
   * turn of a conversation, which re-sends this answer, hits them as it would in vLLM. Kept off
   * `RouteRequest`: a router never sees the answer.
   */
  readonly outputTokenIds?: ArrayLike<number>;
}
