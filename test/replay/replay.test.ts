import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { synthesizePrompt } from '../../src/replay/prompt.js';
import { runReplay } from '../../src/replay/run.js';
import { fastTokenIds as tokenize } from '../../src/serve/tokenize.js';
import { encodeText } from '../../src/workload/tokenizer.js';
import { formatNativeLine } from '../../src/workload/native-jsonl.js';
import { REQUEST_COLUMNS } from '../../src/report/csv.js';
import type { Request } from '../../src/workload/request.js';
import { testMock } from '../mock/helpers.js';

function blocksReq(id: string, ids: number[], input: number, output = 8, arrivalS = 0): Request {
  return { id, arrivalS, inputTokens: input, outputTokens: output, prefix: { kind: 'blocks', blockTokens: 16, hashIds: ids } };
}

test('synthetic prompts have the trace length and keep shared prefixes', () => {
  for (const n of [1, 15, 16, 100, 1000]) {
    const text = synthesizePrompt(blocksReq(`r${n}`, [1, 2, 3], n));
    assert.equal(tokenize(text).length, n);
    // One Llama 3 token per word too, so a real Llama 3 server sees the trace's length.
    assert.equal(encodeText(text).length, n);
  }
  const a = synthesizePrompt(blocksReq('a', [7, 8, 9], 48)).split(' ');
  const b = synthesizePrompt(blocksReq('b', [7, 8, 10], 48)).split(' ');
  assert.deepEqual(a.slice(0, 32), b.slice(0, 32));
  assert.notDeepEqual(a.slice(32), b.slice(32));
  // No identity: nothing shared between requests; the same request always gets the same text.
  const c = synthesizePrompt({ id: 'c', arrivalS: 0, inputTokens: 32, outputTokens: 1 });
  const d = synthesizePrompt({ id: 'd', arrivalS: 0, inputTokens: 32, outputTokens: 1 });
  assert.notEqual(c.slice(0, 3 * 16), d.slice(0, 3 * 16));
  assert.equal(c, synthesizePrompt({ id: 'c', arrivalS: 0, inputTokens: 32, outputTokens: 1 }));
  // Trace text wins when present (see promptText); token-id identities map equal ids to equal words.
  const t1 = synthesizePrompt({ id: 'x', arrivalS: 0, inputTokens: 20, outputTokens: 1, prefix: { kind: 'tokens', ids: Array.from({ length: 20 }, (_, i) => i) } });
  const t2 = synthesizePrompt({ id: 'y', arrivalS: 0, inputTokens: 20, outputTokens: 1, prefix: { kind: 'tokens', ids: Array.from({ length: 20 }, (_, i) => i) } });
  assert.equal(t1, t2);
});

test('runReplay streams a trace at its arrival times and measures every request', { timeout: 60_000 }, async () => {
  // A low speedup: mock and client share this process, and HTTP time is multiplied by it.
  const w = await testMock({ speedup: 2 });
  try {
    const reqs: Request[] = [];
    for (let i = 0; i < 12; i++) reqs.push(blocksReq(`q${i}`, [100, 101, 102, 200 + i], 60 + i, 10 + i, i * 0.2));
    const r = await runReplay({ requests: reqs, target: w.url, pacing: { kind: 'trace' }, api: 'chat', label: 'live', requestTimeoutS: 30, progressIntervalS: 5, speedup: 2 });
    const s = r.summary;
    assert.deepEqual(r.errors, []);
    assert.equal(s.completed, 12);
    assert.equal(s.rejected, 0);
    for (let i = 0; i < 12; i++) {
      const k = r.log.ids.indexOf(`q${i}`);
      assert.equal(r.log.inputTokens.get(k), 60 + i);
      assert.equal(r.log.outputTokens.get(k), 10 + i);
      // Client-side times are the engine's (arrival → step ends) plus HTTP; never less.
      assert.ok(r.log.ttftMs.get(k) > 0 && r.log.e2eMs.get(k) > r.log.ttftMs.get(k));
      // Arrivals follow the trace's (compressed by the speedup, reported in trace time).
      assert.ok(Math.abs(r.log.arrivalS.get(k) - i * 0.2) < 0.25, `arrival ${r.log.arrivalS.get(k)}`);
    }
    // Shared 48-token prefix: everyone after the first hits 3 blocks (48 tokens).
    const snap = w.realtime.engine.snapshot();
    assert.equal(s.prefix_hit_rate, snap.prefixHits / snap.prefixQueries);
    assert.ok(s.prefix_hit_rate > 0.5);
    assert.equal(s.workers.length, 1);
    assert.equal(s.workers[0].requests, 12);
    // ITL, as vllm bench serve: a gap per streamed chunk after the first, measured at the client.
    assert.ok(s.itl_ms.mean > 0 && s.itl_ms.p99 >= s.itl_ms.p50 && s.itl_ms.std >= 0, `ITL ${JSON.stringify(s.itl_ms)}`);
    // The engine's own mean E2E (engine seconds) matches the client's within the HTTP overhead.
    const engineMeanE2e = (w.metrics.e2e.sum / w.metrics.e2e.count) * 1e3;
    assert.ok(s.e2e_ms.mean >= engineMeanE2e * 0.98 && s.e2e_ms.mean < engineMeanE2e * 1.15 + 50, `client ${s.e2e_ms.mean} vs engine ${engineMeanE2e}`);
  } finally {
    await w.close();
  }
});

