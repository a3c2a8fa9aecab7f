/**
 * vLLM's KV cache events (vllm/distributed/kv_events.py), as the router uses them once decoded.
 * The wire format (ZMQ multipart, msgpack array-encoded msgspec structs) is decoded in
 * src/serve/kv-events/decode.ts and encoded by the mock worker in src/mock/kv-events-encode.ts;
 * docs/kv-events.md lists every field and position.
 */

/**
 * An engine's block hash as it arrives: an int (older vLLM, 64-bit: a bigint when it does not fit
 * a double exactly) or bytes (newer vLLM's sha256 digests). Opaque to the router: it is only
 * matched against later events of the same engine, never against router-computed hashes.
 */
export type EngineBlockHash = number | bigint | Uint8Array;

/** New full blocks entered the engine's prefix cache (reuse of a cached block is not reported). */
export interface BlockStoredEvent {
  readonly type: 'BlockStored';
  /** One hash per stored block, in prefix order. */
  readonly blockHashes: readonly EngineBlockHash[];
  /** Hash of the block just before the first one; null when the first block starts the prompt. */
  readonly parentBlockHash: EngineBlockHash | null;
  /** Token ids of all the stored blocks back to back (blockSize per block). */
  readonly tokenIds: readonly number[];
  /** Tokens per block. */
  readonly blockSize: number;
  /** The LoRA adapter the blocks were computed under, null for the base model. */
  readonly loraId: number | null;
  /** Where the blocks live ("GPU", "CPU" with offloading), null when not said. */
  readonly medium: string | null;
}

/** Blocks left the engine's prefix cache (evicted). */
export interface BlockRemovedEvent {
  readonly type: 'BlockRemoved';
  readonly blockHashes: readonly EngineBlockHash[];
  readonly medium: string | null;
}

/** The whole prefix cache was emptied (reset_prefix_cache, engine restart). */
export interface AllBlocksClearedEvent {
  readonly type: 'AllBlocksCleared';
}

export type KvEvent = BlockStoredEvent | BlockRemovedEvent | AllBlocksClearedEvent;

/** One published message: the events of one engine step. */
export interface KvEventBatch {
  /** Engine wall time of the step, seconds since the epoch. */
  readonly ts: number;
  readonly events: readonly KvEvent[];
  /** Data-parallel rank of the publishing engine (SGLang: attn_dp_rank); null without DP. */
  readonly dataParallelRank: number | null;
}
