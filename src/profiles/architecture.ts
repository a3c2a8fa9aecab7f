import type { Gpu } from './types.js';

/** GPU architecture generations the speed model tells apart (efficiencies are fitted per generation). */
export type Architecture = 'volta' | 'turing' | 'ampere' | 'ada' | 'hopper' | 'blackwell' | 'cdna3' | 'unknown';

/** The generation of a GPU, read from its marketed name (so a new catalog entry needs no extra field). */
export function architectureOf(gpu: Pick<Gpu, 'name'>): Architecture {
  const n = gpu.name;
  if (/MI3\d\d/i.test(n)) return 'cdna3';
  if (/Blackwell|B200|B100|GB200/i.test(n)) return 'blackwell';
  if (/H100|H200|H20\b|H800|GH200/i.test(n)) return 'hopper';
  if (/RTX 40\d\d|RTX 6000 Ada|\bL4\b|\bL20\b|\bL40S?\b/i.test(n)) return 'ada';
  if (/A100|A800|\bA10G?\b|\bA30\b|\bA40\b|RTX A\d|RTX 30\d\d/i.test(n)) return 'ampere';
  if (/V100/i.test(n)) return 'volta';
  if (/\bT4\b|RTX 20\d\d/i.test(n)) return 'turing';
  return 'unknown';
}
