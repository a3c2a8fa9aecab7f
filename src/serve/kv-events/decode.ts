import { decode } from '@msgpack/msgpack';
import type { BlockStoredEvent, EngineBlockHash, KvEvent, KvEventBatch } from '../../routing/prefix/kv-event-types.js';

/**
 * Decoding vLLM's KV event messages (vllm/distributed/kv_events.py; docs/kv-events.md).
 *
 * A message is 3 ZMQ frames: topic (bytes, may be empty), sequence number (8 bytes, big-endian,
 * +1 per message of a publisher), payload. The payload is msgpack of msgspec structs encoded
 * `array_like=True`: positional arrays, not maps, each event tagged by its class name first.
 *
 *   KVEventBatch     = [ts: float, events: [event...], data_parallel_rank: int | null]
 *   BlockStored      = ["BlockStored", block_hashes: [hash...], parent_block_hash: hash | null,
 *                       token_ids: [int...], block_size: int, lora_id: int | null, medium: str | null]
 *   BlockRemoved     = ["BlockRemoved", block_hashes: [hash...], medium: str | null]
 *   AllBlocksCleared = ["AllBlocksCleared"]
 *   hash             = int (any width; 64-bit ones become bigint here) | bytes
 *
 * Tolerated, as other versions send them: trailing fields absent when equal to their default
 * (`omit_defaults`: data_parallel_rank, lora_id, medium → null); extra trailing fields (newer
 * versions append) ignored; `num_toks_per_block: [int]` in block_size's place (older releases);
 * events with an unknown tag skipped and counted. Anything else wrong — not msgpack, wrong frame
 * count, a field of the wrong type, token ids not filling the blocks — makes the whole message
 * malformed: it is reported and nothing of it is applied.
 */

export interface DecodedMessage {
  readonly ok: true;
  readonly topic: string;
  /** The publisher's sequence number (a gap means messages were missed). */
  readonly seq: number;
  readonly batch: KvEventBatch;
  /** Events with a tag this router does not know (newer engines), skipped. */
  readonly unknownEvents: number;
}

export interface MalformedMessage {
  readonly ok: false;
  readonly reason: string;
}

class Malformed extends Error {}

function fail(why: string): never {
  throw new Malformed(why);
}

function isHash(v: unknown): v is EngineBlockHash {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint' || v instanceof Uint8Array;
}

function hashList(v: unknown, where: string): EngineBlockHash[] {
  if (!Array.isArray(v)) fail(`${where}: expected a list of block hashes`);
  for (let i = 0; i < v.length; i++) if (!isHash(v[i])) fail(`${where}[${i}]: expected an int or bytes hash`);
  return v as EngineBlockHash[];
}

