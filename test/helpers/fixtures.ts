import './cache-dir.js';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineConfig } from '../../src/profiles/types.js';
import type { StepCost, StepShape } from '../../src/engine/step-cost.js';

/** Repo root from dist/test/helpers. */
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export { sharedDataDir } from '../../src/workload/shared-data.js';

export function engineConfig(over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    maxNumSeqs: 8,
    maxNumBatchedTokens: 64,
    blockSize: 4,
    numGpuBlocks: 100,
    gpuMemoryUtilization: 0.9,
    enablePrefixCaching: true,
    reserveFullPrompt: false,
    ...over,
  };
}

/** A step cost that is easy to compute by hand: 10 ms + 1 ms per new token. */
export const linearCost: StepCost = {
  seconds: (s: StepShape) => 0.01 + 0.001 * s.tokens,
  decodeSeconds: (seqs: number) => 0.01 + 0.001 * seqs,
};

/** A step cost that depends on context too, to check exactness of decode stretches. */
export const contextCost: StepCost = {
  seconds: (s: StepShape) => 0.005 + 0.0007 * s.tokens + 1e-6 * (s.decodeKvTokens + s.prefillKvTokens) + 1e-9 * s.prefillAttnPairs,
  decodeSeconds: (seqs: number, kv: number) => 0.005 + 0.0007 * seqs + 1e-6 * (kv + 0) + 1e-9 * 0,
};
