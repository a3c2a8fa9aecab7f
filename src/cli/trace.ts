import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { buildWorkload, describeSource, type WorkloadFlags } from '../workload/workload.js';
import { traceStats, type TraceStats } from '../workload/stats.js';
import { formatNativeLine } from '../workload/native-jsonl.js';
import { parseLengthSpec, synthRequests, type SynthSpec } from '../workload/synth.js';
import type { Request } from '../workload/request.js';
import { UserError } from '../util/errors.js';
import { addWorkloadOptions } from './workload-options.js';
import { parseNumberFlag, runAction } from './errors.js';
import { checkOutputFile } from './output-path.js';

type TraceFlags = Omit<WorkloadFlags, 'trace'>;

/** Resolves when the stream can take more, or has failed or closed (the loop then checks why). */
function writable(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/**
 * Writes lines to FILE through a temporary sibling renamed at the end, or to stdout, with
 * backpressure. A reader that goes away (`| head`) ends the output quietly, as for `cat`.
 */
async function writeLines(out: string | undefined, lines: AsyncIterable<string> | Iterable<string>): Promise<number> {
  const tmp = out === undefined ? undefined : join(dirname(out), `.router-tmp-${process.pid}-${basename(out)}`);
  if (out !== undefined) mkdirSync(dirname(out), { recursive: true });
  const stream = tmp === undefined ? process.stdout : createWriteStream(tmp);
  let failure: NodeJS.ErrnoException | undefined;
  const onError = (err: NodeJS.ErrnoException): void => {
    failure ??= err;
  };
  stream.on('error', onError);
  let n = 0;
  try {
    for await (const line of lines) {
      if (!stream.write(`${line}\n`)) await writable(stream);
      if (failure) break;
      n++;
    }
    if (failure && !(tmp === undefined && failure.code === 'EPIPE')) {
      throw new UserError(`${out ?? 'stdout'}: cannot write (${failure.code ?? failure.message})`);
    }
    if (tmp !== undefined && out !== undefined) {
      await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
      renameSync(tmp, out);
    }
  } catch (err) {
    if (tmp !== undefined) {
      stream.destroy();
      rmSync(tmp, { force: true });
    }
    throw err;
  }
  // The error listener stays on stdout: writes still buffered may fail after we return.
  return n;
}

async function* nativeLines(requests: AsyncIterable<Request>, opts: { withText: boolean; withTokenIds: boolean }): AsyncGenerator<string> {
  for await (const r of requests) yield formatNativeLine(r, opts);
}

function fmt(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

export function formatStats(where: string, s: TraceStats): string {
  const row = (name: string, p: TraceStats['input_tokens']): string =>
    `${name.padEnd(16)}mean ${fmt(p.mean).padStart(9)}  p50 ${fmt(p.p50).padStart(8)}  p90 ${fmt(p.p90).padStart(8)}  p99 ${fmt(p.p99).padStart(8)}`;
  return [
    `trace           ${where}`,
    `requests        ${s.requests}${s.sessions > 0 ? ` (${s.sessions} sessions)` : ''}`,
    `duration_s      ${fmt(s.duration_s, 3)}`,
    `rate_rps        ${fmt(s.rate_rps, 3)}`,
    row('input_tokens', s.input_tokens),
    row('output_tokens', s.output_tokens),
    `prefix_reuse    ${fmt(s.prefix_reuse, 4)} (share of prompt tokens an unbounded prefix cache of ${DEFAULTS.workload.statsBlockTokens}-token blocks would serve)`,
  ].join('\n');
}

function statsJson(s: TraceStats): string {
  // NaN (an empty trace) is not JSON: null says "no value".
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

export function registerTrace(program: Command): void {
  const trace = program.command('trace').description('Inspect, convert and generate traces (stats, convert, synth, head)');

  addWorkloadOptions(
    trace
      .command('stats')
      .argument('<file>', 'trace file')
      .description('Count, duration, rate, input/output token mean/p50/p90/p99 and prefix reuse of a trace, in bounded memory')
      .option('--seed <n>', 'seed for imposed arrivals', String(DEFAULTS.seed))
      .option('--json', 'print a JSON object (requests, duration_s, rate_rps, input_tokens, output_tokens, prefix_reuse, sessions)'),
    { mix: false },
  ).action((file: string, flags: TraceFlags & { json?: boolean }) =>
    runAction(async () => {
      const w = buildWorkload({ ...flags, trace: file });
      const s = await traceStats(w.requests, DEFAULTS.workload.statsBlockTokens);
      process.stdout.write(flags.json ? `${statsJson(s)}\n` : `${formatStats(describeSource(w.sources[0]), s)}\n`);
    }),
  );

  addWorkloadOptions(
    trace
      .command('convert')
      .argument('[file]', 'trace file (or --mix)')
      .description("Convert a trace to the project's JSONL (arrival_s, input_tokens, output_tokens, token_ids or hash_ids, ...)")
      .option('--to <format>', 'output format (jsonl)', 'jsonl')
      .option('-o, --out <file>', 'write to FILE (atomically) instead of stdout')
      .option('--with-text', 'keep prompt text')
      .option('--seed <n>', 'seed for imposed arrivals', String(DEFAULTS.seed)),
    { mix: true },
  ).action((file: string | undefined, flags: TraceFlags & { to: string; out?: string; withText?: boolean }) =>
    runAction(async () => {
      if (flags.to !== 'jsonl') throw new UserError(`--to ${flags.to}: only jsonl (the project's own format) is written`);
      if (flags.out) checkOutputFile('--out', flags.out);
      const w = buildWorkload({ ...flags, trace: file });
      const n = await writeLines(flags.out, nativeLines(w.requests, { withText: !!flags.withText, withTokenIds: true }));
      if (flags.out) process.stderr.write(`wrote ${flags.out} (${n} requests)\n`);
    }),
  );

  addWorkloadOptions(
    trace
      .command('head')
      .argument('[file]', 'trace file (or --mix)')
      .description('Print the first requests of a trace as JSONL (token ids left out unless --token-ids)')
      .option('-n, --lines <n>', 'how many requests', '10')
      .option('--token-ids', 'include token ids')
      .option('--seed <n>', 'seed for imposed arrivals', String(DEFAULTS.seed)),
    { mix: true },
  ).action((file: string | undefined, flags: TraceFlags & { lines: string; tokenIds?: boolean }) =>
    runAction(async () => {
      const n = parseNumberFlag('--lines', flags.lines, { integer: true, min: 1 });
      const limit = flags.limit === undefined ? n : Math.min(n, parseNumberFlag('--limit', flags.limit, { integer: true, min: 1 }));
      const w = buildWorkload({ ...flags, limit: String(limit), trace: file });
      await writeLines(undefined, nativeLines(w.requests, { withText: false, withTokenIds: !!flags.tokenIds }));
    }),
  );

  trace
    .command('synth')
    .description("Generate a synthetic trace in the project's JSONL: Poisson or Gamma arrivals, length distributions, or SGLang-style shared-prefix groups")
    .option('--count <n>', 'number of requests (without --groups)', String(DEFAULTS.workload.synth.count))
    .option('--rate <r>', 'mean arrival rate, requests per second', String(DEFAULTS.workload.synth.rateRps))
    .option('--arrival <process>', 'poisson or gamma', 'poisson')
    .option('--burstiness <b>', 'gamma shape (1 = Poisson, < 1 burstier)', '1')
    .option('--input-len <spec>', 'prompt length: N, fixed:N, exp:MEAN[:MAX], lognormal:MEAN[:SIGMA[:MAX]]', 'lognormal:512:1:8192')
    .option('--output-len <spec>', 'output length, same forms', DEFAULTS.workload.synth.outputLen)
    .option('--groups <n>', 'shared-prefix groups (SGLang generated-shared-prefix); enables the next three flags')
    .option('--prompts-per-group <n>', 'requests per group', String(DEFAULTS.workload.synth.promptsPerGroup))
    .option('--system-prompt-len <n>', "tokens of each group's shared system prompt", String(DEFAULTS.workload.synth.systemPromptTokens))
    .option('--question-len <n>', "tokens of each request's own question", String(DEFAULTS.workload.synth.questionTokens))
    .option('--seed <n>', 'seed', String(DEFAULTS.seed))
    .option('-o, --out <file>', 'write to FILE (atomically) instead of stdout')
    .action((flags: Record<string, string | undefined>) =>
      runAction(async () => {
        if (flags.out) checkOutputFile('--out', flags.out);
        const int = (flag: string, v: string | undefined, min: number): number => parseNumberFlag(flag, v as string, { integer: true, min });
        const process_ = flags.arrival;
        if (process_ !== 'poisson' && process_ !== 'gamma') throw new UserError(`--arrival: expected poisson or gamma, got "${process_}"`);
        const burstiness = parseNumberFlag('--burstiness', flags.burstiness as string, { min: Number.MIN_VALUE });
        const spec: SynthSpec = {
          seed: int('--seed', flags.seed, -Infinity),
          process: process_,
          rateRps: parseNumberFlag('--rate', flags.rate as string, { min: Number.MIN_VALUE }),
          burstiness,
          count: int('--count', flags.count, 1),
          input: parseLengthSpec('--input-len', flags.inputLen as string),
          output: parseLengthSpec('--output-len', flags.outputLen as string),
          sharedPrefix:
            flags.groups === undefined
              ? undefined
              : {
                  groups: int('--groups', flags.groups, 1),
                  promptsPerGroup: int('--prompts-per-group', flags.promptsPerGroup, 1),
                  systemPromptTokens: int('--system-prompt-len', flags.systemPromptLen, 0),
                  questionTokens: int('--question-len', flags.questionLen, 1),
                },
        };
        const lines = (function* () {
          for (const r of synthRequests(spec)) yield formatNativeLine(r);
        })();
        const n = await writeLines(flags.out, lines);
        if (flags.out) process.stderr.write(`wrote ${flags.out} (${n} requests)\n`);
      }),
    );
}
