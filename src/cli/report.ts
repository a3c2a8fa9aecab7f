import { createReadStream, existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse } from 'csv-parse';
import type { Command } from 'commander';
import { readSummaryFile } from '../report/compare-table.js';
import { renderHtmlReport, type ReportRun } from '../report/html.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { Column } from '../util/stats.js';
import { runAction } from './errors.js';
import { checkOutputFile } from './output-path.js';

/** Streams a CSV's rows as objects keyed by header, checking the columns we need are there. */
async function* csvRows(path: string, needed: readonly string[]): AsyncGenerator<Record<string, string>> {
  const parser = createReadStream(path).pipe(parse({ columns: true, skip_empty_lines: true }));
  let checked = false;
  try {
    for await (const row of parser as AsyncIterable<Record<string, string>>) {
      if (!checked) {
        const missing = needed.filter((c) => !(c in row));
        if (missing.length) throw new UserError(`${path}: missing column(s) ${missing.join(', ')}; expected a file written by \`router simulate --out\``);
        checked = true;
      }
      yield row;
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: ${(err as Error).message}`);
  }
}

function need(dir: string, file: string): string {
  const p = join(dir, file);
  if (!existsSync(p)) throw new UserError(`${dir}: no ${file} (expected a directory written by \`router simulate --out DIR\` or \`router replay --out DIR\`)`);
  return p;
}

/** Reads one run directory (requests.csv, timeseries.csv, summary.csv). */
export async function readRunDir(dir: string, name: string): Promise<ReportRun> {
  const ttft = new Column();
  const tpot = new Column();
  const e2e = new Column();
  const num = (v: string): number => (v === '' ? NaN : Number(v));
  for await (const r of csvRows(need(dir, 'requests.csv'), ['ttft_ms', 'tpot_ms', 'e2e_ms', 'status'])) {
    if (r.status !== 'ok') continue;
    ttft.push(num(r.ttft_ms));
    tpot.push(num(r.tpot_ms));
    e2e.push(num(r.e2e_ms));
  }
  // A live run (`replay --out`) has no engine timeseries: its latencies still go in the report.
  let series: ReportRun['series'] | null = null;
  const ts = join(dir, 'timeseries.csv');
  if (existsSync(ts)) {
    series = [];
    for await (const r of csvRows(ts, ['t_s', 'worker', 'in_flight', 'prefix_hit_rate', 'prompt_tokens_per_s'])) {
      series.push({ tS: num(r.t_s), worker: r.worker, inFlight: num(r.in_flight), prefixHitRate: num(r.prefix_hit_rate), promptTokensPerS: num(r.prompt_tokens_per_s) });
    }
  }
  return { name, summary: readSummaryFile(need(dir, 'summary.csv')), ttftMs: ttft.view(), tpotMs: tpot.view(), e2eMs: e2e.view(), series };
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('Turn one or more run directories (from `simulate --out` or `replay --out`) into a self-contained HTML page: latency CDFs, per-worker load and hit rate over time')
    .argument('<dirs...>', 'run directories holding requests.csv and summary.csv, and timeseries.csv for a simulated run')
    .option('--html', 'write an HTML report (the only format so far; required)')
    .option('--out <file>', 'output file (default: DIR/report.html for one directory, ./report.html for several)')
    .option('--title <text>', 'page title', 'router report')
    .action((dirs: string[], flags: { html?: boolean; out?: string; title: string }) =>
      runAction(async () => {
        if (!flags.html) throw new UserError('report: pass --html (the only report format)');
        const out = flags.out ?? (dirs.length === 1 ? join(dirs[0], 'report.html') : 'report.html');
        checkOutputFile('--out', out);
        const names = dirs.map((d) => basename(resolve(d)));
        const unique = new Set(names).size === names.length;
        const runs: ReportRun[] = [];
        for (let i = 0; i < dirs.length; i++) runs.push(await readRunDir(dirs[i], unique ? names[i] : dirs[i]));
        writeFileAtomic(out, renderHtmlReport(runs, flags.title));
        process.stderr.write(`wrote ${out}\n`);
      }),
    );
}