test('runReplay: --concurrency caps requests in flight; --duration cuts the rest as rejected', { timeout: 60_000 }, async () => {
  const w = await testMock({ speedup: 10 });
  try {
    let maxRunning = 0;
    const timer = setInterval(() => {
      w.realtime.sync();
      maxRunning = Math.max(maxRunning, w.realtime.engine.numRunning + w.realtime.engine.numWaiting);
    }, 5);
    const reqs = Array.from({ length: 8 }, (_, i) => blocksReq(`c${i}`, [], 30, 40));
    const r = await runReplay({ requests: reqs, target: w.url, pacing: { kind: 'none' }, concurrency: 2, api: 'completions', label: 'live', requestTimeoutS: 30, progressIntervalS: 5, speedup: 10 });
    clearInterval(timer);
    assert.equal(r.summary.completed, 8);
    assert.ok(maxRunning <= 2, `max in engine ${maxRunning}`);

    const long = Array.from({ length: 4 }, (_, i) => blocksReq(`l${i}`, [], 30, 5000, i * 0.01));
    const cut = await runReplay({ requests: long, target: w.url, pacing: { kind: 'trace' }, durationS: 0.5, api: 'chat', label: 'live', requestTimeoutS: 30, progressIntervalS: 5, speedup: 10 });
    assert.equal(cut.summary.requests, 4);
    assert.equal(cut.summary.rejected, 4);
    assert.deepEqual(cut.errors, ['cut by --duration']);
  } finally {
    await w.close();
  }
});

test('runReplay: the schedule starts when the first request is in hand, so a slow trace load causes no burst', { timeout: 60_000 }, async () => {
  const w = await testMock({ speedup: 10 });
  try {
    const k = 10;
    const arrivals = [5, 5.3, 5.5, 6.1, 6.2, 6.9];
    // Opening a real trace (detection, tokenizer, first parse) takes time before the first request.
    async function* slowToOpen(): AsyncGenerator<Request> {
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < arrivals.length; i++) yield blocksReq(`s${i}`, [], 20, 4, arrivals[i]);
    }
    const r = await runReplay({ requests: slowToOpen(), target: w.url, pacing: { kind: 'trace' }, api: 'completions', label: 'live', requestTimeoutS: 30, progressIntervalS: 5, speedup: k });
    assert.equal(r.summary.completed, arrivals.length);
    const at = (id: string): number => r.log.arrivalS.get(r.log.ids.indexOf(id));
    assert.ok(at('s0') >= 5);
    for (let i = 1; i < arrivals.length; i++) {
      // Timers never fire early (1 ms of slack for their granularity, in trace time ×k): no request goes out before its time.
      assert.ok(at(`s${i}`) - at('s0') >= arrivals[i] - arrivals[0] - 0.001 * k, `s${i} sent ${(at(`s${i}`) - at('s0')).toFixed(3)} s after s0, scheduled ${(arrivals[i] - arrivals[0]).toFixed(3)} s`);
    }
  } finally {
    await w.close();
  }
});

