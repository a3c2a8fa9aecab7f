import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesDiscovery, type KubernetesDiscoveryOptions } from '../../src/serve/discovery/kubernetes.js';
import type { DiscoveredWorker, WorkerFleet } from '../../src/serve/discovery/fleet.js';
import type { WorkerSpec } from '../../src/serve/worker-spec.js';
import { FakeKubeApi } from './k8s-api-server.js';
import { until } from './helpers.js';

const NS = 'llm';

/** Records what discovery asks of the fleet, and checks it never asks for something inconsistent. */
class RecordingFleet implements WorkerFleet {
  readonly workers = new Map<string, { spec: WorkerSpec; drained: boolean }>();
  readonly calls: string[] = [];
  add(w: DiscoveredWorker): void {
    const cur = this.workers.get(w.key);
    assert.ok(!cur || cur.drained, `add ${w.key} while it is already taking requests`);
    this.workers.set(w.key, { spec: w.spec, drained: false });
    this.calls.push(`add ${w.key}`);
  }
  drain(key: string): void {
    const cur = this.workers.get(key);
    assert.ok(cur && !cur.drained, `drain ${key}, which is not active`);
    cur.drained = true;
    this.calls.push(`drain ${key}`);
  }
  remove(key: string): void {
    assert.ok(this.workers.has(key), `remove ${key}, which was never added`);
    this.workers.delete(key);
    this.calls.push(`remove ${key}`);
  }
  /** Pod names taking requests now. */
  active(): string[] {
    return [...this.workers].filter(([, w]) => !w.drained).map(([k]) => k.split('/')[1]).sort();
  }
}

let api: FakeKubeApi;
let fleet: RecordingFleet;
let logs: string[];
let disc: KubernetesDiscovery | undefined;

beforeEach(async () => {
  api = new FakeKubeApi();
  await api.start();
  fleet = new RecordingFleet();
  logs = [];
});
afterEach(async () => {
  await disc?.stop();
  disc = undefined;
  await api.stop();
});

function discovery(extra: Partial<KubernetesDiscoveryOptions> = {}): KubernetesDiscovery {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig(NS));
  disc = new KubernetesDiscovery(fleet, {
    selector: 'app=vllm',
    mapping: { port: 8000, portAnnotation: 'router/port', labelPrefix: 'router/', roleLabel: 'router/role' },
    backoff: { initialMs: 20, maxMs: 200, multiplier: 2, jitter: 0.2 },
    watchTimeoutS: 300,
    pageSize: 500,
    kubeConfig: kc,
    seed: 1,
    log: (l) => logs.push(l),
    ...extra,
  });
  return disc;
}

const vllm = (ip: string, ready: boolean, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}) => ({
  ip,
  ready,
  labels: { app: 'vllm', ...(extra.labels ?? {}) },
  annotations: extra.annotations ?? {},
});

