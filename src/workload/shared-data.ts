import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../profiles/catalog.js';

/** The real traces beside the checkout (`../shared/data`), or undefined when they are absent. */
export function sharedDataDir(): string | undefined {
  const candidates = [resolve('..', 'shared', 'data'), join(PACKAGE_ROOT, '..', 'shared', 'data')];
  return candidates.find((c) => existsSync(join(c, 'README.md')));
}

/** The shared data files the workload readers are tested on, relative to `sharedDataDir()`. */
export const SHARED_TRACES = {
  sharegpt: 'sharegpt/sharegpt_v3_sample1000.json',
  bird: 'bird/dev.json',
  mooncake: 'mooncake/synthetic_trace.jsonl',
  azure: 'azure-2023/AzureLLMInferenceTrace_conv.csv',
} as const;
