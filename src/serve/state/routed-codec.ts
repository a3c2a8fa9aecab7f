/**
 * The wire form of shared routing decisions (`serve --state`, channel `<prefix>routed`): one
 * message per event-loop turn of a replica, holding every dispatch it made in that turn, so
 * the other replicas can replay them in their prefix indexes (shared-state.ts says why).
 *
 * Binary, little-endian, versioned:
 *   u8 version (1) · u16 replica-id length · replica id (UTF-8) · u32 decision count, then per
 *   decision: u8 pool (the policy instance, in the order serve built them: the same on every
 *   replica of one configuration) · u16 worker-key length · worker key (UTF-8; its URL) ·
 *   u8 block sizes, then per
 *   size: u16 tokens per block · u32 hash count · hashes as f64 (chained 53-bit block hashes).
 * A reader skips a message of another version and rejects a truncated or overlong one whole.
 */

export const ROUTED_VERSION = 1;

export interface RoutedDecision {
  /** Which of serve's policy instances routed it (0 = the first built). */
  pool: number;
  /** The worker the request went to, as replicas name it (workerKey: its URL). */
  worker: string;
  /** Block size (tokens) → chained hashes of the prompt's full blocks. */
  blocks: ReadonlyMap<number, readonly number[]>;
}

export interface RoutedBatch {
  replica: string;
  decisions: RoutedDecision[];
}

/** Most hashes one decision may carry per block size (a 2M-token prompt in 16-token blocks). */
const MAX_HASHES = 131_072;

export function encodeRouted(batch: RoutedBatch): Buffer {
  const id = Buffer.from(batch.replica, 'utf8');
  const keys = batch.decisions.map((d) => Buffer.from(d.worker, 'utf8'));
  let size = 1 + 2 + id.length + 4;
  batch.decisions.forEach((d, i) => {
    size += 1 + 2 + keys[i].length + 1;
    for (const h of d.blocks.values()) size += 2 + 4 + 8 * Math.min(h.length, MAX_HASHES);
  });
  const buf = Buffer.allocUnsafe(size);
  let o = buf.writeUInt8(ROUTED_VERSION, 0);
  o = buf.writeUInt16LE(id.length, o);
  o += id.copy(buf, o);
  o = buf.writeUInt32LE(batch.decisions.length, o);
  batch.decisions.forEach((d, i) => {
    o = buf.writeUInt8(d.pool & 0xff, o);
    o = buf.writeUInt16LE(keys[i].length, o);
    o += keys[i].copy(buf, o);
    o = buf.writeUInt8(Math.min(255, d.blocks.size), o);
    let sizes = 0;
    for (const [bs, hashes] of d.blocks) {
      if (sizes++ === 255) break;
      const n = Math.min(hashes.length, MAX_HASHES);
      o = buf.writeUInt16LE(bs, o);
      o = buf.writeUInt32LE(n, o);
      for (let k = 0; k < n; k++) o = buf.writeDoubleLE(hashes[k], o);
    }
  });
  return buf.subarray(0, o);
}

/** Decodes one message; undefined when it is not a well-formed version-1 batch. */
export function decodeRouted(buf: Buffer): RoutedBatch | undefined {
  try {
    let o = 0;
    if (buf.readUInt8(o) !== ROUTED_VERSION) return undefined;
    o += 1;
    const idLen = buf.readUInt16LE(o);
    o += 2;
    if (o + idLen > buf.length) return undefined;
    const replica = buf.toString('utf8', o, o + idLen);
    o += idLen;
    const count = buf.readUInt32LE(o);
    o += 4;
    const decisions: RoutedDecision[] = [];
    for (let i = 0; i < count; i++) {
      const pool = buf.readUInt8(o);
      const kLen = buf.readUInt16LE(o + 1);
      o += 3;
      if (o + kLen > buf.length) return undefined;
      const worker = buf.toString('utf8', o, o + kLen);
      o += kLen;
      const sizes = buf.readUInt8(o);
      o += 1;
      const blocks = new Map<number, readonly number[]>();
      for (let s = 0; s < sizes; s++) {
        const bs = buf.readUInt16LE(o);
        const n = buf.readUInt32LE(o + 2);
        o += 6;
        if (bs === 0 || n > MAX_HASHES || o + 8 * n > buf.length) return undefined;
        const hashes = new Array<number>(n);
        for (let k = 0; k < n; k++) {
          const h = buf.readDoubleLE(o + 8 * k);
          if (!Number.isSafeInteger(h) || h < 0) return undefined;
          hashes[k] = h;
        }
        o += 8 * n;
        blocks.set(bs, hashes);
      }
      decisions.push({ pool, worker, blocks });
    }
    return o === buf.length ? { replica, decisions } : undefined;
  } catch {
    // A read past the end (RangeError): truncated.
    return undefined;
  }
}
