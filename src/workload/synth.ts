import type { Request } from './request.js';
import { interarrival, type ArrivalProcess } from './arrivals.js';
import { lengthSampler, type LengthDist } from './synthetic.js';
import { childRng, type Rng } from '../util/rng.js';
import { UserError } from '../util/errors.js';

/**
 * Shared-prefix groups as SGLang's generated-shared-prefix benchmark builds them: `groups`
 * system prompts of `systemPromptTokens` tokens, `promptsPerGroup` questions of `questionTokens`
 * tokens each, all requests shuffled; token ids are random but fixed by the seed, so the prefix
 * of one group is exactly shared.
 */
export interface SharedPrefixSpec {
  groups: number;
  promptsPerGroup: number;
  systemPromptTokens: number;
  questionTokens: number;
}

export interface SynthSpec {
  seed: number;
  process: ArrivalProcess;
  rateRps: number;
  burstiness: number;
  /** Number of requests (ignored with shared-prefix groups: groups × prompts per group). */
  count: number;
  input: LengthDist;
  output: LengthDist;
  sharedPrefix?: SharedPrefixSpec;
}

/** Token ids stay clear of Llama 3's special tokens (128000+). */
const VOCAB = 128000;

function randomIds(rng: Rng, n: number): Uint32Array {
  const ids = new Uint32Array(n);
  for (let i = 0; i < n; i++) ids[i] = rng.int(VOCAB);
  return ids;
}

/** `N`, `fixed:N`, `exp:MEAN[:MAX]` or `lognormal:MEAN[:SIGMA[:MAX]]` (tokens, at least 1). */
export function parseLengthSpec(flag: string, raw: string): LengthDist {
  const parts = raw.split(':');
  const nums = parts.slice(parts.length === 1 ? 0 : 1).map(Number);
  const bad = (): never => {
    throw new UserError(`${flag}: expected N, fixed:N, exp:MEAN[:MAX] or lognormal:MEAN[:SIGMA[:MAX]] (tokens >= 1), got "${raw}"`);
  };
  if (nums.length === 0 || nums.some((v) => !Number.isFinite(v) || v <= 0)) bad();
  const kind = parts.length === 1 ? 'fixed' : parts[0];
  if (kind === 'fixed' && nums.length === 1 && Number.isInteger(nums[0])) return { kind: 'fixed', mean: nums[0] };
  if (kind === 'exp' && nums.length <= 2) return { kind: 'exponential', mean: nums[0], min: 1, max: nums[1] };
  if (kind === 'lognormal' && nums.length <= 3) return { kind: 'lognormal', mean: nums[0], sigma: nums[1] ?? 1, min: 1, max: nums[2] };
  return bad();
}

export function* synthRequests(s: SynthSpec): Generator<Request> {
  const arrivals = childRng(s.seed, 'synth/arrivals');
  const lengths = childRng(s.seed, 'synth/lengths');
  let t = 0;
  const inputLength = lengthSampler(s.input);
  const outputLength = lengthSampler(s.output);
  if (!s.sharedPrefix) {
    for (let i = 0; i < s.count; i++) {
      t += interarrival(arrivals, s);
      yield { id: `synth-${i}`, arrivalS: t, inputTokens: inputLength(lengths), outputTokens: outputLength(lengths) };
    }
    return;
  }
  const g = s.sharedPrefix;
  const ids = childRng(s.seed, 'synth/tokens');
  const systems = Array.from({ length: g.groups }, () => randomIds(ids, g.systemPromptTokens));
  const order: number[] = [];
  for (let i = 0; i < g.groups * g.promptsPerGroup; i++) order.push(i);
  const shuffle = childRng(s.seed, 'synth/shuffle');
  for (let i = order.length - 1; i > 0; i--) {
    const j = shuffle.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const k of order) {
    const group = Math.floor(k / g.promptsPerGroup);
    const prompt = new Uint32Array(g.systemPromptTokens + g.questionTokens);
    prompt.set(systems[group]);
    prompt.set(randomIds(ids, g.questionTokens), g.systemPromptTokens);
    t += interarrival(arrivals, s);
    yield {
      id: `gsp-${group}-${k % g.promptsPerGroup}`,
      arrivalS: t,
      inputTokens: prompt.length,
      outputTokens: outputLength(lengths),
      prefix: { kind: 'tokens', ids: prompt },
    };
  }
}
