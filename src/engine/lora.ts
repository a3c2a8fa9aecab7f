/**
 * LoRA adapter residency of one engine, as vLLM's LRU adapter cache on the GPU: `maxLoras` slots;
 * a batch mixes at most `maxLoras` adapters (the scheduler skips a waiting request whose adapter
 * would be one too many, as vLLM V1's `scheduled_loras` check does, and goes on down the queue);
 * admitting a request whose adapter is not resident loads it into a free slot or over the least
 * recently used adapter no running request needs, and the step that admits it takes the load
 * time longer (the copy is on the step's critical path in vLLM's `set_active_adapters`).
 */
export interface LoraConfig {
  /** GPU adapter slots (vLLM `--max-loras`): also the most distinct adapters in one batch. */
  maxLoras: number;
  /** Seconds to bring one adapter into a slot (its weight bytes over the host link, plus a fixed overhead). */
  loadSeconds: number;
}

/** What vLLM's `vllm:lora_requests_info` says of an engine. */
export interface LoraInfo {
  /** Adapters of running requests. */
  running: readonly string[];
  /** Adapters of waiting requests (not running). */
  waiting: readonly string[];
  maxLoras: number;
}

export class LoraSlots {
  /** Resident adapters, least recently used first (Map order is insertion order). */
  private readonly resident = new Map<string, true>();
  /** Running sequences per adapter. */
  private readonly inUse = new Map<string, number>();
  /** Adapters loaded into a slot (the first load of each counts too). */
  loads = 0;
  /** Loads that had to evict a resident adapter. */
  evictions = 0;

  constructor(readonly config: LoraConfig) {}

  /** Whether a request of `adapter` may join the running set now without exceeding `maxLoras`. */
  canRun(adapter: string): boolean {
    return this.inUse.has(adapter) || this.inUse.size < this.config.maxLoras;
  }

  /** A sequence of `adapter` joins the running set; returns the seconds spent loading it (0 when resident). */
  admit(adapter: string): number {
    this.inUse.set(adapter, (this.inUse.get(adapter) ?? 0) + 1);
    if (this.resident.has(adapter)) {
      this.resident.delete(adapter);
      this.resident.set(adapter, true);
      return 0;
    }
    if (this.resident.size >= this.config.maxLoras) {
      for (const a of this.resident.keys()) {
        if (this.inUse.has(a)) continue;
        this.resident.delete(a);
        this.evictions++;
        break;
      }
    }
    this.resident.set(adapter, true);
    this.loads++;
    return this.config.loadSeconds;
  }

  /** A sequence of `adapter` left the running set (finished or preempted); the adapter stays resident. */
  release(adapter: string): void {
    const n = (this.inUse.get(adapter) ?? 0) - 1;
    if (n > 0) this.inUse.set(adapter, n);
    else this.inUse.delete(adapter);
  }

  /** Adapters of running sequences. */
  running(): string[] {
    return [...this.inUse.keys()];
  }

  /** Adapters in GPU slots, least recently used first. */
  residentAdapters(): string[] {
    return [...this.resident.keys()];
  }
}

/** Bytes of one adapter of rank `rank` on every linear layer of the model (A: r×in, B: out×r), BF16. */
export function loraAdapterBytes(m: { num_layers: number; hidden_size: number; num_kv_heads: number; head_dim: number; intermediate_size: number }, rank: number): number {
  const h = m.hidden_size;
  const kv = m.num_kv_heads * m.head_dim;
  const i = m.intermediate_size;
  // q, k, v, o, then gate, up, down: Σ (in + out) per projection.
  const perLayer = (h + h) + (h + kv) * 2 + (h + h) + (h + i) * 2 + (i + h);
  return 2 * rank * perLayer * m.num_layers;
}
