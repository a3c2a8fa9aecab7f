import { UserError } from '../../util/errors.js';
import type { PluginDef, PluginKind } from './types.js';
import { saturationFilter } from './filters/saturation.js';
import { modelFilter } from './filters/model.js';
import { queueScorer } from './scorers/queue.js';
import { kvUtilizationScorer } from './scorers/kv-utilization.js';
import { prefixScorer } from './scorers/prefix.js';
import { precisePrefixScorer } from './scorers/precise-prefix.js';
import { activeRequestsScorer } from './scorers/active-requests.js';
import { runningScorer } from './scorers/running.js';
import { sessionScorer } from './scorers/session.js';
import { tokenLoadScorer } from './scorers/token-load.js';
import { loraAffinityScorer } from './scorers/lora-affinity.js';
import { maxScorePicker } from './pickers/max-score.js';
import { weightedRandomPicker } from './pickers/weighted-random.js';
import { randomPicker } from './pickers/random.js';

/** Every plugin a profile can name; one line per plugin. */
export const PLUGINS: readonly PluginDef[] = [
  saturationFilter,
  modelFilter,
  queueScorer,
  kvUtilizationScorer,
  prefixScorer,
  precisePrefixScorer,
  activeRequestsScorer,
  runningScorer,
  sessionScorer,
  tokenLoadScorer,
  loraAffinityScorer,
  maxScorePicker,
  weightedRandomPicker,
  randomPicker,
];

export function pluginDefs(kind?: PluginKind): PluginDef[] {
  return PLUGINS.filter((p) => kind === undefined || p.kind === kind);
}

/** The plugin of `kind` named `type` (or one of its aliases); unknown names list the known ones. */
export function findPlugin<K extends PluginKind>(kind: K, type: string, where: string): PluginDef<K> {
  const hit = PLUGINS.find((p) => p.kind === kind && (p.type === type || p.aliases?.includes(type)));
  if (!hit) throw new UserError(`${where}: unknown ${kind} "${type}" (known: ${pluginDefs(kind).map((p) => p.type).join(', ')})`);
  return hit as PluginDef<K>;
}
