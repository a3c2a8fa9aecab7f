import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, call, chatBody, until, type RawResponse } from './helpers.js';
import { FakeKubeApi } from './k8s-api-server.js';

/**
 * `router serve --k8s-selector` as a process, discovering `router mock-worker` processes through
 * the protocol-level fake API server (the real client library on the serve side), under load.
 */
const NS = 'llm';
const ADMIN = { authorization: 'Bearer admin-k' };
const procs: ChildProcess[] = [];
let api: FakeKubeApi;
let dir: string;
let kubeconfig: string;

before(async () => {
  api = new FakeKubeApi();
  await api.start();
  dir = mkdtempSync(join(tmpdir(), 'router-k8s-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig(NS));
});
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  port: number;
  output: () => string;
}

function spawnReady(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  procs.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${args.join(' ')}\n${out}`)), 20_000);
    const onData = (c: Buffer): void => {
      out += c.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before ready: ${args.join(' ')}\n${out}`));
    });
  });
}

const startMock = (): Promise<Started> => spawnReady(['mock-worker', '--gpu', 'l20', '--port', '0', '--speedup', '4'], /listening on http:\/\/127\.0\.0\.1:(\d+)/);

function startServe(args: string[]): Promise<Started> {
  return spawnReady(['serve', '--port', '0', ...args], /listening on http:\/\/127\.0\.0\.1:(\d+)/, { ...process.env, KUBECONFIG: kubeconfig });
}

interface WorkerJson {
  name: string;
  url: string;
  source: string;
  pod?: string;
  role?: string | null;
  drained?: boolean;
  gpu: string;
  healthy: boolean;
}

async function workers(port: number): Promise<WorkerJson[]> {
  return (JSON.parse((await call(port, 'GET', '/workers', undefined, ADMIN)).body.toString()) as { workers: WorkerJson[] }).workers;
}

