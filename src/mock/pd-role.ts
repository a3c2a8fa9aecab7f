import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { kvTransferSeconds, type KvLink } from '../engine/kv-transfer.js';
import type { Deployment } from '../profiles/types.js';
import type { Request } from '../workload/request.js';
import { ApiError, badRequest } from './openai.js';
import type { RealtimeEngine } from './realtime-engine.js';
import { injectReceivedKv, locallyCachedTokens } from './pd-kv.js';

export const MOCK_ROLES = ['prefill', 'decode', 'both'] as const;
export type MockRole = (typeof MOCK_ROLES)[number];

/** What a completion request asks of a disaggregated engine. */
export type PdCall =
  | { kind: 'plain' }
  | { kind: 'vllm-prefill' }
  | { kind: 'vllm-decode'; host: string; port: number; engineId: string; blockIds: number[] }
  | { kind: 'sglang-prefill'; room: string }
  | { kind: 'sglang-decode'; host: string; port: number; room: string };

export const PLAIN: PdCall = { kind: 'plain' };

export function isPrefillCall(c: PdCall): boolean {
  return c.kind === 'vllm-prefill' || c.kind === 'sglang-prefill';
}

export interface MockPdOptions {
  role: MockRole;
  link: KvLink;
  /** Wall seconds unread KV is kept (vLLM frees it after VLLM_NIXL_ABORT_REQUEST_TIMEOUT). */
  holdS: number;
  /** Wall seconds a bootstrap lookup waits for its room's prefill to arrive. */
  bootstrapWaitS: number;
}

type Json = Record<string, unknown>;

/** KV a vLLM prefill computed and keeps for the decode that will read it. */
interface HeldKv {
  tokens: number;
  timer: NodeJS.Timeout;
}

/** An SGLang transfer, named by its bootstrap room. */
interface Room {
  state: 'expected' | 'computing' | 'ready' | 'failed';
  tokens: number;
  waiters: ((r: Room) => void)[];
  timer?: NodeJS.Timeout;
}

/** Bodies of disaggregated requests kept for inspection (`GET /mock/pd/received`). */
const RECEIVED_KEPT = 256;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The disaggregation side of a mock worker, both protocols (see docs/pd-serve.md for what it
 * emulates and what differs):
 * - vLLM NIXL: a request whose `kv_transfer_params.do_remote_decode` is true is a prefill (one
 *   token); its JSON answer carries `kv_transfer_params` naming this engine, the blocks and the
 *   host/port to read them from. A request with `do_remote_prefill` reads them from that host
 *   (`POST /mock/nixl/read`, standing in for the NIXL side channel and RDMA read), waits the
 *   transfer time the engine model prices, places the KV in its prefix cache and decodes.
 * - SGLang: `bootstrap_host/port/room` on a prefill server mark the room's KV ready when the
 *   prefill ends; the decode server asks the prefill's bootstrap address for the room
 *   (`GET /mock/bootstrap/ROOM`, waiting until the prefill is done), then transfers as above.
 */
export class MockPd {
  readonly engineId = randomUUID();
  private host = '127.0.0.1';
  private port = 0;
  private nextBlock = 1;
  private readonly held = new Map<number, HeldKv>();
  private readonly rooms = new Map<string, Room>();
  private readonly received: string[] = [];
  private readonly kvBytesPerToken: number;
  readonly counts = { prefills: 0, decodes: 0, transferFailures: 0, transferredTokens: 0 };

  constructor(
    readonly o: MockPdOptions,
    private readonly deployment: Deployment,
    private readonly realtime: RealtimeEngine,
  ) {
    // Each GPU of a TP group holds (and sends) its shard of every token's KV, in parallel.
    this.kvBytesPerToken = deployment.model.kv_cache_bytes_per_token_bf16 / Math.max(1, deployment.tp);
  }

  /** The address decode workers read this worker's KV from (its own HTTP listener). */
  bind(host: string, port: number): void {
    this.host = host;
    this.port = port;
  }

