import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { runCell, WorkloadCache, type CellOutcome, type CellSpec } from './cell.js';
import type { PoolReply, PoolTask } from './worker.js';

/** Runs cells and hands each outcome back as it finishes (any order); `index` is the caller's. */
export interface CellRunner {
  run(tasks: readonly { index: number; spec: CellSpec }[], onDone: (index: number, outcome: CellOutcome) => void): Promise<void>;
  close(): Promise<void>;
}

/** Default thread count: every core. */
export function defaultJobs(): number {
  return availableParallelism();
}

/** Cells on this thread, one after another (also what each pool thread does). */
export class InlineRunner implements CellRunner {
  private readonly cache = new WorkloadCache();
  async run(tasks: readonly { index: number; spec: CellSpec }[], onDone: (index: number, outcome: CellOutcome) => void): Promise<void> {
    for (const t of tasks) onDone(t.index, await runCell(t.spec, this.cache));
  }
  async close(): Promise<void> {}
}

/**
 * Long-lived worker threads, each with its own workload cache, fed one cell at a time so a slow
 * cell never holds others back. Simulations are deterministic, so results equal a sequential run.
 */
export class ThreadPool implements CellRunner {
  private readonly workers: Worker[] = [];
  constructor(private readonly threads: number) {}

  private spawn(): Worker {
    const w = new Worker(new URL('./worker.js', import.meta.url));
    this.workers.push(w);
    return w;
  }

  async run(tasks: readonly { index: number; spec: CellSpec }[], onDone: (index: number, outcome: CellOutcome) => void): Promise<void> {
    let next = 0;
    let failure: Error | null = null;
    while (this.workers.length < Math.min(this.threads, tasks.length)) this.spawn();
    const lane = (w: Worker): Promise<void> =>
      new Promise((resolve, reject) => {
        const feed = (): void => {
          if (failure || next >= tasks.length) {
            w.off('message', onMessage);
            w.off('error', onError);
            w.off('exit', onExit);
            resolve();
            return;
          }
          const t = tasks[next++];
          w.postMessage({ index: t.index, spec: t.spec } satisfies PoolTask);
        };
        const onMessage = (m: PoolReply): void => {
          if (!m.ok) {
            failure = m.userError ? new UserError(m.message) : new Error(`sweep cell ${m.index}: ${m.message}`);
            reject(failure);
            return;
          }
          try {
            onDone(m.index, m.outcome);
          } catch (err) {
            failure = err as Error;
            reject(failure);
            return;
          }
          feed();
        };
        const onError = (err: Error): void => reject(err);
        const onExit = (code: number): void => reject(new Error(`sweep worker thread exited with code ${code}`));
        w.on('message', onMessage);
        w.on('error', onError);
        w.on('exit', onExit);
        feed();
      });
    await Promise.all(this.workers.slice(0, Math.min(this.threads, tasks.length)).map(lane));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

/** Threads when there is more than one core to use, else this thread. */
export function createRunner(jobs: number): CellRunner {
  return jobs > 1 ? new ThreadPool(jobs) : new InlineRunner();
}
