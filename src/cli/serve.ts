import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { createPolicy, parsePolicyOptions } from '../routing/registry.js';
import type { Policy } from '../routing/types.js';
import { policyFromFlags } from './policy-config.js';
import { parseSlo } from '../metrics/slo.js';
import { UserError } from '../util/errors.js';
import { ServeApp, type ServeOptions } from '../serve/server.js';
import { tuneHeapGrowth } from '../serve/gc-tuning.js';
import { parseServeConfig, parseWorkersFlag, type WorkerSpec } from '../serve/worker-spec.js';
import { TOKENIZERS, type TokenizerName } from '../serve/tokenize.js';
import { collect, parseNumberFlag, parsePortFlag, runAction } from './errors.js';
import { loadSloProfiles } from './profile-aibrix.js';
import { completeServeSloOptions, usesSloTables } from './profile-aibrix-derive.js';
import { checkRedisUrl, startRedisProfiles } from '../serve/profiles-redis.js';
import { kubernetesOptionsFromFlags, type KubernetesFlags } from '../serve/discovery/options.js';
import { tracingFromEnv } from '../serve/tracing.js';
import { KvEventSubscriptions } from '../serve/kv-events/subscriptions.js';
import { createPolicyEnv } from '../routing/env.js';
import { addServeStateOptions, serveStateFromFlags, type ServeStateFlags } from './serve-state.js';
import { splitPools, type PdFlags } from '../serve/pd/config.js';
import { addAdmissionOptions, admissionFromFlags, type AdmissionFlags } from './admission-options.js';

export interface ServeFlags extends KubernetesFlags, Partial<ServeStateFlags>, PdFlags, AdmissionFlags {
  dashboard?: boolean;
  workers?: string;
  config?: string;
  host: string;
  port: string;
  policy?: string;
  policyOpt: string[];
  policyConfig?: string;
  seed: string;
  apiKey?: string;
  adminKey?: string;
  maxAttempts: string;
  retryBackoffMs: string;
  retryMaxBackoffMs: string;
  breakerFailures: string;
  breakerSuccesses: string;
  breakerOpen: string;
  healthInterval: string;
  healthTimeout: string;
  healthFailures: string;
  healthSuccesses: string;
  healthPath: string;
  scrapeInterval: string;
  requestTimeout: string;
  idleTimeout: string;
  connectTimeout: string;
  maxBodyBytes: string;
  maxBytesInFlight: string;
  clientHeaderTimeout: string;
  clientBodyTimeout: string;
  maxConnections: string;
  maxConnectionsPerClient: string;
  firstByteTimeout: string;
  stallTimeout: string;
  workerHeader?: boolean;
  protectOps?: boolean;
  drainTimeout: string;
  connections: string;
  upstreamClient: string;
  defaultMaxTokens: string;
  tokenizer: string;
  record?: string;
  recordText?: boolean;
  slo?: string;
  sloProfile: string[];
  profilesRedis?: string;
  log: string;
}

const S = DEFAULTS.serve;

function tokenizerFlag(raw: string): TokenizerName {
  if (!(TOKENIZERS as readonly string[]).includes(raw)) throw new UserError(`--tokenizer ${raw}: expected one of ${TOKENIZERS.join(', ')}`);
  return raw as TokenizerName;
}

function upstreamClientFlag(raw: string): 'h1' | 'undici' {
  if (raw !== 'h1' && raw !== 'undici') throw new UserError(`--upstream-client ${raw}: expected h1 or undici`);
  return raw;
}

