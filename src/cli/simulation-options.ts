import { Option, type Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { collect } from './errors.js';

const FLEET_HELP = 'workers: GPU[:COUNT],... (model llama-3.1-8b unless a profile name like qwen3-32b@h100-sxm-tp2 is given) or a fleet file (.json/.yaml)';

/**
 * The simulation flags `simulate` and `compare` share (trace, fleet, policy options, seed, scrape
 * interval, SLO and SLO profiles), defined once. `compare` takes `--fleet` repeatedly to compare fleets.
 */
export function addSimulationOptions(cmd: Command, opts: { fleet: 'one' | 'repeatable' }): Command {
  cmd.option('--trace <file>', `trace file (default: the shipped ${DEFAULTS.trace})`);
  if (opts.fleet === 'one') cmd.option('--fleet <spec>', FLEET_HELP, DEFAULTS.fleet);
  // An empty list means "the default fleet".
  else cmd.addOption(repeatable('--fleet <spec>', `${FLEET_HELP}; repeatable to compare fleets`, DEFAULTS.fleet));
  return cmd
    .addOption(repeatable('--policy-opt <k=v>', 'policy option, repeatable (compare: applied to every policy)', 'none'))
    .option('--seed <n>', 'seed for every random choice', String(DEFAULTS.seed))
    .option('--scrape-interval <s>', 'seconds between engine-metric scrapes the router sees (0 = perfect information)', String(DEFAULTS.scrapeIntervalS))
    .option('--kv-event-lag <s>', 'seconds between an engine caching/evicting a block and the router\'s precise index hearing of it (KV events; read by the precise-prefix policy and scorer)', String(DEFAULTS.kvEventLagS))
    .option('--slo <spec>', `SLO, e.g. ttft_ms=2000,tpot_ms=50,e2e_ms=20000,percentile=99 (slo* policies: default ${DEFAULTS.slo})`)
    .addOption(repeatable('--slo-profile <path>', 'AIBrix ModelGPUProfile file or directory of them for the slo* policies, matched to workers by deployment name (else GPU id); repeatable. Without it, tables are derived from each deployment and cached ($ROUTER_CACHE_DIR, default ~/.cache/router)', 'derived'));
}

/** A repeatable flag collected into a list; help shows `shown` as its default, not commander's `[]`. */
function repeatable(flags: string, description: string, shown: string): Option {
  return new Option(flags, description).argParser(collect).default([], shown);
}
