import { encode } from '@msgpack/msgpack';
import type { KvEvent, KvEventBatch } from '../routing/prefix/kv-event-types.js';

/**
 * vLLM's KV event wire format, written (docs/kv-events.md; the router's reader is
 * src/serve/kv-events/decode.ts): msgpack of msgspec structs with `array_like=True`, so every
 * struct is a positional array and every event is tagged by its class name first. Fields are
 * written in vLLM's order, all of them (lora_id and medium have no default in vLLM, so
 * `omit_defaults` never drops them).
 */
function eventArray(e: KvEvent): unknown[] {
  if (e.type === 'BlockStored') return ['BlockStored', e.blockHashes, e.parentBlockHash, e.tokenIds, e.blockSize, e.loraId, e.medium];
  if (e.type === 'BlockRemoved') return ['BlockRemoved', e.blockHashes, e.medium];
  return ['AllBlocksCleared'];
}

/** The payload frame: `[ts, events, data_parallel_rank]`. */
export function encodeKvEventBatch(b: KvEventBatch): Uint8Array {
  return encode([b.ts, b.events.map(eventArray), b.dataParallelRank], { useBigInt64: true });
}

/** The 8-byte big-endian sequence frame. */
export function encodeSeq(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(seq), false);
  return out;
}

/** A whole message: `[topic, seq, payload]`, as vLLM's ZmqEventPublisher sends it. */
export function kvEventFrames(topic: string, seq: number, b: KvEventBatch): Uint8Array[] {
  return [new TextEncoder().encode(topic), encodeSeq(seq), encodeKvEventBatch(b)];
}
