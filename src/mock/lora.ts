import type { LoraInfo } from '../engine/lora.js';
import { UserError } from '../util/errors.js';

/** One adapter a mock worker serves (vLLM `--lora-modules name=path`). */
export interface MockLoraModule {
  name: string;
  /** Where vLLM would load it from; the mock reports it as the model card's `root`. */
  path: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*$/;

/** `--lora-modules` values: `name` or `name=path`, repeatable, names unique. */
export function parseLoraModules(values: readonly string[], flag: string): MockLoraModule[] {
  const out: MockLoraModule[] = [];
  const seen = new Set<string>();
  for (const v of values) {
    for (const part of v.split(',')) {
      const s = part.trim();
      if (s === '') continue;
      const eq = s.indexOf('=');
      const name = (eq < 0 ? s : s.slice(0, eq)).trim();
      const path = eq < 0 ? `/adapters/${name}` : s.slice(eq + 1).trim();
      if (!NAME_RE.test(name) || path === '') throw new UserError(`${flag} "${s}": expected name or name=path (letters, digits, . _ - / :)`);
      if (seen.has(name)) throw new UserError(`${flag}: adapter "${name}" is listed twice`);
      seen.add(name);
      out.push({ name, path });
    }
  }
  return out;
}

/** Distinct label sets kept for `vllm:lora_requests_info` (prometheus_client keeps every one it saw). */
const MAX_INFO_SERIES = 64;

/**
 * The LoRA face of a mock worker: which `model` names are adapters, their `/v1/models` cards, and
 * `vllm:lora_requests_info` as vLLM V1's logger writes it: a gauge per label set
 * (`running_lora_adapters`, `waiting_lora_adapters`, `max_lora`), set to the wall time whenever
 * that set is current, so old sets linger with older times and the newest one is the state.
 * What differs from vLLM: series beyond the last 64 distinct sets are dropped (vLLM keeps all).
 */
export class MockLora {
  private readonly byName: Map<string, MockLoraModule>;
  private readonly infoSeries = new Map<string, { labels: Record<string, string>; at: number }>();

  constructor(readonly modules: readonly MockLoraModule[], private readonly baseModel: string) {
    this.byName = new Map(modules.map((m) => [m.name, m]));
  }

  has(model: string): boolean {
    return this.byName.has(model);
  }

  /** vLLM's LoRA model cards: id = adapter name, root = its path, parent = the base model. */
  modelCards(created: number): object[] {
    return this.modules.map((m) => ({ id: m.name, object: 'model', created, owned_by: 'vllm', root: m.path, parent: this.baseModel, max_model_len: null, permission: [] }));
  }

  /** The gauge's series after marking `info` current at `nowS` (wall seconds). */
  infoRows(info: LoraInfo, nowS: number): [Record<string, string>, number][] {
    const labels = { max_lora: String(info.maxLoras), running_lora_adapters: info.running.join(','), waiting_lora_adapters: info.waiting.join(',') };
    const key = `${labels.max_lora}|${labels.running_lora_adapters}|${labels.waiting_lora_adapters}`;
    this.infoSeries.delete(key);
    this.infoSeries.set(key, { labels, at: nowS });
    if (this.infoSeries.size > MAX_INFO_SERIES) this.infoSeries.delete(this.infoSeries.keys().next().value as string);
    return [...this.infoSeries.values()].map((s) => [s.labels, s.at]);
  }
}