test('lists then watches: Running+Ready pods become workers with labels from the pod; readiness drains and readmits; deletion removes', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true, { labels: { 'router/gpu': 'h100-sxm', 'router/role': 'decode' }, annotations: { 'router/model': 'llama-3.1-8b', 'router/cost': '2.5', 'router/port': '8001' } }));
  api.createPod(NS, 'vllm-b', vllm('10.1.0.2', false));
  api.createPod(NS, 'vllm-c', { labels: { app: 'vllm' } }); // Pending, no IP
  api.createPod(NS, 'sglang-x', { ip: '10.1.0.9', ready: true, labels: { app: 'sglang' } });
  api.createPod('other', 'vllm-z', vllm('10.2.0.1', true));
  await discovery().start();
  assert.deepEqual(fleet.active(), ['vllm-a']);
  const a = fleet.workers.get(`${NS}/vllm-a`)!.spec;
  assert.deepEqual(a, { url: 'http://10.1.0.1:8001', name: 'vllm-a', gpu: 'h100-sxm', profile: 'llama-3.1-8b@h100-sxm', model: 'llama-3.1-8b', costUsdPerHour: 2.5, source: 'kubernetes', pod: 'llm/vllm-a', role: 'decode' });
  assert.ok(await until(() => api.openWatches === 1, 5000));
  // The watch resumes at the list's resourceVersion, asks for bookmarks and carries the selector.
  const wq = api.watchQueries[0];
  assert.equal(wq.get('resourceVersion'), api.listQueries.length === 1 ? String(api.resourceVersion) : undefined);
  assert.equal(wq.get('allowWatchBookmarks'), 'true');
  assert.equal(wq.get('labelSelector'), 'app=vllm');

  api.setReady(NS, 'vllm-b', true);
  assert.ok(await until(() => fleet.active().includes('vllm-b')));
  assert.equal(fleet.workers.get(`${NS}/vllm-b`)!.spec.url, 'http://10.1.0.2:8000', 'no port annotation: --k8s-port');
  api.setReady(NS, 'vllm-a', false);
  assert.ok(await until(() => fleet.workers.get(`${NS}/vllm-a`)?.drained === true));
  api.setReady(NS, 'vllm-a', true);
  assert.ok(await until(() => fleet.workers.get(`${NS}/vllm-a`)?.drained === false));
  // kubectl delete: terminating drains at once, the final DELETED removes.
  api.beginDelete(NS, 'vllm-b');
  assert.ok(await until(() => fleet.workers.get(`${NS}/vllm-b`)?.drained === true));
  api.deletePod(NS, 'vllm-b');
  assert.ok(await until(() => !fleet.workers.has(`${NS}/vllm-b`)));
  // Relabelled out of the selector: the server sends DELETED, the worker goes.
  api.updatePod(NS, 'vllm-a', (p) => (p.metadata.labels.app = 'retired'));
  assert.ok(await until(() => fleet.workers.size === 0));
  // A Ready pod with a broken port annotation is skipped with the reason.
  api.createPod(NS, 'vllm-d', vllm('10.1.0.4', true, { annotations: { 'router/port': 'http' } }));
  assert.ok(await until(() => logs.some((l) => /skipping pod llm\/vllm-d: annotation router\/port="http" is not a port/.test(l))));
  assert.equal(fleet.workers.size, 0);
  assert.deepEqual(fleet.calls, ['add llm/vllm-a', 'add llm/vllm-b', 'drain llm/vllm-a', 'add llm/vllm-a', 'drain llm/vllm-b', 'remove llm/vllm-b', 'remove llm/vllm-a']);
  assert.equal(api.requests.lists, 1, 'a healthy watch never re-lists');
});

test('lists in pages (limit + continue) from one snapshot', async () => {
  for (let i = 0; i < 5; i++) api.createPod(NS, `vllm-${i}`, vllm(`10.1.0.${i + 1}`, true));
  await discovery({ pageSize: 2 }).start();
  assert.deepEqual(fleet.active(), ['vllm-0', 'vllm-1', 'vllm-2', 'vllm-3', 'vllm-4']);
  assert.equal(api.listQueries.length, 3);
  assert.equal(api.listQueries[0].get('limit'), '2');
  assert.ok(api.listQueries[1].get('continue'));
});

test('BOOKMARKs advance the resourceVersion a resumed watch starts from', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  await discovery().start();
  assert.ok(await until(() => api.openWatches === 1));
  // Changes elsewhere in the cluster move the resourceVersion; this watch sees none of them.
  for (let i = 0; i < 3; i++) api.createPod(NS, `unrelated-${i}`, { labels: { app: 'web' } });
  api.bookmark();
  const rv = String(api.resourceVersion);
  assert.ok(await until(() => disc!.status().resourceVersion === rv));
  api.closeWatches();
  assert.ok(await until(() => api.watchQueries.length === 2 && api.openWatches === 1));
  assert.equal(api.watchQueries[1].get('resourceVersion'), rv);
  assert.equal(api.requests.lists, 1, 'a watch the server ends on time resumes without a list');
});

test('a cut watch connection: nothing missed, no backoff (resumed from its resourceVersion, or re-listed at once)', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  await discovery().start();
  assert.ok(await until(() => api.openWatches === 1));
  api.holdWatches();
  api.dropWatches();
  assert.ok(await until(() => api.heldWatches === 1));
  api.createPod(NS, 'vllm-b', vllm('10.1.0.2', true));
  api.setReady(NS, 'vllm-a', false);
  api.releaseWatches();
  assert.ok(await until(() => fleet.active().join() === 'vllm-b'));
  assert.equal(fleet.workers.get(`${NS}/vllm-a`)?.drained, true);
  assert.ok(api.requests.lists <= 2);
  assert.ok(!logs.some((l) => /retrying in/.test(l)), logs.join('\n'));
});

