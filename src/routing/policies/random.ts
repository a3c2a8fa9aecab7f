/**
 * random: a uniformly random healthy worker.
 * Semantics: SGLang `random` and AIBrix `random` (also AIBrix's fallback): uniform over the
 * healthy/ready workers. No deviation. A preset: no scorer, the random picker.
 */
import { presetPolicy } from '../plugins/profile.js';

export const randomPolicy = presetPolicy({
  name: 'random',
  description: 'Uniformly random healthy worker.',
  options: [],
  profile: () => ({ name: 'random', filters: [], scorers: [], picker: { type: 'random' } }),
});