test('CLI: replay writes requests.csv and summary.csv in the simulate schema; a bad --target is a user error', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-replay-'));
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'mock-worker', '--gpu', 'l20', '--port', '0', '--speedup', '10'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (s: string) => {
        out += s;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', () => reject(new Error('mock-worker exited')));
    });
    const trace = join(dir, 'trace.jsonl');
    writeFileSync(trace, Array.from({ length: 6 }, (_, i) => formatNativeLine(blocksReq(`t${i}`, [5, 6], 40, 6, i * 0.1))).join('\n') + '\n');
    const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
      const p = spawn(process.execPath, ['dist/src/cli/main.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      return once(p, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
    };
    const live = await run(['replay', '--target', url, '--trace', trace, '--speedup', '10', '--out', join(dir, 'live'), '--json']);
    assert.equal(live.code, 0, live.stderr);
    const summary = JSON.parse(live.stdout) as { completed: number; policy: string; cost_usd: number | null };
    assert.equal(summary.completed, 6);
    assert.equal(summary.policy, 'live');
    // The client cannot know what the target's GPUs cost: unknown, not $0.
    assert.equal(summary.cost_usd, null);
    const text = await run(['replay', '--target', url, '--trace', trace, '--speedup', '10']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^cost\s+- \(unknown: no GPU prices for these workers\)$/m);
    assert.doesNotMatch(text.stdout, /\$0\.0000/);
    const csv = readFileSync(join(dir, 'live', 'requests.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], REQUEST_COLUMNS.join(','));
    assert.equal(csv.length, 7);
    const sim = spawnSync(process.execPath, ['dist/src/cli/main.js', 'simulate', '--trace', trace, '--fleet', 'l20:1', '--out', join(dir, 'sim')], { encoding: 'utf8' });
    assert.equal(sim.status, 0, sim.stderr);
    const header = (f: string): string => readFileSync(f, 'utf8').split('\n')[0];
    assert.equal(header(join(dir, 'live', 'summary.csv')), header(join(dir, 'sim', 'summary.csv')));
    assert.equal(header(join(dir, 'live', 'requests.csv')), header(join(dir, 'sim', 'requests.csv')));
    // Live and simulated runs fit in one report (a live run has no timeseries.csv).
    const report = spawnSync(process.execPath, ['dist/src/cli/main.js', 'report', join(dir, 'live'), join(dir, 'sim'), '--html', '--out', join(dir, 'both.html')], { encoding: 'utf8' });
    assert.equal(report.status, 0, report.stderr);
    const html = readFileSync(join(dir, 'both.html'), 'utf8');
    assert.match(html, /No engine timeseries for live \(a live run measured at the client\)/);
    assert.match(html, /in-flight requests per worker · sim/);
    assert.match(html, /<td>live: live<\/td>/);

    // --rate R --seed N: the same Poisson arrivals as simulate, request for request (sent no earlier than drawn).
    const rated = await run(['replay', '--target', url, '--rate', '4', '--seed', '7', '--limit', '12', '--speedup', '10', '--out', join(dir, 'rated')]);
    assert.equal(rated.code, 0, rated.stderr);
    const simRated = spawnSync(process.execPath, ['dist/src/cli/main.js', 'simulate', '--rate', '4', '--seed', '7', '--limit', '12', '--fleet', 'l20:1', '--out', join(dir, 'sim-rated')], { encoding: 'utf8' });
    assert.equal(simRated.status, 0, simRated.stderr);
    const arrivalsOf = (f: string): Map<string, number> => {
      const rows = readFileSync(f, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
      return new Map(rows.map((c) => [c[0], Number(c[1])]));
    };
    const liveAt = arrivalsOf(join(dir, 'rated', 'requests.csv'));
    const simAt = arrivalsOf(join(dir, 'sim-rated', 'requests.csv'));
    assert.deepEqual([...liveAt.keys()].sort(), [...simAt.keys()].sort());
    for (const [id, t] of simAt) assert.ok((liveAt.get(id) as number) >= t - 0.01, `${id}: live ${liveAt.get(id)} s, simulated ${t} s`);

    const bad = await run(['replay', '--target', 'not a url', '--trace', trace]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'router: --target "not a url": expected a URL such as http://127.0.0.1:8000\n');
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
