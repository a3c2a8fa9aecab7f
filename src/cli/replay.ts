import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { parseSlo } from '../metrics/slo.js';
import { requestsCsv, summaryCsv } from '../report/csv.js';
import { formatSummary, summaryJson } from '../report/text.js';
import { runReplay, type Pacing, type ReplayResult } from '../replay/run.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { buildWorkload } from '../workload/workload.js';
import type { Request } from '../workload/request.js';
import { parseNumberFlag, runAction } from './errors.js';
import { defaultTracePath } from './simulate.js';
import { checkOutputDir } from './output-path.js';

export interface ReplayFlags {
  trace?: string;
  format?: string;
  target: string;
  rate?: string;
  concurrency?: string;
  limit?: string;
  duration?: string;
  api: string;
  model?: string;
  seed: string;
  slo?: string;
  label: string;
  timeout: string;
  speedup: string;
  json?: boolean;
  out?: string;
}

/** Checks a `--target` URL and returns it without a trailing slash. */
export function parseTarget(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UserError(`--target "${raw}": expected a URL such as http://127.0.0.1:8000`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`--target "${raw}": expected an http:// or https:// URL`);
  return raw.replace(/\/+$/, '').replace(/\/v1$/, '');
}

function positive(flag: string, raw: string): number {
  const v = parseNumberFlag(flag, raw, { min: 0 });
  if (v <= 0) throw new UserError(`${flag}: expected a number > 0, got "${raw}"`);
  return v;
}

/**
 * The requests a replay sends, with their arrival times: built by the same workload code as
 * `simulate`, so `--rate R --seed N` draws the same Poisson arrivals in both (and a trace without
 * timestamps gets the same default process).
 */
export function replayRequests(f: Pick<ReplayFlags, 'trace' | 'format' | 'rate' | 'limit' | 'seed'>): AsyncIterable<Request> {
  if (f.rate !== undefined) positive('--rate', f.rate);
  if (f.limit !== undefined) parseNumberFlag('--limit', f.limit, { integer: true, min: 1 });
  return buildWorkload({ trace: f.trace, format: f.format, rate: f.rate, limit: f.limit, seed: f.seed }, defaultTracePath()).requests;
}

/** Builds and runs one replay from CLI flags (shared with the parity benchmark). */
export async function replayFromFlags(f: ReplayFlags, onProgress?: Parameters<typeof runReplay>[0]['onProgress']): Promise<ReplayResult> {
  const target = parseTarget(f.target);
  const durationS = f.duration === undefined ? undefined : parseNumberFlag('--duration', f.duration, { min: 0 });
  const concurrency = f.concurrency === undefined ? undefined : parseNumberFlag('--concurrency', f.concurrency, { integer: true, min: 1 });
  // --concurrency alone is a closed loop; otherwise requests go out at their arrival times.
  const pacing: Pacing = f.rate === undefined && concurrency !== undefined ? { kind: 'none' } : { kind: 'trace' };
  if (f.api !== 'chat' && f.api !== 'completions') throw new UserError(`--api: expected chat or completions, got "${f.api}"`);
  const requests = replayRequests(f);
  return runReplay({
    requests,
    target,
    pacing,
    concurrency,
    durationS,
    api: f.api,
    model: f.model,
    slo: f.slo === undefined ? undefined : parseSlo(f.slo),
    label: f.label,
    requestTimeoutS: parseNumberFlag('--timeout', f.timeout, { min: 0 }),
    progressIntervalS: DEFAULTS.live.progressIntervalS,
    onProgress,
    speedup: positive('--speedup', f.speedup),
  });
}

/** requests.csv and summary.csv in the schema `simulate` writes (a live run has no engine timeseries). */
export function writeReplayReports(dir: string, r: ReplayResult): string[] {
  const files = [
    ['requests.csv', requestsCsv(r.log)],
    ['summary.csv', summaryCsv([r.summary])],
  ] as const;
  for (const [name, content] of files) writeFileAtomic(join(dir, name), content);
  return files.map(([name]) => join(dir, name));
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('Drive a live OpenAI-compatible endpoint with a trace (streaming), measure TTFT/TPOT/E2E at the client, and report them in the same schema as simulate')
    .requiredOption('--target <url>', 'base URL of the endpoint, e.g. http://127.0.0.1:8000 (a worker or a router)')
    .option('--trace <file>', `trace file (default: the shipped ${DEFAULTS.trace}); prompts without text get synthetic text of the right length that keeps shared prefixes`)
    .option('--format <name>', 'trace format (default: detected from the content)')
    .option('--rate <r>', "send at a Poisson rate of R requests/s instead of the trace's arrival times (the same arrivals `simulate --rate R --seed N` draws)")
    .option('--concurrency <c>', 'at most C requests in flight; alone, sends the next request as soon as one finishes')
    .option('--limit <n>', 'send only the first N requests')
    .option('--duration <s>', 'stop sending after S seconds and cut requests still in flight (reported as rejected)')
    .option('--api <kind>', 'chat (/v1/chat/completions) or completions (/v1/completions)', 'chat')
    .option('--model <name>', 'model name to send (default: the first one /v1/models lists)')
    .option('--seed <n>', 'seed of the --rate arrival draws (as in simulate)', String(DEFAULTS.seed))
    .option('--slo <spec>', 'SLO, e.g. ttft_ms=2000,tpot_ms=50,e2e_ms=20000')
    .option('--label <name>', 'name of the run in the summary (its policy column)', 'live')
    .option('--timeout <s>', 'seconds a request may take before it is abandoned', String(DEFAULTS.live.requestTimeoutS))
    .option('--speedup <k>', 'the target runs K times faster than real time (mock workers started with --speedup K): the schedule is compressed by K and measured times scaled back by K', String(DEFAULTS.live.speedup))
    .option('--json', 'print the summary as JSON on stdout')
    .option('--out <dir>', 'write summary.csv and requests.csv into DIR')
    .action((flags: ReplayFlags) =>
      runAction(async () => {
        if (flags.out) checkOutputDir('--out', flags.out);
        const r = await replayFromFlags(flags, (p) =>
          process.stderr.write(`replay ${p.elapsedS.toFixed(1)} s: ${p.sent} sent, ${p.completed} completed, ${p.failed} failed, ${p.inFlight} in flight\n`),
        );
        if (r.errors.length > 0) process.stderr.write(`replay: ${r.summary.rejected} requests failed, e.g.: ${r.errors.join(' | ')}\n`);
        if (flags.out) process.stderr.write(`wrote ${writeReplayReports(flags.out, r).join(', ')}\n`);
        // The shared summary says "simulated"; a replay measured a live endpoint.
        process.stdout.write(flags.json ? `${summaryJson(r.summary)}\n` : `${formatSummary(r.summary).replace(' simulated in ', ' measured live in ')}\n`);
        if (r.summary.completed === 0 && r.summary.requests > 0) process.exitCode = 1;
      }),
    );
}
