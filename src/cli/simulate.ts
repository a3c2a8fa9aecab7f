import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { parseFleet } from '../profiles/fleet.js';
import { policyFromFlags } from './policy-config.js';
import { Simulation, type SimulationResult } from '../sim/simulator.js';
import { buildWorkload, defaultTracePath, type WorkloadFlags } from '../workload/workload.js';
import { addWorkloadOptions } from './workload-options.js';
import type { Request } from '../workload/request.js';
import { formatSummary, rejectionNote, summaryJson } from '../report/text.js';
import { writeReports } from '../report/write.js';
import { parseNumberFlag, runAction } from './errors.js';
import { addSimulationOptions } from './simulation-options.js';
import { colorWanted } from '../tui/format.js';
import { UserError } from '../util/errors.js';
import { loadSloProfiles } from './profile-aibrix.js';
import { sloSetup, usesSloTables } from './profile-aibrix-derive.js';
import { checkOutputDir } from './output-path.js';
import { addPdOptions, pdFromFlags, type PdFlags } from './pd-options.js';
import { SimKvEvents } from '../sim/kv-events.js';
import { createPolicyEnv } from '../routing/env.js';
import { addReplicaOptions, replicaOptionsFromFlags, type ReplicaFlags } from './replica-options.js';
import { addAdmissionOptions, admissionFromFlags, type AdmissionFlags } from './admission-options.js';
import { Admission } from '../routing/admission/admission.js';
import { SimAdmission } from '../sim/admission.js';

export interface SimulateFlags extends WorkloadFlags, PdFlags, Partial<ReplicaFlags>, AdmissionFlags {
  fleet: string;
  policy: string;
  policyOpt: string[];
  /** --policy-config FILE: a profile or named policy in YAML/JSON (wins over --policy). */
  policyConfig?: string;
  seed: string;
  scrapeInterval: string;
  /** --kv-event-lag S (absent when a caller builds flags by hand: the default). */
  kvEventLag?: string;
  slo?: string;
  /** AIBrix profile files/directories for the slo* policies. */
  sloProfile?: string[];
  json?: boolean;
  out?: string;
  /** commander's `--no-tui` sets this false. */
  tui?: boolean;
  pace?: string;
}

/** The request stream the flags describe (also read by the dashboard's trace-length scan). */
export function requestsFromFlags(f: SimulateFlags): AsyncIterable<Request> {
  return buildWorkload(f, defaultTracePath()).requests;
}

/** Builds and runs one simulation from CLI flags (shared by `simulate` and `compare`). */
export async function simulateFromFlags(
  f: SimulateFlags,
  onBatch?: (sim: Simulation) => void | Promise<void>,
  live: { batchEvents?: number } = {},
): Promise<SimulationResult> {
  const seed = parseNumberFlag('--seed', f.seed, { integer: true });
  const scrapeIntervalS = parseNumberFlag('--scrape-interval', f.scrapeInterval, { min: 0 });
  const fleet = parseFleet(f.fleet);
  const kvEvents = new SimKvEvents(parseNumberFlag('--kv-event-lag', f.kvEventLag ?? String(DEFAULTS.kvEventLagS), { min: 0 }));
  const env = (): ReturnType<typeof createPolicyEnv> => createPolicyEnv(kvEvents.indexFactory());
  const pd = pdFromFlags(f, fleet, () => policyFromFlags(f, env()));
  const policy = pd?.policy ?? policyFromFlags(f, env());
  if (f.kvEventLag !== undefined && Number(f.kvEventLag) !== DEFAULTS.kvEventLagS && !kvEvents.used) {
    process.stderr.write(`router: note: --kv-event-lag has no effect: policy ${policy.name} does not read KV events (the precise-prefix policy or scorer does)\n`);
  }
  // slo* policies need no set-up: the SLO defaults and missing tables are derived (and cached).
  const setup = await sloSetup(policy.name, f.slo, fleet, f.sloProfile?.length ? loadSloProfiles(f.sloProfile) : [], (line) => process.stderr.write(`${line}\n`));
  const replicaOpts = f.routerReplicas === undefined ? undefined : replicaOptionsFromFlags({ routerReplicas: f.routerReplicas, replicaSplit: f.replicaSplit ?? 'round-robin', sharedState: f.sharedState, syncDelay: f.syncDelay, shareRouting: f.shareRouting }, (env) => policyFromFlags(f, env));
  // Every replica's precise index hears every engine's events (each subscribes to all of them).
  const replicas = replicaOpts && { ...replicaOpts, indexFactoryFor: () => kvEvents.indexFactory() };
  const requests = requestsFromFlags(f);
  const admission = admissionFromFlags(f);
  const sim = new Simulation({
    admission: admission && new SimAdmission(new Admission(admission, 0)),
    replicas,
    fleet,
    policy,
    requests,
    seed,
    scrapeIntervalS,
    timeseriesIntervalS: DEFAULTS.timeseriesIntervalS,
    slo: setup.slo,
    sloProfiles: setup.tables,
    onBatch,
    batchEvents: live.batchEvents,
    pd: pd?.pd,
    // Fed only when the policy reads them: other policies run exactly as before.
    kvEvents: kvEvents.used ? kvEvents : undefined,
  });
  if (usesSloTables(policy.name) && !sim.views.some((v) => v.sloProfile?.hasLoadModel)) {
    process.stderr.write(`router: note: no worker's AIBrix SLO tables have an e2e table (the load model needs one), so ${policy.name} routes everything through its fallback\n`);
  }
  const started = process.hrtime.bigint();
  const result = await sim.run();
  result.summary.wall_s = Number(process.hrtime.bigint() - started) / 1e9;
  if (setup.sloLabel) result.summary.slo = setup.sloLabel;
  return result;
}

