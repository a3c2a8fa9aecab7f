/**
 * Availability under churn and slow clients (npm run bench:churn), issue 18 items 1 and 2.
 * Prints figures; asserts nothing. Every phase is bounded by a request count and a time limit.
 *
 * 1. Rolling restarts: serve (default flags) in front of 4 `router mock-worker`s; 100 req/s open
 *    loop for --seconds (default 60, at most --requests); every 10 s one worker is SIGKILLed and
 *    restarted on its port 5 s later, so at least 3 workers are up at any moment. Counted: requests
 *    refused (503 no_worker_available) while a healthy worker existed, and every other non-200.
 * 2. Slow clients: --slow connections (default 19,000, spread over loopback source addresses, each
 *    sending half a request line and nothing more) are opened against serve; meanwhile 200 new
 *    clients send a real request. Counted: slow connections serve kept open or refused, and how
 *    many new clients were served.
 *
 *   node dist/bench/churn.bench.js [--seconds S] [--requests N] [--slow N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { quantile } from '../src/util/stats.js';
import { numberArg } from './args.js';
import { freePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../src/cli/main.js');

const SECONDS = numberArg('--seconds', 60);
const REQUESTS = numberArg('--requests', 10_000);
const SLOW = numberArg('--slow', 19_000);
const RATE = 100;

const children = new Set<ChildProcess>();

function start(args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${args.join(' ')}\n${seen}`)), 90_000);
    const on = (c: Buffer): void => {
      seen += c.toString();
      if (seen.length > 1e5) seen = seen.slice(-1e4);
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
  });
}

const mock = (port: number): Promise<ChildProcess> => start([CLI, 'mock-worker', '--gpu', 'l20', '--port', String(port), '--speedup', '20'], /listening on/);

async function rollingRestarts(): Promise<string[]> {
  const ports = await Promise.all([0, 1, 2, 3].map(() => freePort()));
  const workers: (ChildProcess | undefined)[] = await Promise.all(ports.map(mock));
  const servePort = await freePort();
  await start([CLI, 'serve', '--port', String(servePort), '--log', 'off', '--workers', ports.map((p, i) => `http://127.0.0.1:${p};name=w${i};gpu=l20`).join(',')], /listening on/);
  const agent = new Agent({ connections: 256 });
  const statuses = new Map<string, number>();
  const lat: number[] = [];
  let refused = 0;
  let sent = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  let restarts = 0;
  // Kill worker k at 10 s·(k+1), restart it 5 s later (cycling over the four).
  const schedule = setInterval(() => {
    const k = restarts++ % workers.length;
    const victim = workers[k];
    workers[k] = undefined;
    victim?.kill('SIGKILL');
    setTimeout(() => void mock(ports[k]).then((c) => (workers[k] = c)), 5000);
  }, 10_000);
  const one = async (i: number): Promise<void> => {
    const t = performance.now();
    let key: string;
    try {
      const r = await request(`http://127.0.0.1:${servePort}/v1/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama-3.1-8b', messages: [{ role: 'user', content: `churn request ${i % 97} about rolling restarts` }], max_tokens: 16, stream: i % 2 === 0 }),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await r.body.text();
      key = String(r.statusCode);
      if (r.statusCode === 503 && text.includes('no_worker_available')) refused++;
    } catch (err) {
      key = `error ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    lat.push(performance.now() - t);
  };
  while (sent < REQUESTS && performance.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
    while (sent < due && sent < REQUESTS) pending.push(one(sent++));
    await new Promise((r) => setTimeout(r, 5));
  }
  clearInterval(schedule);
  await Promise.all(pending);
  await agent.close();
  const wall = (performance.now() - t0) / 1000;
  const sorted = Float64Array.from(lat).sort();
  const rows = [
    `rolling restarts: 4 mock workers (l20, speedup 20), serve with default flags, ${RATE} req/s open loop for ${wall.toFixed(0)} s, one worker SIGKILLed every 10 s and back 5 s later (${restarts} restarts)`,
    '',
    '| requests | 200 | refused (503 no_worker_available) | other non-200 | p50 ms | p99 ms |',
    '|---|---|---|---|---|---|',
    `| ${sent} | ${statuses.get('200') ?? 0} | ${refused} | ${[...statuses].filter(([k]) => k !== '200').map(([k, n]) => `${k}: ${n}`).join(', ') || '0'} | ${quantile(sorted, 0.5).toFixed(1)} | ${quantile(sorted, 0.99).toFixed(1)} |`,
  ];
  for (const c of [...children]) c.kill('SIGKILL');
  return rows;
}

async function slowClients(): Promise<string[]> {
  const upPort = await freePort();
  await mock(upPort);
  const servePort = await freePort();
  await start([CLI, 'serve', '--port', String(servePort), '--log', 'off', '--workers', `http://127.0.0.1:${upPort};gpu=l20`], /listening on/);
  const socks: Socket[] = [];
  let kept = 0;
  let refusedOrClosed = 0;
  let connectErrors = 0;
  const opened: Promise<void>[] = [];
  // Spread over source addresses 127.0.0.2..: a per-address cap alone would stop one address.
  for (let i = 0; i < SLOW; i++) {
    const localAddress = `127.0.${1 + Math.floor(i / 250) % 250}.${2 + (i % 250)}`;
    opened.push(
      new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: servePort, localAddress });
        let settled = false;
        const done = (): void => {
          if (!settled) {
            settled = true;
            resolve();
          }
        };
        s.on('connect', () => {
          s.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n');
          kept++;
          done();
        });
        s.on('error', () => {
          connectErrors++;
          done();
        });
        s.on('close', () => {
          refusedOrClosed++;
          done();
        });
        socks.push(s);
      }),
    );
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await Promise.race([Promise.all(opened), new Promise((r) => setTimeout(r, 15_000))]);
  const t0 = performance.now();
  const agent = new Agent({ connections: 32 });
  let served = 0;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const t = performance.now();
      try {
        const r = await request(`http://127.0.0.1:${servePort}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama-3.1-8b', messages: [{ role: 'user', content: `new client ${i}` }], max_tokens: 4 }), headersTimeout: 20_000 });
        await r.body.text();
        if (r.statusCode === 200) served++;
      } catch {
        // counted as not served
      }
      lat.push(performance.now() - t);
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  await agent.close();
  const stillOpen = socks.filter((s) => !s.destroyed).length;
  for (const s of socks) s.destroy();
  for (const c of [...children]) c.kill('SIGKILL');
  const sorted = Float64Array.from(lat).sort();
  return [
    `slow clients: ${SLOW} connections sending half a request line (source addresses spread over 127.0.x.y), then 200 new clients; serve defaults (--max-connections 16384, --max-connections-per-client 1024, --client-header-timeout 10 s)`,
    '',
    '| slow connections tried | connected | closed/refused by serve | connect errors | still open when new clients ran | new clients served | new-client p50 ms | p99 ms | new-client phase s |',
    '|---|---|---|---|---|---|---|---|---|',
    `| ${SLOW} | ${kept} | ${refusedOrClosed} | ${connectErrors} | ${stillOpen} | ${served}/200 | ${quantile(sorted, 0.5).toFixed(1)} | ${quantile(sorted, 0.99).toFixed(1)} | ${wall.toFixed(1)} |`,
  ];
}

async function main(): Promise<void> {
  const rows = [...(await rollingRestarts()), '', ...(await slowClients())];
  process.stdout.write(rows.join('\n') + '\n');
}

main().catch((err: unknown) => {
  for (const c of [...children]) c.kill('SIGKILL');
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
