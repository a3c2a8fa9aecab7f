/**
 * Prices moving a request's KV cache from a prefill worker to a decode worker (disaggregated
 * serving). Shared by the simulator and mock-worker so both charge the same transfer time.
 */

/** The link a KV transfer crosses between two workers. */
export interface KvLink {
  /** Sustained bandwidth, GB/s (1e9 bytes per second), as the hardware facts state it. */
  readonly gbps: number;
  /** Fixed cost of one transfer (handshake, first byte), microseconds. */
  readonly latencyUs: number;
}

/** Layer-wise overlap: layer i is sent while layer i+1 is still being computed. */
export interface KvTransferOverlap {
  readonly layers: number;
  /** Duration of the prefill whose KV is being sent, seconds. */
  readonly prefillS: number;
}

/** Seconds the bytes of `tokens` tokens spend on the wire, latency excluded. */
export function kvWireSeconds(tokens: number, kvBytesPerToken: number, link: KvLink): number {
  return (tokens * kvBytesPerToken) / (link.gbps * 1e9);
}

/**
 * Seconds from the end of the prefill until the decode worker holds the whole KV of `tokens`
 * tokens. Without overlap the whole KV moves after the prefill. With overlap, L layers computed in
 * c = prefill/L each and sent in w = wire/L each finish max(w, wire − (L−1)·c) after the prefill:
 * only the last layer's send when the link keeps up, the unhidden part of the wire time when not.
 * Nothing to move (zero tokens) costs nothing, not even the latency.
 */
export function kvTransferSeconds(
  tokens: number,
  kvBytesPerToken: number,
  link: KvLink,
  overlap?: KvTransferOverlap,
): number {
  if (tokens <= 0) return 0;
  const wire = kvWireSeconds(tokens, kvBytesPerToken, link);
  let exposed = wire;
  if (overlap !== undefined && overlap.layers > 1) {
    const perLayerCompute = overlap.prefillS / overlap.layers;
    exposed = Math.max(wire / overlap.layers, wire - (overlap.layers - 1) * perLayerCompute);
  }
  return link.latencyUs / 1e6 + exposed;
}