function int(v: unknown, where: string): number {
  if (typeof v === 'bigint') {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) fail(`${where}: integer ${v} out of range`);
    return n;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${where}: expected an int`);
  return v;
}

function optInt(v: unknown, where: string): number | null {
  return v === undefined || v === null ? null : int(v, where);
}

function optStr(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') fail(`${where}: expected a string or null`);
  return v;
}

function tokenList(v: unknown, where: string): number[] {
  if (!Array.isArray(v)) fail(`${where}: expected a list of token ids`);
  for (let i = 0; i < v.length; i++) {
    const t: unknown = v[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) fail(`${where}[${i}]: expected a non-negative int token id`);
  }
  return v as number[];
}

function blockStored(a: readonly unknown[], where: string): BlockStoredEvent {
  if (a.length < 5) fail(`${where}: BlockStored needs block_hashes, parent_block_hash, token_ids, block_size`);
  const blockHashes = hashList(a[1], `${where}.block_hashes`);
  const parent = a[2];
  if (parent !== null && !isHash(parent)) fail(`${where}.parent_block_hash: expected a hash or null`);
  const tokenIds = tokenList(a[3], `${where}.token_ids`);
  let blockSize: number;
  if (Array.isArray(a[4])) {
    // Older releases: num_toks_per_block, one count per block (full blocks, so all equal).
    const counts = a[4].map((c, i) => int(c, `${where}.num_toks_per_block[${i}]`));
    if (counts.length !== blockHashes.length) fail(`${where}.num_toks_per_block: ${counts.length} counts for ${blockHashes.length} blocks`);
    blockSize = counts[0] ?? 0;
    if (counts.some((c) => c !== blockSize)) fail(`${where}.num_toks_per_block: blocks of unequal size (${counts.join(', ')})`);
  } else {
    blockSize = int(a[4], `${where}.block_size`);
  }
  if (blockHashes.length > 0 && blockSize < 1) fail(`${where}.block_size: expected ≥ 1, got ${blockSize}`);
  if (tokenIds.length !== blockHashes.length * blockSize) {
    fail(`${where}.token_ids: ${tokenIds.length} token ids for ${blockHashes.length} blocks of ${blockSize}`);
  }
  return {
    type: 'BlockStored',
    blockHashes,
    parentBlockHash: parent,
    tokenIds,
    blockSize,
    loraId: optInt(a[5], `${where}.lora_id`),
    medium: optStr(a[6], `${where}.medium`),
  };
}

/** One event, or null for a tag this router does not know. */
function event(v: unknown, where: string): KvEvent | null {
  if (!Array.isArray(v) || v.length === 0) fail(`${where}: expected a tagged array ["EventName", ...fields]`);
  const tag: unknown = v[0];
  if (typeof tag !== 'string') fail(`${where}: the first element must be the event's name, got ${typeof tag}`);
  if (tag === 'BlockStored') return blockStored(v, where);
  if (tag === 'BlockRemoved') {
    if (v.length < 2) fail(`${where}: BlockRemoved needs block_hashes`);
    return { type: 'BlockRemoved', blockHashes: hashList(v[1], `${where}.block_hashes`), medium: optStr(v[2], `${where}.medium`) };
  }
  if (tag === 'AllBlocksCleared') return { type: 'AllBlocksCleared' };
  return null;
}

/** Decodes a payload (the third frame) into a batch; throws Malformed. */
function batchOf(payload: Uint8Array): { batch: KvEventBatch; unknownEvents: number } {
  let doc: unknown;
  try {
    doc = decode(payload, { useBigInt64: true });
  } catch (err) {
    fail(`payload is not msgpack (${(err as Error).message})`);
  }
  if (!Array.isArray(doc) || doc.length < 2) fail('payload: expected a KVEventBatch array [ts, events, data_parallel_rank]');
  const ts: unknown = doc[0];
  if (typeof ts !== 'number' && typeof ts !== 'bigint') fail('KVEventBatch.ts: expected a number');
  if (!Array.isArray(doc[1])) fail('KVEventBatch.events: expected a list');
  const events: KvEvent[] = [];
  let unknownEvents = 0;
  (doc[1] as unknown[]).forEach((e, i) => {
    const ev = event(e, `events[${i}]`);
    if (ev) events.push(ev);
    else unknownEvents++;
  });
  return { batch: { ts: Number(ts), events, dataParallelRank: optInt(doc[2], 'KVEventBatch.data_parallel_rank') }, unknownEvents };
}

/** Decodes one multipart message as received from a SUB socket. */
export function decodeKvEventMessage(frames: readonly Uint8Array[]): DecodedMessage | MalformedMessage {
  try {
    if (frames.length !== 3) fail(`expected 3 frames (topic, seq, payload), got ${frames.length}`);
    const [topicFrame, seqFrame, payload] = frames;
    if (seqFrame.length !== 8) fail(`sequence frame: expected 8 bytes, got ${seqFrame.length}`);
    const seq = Number(new DataView(seqFrame.buffer, seqFrame.byteOffset, 8).getBigUint64(0, false));
    const { batch, unknownEvents } = batchOf(payload);
    return { ok: true, topic: new TextDecoder().decode(topicFrame), seq, batch, unknownEvents };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.message };
    throw err;
  }
}
