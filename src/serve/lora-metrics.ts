import type { ScrapedLora } from '../routing/types.js';
import type { PromFamily } from '../util/prometheus-text.js';

const NAME = 'vllm:lora_requests_info';

function list(v: string | undefined): string[] {
  if (v === undefined || v.trim() === '') return [];
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * vLLM's `vllm:lora_requests_info{running_lora_adapters="a,b",waiting_lora_adapters="c",max_lora="4"}`:
 * a gauge set to the time of each change, one series per distinct label set, so the series with
 * the largest value is the current state. Undefined when the page has none (LoRA off).
 */
export function loraRequestsInfo(families: readonly PromFamily[]): ScrapedLora | undefined {
  let best: { at: number; labels: Record<string, string> } | undefined;
  for (const f of families) {
    for (const x of f.samples) {
      if (x.name !== NAME || !Number.isFinite(x.value)) continue;
      if (!best || x.value > best.at) best = { at: x.value, labels: x.labels };
    }
  }
  if (!best) return undefined;
  const max = Number(best.labels.max_lora);
  return {
    running: list(best.labels.running_lora_adapters),
    waiting: list(best.labels.waiting_lora_adapters),
    maxLoras: Number.isInteger(max) && max > 0 ? max : 1,
  };
}
