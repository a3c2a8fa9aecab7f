import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.js';

/**
 * The real traces in `shared/data` beside the checkout (or beside one of its parents, so a git
 * worktree nested under the project finds them too), or undefined when they are absent.
 */
export function sharedDataDir(): string | undefined {
  for (const start of [PACKAGE_ROOT, resolve('.')]) {
    for (let dir = start; ; dir = dirname(dir)) {
      const candidate = join(dir, '..', 'shared', 'data');
      if (existsSync(join(candidate, 'README.md'))) return resolve(candidate);
      if (dirname(dir) === dir) break;
    }
  }
  return undefined;
}

/** The shared data files the workload readers are tested on, relative to `sharedDataDir()`. */
export const SHARED_TRACES = {
  sharegpt: 'sharegpt/sharegpt_v3_sample1000.json',
  bird: 'bird/dev.json',
  mooncake: 'mooncake/synthetic_trace.jsonl',
  azure: 'azure-2023/AzureLLMInferenceTrace_conv.csv',
} as const;
