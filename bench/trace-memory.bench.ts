/**
 * Memory bound of `router trace stats`: writes a ~2 GiB native JSONL trace to the temp directory,
 * runs `trace stats` on it in a child process, and prints the child's peak RSS (VmHWM, polled
 * from /proc) and wall time against the 300 MiB budget; then deletes the file.
 * Run: npm run bench:trace [-- --gb 2]
 */
import { createWriteStream, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { syntheticRequests } from '../src/workload/synthetic.js';
import { formatNativeLine } from '../src/workload/native-jsonl.js';

const BUDGET_MIB = 300;
const gbArg = process.argv.indexOf('--gb');
const targetBytes = (gbArg >= 0 ? Number(process.argv[gbArg + 1]) : 2) * 1024 ** 3;
const file = join(tmpdir(), `router-trace-bench-${process.pid}.jsonl`);

async function generate(): Promise<number> {
  const out = createWriteStream(file);
  let bytes = 0;
  let n = 0;
  // Chat-like lengths with 64 shared system prompts, block ids for prefix identity (like the shipped default trace).
  const gen = syntheticRequests({
    seed: 1,
    rate: 50,
    count: Number.MAX_SAFE_INTEGER,
    input: { kind: 'lognormal', mean: 800, sigma: 1, min: 8, max: 16000 },
    output: { kind: 'lognormal', mean: 250, sigma: 0.8, min: 4, max: 2000 },
    sharedPrefix: { groups: 64, prefixTokens: 1024, blockTokens: 16 },
  });
  let batch: string[] = [];
  for (const r of gen) {
    const line = `${formatNativeLine(r)}\n`;
    batch.push(line);
    bytes += line.length;
    n++;
    if (batch.length === 1000) {
      if (!out.write(batch.join(''))) await once(out, 'drain');
      batch = [];
    }
    if (bytes >= targetBytes) break;
  }
  out.end(batch.join(''));
  await once(out, 'finish');
  return n;
}

function peakRssKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  try {
    let t = process.hrtime.bigint();
    const n = await generate();
    const size = statSync(file).size;
    process.stdout.write(`generated ${(size / 1024 ** 3).toFixed(2)} GiB, ${n} requests in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s\n`);
    t = process.hrtime.bigint();
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'), 'trace', 'stats', file, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let peak = 0;
    const poll = setInterval(() => (peak = Math.max(peak, peakRssKiB(child.pid as number))), 50);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    clearInterval(poll);
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    if (code !== 0) throw new Error(`trace stats exited ${code}`);
    const stats = JSON.parse(stdout) as { requests: number; prefix_reuse: number };
    const mib = peak / 1024;
    process.stdout.write(`trace stats: ${stats.requests} requests (prefix_reuse ${stats.prefix_reuse.toFixed(3)}) in ${wall.toFixed(1)} s, ${(size / 1024 ** 2 / wall).toFixed(0)} MiB/s\n`);
    process.stdout.write(`peak RSS ${mib.toFixed(0)} MiB (budget ${BUDGET_MIB} MiB): ${mib <= BUDGET_MIB ? 'within budget' : 'OVER BUDGET'}\n`);
    if (stats.requests !== n) throw new Error(`stats counted ${stats.requests} requests, generated ${n}`);
    if (mib > BUDGET_MIB) process.exitCode = 1;
  } finally {
    rmSync(file, { force: true });
  }
}

await main();
