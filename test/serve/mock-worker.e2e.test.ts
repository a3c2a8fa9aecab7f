import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, call, chatBody, startMockProcess, startServe, stop, until, type Proc } from './helpers.js';
import { killTmux, shellQuote, skipTmux, tmux, waitFor } from '../helpers/tmux.js';

/**
 * serve in front of real `router mock-worker` processes (the engine model served in real time).
 * ROUTER_MOCK_CLI points at another build's CLI to run this before mock-worker is on this branch.
 */
const MOCK_CLI = process.env.ROUTER_MOCK_CLI ?? CLI;
const hasMock = /Usage: router mock-worker/.test(spawnSync(process.execPath, [MOCK_CLI, 'mock-worker', '--help'], { encoding: 'utf8' }).stdout);
const skip = hasMock ? false : 'router mock-worker is not in this build (it lands with the live-side issue)';

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

const startMock = (args: string[] = []): Promise<{ url: string; child: ChildProcess }> =>
  startMockProcess(MOCK_CLI, ['--gpu', 'l20', '--port', '0', '--speedup', '10', ...args], procs);

/** Mock bodies differ between calls only in their id counter and wall-clock `created`. */
const normalize = (b: Buffer): string => b.toString().replace(/"id":"[^"]*"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');

test('serve in front of mock workers: identical bodies, engine metrics scraped, a crashing worker loses no request', { skip, timeout: 60_000 }, async () => {
  const [m1, m2, crashy] = await Promise.all([startMock(), startMock(), startMock(['--crash-after', '2'])]);
  let serve: Proc | undefined;
  let serve2: Proc | undefined;
  try {
    serve = await startServe(['--workers', `${m1.url};name=m1,${m2.url};name=m2`, '--admin-key', 'k', '--scrape-interval', '0.2', '--health-interval', '0.5', '--log', 'off']);
    const port = new URL(m1.url).port;
    // No "model": the mock answers as its served model.
    for (const body of [chatBody('the quick brown fox', { model: undefined, max_tokens: 5 }), chatBody('stream it', { model: undefined, max_tokens: 7, stream: true, stream_options: { include_usage: true } })]) {
      const direct = await call(Number(port), 'POST', '/v1/chat/completions', body);
      const via = await call(serve.port, 'POST', '/v1/chat/completions', body);
      assert.equal(via.status, 200);
      assert.equal(normalize(via.body), normalize(direct.body));
    }
    // vLLM-style /metrics of the mocks reach the worker views, with KV capacity from cache_config_info.
    assert.ok(
      await until(async () => {
        const ws = (JSON.parse((await call(serve!.port, 'GET', '/workers', undefined, { authorization: 'Bearer k' })).body.toString()) as { workers: { scraped: unknown; kv_capacity_tokens: number | null }[] }).workers;
        return ws.every((w) => w.scraped !== null && (w.kv_capacity_tokens ?? 0) > 0);
      }, 5000),
    );
    // A worker that crashes on its third request: every request still gets its full answer.
    serve2 = await startServe(['--workers', `${crashy.url};name=crashy,${m2.url};name=m2`, '--policy', 'round-robin', '--health-interval', '0.2', '--retry-backoff-ms', '1', '--log', 'off']);
    const bodies = Array.from({ length: 12 }, (_, i) => chatBody(`crash test ${i}`, { model: undefined, max_tokens: 4 }));
    const results = await Promise.all(bodies.map((b) => call(serve2!.port, 'POST', '/v1/chat/completions', b)));
    for (const r of results) {
      assert.equal(r.status, 200, r.body.toString());
      assert.equal((JSON.parse(r.body.toString()) as { usage: { completion_tokens: number } }).usage.completion_tokens, 4);
    }
    assert.notEqual(crashy.child.exitCode, null, 'the crashy worker did crash');
  } finally {
    await Promise.all([stop(serve), stop(serve2)]);
  }
});

test('serve --dashboard in a pseudo-terminal shows the workers and live traffic; q drains and exits 0', { skip: skip || skipTmux, timeout: 60_000 }, async () => {
  const [m1, m2] = await Promise.all([startMock(), startMock()]);
  const sock = `router-test-${process.pid}-serve`;
  const dir = mkdtempSync(join(tmpdir(), 'router-serve-tty-'));
  const rc = join(dir, 'rc');
  const port = 20000 + (process.pid % 20000);
  const cmd = `env -u CI NO_COLOR=1 node ${shellQuote(CLI)} serve --workers ${m1.url},${m2.url} --port ${port} --scrape-interval 0.2 --dashboard; echo $? > ${shellQuote(rc)}; sleep 60`;
  tmux(sock, 'new-session', '-d', '-s', 'serve', '-x', '140', '-y', '40', cmd);
  try {
    await waitFor('the dashboard', 20_000, () => /^router serve · http:\/\/127\.0\.0\.1:\d+/m.test(tmux(sock, 'capture-pane', '-p', '-t', 'serve')));
    for (let i = 0; i < 6; i++) assert.equal((await call(port, 'POST', '/v1/chat/completions', chatBody(`tty ${i}`, { model: 'llama-3.1-8b', stream: i % 2 === 0 }))).status, 200);
    let screen = '';
    await waitFor('six requests on screen', 10_000, () => {
      screen = tmux(sock, 'capture-pane', '-p', '-t', 'serve');
      return /requests: 6\b/.test(screen);
    });
    assert.match(screen, /^127\.0\.0\.1:\d+\s+up\s+closed/m);
    assert.match(screen, /^TTFT\s+[\d.]+\s+[\d.]+/m);
    assert.doesNotMatch(screen, /"request_id"/, 'no JSON log over the dashboard');
    tmux(sock, 'send-keys', '-t', 'serve', 'q');
    await waitFor('serve to exit after q', 20_000, () => existsSync(rc) && readFileSync(rc, 'utf8').trim() !== '');
    assert.equal(readFileSync(rc, 'utf8').trim(), '0');
  } finally {
    killTmux(sock);
    rmSync(dir, { recursive: true, force: true });
  }
});