/** Turns flags (and an optional config file) into server options; every mistake names its flag. */
export function serveOptionsFromFlags(f: ServeFlags): ServeOptions {
  const num = (flag: string, raw: string, o: { min?: number; integer?: boolean } = {}): number => parseNumberFlag(flag, raw, o);
  const cfg = f.config ? parseServeConfig(f.config) : undefined;
  const configured: WorkerSpec[] = [...(cfg?.workers ?? []), ...(f.workers ? parseWorkersFlag(f.workers) : [])];
  if (configured.length === 0 && f.k8sSelector === undefined && !f.prefill && !f.decode) throw new UserError('serve: give the upstream engines with --workers URL[,URL...], --config FILE or --k8s-selector LABELS');
  const policyName = f.policy ?? cfg?.policy ?? DEFAULTS.policy;
  // A precise-prefix scorer reads the workers' KV event streams (kv_events= labels).
  const kvEvents = new KvEventSubscriptions();
  // --state: session pins are read through the policy's env (other shared state through the Router).
  const state = serveStateFromFlags({ state: f.state, statePrefix: f.statePrefix ?? DEFAULTS.replicas.keyPrefix, stateReplicaId: f.stateReplicaId, stateSyncInterval: f.stateSyncInterval ?? String(DEFAULTS.replicas.syncIntervalS), stateShareRouting: f.stateShareRouting }, (line) => process.stderr.write(`router serve: ${line}\n`));
  const policyEnv = (): ReturnType<typeof createPolicyEnv> => {
    const env = createPolicyEnv(kvEvents.indexFactory());
    if (state) {
      env.sessionPins = state;
      state.shareRouting(env);
    }
    return env;
  };
  // Each pool gets its own instance: policies keep per-pool state.
  const policyNamed = (name: string | undefined): Policy =>
    name === undefined && f.policyConfig
      ? policyFromFlags({ policy: policyName, policyOpt: f.policyOpt, policyConfig: f.policyConfig }, policyEnv())
      : createPolicy(name ?? policyName, { ...(cfg?.policyOpts ?? {}), ...parsePolicyOptions(f.policyOpt) }, policyEnv());
  const pools = splitPools(configured, f, policyNamed, DEFAULTS.serve.recordBlockTokens);
  const workers = pools.decode;
  const policy = pools.decodePolicy ?? policyNamed(undefined);
  const slo = f.slo === undefined ? undefined : parseSlo(f.slo);
  let logWrite: ((s: string) => void) | undefined;
  if (f.log === '-') {
    // A log reader that goes away must not take the proxy down: logging just stops.
    let open = true;
    process.stdout.on('error', () => (open = false));
    logWrite = (s) => {
      if (open) process.stdout.write(s);
    };
  }
  else if (f.log !== 'off') {
    const stream = createWriteStream(f.log, { flags: 'a' });
    stream.on('error', (err) => process.stderr.write(`router serve: --log ${f.log}: ${err.message}\n`));
    logWrite = (s) => stream.write(s);
  }
  const apiKey = f.apiKey ?? process.env.ROUTER_API_KEY;
  const adminKey = f.adminKey ?? process.env.ROUTER_ADMIN_KEY;
  if (apiKey === '') throw new UserError('--api-key: must not be empty');
  if (adminKey === '') throw new UserError('--admin-key: must not be empty');
  return {
    host: f.host,
    port: parsePortFlag('--port', f.port),
    workers,
    policy,
    seed: num('--seed', f.seed, { integer: true }),
    apiKey,
    adminKey,
    admission: admissionFromFlags(f),
    maxAttempts: num('--max-attempts', f.maxAttempts, { integer: true, min: 1 }),
    backoff: {
      initialMs: num('--retry-backoff-ms', f.retryBackoffMs, { min: 0 }),
      maxMs: num('--retry-max-backoff-ms', f.retryMaxBackoffMs, { min: 0 }),
      multiplier: S.retryBackoffMultiplier,
      jitter: S.retryJitter,
    },
    breaker: {
      failureThreshold: num('--breaker-failures', f.breakerFailures, { integer: true, min: 0 }),
      successThreshold: num('--breaker-successes', f.breakerSuccesses, { integer: true, min: 1 }),
      openS: num('--breaker-open', f.breakerOpen, { min: 0 }),
    },
    health: {
      path: f.healthPath.startsWith('/') ? f.healthPath : `/${f.healthPath}`,
      intervalMs: num('--health-interval', f.healthInterval, { min: 0 }) * 1000,
      timeoutMs: num('--health-timeout', f.healthTimeout, { min: 0.001 }) * 1000,
      failureThreshold: num('--health-failures', f.healthFailures, { integer: true, min: 1 }),
      successThreshold: num('--health-successes', f.healthSuccesses, { integer: true, min: 1 }),
    },
    scrapeIntervalMs: num('--scrape-interval', f.scrapeInterval, { min: 0 }) * 1000,
    requestTimeoutMs: num('--request-timeout', f.requestTimeout, { min: 0.001 }) * 1000,
    idleTimeoutMs: num('--idle-timeout', f.idleTimeout, { min: 0.001 }) * 1000,
    connectTimeoutMs: num('--connect-timeout', f.connectTimeout, { min: 0.001 }) * 1000,
    maxBodyBytes: num('--max-body-bytes', f.maxBodyBytes, { integer: true, min: 1 }),
    drainBodyBytes: S.drainBodyBytes,
    maxBytesInFlight: num('--max-bytes-in-flight', f.maxBytesInFlight, { integer: true, min: 1 }),
    headerTimeoutMs: num('--client-header-timeout', f.clientHeaderTimeout, { min: 0.001 }) * 1000,
    bodyTimeoutMs: num('--client-body-timeout', f.clientBodyTimeout, { min: 0.001 }) * 1000,
    maxConnections: num('--max-connections', f.maxConnections, { integer: true, min: 1 }),
    maxConnectionsPerClient: num('--max-connections-per-client', f.maxConnectionsPerClient, { integer: true, min: 0 }),
    firstByteTimeoutMs: num('--first-byte-timeout', f.firstByteTimeout, { min: 0 }) * 1000,
    stallTimeoutS: num('--stall-timeout', f.stallTimeout, { min: 0 }),
    workerHeader: f.workerHeader === true,
    protectOps: f.protectOps === true,
    drainTimeoutMs: num('--drain-timeout', f.drainTimeout, { min: 0 }) * 1000,
    connections: num('--connections', f.connections, { integer: true, min: 1 }),
    upstreamClient: upstreamClientFlag(f.upstreamClient),
    defaultMaxTokens: num('--default-max-tokens', f.defaultMaxTokens, { integer: true, min: 1 }),
    tokenizer: tokenizerFlag(f.tokenizer),
    record: f.record ? { path: f.record, withText: f.recordText === true, blockTokens: S.recordBlockTokens } : undefined,
    slo: slo ? { ttftMs: slo.ttftMs, tpotMs: slo.tpotMs, e2eMs: slo.e2eMs, tpatMs: slo.tpatMs } : undefined,
    sloProfiles: f.sloProfile.length > 0 ? loadSloProfiles(f.sloProfile) : undefined,
    rollingWindowS: S.rollingWindowS,
    retryAfterS: S.retryAfterS,
    logWrite,
    discovery: f.k8sSelector !== undefined,
    kvEvents,
    state,
    pd: pools.pd,
  };
}

