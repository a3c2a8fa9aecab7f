#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerSimulate } from './simulate.js';
import { registerProfile } from './profile.js';
import { registerProfileAibrix } from './profile-aibrix.js';
import { registerValidate } from './validate.js';
import { registerPolicies } from './policies.js';
import { registerTrace } from './trace.js';
import { registerCompare } from './compare.js';
import { registerReport } from './report.js';
import { registerServe } from './serve.js';
import { registerMockWorker } from './mock-worker.js';
import { registerReplay } from './replay.js';
import { registerSweep } from './sweep.js';
import { registerPlan } from './plan.js';

// `router ... | head` closes stdout early: stop quietly, as Unix tools do, not with a stack trace.
// A command that owns stdout errors itself (serve's request log keeps the proxy up) adds a listener.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (process.stdout.listenerCount('error') > 1) return;
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command();
program
  .name('router')
  .description('Route requests across fleets of LLM inference servers: simulate routing policies on real traces, then serve them')
  .version('0.1.0')
  .exitOverride();

registerSimulate(program);
registerProfile(program);
registerProfileAibrix(program);
registerValidate(program);
registerPolicies(program);
registerTrace(program);
registerCompare(program);
registerReport(program);
registerServe(program);
registerMockWorker(program);
registerReplay(program);
registerSweep(program);
registerPlan(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Usage mistakes exit 2 like every other user error; --help and --version exit 0.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    throw err;
  }
}
