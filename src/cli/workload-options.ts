import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';

/** Adds the workload flags (`buildWorkload`) to a command; `simulate` and `router trace` share them. */
export function addWorkloadOptions(cmd: Command, opts: { mix: boolean; formatFlag?: '--format' | '--trace-format' }): Command {
  cmd
    // `compare` names it --trace-format: its --format is the table's.
    .option(`${opts.formatFlag ?? '--format'} <name>`, 'trace format (default: detected from the content; see traces/README.md)')
    .option('--rate <r>', `impose an arrival process at R requests (or sessions) per second; traces without timestamps default to ${DEFAULTS.workload.untimedRateRps}`)
    .option('--arrival <process>', 'poisson or gamma (with --rate; default poisson)')
    .option('--burstiness <b>', 'gamma shape: 1 = Poisson, < 1 burstier, > 1 smoother (implies --arrival gamma)')
    .option('--time-scale <x>', 'multiply every arrival time by X (0.5 replays twice as fast)')
    .option('--duration <s>', 'stop at the first request arriving after S seconds (traces given a --rate or a mix rate repeat until then)')
    .option('--limit <n>', 'only the first N requests')
    .option('--multi-turn', 'ShareGPT: replay whole conversations as sessions (each turn re-sends the history)')
    .option('--think-time <s>', `mean think time between a session's turns, seconds (default ${DEFAULTS.workload.thinkTimeS})`);
  if (opts.mix) cmd.option('--mix <spec>', 'mix traces, each with its own arrival process: FILE:RATE[:FORMAT][:model=M][:lora=A][:tenant=T][:priority=P],... (rates in req/s; attributes fill what the requests lack)');
  return cmd;
}