export function registerServe(program: Command): void {
  addServeStateOptions(addAdmissionOptions(program
    .command('serve')
    .description('Run an OpenAI-compatible router in front of vLLM/SGLang engines, with the same policies as `simulate`'), 'serve'))
    .option('--workers <list>', 'upstream engines: URL[;gpu=G;profile=P;model=M;cost=USD_PER_HOUR;name=N;api_key=K;kv_events=tcp://HOST:PORT][,URL...] (kv_events: the engine\'s KV event publisher, read by the precise-prefix policy)')
    .option('--config <file>', 'YAML/JSON: {workers: [{url, name, gpu, profile, model, cost, api_key, kv_events}], policy, policy_opts}')
    .option('--host <addr>', 'address to listen on', S.host)
    .option('--port <n>', 'port to listen on (0 = any free port)', String(S.port))
    .option('--prefill <url...>', 'disaggregated serving: prefill engines, URL[;labels] (a bare port after a URL is its SGLang bootstrap port, as sgl-router\'s --prefill URL [PORT]); repeatable')
    .option('--decode <url...>', 'disaggregated serving: decode engines, URL[;labels]; repeatable (role=prefill|decode|both in --workers/--config does the same)')
    .option('--pd-protocol <name>', 'disaggregation protocol: vllm (NIXL connector: prefill with kv_transfer_params, then decode) or sglang (prefill and decode at once with bootstrap_host/port/room); default vllm')
    .option('--prefill-policy <name>', 'policy choosing the prefill worker (default: --policy)')
    .option('--decode-policy <name>', 'policy choosing the decode worker (default: --policy)')
    .option('--pd-threshold <tokens>', 'disaggregate only requests whose prompt has at least this many tokens the decode worker does not hold yet; shorter ones prefill on the decode worker (llm-d\'s decider; vllm only; default 0 = always)')
    .option('--policy <name>', `routing policy (see \`router policies\`; default ${DEFAULTS.policy})`)
    .option('--policy-opt <k=v>', 'policy option, repeatable', collect, [])
    .option('--policy-config <file>', 'YAML/JSON policy: a filter → scorer → picker profile, or {policy, options} (see docs/policies.md)')
    .option('--seed <n>', 'seed of the router and retry jitter', String(DEFAULTS.seed))
    .option('--api-key <key>', 'require "Authorization: Bearer KEY" on /v1/* (or env ROUTER_API_KEY)')
    .option('--admin-key <key>', 'enable the admin API (GET/POST/DELETE /workers) behind this bearer key (or env ROUTER_ADMIN_KEY)')
    .option('--max-attempts <n>', 'upstream attempts per request, first included (1 = no retry)', String(S.retryMaxAttempts))
    .option('--retry-backoff-ms <ms>', 'first retry delay; grows x1.5 per retry with ±20% jitter', String(S.retryInitialBackoffMs))
    .option('--retry-max-backoff-ms <ms>', 'longest retry delay', String(S.retryMaxBackoffMs))
    .option('--breaker-failures <n>', 'consecutive failures that open a worker\'s circuit breaker (0 = never)', String(S.breakerFailureThreshold))
    .option('--breaker-successes <n>', 'half-open probe successes that close it', String(S.breakerSuccessThreshold))
    .option('--breaker-open <s>', 'seconds a breaker stays open before a probe', String(S.breakerOpenS))
    .option('--health-interval <s>', 'seconds between health checks (0 = off)', String(S.healthIntervalS))
    .option('--health-timeout <s>', 'health check timeout', String(S.healthTimeoutS))
    .option('--health-failures <n>', 'failed checks that mark a worker unhealthy', String(S.healthFailureThreshold))
    .option('--health-successes <n>', 'passed checks that mark it healthy again', String(S.healthSuccessThreshold))
    .option('--health-path <path>', 'health endpoint on each worker', S.healthPath)
    .option('--scrape-interval <s>', 'seconds between engine /metrics scrapes (0 = off)', String(S.scrapeIntervalS))
    .option('--request-timeout <s>', 'longest a request may take end to end', String(S.requestTimeoutS))
    .option('--idle-timeout <s>', 'longest silence from a worker (headers or between body bytes)', String(S.idleTimeoutS))
    .option('--connect-timeout <s>', 'upstream connect timeout', String(S.connectTimeoutS))
    .option('--max-body-bytes <n>', 'largest request body accepted (413 above)', String(S.maxBodyBytes))
    .option('--max-bytes-in-flight <n>', 'request-body bytes held at once across all requests (503 beyond)', String(S.maxBytesInFlight))
    .option('--client-header-timeout <s>', 'seconds a client gets to send its request headers', String(S.clientHeaderTimeoutS))
    .option('--client-body-timeout <s>', 'seconds a client gets to send its whole request body', String(S.clientBodyTimeoutS))
    .option('--max-connections <n>', 'open client connections at most (new ones are refused beyond)', String(S.maxConnections))
    .option('--max-connections-per-client <n>', 'open connections per client address (429 beyond; 0 = no limit)', String(S.maxConnectionsPerClient))
    .option('--first-byte-timeout <s>', 'streams: seconds to wait for a worker\'s first byte before trying another (0 = off)', String(S.firstByteTimeoutS))
    .option('--stall-timeout <s>', 'eject a worker that holds requests this long without a byte while others answer (0 = off)', String(S.stallTimeoutS))
    .option('--worker-header', 'name the answering worker in an x-router-worker response header (off: names may be internal host:port)')
    .option('--protect-ops', 'require the --api-key on /metrics and /readiness too')
    .option('--drain-timeout <s>', 'on SIGTERM, seconds in-flight requests get to finish', String(S.drainTimeoutS))
    .option('--connections <n>', 'keep-alive connections per worker', String(S.upstreamConnections))
    .option('--upstream-client <name>', 'client of requests to http: workers: h1 (serve\'s lean HTTP/1.1 client) or undici (https: workers always use undici)', S.upstreamClient)
    .option('--default-max-tokens <n>', 'output length recorded for requests without max_tokens', String(S.defaultMaxTokens))
    .option('--tokenizer <name>', `prompt token counting: fast (a few µs, ~1.1x Llama 3 counts) or llama3 (exact Llama 3 BPE + chat template, slower)`, S.tokenizer)
    .option('--record <file>', 'write live traffic as a native JSONL trace (replay with `router simulate --trace FILE`)')
    .option('--record-text', 'include prompt text in the recorded trace')
    .option('--slo <spec>', `SLO carried by every request and checked per request, e.g. ttft_ms=2000,tpot_ms=50 (slo* policies: default ${DEFAULTS.slo}); x-slo-ttft-ms, x-slo-tpot-ms, x-slo-e2e-ms, x-slo-tpat-ms request headers override it per request`)
    .option('--slo-profile <path>', 'AIBrix ModelGPUProfile file or directory for the slo* policies, matched to workers by their profile label, else gpu; repeatable. Without one, tables are derived from each worker\'s gpu/profile label and cached', collect, [])
    .option('--profiles-redis <url>', 'read AIBrix profiles from Redis keys aibrix:profile_<model>_<deployment> (as the AIBrix gateway does), matched to workers by deployment name; reloaded on change (keyspace notifications, plus a rescan every 10 s)')
    .option('--log <dest>', 'JSON request log: - (stdout), a file, or off', '-')
    .option('--k8s-selector <labels>', 'discover workers: Running+Ready pods matching this label selector (e.g. app=vllm), listed then watched through the Kubernetes API')
    .option('--k8s-namespace <ns>', 'namespace of the pods (default: the kubeconfig context\'s, in-cluster the router pod\'s own)')
    .option('--k8s-port <n>', `engine port on each pod (default ${DEFAULTS.kubernetes.port})`)
    .option('--k8s-port-annotation <key>', 'pod annotation (or label) holding the engine port, overriding --k8s-port')
    .option('--k8s-role-label <key>', `pod label (or annotation) holding the worker role (default ${DEFAULTS.kubernetes.roleLabel})`)
    .option('--k8s-label-prefix <prefix>', `worker labels from pod annotations/labels <prefix>gpu, profile, model, cost, name (default ${DEFAULTS.kubernetes.labelPrefix})`)
    .option('--k8s-retry-max <s>', `longest wait between failed list/watch attempts (default ${DEFAULTS.kubernetes.retryMaxS})`)
    .option('--dashboard', 'live terminal dashboard (only on a TTY and not with CI=true; a log to stdout is turned off while it is shown)')
    .action((flags: ServeFlags) =>
      runAction(async () => {
        // Before any load: fewer mark-compacts, and so fewer event-loop stalls (gc-tuning.ts).
        tuneHeapGrowth(DEFAULTS.serve.heapGrowingPercent);
        const dashboard = flags.dashboard === true && process.stdout.isTTY && process.env.CI !== 'true';
        // The JSON log would scribble over the dashboard's screen.
        if (dashboard && flags.log === '-') flags.log = 'off';
        const serveLog = (line: string): void => void process.stderr.write(`router serve: ${line}\n`);
        const k8s = kubernetesOptionsFromFlags(flags, parseNumberFlag('--seed', flags.seed, { integer: true }), serveLog);
        const options = serveOptionsFromFlags(flags);
        const withEvents = options.workers.filter((w) => w.kvEvents !== undefined).length;
        if (withEvents > 0 && options.kvEvents?.used !== true) serveLog(`note: ${withEvents} worker(s) have kv_events but policy ${options.policy.name} does not read KV events (the precise-prefix policy or scorer does): not subscribing`);
        await completeServeSloOptions(options, flags.slo, (line) => process.stderr.write(`${line}\n`));
        const app = new ServeApp({ ...options, tracing: await tracingFromEnv() });
        const redis = flags.profilesRedis === undefined ? undefined : await startRedisProfiles(app, checkRedisUrl(flags.profilesRedis, '--profiles-redis'), options.sloProfiles ?? [], serveLog);
        if (usesSloTables(app.router.policyName) && !app.router.workers.some((v) => v.sloProfile?.hasLoadModel)) {
          process.stderr.write(`router: note: no worker's AIBrix SLO tables have an e2e table (the load model needs one), so ${app.router.policyName} routes everything through its fallback\n`);
        }
        // Loaded only when asked for: the client library costs startup time.
        const discovery = k8s ? (await import('../serve/discovery/start.js')).createKubernetesDiscovery(app, k8s) : undefined;
        const addr = await app.listen();
        const url = `http://${addr.address}:${addr.port}`;
        void discovery?.start();
        const pdNote = app.pd ? `; ${app.pd.workers.length} prefill workers, policy ${app.pd.router.policyName}, ${app.pd.o.protocol} protocol` : '';
        if (!dashboard) process.stderr.write(`router serve: listening on ${url} (${app.workers.length} workers, policy ${app.router.policyName}${pdNote})\n`);
        let dash: { stop: () => Promise<void> } | undefined;
        await new Promise<void>((resolve) => {
          let signals = 0;
          const stop = (sig: string): void => {
            signals++;
            if (signals === 2) {
              // A second signal: end what is left now, as cleanly as the drain deadline would.
              process.stderr.write(`router serve: ${sig} again, ending ${app.router.inFlightTotal + app.queueLength()} request(s) now\n`);
              void app.shutdown();
              return;
            }
            if (signals > 2) process.exit(130);
            const closing = dash ? dash.stop() : Promise.resolve();
            dash = undefined;
            void closing.then(() => drain(sig));
          };
          const drain = (sig: string): void => {
            process.stderr.write(`router serve: ${sig}, draining ${app.router.inFlightTotal + app.queueLength()} in-flight request(s)\n`);
            void (discovery ? discovery.stop() : Promise.resolve()).then(() => redis?.stop()).then(() => app.shutdown()).then(({ drained, cut }) => {
              process.stderr.write(drained ? 'router serve: drained, bye\n' : `router serve: cut ${cut} request(s) (drain deadline or second signal)\n`);
              resolve();
            });
          };
          process.on('SIGTERM', () => stop('SIGTERM'));
          process.on('SIGINT', () => stop('SIGINT'));
          if (dashboard) {
            // ink costs about a second to load: only dashboard runs pay for it.
            void Promise.all([import('../tui/serve-app.js'), import('../tui/serve-live.js')]).then(([ui, live]) => {
              dash = ui.startServeDashboard({ snapshot: live.serveDashboardFeed(app, url), onQuit: () => stop('q') });
            });
          }
        });
      }),
    );
}
