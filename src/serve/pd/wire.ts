/**
 * Request bodies of the two disaggregation protocols serve speaks (wire formats in
 * shared/research/production-topology.md):
 * - vLLM with the NIXL connector: a prefill request (the client's body with
 *   `kv_transfer_params.do_remote_decode`, one token, no stream), then a decode request (the
 *   client's body plus the `kv_transfer_params` the prefill answered with).
 * - SGLang: one body sent to a prefill and a decode server at once, both carrying
 *   `bootstrap_host`, `bootstrap_port` and `bootstrap_room`.
 */

export type PdProtocol = 'vllm' | 'sglang';
export const PD_PROTOCOLS: readonly PdProtocol[] = ['vllm', 'sglang'];

type Json = Record<string, unknown>;

/** vLLM's request-side `kv_transfer_params` for a prefill whose decode happens elsewhere. */
export const VLLM_PREFILL_KV_PARAMS = {
  do_remote_decode: true,
  do_remote_prefill: false,
  remote_engine_id: null,
  remote_block_ids: null,
  remote_host: null,
  remote_port: null,
} as const;

/**
 * The prefill request: one token, no stream (vLLM's proxy sets `max_completion_tokens` too when
 * the client used it, drops `stream_options` and sets `min_tokens` aside, since a one-token
 * prefill cannot honour a minimum).
 */
export function vllmPrefillBody(client: Json): Buffer {
  const b: Json = { ...client, kv_transfer_params: { ...VLLM_PREFILL_KV_PARAMS }, max_tokens: 1, stream: false };
  if ('max_completion_tokens' in client) b.max_completion_tokens = 1;
  delete b.stream_options;
  delete b.min_tokens;
  return Buffer.from(JSON.stringify(b));
}

/** The decode request: the client's body as sent, plus the prefill's `kv_transfer_params`. */
export function vllmDecodeBody(client: Json, kvTransferParams: Json): Buffer {
  return Buffer.from(JSON.stringify({ ...client, kv_transfer_params: kvTransferParams }));
}

/** `kv_transfer_params` of a prefill response, or a reason it has none. */
export function kvParamsOfPrefillResponse(text: string): Json | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'the prefill response is not JSON';
  }
  const p = (doc as Json | null)?.kv_transfer_params;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return 'the prefill response carries no kv_transfer_params object (is the engine running with the NixlConnector?)';
  return p as Json;
}

export interface Bootstrap {
  host: string;
  port: number;
  /** Random 63-bit integer naming the transfer; kept as a decimal string so no precision is lost. */
  room: string;
}

/**
 * The body both servers get. The room is written as a bare JSON integer (SGLang reads an int):
 * it is spliced in as text because a 63-bit value does not survive a JS number.
 */
export function sglangBody(client: Json, b: Bootstrap): Buffer {
  const rest: Json = { ...client, bootstrap_host: b.host, bootstrap_port: b.port };
  delete rest.bootstrap_room;
  const text = JSON.stringify(rest);
  return Buffer.from(`${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"bootstrap_room":${b.room}}`);
}

/** A 63-bit room id from 64 random bits (top bit cleared), as a decimal string. */
export function roomFromBits(hi32: number, lo32: number): string {
  return (((BigInt(hi32 >>> 0) & 0x7fffffffn) << 32n) | BigInt(lo32 >>> 0)).toString();
}
