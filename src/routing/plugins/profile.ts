import { UserError } from '../../util/errors.js';
import { resolveOptions } from '../options.js';
import type { Policy, PolicyEnv, PolicyFactory, PolicyOption, PluginRef, ProfileSpec, ScorerRef } from '../types.js';
import type { Filter, PluginHooks, PluginKind, PluginKinds, Picker, Scorer } from './types.js';
import { findPlugin } from './registry.js';

/** Whether any plugin of the profile reads the prompt's content (Policy.usesPrefix). */
function profileUsesPrefix(spec: ProfileSpec): boolean {
  const refs: [PluginKind, PluginRef][] = [...spec.filters.map((f): [PluginKind, PluginRef] => ['filter', f]), ...spec.scorers.map((s): [PluginKind, PluginRef] => ['scorer', s]), ['picker', spec.picker]];
  return refs.some(([kind, ref]) => findPlugin(kind, ref.type, ref.type).usesPrefix !== false);
}

/** Builds one plugin of a profile, its options checked against the plugin's schema. */
function build<K extends PluginKind>(kind: K, ref: PluginRef, env: PolicyEnv, where: string): PluginKinds[K] {
  const def = findPlugin(kind, ref.type, `${where}.type`);
  const opts = resolveOptions(def.options, ref.options ?? {}, (k) => `${where}.options.${k}`, `${kind} ${def.type}`);
  return def.create(opts, env);
}

/**
 * The policy a profile runs: filters in order (an empty result means no eligible worker), then
 * total[i] = Σ weight × clamp(score, 0, 1) over the scorers (weight 0 skipped), then the picker.
 * The env's prefix indexes are recorded once per dispatch and forget removed workers; every
 * plugin's lifecycle hooks are forwarded. `where` names the profile in option errors.
 */
export function profilePolicy(spec: ProfileSpec, env: PolicyEnv, where = `profile ${spec.name}`): Policy {
  const filters: Filter[] = spec.filters.map((f, i) => build('filter', f, env, `${where}: filters[${i}]`));
  const scorers: { s: Scorer; weight: number }[] = spec.scorers.map((s, i) => ({ s: build('scorer', s, env, `${where}: scorers[${i}]`), weight: s.weight }));
  const picker: Picker = build('picker', spec.picker, env, `${where}: picker`);
  const plugins: PluginHooks[] = [...filters, ...scorers.map((x) => x.s), picker];
  const withHook = (h: keyof PluginHooks): PluginHooks[] => plugins.filter((p) => p[h] !== undefined);
  const onDispatch = withHook('onDispatch');
  const onFirstToken = withHook('onFirstToken');
  const onComplete = withHook('onComplete');
  const onAdded = withHook('onWorkerAdded');
  const onRemoved = withHook('onWorkerRemoved');
  let total = new Float64Array(64);
  let part = new Float64Array(64);
  const policy: Policy = {
    name: spec.name,
    usesPrefix: profileUsesPrefix(spec),
    pick(req, candidates, ctx) {
      let eps = candidates;
      for (const f of filters) {
        eps = f.filter(req, eps, ctx);
        if (eps.length === 0) return null;
      }
      const n = eps.length;
      if (total.length < n) {
        total = new Float64Array(n);
        part = new Float64Array(n);
      }
      total.fill(0, 0, n);
      for (const { s, weight } of scorers) {
        if (weight === 0) continue;
        s.score(req, eps, part, ctx);
        for (let i = 0; i < n; i++) total[i] += weight * Math.min(1, Math.max(0, part[i]));
      }
      return { worker: eps[picker.pick(total, eps, ctx)].index };
    },
    onDispatch(req, w, ctx) {
      env.recordRouted(req, w);
      for (const p of onDispatch) p.onDispatch?.(req, w, ctx);
    },
    onWorkerRemoved(w) {
      env.removeWorker(w);
      for (const p of onRemoved) p.onWorkerRemoved?.(w);
    },
  };
  if (onFirstToken.length > 0) policy.onFirstToken = (req, w, ctx) => onFirstToken.forEach((p) => p.onFirstToken?.(req, w, ctx));
  if (onComplete.length > 0) policy.onComplete = (req, w, o, ctx) => onComplete.forEach((p) => p.onComplete?.(req, w, o, ctx));
  if (onAdded.length > 0) policy.onWorkerAdded = (w) => onAdded.forEach((p) => p.onWorkerAdded?.(w));
  return policy;
}