test('an API outage during a watch: re-lists with backoff, keeps the set meanwhile, catches up after', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  api.createPod(NS, 'vllm-b', vllm('10.1.0.2', true));
  await discovery().start();
  assert.ok(await until(() => api.openWatches === 1));
  api.forbidden = true; // hold the re-list off until the cluster has changed
  api.dropWatches();
  assert.ok(await until(() => api.requests.forbidden > 0));
  api.deletePod(NS, 'vllm-a');
  api.createPod(NS, 'vllm-c', vllm('10.1.0.3', true));
  api.setReady(NS, 'vllm-b', false);
  assert.deepEqual(fleet.active(), ['vllm-a', 'vllm-b'], 'nothing changes while the API is unreachable');
  api.forbidden = false;
  assert.ok(await until(() => fleet.active().join() === 'vllm-c', 5000), fleet.active().join());
  assert.equal(fleet.workers.get(`${NS}/vllm-b`)?.drained, true);
  assert.ok(!fleet.workers.has(`${NS}/vllm-a`), 'deleted during the outage: removed by the re-list');
  assert.ok(api.requests.lists >= 2);
  assert.ok(await until(() => logs.some((l) => /recovered after \d+ failed attempt/.test(l))));
});

test('410 Gone on a resumed watch re-lists at once', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  await discovery().start();
  assert.ok(await until(() => api.openWatches === 1));
  api.holdWatches();
  api.closeWatches();
  assert.ok(await until(() => api.heldWatches === 1));
  api.createPod(NS, 'vllm-b', vllm('10.1.0.2', true));
  api.deletePod(NS, 'vllm-a');
  api.compact();
  api.releaseWatches();
  assert.ok(await until(() => fleet.active().join() === 'vllm-b', 5000), fleet.active().join());
  assert.equal(api.requests.lists, 2, logs.join('\n'));
  assert.ok(logs.some((l) => /410 Gone/.test(l)));
  assert.ok(!logs.some((l) => /retrying in/.test(l)), '410 is no failure: no backoff, no error line');
  assert.ok(await until(() => api.openWatches === 1));
});

test('RBAC 403: one clear line naming the fix, the last known set is kept, and it recovers when the Role is fixed', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  api.createPod(NS, 'vllm-b', vllm('10.1.0.2', true));
  await discovery().start();
  api.forbidden = true;
  api.dropWatches();
  assert.ok(await until(() => api.requests.forbidden >= 3, 5000), 'keeps retrying with backoff');
  const errs = logs.filter((l) => /forbidden/.test(l));
  assert.equal(errs.length, 1, `one line per distinct error, not one per retry: ${errs.join('\n')}`);
  assert.match(errs[0], /forbidden \(HTTP 403: pods is forbidden: User "system:serviceaccount:llm:router" cannot list resource "pods".*\): the service account needs get, list and watch on pods in namespace "llm".*keeping the last known 2 worker\(s\)/);
  assert.deepEqual(fleet.active(), ['vllm-a', 'vllm-b']);
  assert.equal(disc!.status().lastError?.startsWith('forbidden'), true);
  api.forbidden = false;
  api.createPod(NS, 'vllm-c', vllm('10.1.0.3', true));
  assert.ok(await until(() => fleet.active().length === 3, 5000));
  assert.ok(await until(() => disc!.status().lastError === null));
});

test('forbidden from the start: no workers, the error, then the pods once RBAC allows', async () => {
  api.forbidden = true;
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  await discovery().start();
  assert.equal(fleet.workers.size, 0);
  assert.equal(disc!.status().synced, false);
  assert.ok(logs.some((l) => /forbidden.*keeping the last known 0 worker/.test(l)));
  api.forbidden = false;
  assert.ok(await until(() => fleet.active().join() === 'vllm-a', 5000));
});

test('readiness flapping: every flip is followed in order, the end state is right, no double add or drain', async () => {
  api.createPod(NS, 'vllm-a', vllm('10.1.0.1', true));
  api.createPod(NS, 'vllm-b', vllm('10.1.0.2', true));
  await discovery().start();
  assert.ok(await until(() => api.openWatches === 1));
  for (let i = 0; i < 25; i++) api.setReady(NS, 'vllm-a', i % 2 === 1);
  api.setReady(NS, 'vllm-b', false);
  assert.ok(await until(() => fleet.workers.get(`${NS}/vllm-b`)?.drained === true));
  // 25 flips ending on not-ready (i = 24): drain, then (add, drain) x 12.
  const a = fleet.calls.filter((c) => c.endsWith('vllm-a'));
  assert.equal(a.length, 1 + 25);
  assert.deepEqual(a.slice(1), Array.from({ length: 25 }, (_, i) => (i % 2 === 0 ? 'drain llm/vllm-a' : 'add llm/vllm-a')));
  assert.deepEqual(fleet.active(), []);
  assert.equal(fleet.workers.size, 2, 'drained workers stay registered');
});
