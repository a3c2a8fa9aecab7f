/**
 * model: keeps the workers that serve the request's model (sgl-model-gateway's multi-model mode,
 * vLLM router's per-model pools). A request without a model, or a fleet of one model, passes
 * through untouched. The Router applies the same narrowing to every policy's candidates, so a
 * profile needs this filter only to state it; it is cheap to repeat.
 */
import type { PluginDef } from '../types.js';
import type { WorkerView } from '../../types.js';

/** What serve calls a worker whose model nobody labelled: it may serve any model. */
export const UNLABELLED_MODEL = 'unknown';

/** A model name and the registered workers that serve it (for `/v1/models`). */
export interface ServedModel {
  readonly model: string;
  readonly workers: number;
  /** Other names the same workers answer to (catalog id, Hugging Face name). */
  readonly aliases: readonly string[];
}

/**
 * Which registered workers serve each model name, aliases included, rebuilt when the registry
 * replaces its worker list (lists are immutable snapshots, so identity says "changed").
 * Workers labelled `unknown` are wildcards: they stay candidates for every model.
 */
export class ModelIndex {
  private list: readonly WorkerView[] | null = null;
  private byName = new Map<string, Set<number>>();
  private wildcard = new Set<number>();
  private canonical = new Map<string, string>();
  private served: ServedModel[] = [];
  /** `narrow` results for the candidate list `narrowOf`, by model name the fleet serves (bounded by its names). */
  private narrowOf: readonly WorkerView[] | null = null;
  private narrowed = new Map<string, readonly WorkerView[]>();

  /** Rebuilds the index when `workers` is not the list it was built from. */
  reset(workers: readonly WorkerView[]): void {
    if (workers === this.list) return;
    this.list = workers;
    this.narrowOf = null;
    this.narrowed = new Map();
    this.byName = new Map();
    this.wildcard = new Set();
    this.canonical = new Map();
    const counts = new Map<string, { n: number; aliases: Set<string> }>();
    for (const w of workers) {
      if (w.model === UNLABELLED_MODEL) {
        this.wildcard.add(w.index);
        continue;
      }
      let c = counts.get(w.model);
      if (!c) counts.set(w.model, (c = { n: 0, aliases: new Set() }));
      c.n++;
      for (const name of [w.model, ...(w.modelAliases ?? [])]) {
        let s = this.byName.get(name);
        if (!s) this.byName.set(name, (s = new Set()));
        s.add(w.index);
        if (name !== w.model) c.aliases.add(name);
        if (!this.canonical.has(name)) this.canonical.set(name, w.model);
      }
    }
    this.served = [...counts].map(([model, c]) => ({ model, workers: c.n, aliases: [...c.aliases].sort() })).sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
  }

  /** More than one model is labelled: requests must be narrowed to their model's workers. */
  get mixed(): boolean {
    return this.served.length > 1;
  }

  /** Some registered worker serves `model` (by name or alias), or an unlabelled worker might. */
  known(model: string): boolean {
    return this.byName.has(model) || this.wildcard.size > 0 || this.served.length === 0;
  }

  /** The fleet's own name for `model` (an alias maps to the label), or undefined when none serves it. */
  canonicalName(model: string): string | undefined {
    return this.canonical.get(model);
  }

  /** Every labelled model with its worker count, sorted by name. */
  models(): readonly ServedModel[] {
    return this.served;
  }

  serves(w: WorkerView, model: string): boolean {
    return this.wildcard.has(w.index) || (this.byName.get(model)?.has(w.index) ?? false);
  }

  /**
   * The candidates serving `model`: the same list object when all of them do (the Router's
   * in-flight index stays usable), else a filtered copy (possibly empty).
   */
  narrow(model: string, candidates: readonly WorkerView[]): readonly WorkerView[] {
    const s = this.byName.get(model);
    if (this.wildcard.size === 0 && s === undefined) return this.served.length === 0 ? candidates : [];
    // Candidate lists are immutable snapshots: a list narrowed for a model once is narrowed alike
    // until the router's list changes, so a decision costs no scan of the fleet.
    if (s === undefined) return this.narrowScan(s, candidates);
    if (candidates !== this.narrowOf) {
      this.narrowOf = candidates;
      this.narrowed.clear();
    }
    let out = this.narrowed.get(model);
    if (out === undefined) this.narrowed.set(model, (out = this.narrowScan(s, candidates)));
    return out;
  }

  private narrowScan(s: Set<number> | undefined, candidates: readonly WorkerView[]): readonly WorkerView[] {
    let all = true;
    for (const c of candidates) {
      if (!this.wildcard.has(c.index) && !(s?.has(c.index) ?? false)) {
        all = false;
        break;
      }
    }
    if (all) return candidates;
    return candidates.filter((c) => this.wildcard.has(c.index) || (s?.has(c.index) ?? false));
  }
}

export const modelFilter: PluginDef<'filter'> = {
  kind: 'filter',
  type: 'model',
  aliases: ['model-filter'],
  description: "Keep the workers serving the request's model (name or alias; unlabelled workers stay); none eligible when no worker serves it.",
  follows: 'sgl-model-gateway multi-model worker selection; vLLM production-stack router model pools',
  options: [],
  create: () => {
    const index = new ModelIndex();
    return {
      type: 'model',
      filter: (req, candidates) => {
        if (req.model === undefined) return candidates;
        // The index is built from the candidates themselves: the filter sees no registry.
        index.reset(candidates);
        return index.narrow(req.model, candidates);
      },
    };
  },
};
