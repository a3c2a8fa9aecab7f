import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, call } from './helpers.js';

/** A `router mock-worker` process (the engine model in real time) for the PD tests. */
export interface MockProc {
  url: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export function startMock(args: string[]): Promise<MockProc> {
  const child = spawn(process.execPath, [CLI, 'mock-worker', '--gpu', 'l20', '--port', '0', '--speedup', '10', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mock-worker did not start: ${out}${err}`));
      // Generous: on a loaded machine a mock-worker's start (module load) alone has taken 8 s.
    }, 60_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(new URL(m[1]).port), child, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`mock-worker exited ${code}: ${out}${err}`));
    });
  });
}

export async function stopMock(m: MockProc | undefined): Promise<void> {
  if (!m || m.child.exitCode !== null || m.child.signalCode !== null) return;
  m.child.kill('SIGKILL');
  await m.exited;
}

/** What a mock recorded of the disaggregated requests it received. */
export interface Received {
  role: string;
  engine_id: string;
  bodies: string[];
  counts: { prefills: number; decodes: number; transferFailures: number; transferredTokens: number };
}

export async function received(m: MockProc): Promise<Received> {
  return JSON.parse((await call(m.port, 'GET', '/mock/pd/received')).body.toString()) as Received;
}

/** Mock bodies differ between calls only in their id counter and wall-clock `created`. */
export const normalize = (b: Buffer | string): string => b.toString().replace(/"id":"[^"]*"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');

/** Access-log lines serve wrote to stdout. */
export function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
