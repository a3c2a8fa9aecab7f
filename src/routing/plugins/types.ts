import type { OptionValues } from '../options.js';
import type { Outcome, PolicyContext, PolicyEnv, PolicyOption, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';

/**
 * The llm-d scheduling framework (pkg/epp/framework): a profile runs Filters → Scorers → Picker.
 * Plugins are small objects built per policy instance; stateful ones follow the request's life
 * through the same hooks a Policy has (the profile forwards them).
 */
export interface PluginHooks {
  onDispatch?(req: RouteRequest, worker: WorkerView, ctx: PolicyContext): void;
  onFirstToken?(req: RouteRequest, worker: WorkerView, ctx: PolicyContext): void;
  onComplete?(req: RouteRequest, worker: WorkerView, outcome: Outcome, ctx: PolicyContext): void;
  onWorkerAdded?(worker: WorkerView): void;
  /** Free everything kept for the worker (its slot will be reused). */
  onWorkerRemoved?(worker: WorkerView): void;
}

/** Narrows the candidates; an empty answer means no worker is eligible (the profile picks none). */
export interface Filter extends PluginHooks {
  readonly type: string;
  filter(req: RouteRequest, candidates: readonly WorkerView[], ctx: PolicyContext): readonly WorkerView[];
}

/**
 * Scores every candidate: `out[i]` for `candidates[i]`, in [0, 1] (higher is better). The
 * profile clamps to [0, 1] and adds `weight × score` over its scorers.
 */
export interface Scorer extends PluginHooks {
  readonly type: string;
  score(req: RouteRequest, candidates: readonly WorkerView[], out: Float64Array, ctx: PolicyContext): void;
}

/** Chooses among the scored candidates: returns a position in `candidates` (scores in `total[0..n)`). */
export interface Picker extends PluginHooks {
  readonly type: string;
  pick(total: Float64Array, candidates: readonly WorkerView[], ctx: PolicyContext): number;
}

export type PluginKind = 'filter' | 'scorer' | 'picker';

export interface PluginKinds {
  filter: Filter;
  scorer: Scorer;
  picker: Picker;
}

/**
 * One plugin type: its name, what it does, its option schema and its constructor. A new scorer
 * is one file exporting one of these plus one line in plugins/registry.ts.
 */
export interface PluginDef<K extends PluginKind = PluginKind> {
  readonly kind: K;
  readonly type: string;
  /** Other names accepted in profiles and specs (llm-d's long names, short forms). */
  readonly aliases?: readonly string[];
  readonly description: string;
  /** Where the semantics come from (llm-d source file, paper). */
  readonly follows: string;
  /** Whether the plugin reads the prompt's content (`req.prefix`); absent means it does (see Policy.usesPrefix). */
  readonly usesPrefix?: boolean;
  readonly options: readonly PolicyOption[];
  create(options: OptionValues, env: PolicyEnv): PluginKinds[K];
}