export function registerSimulate(program: Command): void {
  const cmd = program
    .command('simulate')
    .description('Replay a trace against simulated GPU workers under a routing policy and report latency, goodput, cache hits, balance and cost')
    .option('--policy <name>', 'routing policy (see `router policies`)', DEFAULTS.policy);
  addSimulationOptions(cmd, { fleet: 'one' })
    .option('--policy-config <file>', 'YAML/JSON policy: a filter → scorer → picker profile, or {policy, options} (see docs/policies.md)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--out <dir>', 'write summary.csv, requests.csv and timeseries.csv into DIR')
    .option('--no-tui', 'no live dashboard: plain progress lines on stderr (also when stdout is not a terminal, CI=true or --json)')
    .option('--pace <x>', 'run at X times real time so a person can watch (default: as fast as possible)');
  addPdOptions(cmd);
  addReplicaOptions(cmd);
  addAdmissionOptions(cmd, 'simulate');
  addWorkloadOptions(cmd, { mix: true })
    .action((flags: SimulateFlags) =>
      runAction(async () => {
        if (flags.out) checkOutputDir('--out', flags.out);
        const pace = flags.pace === undefined ? null : parsePace(flags.pace);
        const pacer = new Pacer(pace);
        const started = performance.now();
        const useTui = process.stdout.isTTY && process.env.CI !== 'true' && !flags.json && flags.tui !== false;
        let result: SimulationResult;
        if (useTui) {
          // ink and react take most of a second to load: only a dashboard run pays for them.
          const { startSimDashboard } = await import('../tui/sim-app.js');
          const { scanTraceExtent } = await import('../tui/trace-scan.js');
          const live: { dash?: ReturnType<typeof startSimDashboard>; scan?: ReturnType<typeof scanTraceExtent> } = {};
          try {
            result = await simulateFromFlags(
              flags,
              async (sim) => {
                // Mounted at the first batch: bad flags and unreadable traces fail before it takes the screen.
                if (!live.dash) {
                  live.scan = scanTraceExtent(flags);
                  live.dash = startSimDashboard({ stdout: process.stdout, stdin: process.stdin, color: colorWanted(), pace, traceExtent: live.scan.extent });
                }
                const c = live.dash.controller;
                await c.onBatch(sim);
                if (!c.quit) await pacer.wait(sim, () => c.wallS(), () => c.paused || c.quit);
              },
              { batchEvents: pace === null ? LIVE_BATCH_EVENTS : PACED_BATCH_EVENTS },
            );
          } finally {
            live.scan?.cancel();
            await live.dash?.finish();
          }
        } else {
          let lastLine = started;
          result = await simulateFromFlags(flags, async (sim) => {
            const now = performance.now();
            if (now - lastLine >= DEFAULTS.progressIntervalS * 1e3) {
              lastLine = now;
              process.stderr.write(`${progressLine(sim, (now - started) / 1e3)}\n`);
            }
            await pacer.wait(sim, () => (performance.now() - started) / 1e3, () => false);
            await new Promise((r) => setImmediate(r));
          }, { batchEvents: pace === null ? undefined : PACED_BATCH_EVENTS });
        }
        const rejected = rejectionNote(result.log);
        if (rejected) process.stderr.write(`router: ${rejected}\n`);
        if (result.stopped) process.stderr.write(`stopped at ${result.summary.duration_s.toFixed(1)} s simulated; reports cover what was simulated\n`);
        if (flags.out) {
          const files = writeReports(flags.out, result);
          process.stderr.write(`wrote ${files.join(', ')}\n`);
        }
        process.stdout.write(flags.json ? `${summaryJson(result.summary)}\n` : `${formatSummary(result.summary)}\n`);
      }),
    );
}

function parsePace(raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) throw new UserError(`--pace: expected a number > 0 (times real time), got "${raw}"`);
  return v;
}

/** Events between yields to the dashboard's timers: small enough for a 100 ms refresh, large enough to cost nothing. */
export const LIVE_BATCH_EVENTS = 2048;
/** With --pace each batch is a pacing step: small, so the picture moves smoothly. */
const PACED_BATCH_EVENTS = 128;

function progressLine(sim: Simulation, wallS: number): string {
  const p = sim.progress();
  const speed = wallS > 0 ? p.simTimeS / wallS : 0;
  return `simulated ${p.simTimeS.toFixed(1)} s in ${wallS.toFixed(1)} s wall (${speed.toFixed(1)}x): ${p.arrived} arrived, ${p.completed} completed, ${p.rejected} rejected, ${p.inFlight} in flight`;
}

/**
 * `--pace X`: after each batch, sleeps until wall time catches up with simulated time / X. Simulated
 * time is counted from the first arrival (estimated from the requests finished so far), so a trace
 * that starts late in simulated time does not wait; wall time from the start of the run.
 */
class Pacer {
  private simRef = NaN;
  constructor(private readonly pace: number | null) {}

  async wait(sim: Simulation, wallS: () => number, interrupted: () => boolean): Promise<void> {
    if (this.pace === null) return;
    const simS = sim.clock.now();
    if (Number.isNaN(this.simRef)) {
      let first = simS;
      for (const a of sim.log.arrivalS.view()) first = Math.min(first, a);
      this.simRef = first;
    }
    // Sleep in short slices so quit and pause stay responsive.
    for (;;) {
      const ahead = (simS - this.simRef) / this.pace - wallS();
      if (ahead <= 0 || interrupted()) return;
      await new Promise((r) => setTimeout(r, Math.min(100, ahead * 1e3)));
    }
  }
}