async function dispatches(port: number, worker: string): Promise<number> {
  const text = (await call(port, 'GET', '/metrics')).body.toString();
  const m = new RegExp(`^router_dispatches_total\\{worker="${worker}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const pod = (port: number, extra: Record<string, string> = {}) => ({
  ip: '127.0.0.1',
  ready: true,
  labels: { app: 'vllm', 'router/gpu': 'l20', ...extra },
  annotations: { 'router/port': String(port) },
});

/** A streamed answer either completed, or failed only after content reached the client. */
function classify(r: RawResponse): 'ok' | 'midstream' | 'lost' {
  const text = r.body.toString();
  if (r.status !== 200) return 'lost';
  if (!text.includes('"error"')) return text.endsWith('data: [DONE]\n\n') ? 'ok' : 'lost';
  const started = text.indexOf('"content"') >= 0 && text.indexOf('"content"') < text.indexOf('"error"');
  return /"code":"midstream"/.test(text) && started ? 'midstream' : 'lost';
}

test('pods come and go under load: added when Ready, drained before deletion; no request lost that had not started streaming', { timeout: 120_000 }, async () => {
  const [mA, mB, mC, mS] = await Promise.all([startMock(), startMock(), startMock(), startMock()]);
  api.createPod(NS, 'vllm-a', pod(mA.port));
  api.createPod(NS, 'vllm-b', pod(mB.port, { 'router/role': 'decode' }));
  const serve = await startServe(['--k8s-selector', 'app=vllm', '--k8s-port-annotation', 'router/port', '--k8s-retry-max', '0.5', '--workers', `http://127.0.0.1:${mS.port};name=static-s;gpu=l20`, '--policy', 'round-robin', '--admin-key', 'admin-k', '--health-interval', '0.5', '--retry-backoff-ms', '1', '--log', 'off']);
  try {
    assert.ok(await until(async () => (await workers(serve.port)).length === 3, 10_000), serve.output());
    const ws = await workers(serve.port);
    assert.deepEqual(ws.map((w) => [w.name, w.source, w.pod ?? null, w.role ?? null]).sort(), [
      ['static-s', 'static', null, null],
      ['vllm-a', 'kubernetes', 'llm/vllm-a', null],
      ['vllm-b', 'kubernetes', 'llm/vllm-b', 'decode'],
    ]);
    assert.equal(ws.find((w) => w.name === 'vllm-a')!.url, `http://127.0.0.1:${mA.port}`);

    const total = 160;
    let sent = 0;
    let finished = 0;
    const results: RawResponse[] = [];
    const loop = async (): Promise<void> => {
      while (sent < total) {
        const i = sent++;
        results.push(await call(serve.port, 'POST', '/v1/chat/completions', chatBody(`request ${i} under churn`, { model: undefined, stream: true, max_tokens: 24 }), {}, 30_000));
        finished++;
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, loop));

    assert.ok(await until(() => finished >= 30, 30_000));
    // A new pod: scheduled (not Ready), then Ready.
    api.createPod(NS, 'vllm-c', { ...pod(mC.port), ready: false });
    api.setReady(NS, 'vllm-c', true);
    assert.ok(await until(() => finished >= 60, 30_000));
    // kubectl delete pod vllm-a: terminating (drained), the engine dies, the pod is gone.
    api.beginDelete(NS, 'vllm-a');
    assert.ok(await until(async () => (await workers(serve.port)).find((w) => w.name === 'vllm-a')?.drained === true, 5000));
    const aAtDrain = await dispatches(serve.port, 'vllm-a');
    mA.child.kill('SIGKILL');
    // Traffic flows while it is drained: none of it may reach the pod. (Checked before the
    // deletion: a removed worker's metric series are dropped with it.)
    const finishedAtDrain = finished;
    assert.ok(await until(() => finished >= Math.min(total, finishedAtDrain + 10), 30_000));
    assert.equal(await dispatches(serve.port, 'vllm-a'), aAtDrain, 'nothing was sent to the drained pod');
    api.deletePod(NS, 'vllm-a');
    // Readiness flapping on another pod while traffic flows.
    for (let i = 0; i < 6; i++) api.setReady(NS, 'vllm-b', i % 2 === 1);
    await load;

    const kinds = results.map(classify);
    const lost = results.filter((_, i) => kinds[i] === 'lost');
    assert.equal(lost.length, 0, `lost: ${lost.map((r) => `${r.status} ${r.body.toString().slice(-300)}`).join('\n')}`);
    assert.ok(kinds.filter((k) => k === 'midstream').length <= 8, 'only streams already under way on the killed pod may break');
    assert.equal(results.length, total);
    assert.ok((await dispatches(serve.port, 'vllm-c')) > 0, 'the new pod took traffic');
    const end = await workers(serve.port);
    assert.deepEqual(end.map((w) => w.name).sort(), ['static-s', 'vllm-b', 'vllm-c']);
    assert.equal(end.find((w) => w.name === 'vllm-b')!.drained, false, 'the flapping ended Ready');
    assert.match(serve.output(), /kubernetes discovery: drain llm\/vllm-a \(terminating\)/);
    assert.match(serve.output(), /kubernetes discovery: - llm\/vllm-a .*pod deleted/);

    // The admin API works next to discovery; an admin DELETE of a discovered worker sticks.
    const added = await call(serve.port, 'POST', '/workers', JSON.stringify({ url: `http://127.0.0.1:${mA.port}`, name: 'by-hand' }), ADMIN);
    assert.equal(added.status, 201);
    assert.equal((JSON.parse(added.body.toString()) as WorkerJson).source, 'admin');
    assert.equal((await call(serve.port, 'DELETE', '/workers/by-hand', undefined, ADMIN)).status, 200);
    assert.equal((await call(serve.port, 'DELETE', '/workers/vllm-c', undefined, ADMIN)).status, 200);
    api.setReady(NS, 'vllm-c', false);
    api.setReady(NS, 'vllm-c', true);
    assert.ok(await until(() => /llm\/vllm-c was removed through the admin API; not re-adding it/.test(serve.output()), 5000));
    assert.ok(!(await workers(serve.port)).some((w) => w.name === 'vllm-c'));

    // RBAC revoked: one clear line, the last known set keeps serving.
    api.forbidden = true;
    api.dropWatches();
    assert.ok(await until(() => /kubernetes discovery: forbidden \(HTTP 403: pods is forbidden.*get, list and watch on pods in namespace "llm".*keeping the last known/.test(serve.output()), 10_000), serve.output());
    assert.deepEqual((await workers(serve.port)).map((w) => w.name).sort(), ['static-s', 'vllm-b']);
    for (let i = 0; i < 4; i++) assert.equal((await call(serve.port, 'POST', '/v1/chat/completions', chatBody(`during 403 ${i}`, { model: undefined, max_tokens: 3 }))).status, 200);
    api.forbidden = false;
    assert.ok(await until(() => /kubernetes discovery: recovered/.test(serve.output()), 10_000));
  } finally {
    for (const p of [serve, mA, mB, mC, mS]) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
});

test('serve with discovery only: not ready until a pod is; SIGTERM stops the watch and exits 0', { timeout: 60_000 }, async () => {
  const serve = await startServe(['--k8s-selector', 'app=empty-pool', '--log', 'off']);
  try {
    assert.equal((await call(serve.port, 'GET', '/readiness')).status, 503);
    assert.ok(await until(() => /0 pod\(s\) match "app=empty-pool" in namespace llm/.test(serve.output()), 10_000), serve.output());
    assert.ok(await until(() => api.openWatches >= 1, 5000));
    const exited = new Promise<number | null>((r) => serve.child.once('exit', (c) => r(c)));
    serve.child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
  }
});

test('discovery flag mistakes: one line, exit 2', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig }) => spawnSync(process.execPath, [CLI, 'serve', '--port', '0', ...args], { encoding: 'utf8', env, timeout: 20_000 });
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [['--k8s-namespace', 'llm', '--workers', 'http://127.0.0.1:1'], /^router: --k8s-namespace needs --k8s-selector/],
    [['--k8s-selector', 'app=x', '--k8s-port', '99999'], /^router: --k8s-port: expected a port number 1-65535, got "99999"$/m],
    [['--k8s-selector', 'app=x', '--k8s-namespace', 'Bad_NS'], /^router: --k8s-namespace: "Bad_NS" is not a namespace name/],
    [['--k8s-selector', 'app=x', '--k8s-port-annotation', 'bad key!'], /^router: --k8s-port-annotation: "bad key!" is not a Kubernetes label\/annotation key/],
    [['--k8s-selector', 'app=x'], /^router: --k8s-selector: cannot load the Kubernetes client configuration/, { ...process.env, KUBECONFIG: join(dir, 'missing-kubeconfig') }],
  ];
  for (const [args, re, env] of cases) {
    const r = run(args, env);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
