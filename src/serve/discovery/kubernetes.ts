import { CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { backoffMs, type BackoffOptions } from '../backoff.js';
import { childRng, type Rng } from '../../util/rng.js';
import type { WorkerSpec } from '../worker-spec.js';
import type { WorkerFleet } from './fleet.js';
import { podKey, podState, sameSpec, type PodMapping } from './pod-worker.js';

export interface KubernetesDiscoveryOptions {
  /** Label selector of the engine pods, e.g. "app=vllm" (Kubernetes syntax, checked by the API server). */
  selector: string;
  /** Namespace to watch; default: the kubeconfig context's, in-cluster the pod's own, else "default". */
  namespace?: string;
  mapping: PodMapping;
  /** Delay between failed list/watch attempts. */
  backoff: BackoffOptions;
  /** The API server closes each watch after a random time in [s, 2s] (as client-go asks). */
  watchTimeoutS: number;
  /** Pods per list page (`limit`, followed by `continue`). */
  pageSize: number;
  /** Default: `KubeConfig.loadFromDefault()` (KUBECONFIG, ~/.kube/config, else in-cluster). */
  kubeConfig?: KubeConfig;
  seed: number;
  /** One line per fleet change and per error. */
  log: (line: string) => void;
}

interface Tracked {
  /** The spec the fleet has for this pod (added, possibly drained); undefined = never added. */
  spec?: WorkerSpec;
  ready: boolean;
  /** Why the pod is skipped although Ready (bad port or label); logged once per distinct reason. */
  invalid?: string;
}

export interface DiscoveryStatus {
  namespace: string;
  selector: string;
  /** The first list succeeded. */
  synced: boolean;
  pods: number;
  ready: number;
  lists: number;
  watches: number;
  resourceVersion: string;
  lastError: string | null;
}

/** A watch that ended in a way that calls for a fresh list (410 Gone). */
class Gone extends Error {}

/** The watch request itself failed (refused, non-200, cut by an error). */
class WatchFailed extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/**
 * Lists then watches the pods matching a label selector and keeps a WorkerFleet in step: a
 * Running+Ready pod is added, a pod that stops being Ready (or starts terminating) is drained, a
 * deleted one is removed. The watch resumes from the last resourceVersion it saw (BOOKMARKs
 * included); 410 Gone re-lists at once; any other failure re-lists after a backoff, and the
 * fleet keeps the last known set meanwhile (a list that fails never removes workers).
 */
export class KubernetesDiscovery {
  readonly namespace: string;
  private readonly kc: KubeConfig;
  private readonly api: CoreV1Api;
  private readonly watcher: Watch;
  private readonly rng: Rng;
  private readonly pods = new Map<string, Tracked>();
  private rv = '';
  private stopped = false;
  private ctl?: AbortController;
  private sleepTimer?: NodeJS.Timeout;
  private wake?: () => void;
  private running?: Promise<void>;
  private lastError: string | null = null;
  private lastErrorKind?: string;
  private failures = 0;
  private counts = { lists: 0, watches: 0 };
  private synced = false;

  constructor(
    private readonly fleet: WorkerFleet,
    private readonly o: KubernetesDiscoveryOptions,
  ) {
    this.kc = o.kubeConfig ?? defaultKubeConfig();
    const ctx = this.kc.getContextObject(this.kc.getCurrentContext());
    this.namespace = o.namespace ?? ctx?.namespace ?? 'default';
    this.api = this.kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(this.kc);
    this.rng = childRng(o.seed, 'k8s-discovery');
  }

  /** The API server discovery talks to (for messages). */
  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  }

  /** Starts the list/watch loop; resolves after the first list attempt (success or failure). */
  start(): Promise<void> {
    let first!: () => void;
    const firstDone = new Promise<void>((r) => (first = r));
    this.running = this.run(first);
    return firstDone;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ctl?.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.running;
  }

  status(): DiscoveryStatus {
    let ready = 0;
    for (const t of this.pods.values()) if (t.ready && t.spec) ready++;
    return { namespace: this.namespace, selector: this.o.selector, synced: this.synced, pods: this.pods.size, ready, lists: this.counts.lists, watches: this.counts.watches, resourceVersion: this.rv, lastError: this.lastError };
  }

  private async run(firstDone: () => void): Promise<void> {
    let gones = 0;
    let quickCloses = 0;
    let watchRetried = false;
    while (!this.stopped) {
      try {
        if (this.rv === '') {
          await this.relist();
          firstDone();
        }
        const ended = await this.watchOnce(() => {
          // Established: the API answers again.
          gones = 0;
          watchRetried = false;
          this.recovered();
        });
        // A watch the server ends at once, again and again, is a failure in disguise.
        quickCloses = ended === 'quick' ? quickCloses + 1 : 0;
        if (quickCloses >= 3) throw new Error('the API server ends every watch at once');
      } catch (err) {
        firstDone();
        if (this.stopped) break;
        this.rv = '';
        quickCloses = 0;
        if (err instanceof Gone || statusOf(err) === 410) {
          // The resourceVersion was compacted away: only a fresh list can tell what changed.
          if (gones++ === 0) {
            this.o.log(`kubernetes discovery: resourceVersion expired (410 Gone), re-listing pods`);
            continue;
          }
        } else if (err instanceof WatchFailed && !watchRetried) {
          // Re-list at once: if the API is really down, the list says why, with the server's words.
          watchRetried = true;
          continue;
        }
        const delay = backoffMs(this.o.backoff, this.failures++, this.rng);
        this.reportError(err instanceof WatchFailed ? err.cause : err, delay);
        await this.sleep(delay);
      }
    }
  }

  /** Lists every matching pod (paged) and brings the fleet in line with it. */
  private async relist(): Promise<void> {
    const items: V1Pod[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.api.listNamespacedPod({ namespace: this.namespace, labelSelector: this.o.selector, limit: this.o.pageSize, _continue: cont });
      items.push(...page.items);
      cont = page.metadata?._continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont && !this.stopped);
    if (this.stopped) return;
    this.counts.lists++;
    const seen = new Set<string>();
    for (const pod of items) {
      seen.add(podKey(pod));
      this.apply(pod);
    }
    // Pods deleted while nobody was watching.
    for (const key of [...this.pods.keys()]) if (!seen.has(key)) this.deleted(key);
    this.rv = rv;
    if (!this.synced) {
      this.synced = true;
      const s = this.status();
      this.o.log(`kubernetes discovery: ${s.pods} pod(s) match "${this.o.selector}" in namespace ${this.namespace}, ${s.ready} ready (API server ${this.server})`);
    }
  }

  /**
   * One watch from the current resourceVersion until the server or the network ends it (a cut
   * connection ends it cleanly too: the next watch resumes from the same resourceVersion, and
   * the server replays what was missed or answers 410). "quick" = ended at once, eventless.
   */
  private watchOnce(established: () => void): Promise<'ended' | 'quick'> {
    const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`;
    const timeoutSeconds = Math.round(this.o.watchTimeoutS * (1 + this.rng.next()));
    const started = Date.now();
    let events = 0;
    let failure: Error | undefined;
    let done = false;
    return new Promise<'ended' | 'quick'>((resolve, reject) => {
      const onEvent = (type: string, obj: unknown): void => {
        events++;
        try {
          this.event(type, obj);
        } catch (err) {
          failure = err as Error;
          this.ctl?.abort();
        }
      };
      const onDone = (err: unknown): void => {
        done = true;
        this.ctl = undefined;
        if (this.stopped) resolve('ended');
        else if (failure) reject(failure);
        else if (err) reject(new WatchFailed(err));
        else resolve(events > 0 || Date.now() - started >= 1000 ? 'ended' : 'quick');
      };
      this.counts.watches++;
      void this.watcher.watch(path, { labelSelector: this.o.selector, resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds }, onEvent, onDone).then((ctl) => {
        if (this.stopped) ctl.abort();
        else if (!done) {
          this.ctl = ctl;
          established();
        }
      });
    });
  }

  private event(type: string, obj: unknown): void {
    const o = obj as { metadata?: { resourceVersion?: string }; code?: number; message?: string; reason?: string };
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.apply(obj as V1Pod);
        break;
      case 'DELETED':
        this.deleted(podKey(obj as V1Pod));
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (o.code === 410) throw new Gone(o.message ?? 'resourceVersion too old');
        throw Object.assign(new Error(`watch error: ${o.reason ?? ''} ${o.message ?? ''}`.trim()), { statusCode: o.code });
      default:
        return;
    }
    const rv = o.metadata?.resourceVersion;
    if (rv) this.rv = rv;
  }

  private apply(pod: V1Pod): void {
    const key = podKey(pod);
    const st = podState(pod, this.o.mapping);
    const t = this.pods.get(key) ?? { ready: false };
    this.pods.set(key, t);
    if (st.ready) {
      t.invalid = undefined;
      if (t.spec && !sameSpec(t.spec, st.spec)) {
        this.fleet.remove(key);
        this.o.log(`kubernetes discovery: - ${key} (${t.spec.url}): its address or labels changed`);
        t.spec = undefined;
      }
      if (!t.ready || !t.spec) {
        this.fleet.add({ key, spec: st.spec });
        this.o.log(`kubernetes discovery: + ${key} ${st.spec.url}${describeLabels(st.spec)}${t.spec ? ' (ready again)' : ''}`);
        t.spec = st.spec;
      }
      t.ready = true;
      return;
    }
    if ('invalid' in st && t.invalid !== st.why) {
      t.invalid = st.why;
      this.o.log(`kubernetes discovery: skipping ${st.why}`);
    }
    if (t.ready && t.spec) {
      this.fleet.drain(key);
      this.o.log(`kubernetes discovery: drain ${key} (${st.why}): in-flight requests finish, no new ones`);
    }
    t.ready = false;
  }

  private deleted(key: string): void {
    const t = this.pods.get(key);
    if (!t) return;
    this.pods.delete(key);
    if (t.spec) {
      this.fleet.remove(key);
      this.o.log(`kubernetes discovery: - ${key} (${t.spec.url}): pod deleted`);
    }
  }

  private recovered(): void {
    if (this.lastError !== null) this.o.log(`kubernetes discovery: recovered after ${this.failures} failed attempt(s); watching from resourceVersion ${this.rv || '(fresh list)'}`);
    this.lastError = null;
    this.lastErrorKind = undefined;
    this.failures = 0;
  }

  /** One line per distinct error, naming the fix when the cause is known. */
  private reportError(err: unknown, delayMs: number): void {
    const msg = explain(err, this.namespace, this.server);
    // A failing list and a failing watch word the same cause differently: one line per cause.
    const code = (err as { code?: unknown }).code;
    const kind = String(statusOf(err) ?? (typeof code === 'string' || typeof code === 'number' ? code : msg));
    const changed = kind !== this.lastErrorKind;
    this.lastError = msg;
    this.lastErrorKind = kind;
    if (!changed) return;
    let workers = 0;
    for (const t of this.pods.values()) if (t.ready && t.spec) workers++;
    this.o.log(`kubernetes discovery: ${msg}; keeping the last known ${workers} worker(s), retrying in ${(delayMs / 1000).toFixed(1)} s (with backoff)`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

function describeLabels(s: WorkerSpec): string {
  const parts = [s.gpu && `gpu=${s.gpu}`, s.profile && `profile=${s.profile}`, s.model && `model=${s.model}`, s.costUsdPerHour !== undefined && `cost=${s.costUsdPerHour}`, s.role && `role=${s.role}`].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** HTTP status of a failed list (ApiException.code) or watch (statusCode), if any. */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

/** The API server's own message from a Status body, when the error carries one. */
function serverMessage(err: unknown): string | undefined {
  const body = (err as { body?: unknown }).body;
  let o: unknown = body;
  if (typeof body === 'string') {
    try {
      o = JSON.parse(body);
    } catch {
      return body.slice(0, 300) || undefined;
    }
  }
  const m = (o as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : undefined;
}

export function explain(err: unknown, namespace: string, server: string): string {
  const status = statusOf(err);
  const said = serverMessage(err);
  if (status === 403) {
    return `forbidden (HTTP 403${said ? `: ${said}` : ''}): the service account needs get, list and watch on pods in namespace "${namespace}" (the chart's Role in deploy/helm/router/templates/rbac.yaml)`;
  }
  if (status === 401) return `unauthorized (HTTP 401): the API server ${server} rejected the credentials (service-account token or kubeconfig user)`;
  if (status === 404) return `not found (HTTP 404${said ? `: ${said}` : ''}): does namespace "${namespace}" exist on ${server}?`;
  if (status !== undefined) return `HTTP ${status} from ${server}${said ? `: ${said}` : ''}`;
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message ?? String(err);
  if (typeof code === 'string') return `cannot reach the API server ${server} (${code})`;
  return `list/watch failed: ${message.split('\n')[0]}`;
}
