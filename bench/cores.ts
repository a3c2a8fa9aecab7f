import { spawnSync } from 'node:child_process';

/**
 * Where bench:proxy runs its processes: the proxy under test alone on one CPU, the load
 * generator, the backends and the harness on the others, via `taskset -c` (util-linux). Each
 * prefix is put before a command (taskset execs it: the PID is the command's).
 */
export interface Placement {
  proxy: readonly string[];
  load: readonly string[];
  /** The load side's CPU list (for `taskset -a -p` on a running process), or undefined. */
  loadCpus?: string;
  /** One line for the bench's header. */
  note: string;
}

/** CPU ids in a list like "0-3,6,8-9". */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a CPU list: ${list}`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

const NONE: readonly string[] = [];

/** The placement for this machine: pinned when asked, taskset exists and two or more CPUs are allowed. */
export function placement(pin: boolean): Placement {
  if (!pin) return { proxy: NONE, load: NONE, note: 'not pinned (--no-pin)' };
  const r = spawnSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return { proxy: NONE, load: NONE, note: 'not pinned: taskset not found (util-linux)' };
  const list = /list:\s*(\S+)/.exec(r.stdout)?.[1];
  const cpus = list !== undefined ? parseCpuList(list) : [];
  if (cpus.length < 2) return { proxy: NONE, load: NONE, note: `not pinned: only CPU ${cpus.join(',')} allowed` };
  const [proxyCpu, ...rest] = cpus;
  const loadCpus = rest.join(',');
  return {
    proxy: ['taskset', '-c', String(proxyCpu)],
    load: ['taskset', '-c', loadCpus],
    loadCpus,
    note: `pinned with taskset: the proxy under test on CPU ${proxyCpu}, load generator + backends + harness on CPU ${loadCpus}`,
  };
}
