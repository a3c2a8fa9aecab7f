import type { KvOffloadConfig } from './kv-offload.js';
import type { LoraConfig } from './lora.js';

/** Engine settings of one worker, as vLLM names them (snake_case in files). */
export interface EngineConfig {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  blockSize: number;
  numGpuBlocks: number;
  gpuMemoryUtilization: number;
  enablePrefixCaching: boolean;
  reserveFullPrompt: boolean;
  /** Lower KV tiers under the HBM prefix cache (`engine.kv_offload` in a fleet file); absent = none. */
  kvOffload?: KvOffloadConfig;
  /** LoRA serving (vLLM `--enable-lora`): adapter slots and load time; absent = base model only. */
  lora?: LoraConfig;
}
