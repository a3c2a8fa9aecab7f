import '../helpers/cache-dir.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as httpRequest } from 'node:http';

const here = dirname(fileURLToPath(import.meta.url));
export const CLI = join(here, '../../src/cli/main.js');
const UPSTREAM_MAIN = join(here, 'fixtures/upstream-main.js');

export interface Proc {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns a node process and waits (bounded) for a line matching `ready` that carries the port. */
function spawnUntil(args: string[], ready: RegExp, timeoutMs = 30_000): Promise<Proc> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not start in ${timeoutMs} ms: ${args.join(' ')}\n${out}\n${err}`));
    }, timeoutMs);
    const check = (): void => {
      const m = ready.exec(out + err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stdout: () => out, stderr: () => err, exited });
      }
    };
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      check();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      check();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before it was ready: ${args.join(' ')}\n${out}\n${err}`));
    });
  });
}

export function startUpstream(): Promise<Proc> {
  return spawnUntil([UPSTREAM_MAIN, '--listen', '0'], /^port (\d+)$/m);
}

export function startServe(args: string[], timeoutMs?: number): Promise<Proc> {
  return spawnUntil([CLI, 'serve', '--port', '0', ...args], /listening on http:\/\/127\.0\.0\.1:(\d+)/, timeoutMs);
}

export async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGKILL');
  await p.exited;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request on a fresh connection; resolves with the raw body bytes. */
export function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}

export const control = (p: Proc, behaviour: Record<string, unknown>): Promise<RawResponse> => call(p.port, 'POST', '/_control', JSON.stringify(behaviour));

export async function stats(p: Proc): Promise<{ requests: number; completed: number; aborted: number; active: number }> {
  return JSON.parse((await call(p.port, 'GET', '/_stats')).body.toString()) as { requests: number; completed: number; aborted: number; active: number };
}

/** Polls `cond` every 25 ms until true or the deadline passes. */
export async function until(cond: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

export const chatBody = (content: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'fixture-model', messages: [{ role: 'user', content }], max_tokens: 6, ...extra });

/**
 * Starts a `router mock-worker` process (`args` after `mock-worker`, give `--port 0`) and resolves
 * with its URL once it listens; the process joins `procs`, which the caller kills in `after`.
 */
export function startMockProcess(cli: string, args: string[], procs: ChildProcess[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [cli, 'mock-worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mock-worker did not start: ${out}`)), 30_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child });
      }
    });
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`mock-worker exited ${code}: ${out}`)));
  });
}