/** A named policy that runs a profile built from its own options (least-request, weighted, ...). */
export function presetPolicy(p: { name: string; description: string; options: readonly PolicyOption[]; profile: (o: Record<string, number | boolean | string>) => ProfileSpec }): PolicyFactory {
  return {
    name: p.name,
    description: p.description,
    options: p.options,
    profile: p.profile,
    create: (o, env) => {
      if (!env) throw new Error(`preset ${p.name} needs a policy env`);
      return profilePolicy(p.profile(o), env, `--policy ${p.name}`);
    },
  };
}

// ---- Profile documents (already read from YAML/JSON; reading files is the CLI's job) ----------

type Doc = Record<string, unknown>;

function isObject(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Doc, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new UserError(`${where}: unknown field "${k}" (expected ${allowed.join(', ')})`);
  }
}

function pluginRef(kind: PluginKind, v: unknown, where: string, extra: readonly string[] = []): PluginRef & Doc {
  if (typeof v === 'string') return { type: findPlugin(kind, v, where).type, options: {} };
  if (!isObject(v)) throw new UserError(`${where}: expected a ${kind} name or {type, options}, got ${JSON.stringify(v)}`);
  onlyKeys(v, ['type', 'options', ...extra], where);
  if (typeof v.type !== 'string' || v.type === '') throw new UserError(`${where}.type: expected a ${kind} name`);
  if (v.options !== undefined && v.options !== null && !isObject(v.options)) throw new UserError(`${where}.options: expected a map of option: value`);
  const def = findPlugin(kind, v.type, `${where}.type`);
  const options: Doc = v.options ?? {};
  // Checked now so a mistake names its place in the file.
  resolveOptions(def.options, options, (k) => `${where}.options.${k}`, `${kind} ${def.type}`);
  return { ...v, type: def.type, options };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A profile document: `{name, description?, filters?: [ref], scorers?: [ref + weight?], picker?: ref}`
 * where a ref is a plugin name or `{type, options}`. Every field, plugin type and option is
 * checked; errors name `where` (the file) and the field path.
 */
export function parseProfile(doc: unknown, where: string): ProfileSpec {
  if (!isObject(doc)) throw new UserError(`${where}: expected a profile object {name, filters, scorers, picker}`);
  onlyKeys(doc, ['name', 'description', 'filters', 'scorers', 'picker'], where);
  if (typeof doc.name !== 'string' || !NAME.test(doc.name)) throw new UserError(`${where}: name: expected a policy name (letters, digits, . _ -), got ${JSON.stringify(doc.name)}`);
  if (doc.description !== undefined && typeof doc.description !== 'string') throw new UserError(`${where}: description: expected a string`);
  const filtersDoc = doc.filters ?? [];
  if (!Array.isArray(filtersDoc)) throw new UserError(`${where}: filters: expected a list`);
  const filters = filtersDoc.map((f, i) => pluginRef('filter', f, `${where}: filters[${i}]`));
  const scorersDoc = doc.scorers ?? [];
  if (!Array.isArray(scorersDoc)) throw new UserError(`${where}: scorers: expected a list of scorers`);
  const scorers: ScorerRef[] = scorersDoc.map((s, i) => {
    const at = `${where}: scorers[${i}]`;
    const ref = pluginRef('scorer', s, at, ['weight']);
    const w = ref.weight ?? 1;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new UserError(`${at}.weight: expected a number ≥ 0, got ${JSON.stringify(w)}`);
    return { type: ref.type, weight: w, options: ref.options };
  });
  const picker = pluginRef('picker', doc.picker ?? 'max-score', `${where}: picker`);
  return {
    name: doc.name,
    ...(doc.description !== undefined ? { description: doc.description } : {}),
    filters: filters.map((f) => ({ type: f.type, options: f.options })),
    scorers,
    picker: { type: picker.type, options: picker.options },
  };
}
