import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A Kubernetes API server for pods, in-process, speaking the real wire protocol the official
 * client uses: `GET /api/v1/namespaces/NS/pods?labelSelector=&limit=&continue=` answers a
 * PodList with `metadata.resourceVersion` (and `continue` when paged, served from a snapshot);
 * `?watch=true&resourceVersion=RV` answers 200 with a chunked stream of JSON lines
 * `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`, replaying history after RV,
 * then live events; selector transitions become ADDED/DELETED as the real server sends them; a
 * compacted RV gets the `ERROR` event with a 410 Status, as etcd compaction does; bearer-token
 * auth (401) and an RBAC switch (403 Status). Controls let tests drop watches, compact, and send
 * bookmarks.
 */

export interface PodInit {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ip?: string;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  ready?: boolean;
}

type Json = Record<string, unknown>;
interface PodObject {
  kind: 'Pod';
  apiVersion: 'v1';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; creationTimestamp: string; labels: Record<string, string>; annotations: Record<string, string>; deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  spec: Json;
  status: { phase: string; podIP?: string; podIPs?: { ip: string }[]; conditions: { type: string; status: 'True' | 'False'; lastTransitionTime: string }[] };
}

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  prev?: PodObject;
  cur: PodObject;
}

interface Watcher {
  res: ServerResponse;
  ns: string;
  selector: Selector;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
}

type Selector = (labels: Record<string, string>) => boolean;

/** Kubernetes label selector syntax: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. */
export function parseSelector(raw: string): Selector {
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of raw) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '' || terms.length > 0) terms.push(cur);
  const key = '([A-Za-z0-9][-A-Za-z0-9_./]*)';
  const tests: Selector[] = terms.map((t) => {
    const s = t.trim();
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^${key}\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`).exec(s))) {
      const [, k, op, v] = m;
      return op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v;
    }
    if ((m = new RegExp(`^${key}\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(s))) {
      const [, k, op, list] = m;
      const vals = new Set(list.split(',').map((x) => x.trim()));
      return op === 'in' ? (l) => l[k] !== undefined && vals.has(l[k]) : (l) => l[k] === undefined || !vals.has(l[k]);
    }
    if ((m = new RegExp(`^!${key}$`).exec(s))) {
      const k = m[1];
      return (l) => l[k] === undefined;
    }
    if ((m = new RegExp(`^${key}$`).exec(s))) {
      const k = m[1];
      return (l) => l[k] !== undefined;
    }
    throw new Error(`unable to parse requirement: ${JSON.stringify(s)}`);
  });
  return (l) => tests.every((f) => f(l));
}

