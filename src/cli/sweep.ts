import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { cellCount, loadGrid } from '../sweep/grid.js';
import { createRunner, defaultJobs } from '../sweep/pool.js';
import { mergeSweepFiles, runSweep, type SweepProgress } from '../sweep/run.js';
import { parseNumberFlag, runAction } from './errors.js';

interface SweepFlags {
  out?: string;
  shard?: string;
  shards?: string;
  jobs?: string;
}

/** `--shard I/N`, or `--shards N` with the Indexed Job's JOB_COMPLETION_INDEX; default the whole grid. */
export function parseShard(f: Pick<SweepFlags, 'shard' | 'shards'>, env: NodeJS.ProcessEnv = process.env): { shard: number; shards: number } {
  if (f.shard !== undefined) {
    if (f.shards !== undefined) throw new UserError('--shard I/N and --shards N are exclusive (--shards takes the index from JOB_COMPLETION_INDEX)');
    const m = /^(\d+)\/(\d+)$/.exec(f.shard.trim());
    if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new UserError(`--shard: expected I/N with 0 <= I < N (e.g. 0/4), got "${f.shard}"`);
    return { shard: Number(m[1]), shards: Number(m[2]) };
  }
  if (f.shards !== undefined) {
    const shards = parseNumberFlag('--shards', f.shards, { integer: true, min: 1 });
    const raw = env.JOB_COMPLETION_INDEX;
    if (raw === undefined) throw new UserError('--shards: JOB_COMPLETION_INDEX is not set (it is in a Kubernetes Indexed Job; elsewhere use --shard I/N)');
    const shard = Number(raw);
    if (!/^\d+$/.test(raw) || shard >= shards) throw new UserError(`JOB_COMPLETION_INDEX: expected an integer in 0..${shards - 1}, got "${raw}"`);
    return { shard, shards };
  }
  return { shard: 0, shards: 1 };
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** "12/40 cells (3 resumed), 1m20s elapsed, ETA 2m05s": the ETA from this run's pace. */
export function progressText(p: SweepProgress, elapsedS: number): string {
  const left = p.total - p.done;
  const eta = p.ran > 0 ? (elapsedS / p.ran) * left : NaN;
  return `sweep: ${p.done}/${p.total} cells${p.resumed > 0 ? ` (${p.resumed} resumed)` : ''}, ${duration(elapsedS)} elapsed${left > 0 ? `, ETA ${duration(eta)}` : ''}`;
}

export function registerSweep(program: Command): void {
  const sweep = program.command('sweep').description('Run every cell of a grid (policies x fleets x rate multipliers x seeds x SLOs on one trace or mix) on all cores, one CSV row per cell; resumable and shardable');
  sweep
    .command('run', { isDefault: true })
    .description('run the grid (the default: `router sweep GRID.yaml`)')
    .argument('<grid>', 'GRID.yaml (see docs/sweep.md)')
    .requiredOption('--out <file>', 'CSV to write; rows already in it are kept and their cells not run again (resume)')
    .option('--shard <i/n>', 'run only shard I of N (every N-th cell starting at I)')
    .option('--shards <n>', 'run shard JOB_COMPLETION_INDEX of N (a Kubernetes Indexed Job)')
    .option('--jobs <n>', 'worker threads (default: available cores)')
    .action((gridPath: string, f: SweepFlags) =>
      runAction(async () => {
        const grid = loadGrid(gridPath);
        const { shard, shards } = parseShard(f);
        const jobs = f.jobs === undefined ? defaultJobs() : parseNumberFlag('--jobs', f.jobs, { integer: true, min: 1 });
        const out = f.out as string;
        const runner = createRunner(jobs);
        const started = performance.now();
        let last = -Infinity;
        const elapsed = (): number => (performance.now() - started) / 1e3;
        let lastProgress: SweepProgress | null = null;
        try {
          const r = await runSweep({
            grid,
            out,
            shard,
            shards,
            runner,
            onProgress: (p) => {
              lastProgress = p;
              if (performance.now() - last >= DEFAULTS.progressIntervalS * 1e3) {
                last = performance.now();
                process.stderr.write(`${progressText(p, elapsed())}\n`);
              }
            },
          });
          if (lastProgress) process.stderr.write(`${progressText(lastProgress, elapsed())}\n`);
          const of = shards > 1 ? ` (shard ${shard}/${shards} of ${cellCount(grid)} cells)` : '';
          process.stderr.write(`wrote ${out}: ${r.total} cells${of}, ${r.ran} run, ${r.resumed} resumed\n`);
        } finally {
          await runner.close();
        }
      }),
    );
  sweep
    .command('merge')
    .description('join shard outputs into the CSV one run of the whole grid writes (byte for byte)')
    .argument('<files...>', 'shard CSVs')
    .requiredOption('--out <file>', 'merged CSV')
    .option('--grid <file>', 'check every row against this grid and that no cell is missing')
    .action((files: string[], f: { out: string; grid?: string }) =>
      runAction(() => {
        const grid = f.grid === undefined ? undefined : loadGrid(f.grid);
        writeFileAtomic(f.out, mergeSweepFiles(files, grid));
        process.stderr.write(`wrote ${f.out}\n`);
      }),
    );
}