  /** What the request asks; a request for the side this role does not play is refused (400). */
  classify(raw: string, body: Json): PdCall {
    const role = this.o.role;
    const kv = body.kv_transfer_params;
    const hasBootstrap = body.bootstrap_room !== undefined || body.bootstrap_host !== undefined;
    let call: PdCall = PLAIN;
    if (kv !== undefined && kv !== null) {
      if (!isObject(kv)) throw badRequest('kv_transfer_params: expected an object', 'kv_transfer_params');
      if (kv.do_remote_decode === true) {
        if (role === 'decode') throw badRequest('kv_transfer_params.do_remote_decode: this worker is a decode worker (--role decode)', 'kv_transfer_params');
        call = { kind: 'vllm-prefill' };
      } else if (kv.do_remote_prefill === true) {
        if (role === 'prefill') throw badRequest('kv_transfer_params.do_remote_prefill: this worker is a prefill worker (--role prefill)', 'kv_transfer_params');
        const blockIds = kv.remote_block_ids;
        if (typeof kv.remote_host !== 'string' || typeof kv.remote_port !== 'number' || typeof kv.remote_engine_id !== 'string' || !Array.isArray(blockIds) || blockIds.length === 0 || !blockIds.every((b) => typeof b === 'number')) {
          throw badRequest('kv_transfer_params: do_remote_prefill needs remote_host, remote_port, remote_engine_id and remote_block_ids', 'kv_transfer_params');
        }
        call = { kind: 'vllm-decode', host: kv.remote_host, port: kv.remote_port, engineId: kv.remote_engine_id, blockIds: blockIds };
      }
    } else if (hasBootstrap) {
      if (role === 'both') throw badRequest('bootstrap_room: this worker is not in disaggregation mode (--role prefill or decode)', 'bootstrap_room');
      // The room is a 63-bit integer: read its digits from the text, a JS number would round it.
      const room = /"bootstrap_room"\s*:\s*"?(\d+)"?/.exec(raw)?.[1];
      if (room === undefined) throw badRequest('bootstrap_room: expected a non-negative integer', 'bootstrap_room');
      if (role === 'prefill') call = { kind: 'sglang-prefill', room };
      else {
        if (typeof body.bootstrap_host !== 'string' || typeof body.bootstrap_port !== 'number') throw badRequest('bootstrap_host/bootstrap_port: a decode request needs both', 'bootstrap_host');
        call = { kind: 'sglang-decode', host: body.bootstrap_host, port: body.bootstrap_port, room };
      }
    }
    if (call.kind !== 'plain') {
      this.received.push(raw);
      if (this.received.length > RECEIVED_KEPT) this.received.shift();
    }
    return call;
  }

  /** A prefill request was admitted (SGLang: its room now exists). */
  prefillStarted(call: PdCall): void {
    if (call.kind !== 'sglang-prefill') return;
    const room = this.room(call.room);
    if (room.state !== 'expected') return;
    room.state = 'computing';
    this.arm(call.room, room, this.o.holdS);
  }

  /**
   * The prefill ended: its KV waits for the decode. Returns the fields a vLLM prefill answer
   * carries (`kv_transfer_params`), nothing for SGLang (the decode learns it from the room).
   */
  prefillFinished(call: PdCall, r: Request): Json | undefined {
    if (!isPrefillCall(call)) return undefined;
    this.counts.prefills++;
    if (call.kind === 'sglang-prefill') {
      const room = this.room(call.room);
      room.state = 'ready';
      room.tokens = r.inputTokens;
      this.arm(call.room, room, this.o.holdS);
      this.settle(call.room, room);
      return undefined;
    }
    if (call.kind !== 'vllm-prefill') return undefined;
    const bs = this.deployment.engine.blockSize;
    const n = Math.max(1, Math.ceil(r.inputTokens / bs));
    const first = this.nextBlock;
    this.nextBlock += n;
    const timer = setTimeout(() => this.held.delete(first), this.o.holdS * 1000).unref();
    this.held.set(first, { tokens: r.inputTokens, timer });
    return {
      kv_transfer_params: {
        do_remote_prefill: true,
        do_remote_decode: false,
        remote_block_ids: Array.from({ length: n }, (_, i) => first + i),
        remote_engine_id: this.engineId,
        remote_host: this.host,
        remote_port: this.port,
        tp_size: this.deployment.tp,
      },
    };
  }

  /** A prefill ended without finishing (client gone): an SGLang decode waiting for it fails. */
  prefillAborted(call: PdCall): void {
    if (call.kind !== 'sglang-prefill') return;
    const room = this.room(call.room);
    if (room.state === 'ready') return;
    room.state = 'failed';
    this.settle(call.room, room);
  }

  /**
   * Decode side: reads the prompt's KV from the prefill worker and waits the priced transfer
   * time, then places it in the engine's cache. A transfer that cannot happen (prefill worker
   * gone, KV unknown) fails the request before its first byte (500).
   */
  async receive(call: PdCall, r: Request): Promise<void> {
    if (call.kind !== 'vllm-decode' && call.kind !== 'sglang-decode') return;
    let tokens: number;
    try {
      tokens = call.kind === 'vllm-decode' ? await this.readNixl(call) : await this.readRoom(call);
    } catch (err) {
      this.counts.transferFailures++;
      const msg = err instanceof TransferError ? err.message : `cannot reach the prefill worker at ${call.host}:${call.port} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`;
      throw new ApiError(500, `KV transfer failed: ${msg}`, 'InternalServerError');
    }
    this.realtime.sync();
    const engine = this.realtime.engine;
    const move = Math.max(0, Math.min(tokens, r.inputTokens) - locallyCachedTokens(engine, r));
    const seconds = kvTransferSeconds(move, this.kvBytesPerToken, this.o.link);
    if (seconds > 0) await new Promise((resolve) => setTimeout(resolve, (seconds / this.realtime.speedup) * 1000));
    this.realtime.sync();
    injectReceivedKv(engine, r);
    this.counts.decodes++;
    this.counts.transferredTokens += move;
  }