function status(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

export class FakeKubeApi {
  readonly token = 'fake-service-account-token';
  private server?: Server;
  port = 0;
  private rv = 1000;
  private uid = 0;
  private readonly pods = new Map<string, PodObject>();
  private history: HistoryEntry[] = [];
  private compactedBelow = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly snapshots = new Map<number, PodObject[]>();
  private readonly sockets = new Set<Socket>();
  private held?: (() => void)[];
  /** RBAC: when set, every pod request is 403 Forbidden (as a Role without list/watch). */
  forbidden = false;
  /** Answer watch requests with this HTTP status instead of a stream (0 = stream). */
  watchHttpStatus = 0;
  readonly requests = { lists: 0, watches: 0, forbidden: 0, unauthorized: 0 };
  /** Query of every watch request, in order. */
  readonly watchQueries: URLSearchParams[] = [];
  readonly listQueries: URLSearchParams[] = [];

  async start(): Promise<number> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    this.held = undefined;
    for (const w of this.watchers) this.endWatch(w);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** A kubeconfig (YAML) pointing at this server with its bearer token. */
  kubeconfig(namespace: string): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: http://127.0.0.1:${this.port}`,
      // Plain HTTP on loopback; the client refuses http:// unless TLS verification is off.
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: router',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: router',
      `    namespace: ${namespace}`,
      'current-context: fake',
      '',
    ].join('\n');
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** Watches currently open. */
  get openWatches(): number {
    return this.watchers.size;
  }

  // ---- cluster changes ---------------------------------------------------------------------

  createPod(ns: string, name: string, init: PodInit = {}): void {
    const key = `${ns}/${name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} exists`);
    const now = new Date().toISOString();
    const ready = init.ready ?? false;
    const phase = init.phase ?? (init.ip ? 'Running' : 'Pending');
    const pod: PodObject = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name, namespace: ns, uid: `00000000-0000-4000-8000-${String(++this.uid).padStart(12, '0')}`, resourceVersion: '', creationTimestamp: now, labels: { ...(init.labels ?? {}) }, annotations: { ...(init.annotations ?? {}) } },
      spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:latest', ports: [{ containerPort: 8000, protocol: 'TCP' }] }], serviceAccountName: 'default' },
      status: {
        phase,
        ...(init.ip ? { podIP: init.ip, podIPs: [{ ip: init.ip }] } : {}),
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }],
      },
    };
    this.commit('ADDED', undefined, pod);
  }

  /** Changes a pod through `mutate` (a deep copy) and emits MODIFIED. */
  updatePod(ns: string, name: string, mutate: (p: PodObject) => void): void {
    const prev = this.pods.get(`${ns}/${name}`);
    if (!prev) throw new Error(`no pod ${ns}/${name}`);
    const cur = structuredClone(prev);
    mutate(cur);
    this.commit('MODIFIED', prev, cur);
  }

  setReady(ns: string, name: string, ready: boolean): void {
    this.updatePod(ns, name, (p) => {
      p.status.phase = 'Running';
      p.status.conditions = [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }];
    });
  }

  /** `kubectl delete pod`: first the graceful phase (deletionTimestamp, not Ready), then gone. */
  beginDelete(ns: string, name: string): void {
    this.updatePod(ns, name, (p) => {
      p.metadata.deletionTimestamp = new Date().toISOString();
      p.metadata.deletionGracePeriodSeconds = 30;
      p.status.conditions = [{ type: 'Ready', status: 'False', lastTransitionTime: new Date().toISOString() }];
    });
  }

  deletePod(ns: string, name: string): void {
    const prev = this.pods.get(`${ns}/${name}`);
    if (!prev) throw new Error(`no pod ${ns}/${name}`);
    this.commit('DELETED', prev, structuredClone(prev));
  }

  /** etcd compaction: watches from any earlier resourceVersion now get 410 Gone. */
  compact(): void {
    this.compactedBelow = this.rv + 1;
    this.history = [];
    this.snapshots.clear();
  }

  /** Cuts every open watch connection (as a proxy or apiserver restart would). */
  dropWatches(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      if (w.timer) clearTimeout(w.timer);
      w.res.socket?.destroy();
    }
  }

  /** Ends every open watch cleanly, as the server does when a watch's timeoutSeconds is up. */
  closeWatches(): void {
    for (const w of [...this.watchers]) this.endWatch(w);
  }

  /** While held, new watch requests wait unanswered (so a test can change the cluster first). */
  holdWatches(): void {
    this.held ??= [];
  }

  releaseWatches(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const f of held) f();
  }

  /** Watch requests waiting for `releaseWatches()`. */
  get heldWatches(): number {
    return this.held?.length ?? 0;
  }

  /** Sends a BOOKMARK (current resourceVersion) to every watch that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (w.bookmarks) this.send(w, 'BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } });
    }
  }

  private commit(type: HistoryEntry['type'], prev: PodObject | undefined, cur: PodObject): void {
    const rv = ++this.rv;
    cur.metadata.resourceVersion = String(rv);
    const key = `${cur.metadata.namespace}/${cur.metadata.name}`;
    if (type === 'DELETED') this.pods.delete(key);
    else this.pods.set(key, cur);
    const e: HistoryEntry = { rv, type, prev, cur };
    this.history.push(e);
    for (const w of this.watchers) this.deliver(w, e);
  }

  /** What a watcher with a selector sees of a change (selector transitions included). */
  private deliver(w: Watcher, e: HistoryEntry): void {
    if (e.cur.metadata.namespace !== w.ns) return;
    const was = e.prev !== undefined && e.type !== 'ADDED' && w.selector(e.prev.metadata.labels);
    const is = e.type !== 'DELETED' && w.selector(e.cur.metadata.labels);
    let type: string | undefined;
    if (e.type === 'DELETED') type = was ? 'DELETED' : undefined;
    else if (was && is) type = 'MODIFIED';
    else if (is) type = 'ADDED';
    else if (was) type = 'DELETED';
    if (type) this.send(w, type, e.cur);
  }

  private send(w: Watcher, type: string, object: unknown): void {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private endWatch(w: Watcher): void {
    this.watchers.delete(w);
    if (w.timer) clearTimeout(w.timer);
    w.res.end();
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (code: number, body: Json): void => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
    if (!m || req.method !== 'GET') { reply(404, status(404, 'NotFound', 'the server could not find the requested resource')); return; }
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.requests.unauthorized++;
      reply(401, status(401, 'Unauthorized', 'Unauthorized')); return;
    }
    const ns = decodeURIComponent(m[1]);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    if (this.forbidden) {
      this.requests.forbidden++;
      const verb = watch ? 'watch' : 'list';
      reply(403, status(403, 'Forbidden', `pods is forbidden: User "system:serviceaccount:${ns}:router" cannot ${verb} resource "pods" in API group "" in the namespace "${ns}"`, { kind: 'pods' })); return;
    }
    let selector: Selector;
    try {
      selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
    } catch (err) {
      reply(400, status(400, 'BadRequest', (err as Error).message)); return;
    }
    if (watch) {
      if (this.held) {
        this.held.push(() => this.watch(req, res, ns, selector, url.searchParams));
        return;
      }
      this.watch(req, res, ns, selector, url.searchParams); return;
    }
    this.requests.lists++;
    this.listQueries.push(url.searchParams);
    this.list(ns, selector, url.searchParams, reply);
  }

  private list(ns: string, selector: Selector, q: URLSearchParams, reply: (code: number, body: Json) => void): void {
    const limit = Number(q.get('limit') ?? '0');
    const cont = q.get('continue');
    let rv = this.rv;
    let start = 0;
    if (cont) {
      const tok = JSON.parse(Buffer.from(cont, 'base64').toString()) as { rv: number; start: number };
      if (tok.rv < this.compactedBelow || !this.snapshots.has(tok.rv)) {
        reply(410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.')); return;
      }
      rv = tok.rv;
      start = tok.start;
    }
    let all = this.snapshots.get(rv);
    if (!all) {
      all = [...this.pods.values()].filter((p) => p.metadata.namespace === ns && selector(p.metadata.labels)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      this.snapshots.set(rv, all);
    }
    const end = limit > 0 ? Math.min(all.length, start + limit) : all.length;
    const items = all.slice(start, end).map((p) => {
      const { kind: _k, apiVersion: _a, ...rest } = p;
      return rest;
    });
    const metadata: Json = { resourceVersion: String(rv) };
    if (end < all.length) metadata.continue = Buffer.from(JSON.stringify({ rv, start: end })).toString('base64');
    else this.snapshots.delete(rv);
    reply(200, { kind: 'PodList', apiVersion: 'v1', metadata, items });
  }

  private watch(req: IncomingMessage, res: ServerResponse, ns: string, selector: Selector, q: URLSearchParams): void {
    this.requests.watches++;
    this.watchQueries.push(q);
    if (this.watchHttpStatus) {
      const text = JSON.stringify(status(this.watchHttpStatus, 'InternalError', 'injected failure'));
      res.writeHead(this.watchHttpStatus, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { res, ns, selector, bookmarks: q.get('allowWatchBookmarks') === 'true' };
    const rvRaw = q.get('resourceVersion') ?? '';
    if (rvRaw === '' || rvRaw === '0') {
      // "Any" / "most recent": synthetic ADDED for the current state, then live.
      for (const p of this.pods.values()) if (p.metadata.namespace === ns && selector(p.metadata.labels)) this.send(w, 'ADDED', p);
    } else {
      const from = Number(rvRaw);
      if (!Number.isFinite(from) || from + 1 < this.compactedBelow) {
        this.send(w, 'ERROR', status(410, 'Expired', `too old resource version: ${rvRaw} (${this.compactedBelow})`));
        res.end();
        return;
      }
      for (const e of this.history) if (e.rv > from) this.deliver(w, e);
    }
    this.watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w), timeout * 1000);
    req.on('close', () => {
      this.watchers.delete(w);
      if (w.timer) clearTimeout(w.timer);
    });
  }
}