  private async readNixl(call: Extract<PdCall, { kind: 'vllm-decode' }>): Promise<number> {
    const res = await fetch(`http://${hostPort(call.host, call.port)}/mock/nixl/read`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ remote_engine_id: call.engineId, remote_block_ids: call.blockIds }),
      signal: AbortSignal.timeout(this.o.bootstrapWaitS * 1000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new TransferError(`prefill worker ${call.host}:${call.port} answered ${res.status}: ${text.slice(0, 200)}`);
    return (JSON.parse(text) as { tokens: number }).tokens;
  }

  private async readRoom(call: Extract<PdCall, { kind: 'sglang-decode' }>): Promise<number> {
    const res = await fetch(`http://${hostPort(call.host, call.port)}/mock/bootstrap/${call.room}`, { signal: AbortSignal.timeout((this.o.bootstrapWaitS + 5) * 1000) });
    const text = await res.text();
    if (res.status !== 200) throw new TransferError(`bootstrap ${call.host}:${call.port} room ${call.room} answered ${res.status}: ${text.slice(0, 200)}`);
    return (JSON.parse(text) as { tokens: number }).tokens;
  }

  /** Side-channel endpoints; false when `path` is not one of them. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, method: string): boolean {
    if (path === '/mock/nixl/read' && method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let doc: unknown;
        try {
          doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          answer(res, 400, { error: 'body is not JSON' });
          return;
        }
        const d = isObject(doc) ? doc : {};
        if (d.remote_engine_id !== this.engineId) {
          answer(res, 404, { error: `engine ${String(d.remote_engine_id)} is not this worker (${this.engineId})` });
          return;
        }
        const first = Array.isArray(d.remote_block_ids) ? (d.remote_block_ids[0] as unknown) : undefined;
        const h = typeof first === 'number' ? this.held.get(first) : undefined;
        if (!h || typeof first !== 'number') {
          answer(res, 404, { error: 'no KV held for these blocks (already read, or expired)' });
          return;
        }
        clearTimeout(h.timer);
        this.held.delete(first);
        answer(res, 200, { tokens: h.tokens });
      });
      return true;
    }
    const m = /^\/mock\/bootstrap\/(\d+)$/.exec(path);
    if (m && method === 'GET') {
      if (this.o.role !== 'prefill') {
        answer(res, 404, { error: 'not a prefill worker: no bootstrap server here' });
        return true;
      }
      const key = m[1];
      const room = this.room(key);
      const reply = (r: Room): void => {
        if (res.destroyed) return;
        if (r.state === 'ready') answer(res, 200, { tokens: r.tokens });
        else if (r.state === 'failed') answer(res, 410, { error: `the prefill of room ${key} failed` });
        else answer(res, 404, { error: `no prefill for room ${key} arrived within ${this.o.bootstrapWaitS} s` });
      };
      if (room.state === 'ready' || room.state === 'failed') {
        reply(room);
        if (room.timer) clearTimeout(room.timer);
        this.rooms.delete(key);
        return true;
      }
      room.waiters.push(reply);
      return true;
    }
    if (path === '/mock/pd/received' && method === 'GET') {
      answer(res, 200, { role: this.o.role, engine_id: this.engineId, bodies: this.received, counts: this.counts });
      return true;
    }
    return false;
  }

  close(): void {
    for (const h of this.held.values()) clearTimeout(h.timer);
    for (const r of this.rooms.values()) if (r.timer) clearTimeout(r.timer);
    this.held.clear();
    this.rooms.clear();
  }

  private room(key: string): Room {
    let r = this.rooms.get(key);
    if (!r) {
      r = { state: 'expected', tokens: 0, waiters: [] };
      this.rooms.set(key, r);
      this.arm(key, r, this.o.bootstrapWaitS);
    }
    return r;
  }

  /** A room nobody completes or reads within `seconds` is forgotten; its waiters hear why. */
  private arm(key: string, room: Room, seconds: number): void {
    if (room.timer) clearTimeout(room.timer);
    room.timer = setTimeout(() => {
      room.timer = undefined;
      if (room.state !== 'ready') room.state = room.state === 'computing' ? 'failed' : room.state;
      this.settle(key, room, true);
    }, seconds * 1000).unref();
  }

  /** Tells the room's waiters; a ready room read by its decode is done with. */
  private settle(key: string, room: Room, expired = false): void {
    const waiters = room.waiters;
    room.waiters = [];
    for (const w of waiters) w(room);
    if (expired || (waiters.length > 0 && room.state !== 'computing')) {
      if (room.timer) clearTimeout(room.timer);
      this.rooms.delete(key);
    }
  }
}

class TransferError extends Error {}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function answer(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
