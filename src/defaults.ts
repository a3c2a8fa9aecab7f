/**
 * Every default the toolkit uses, in one place. CLI help, fleet parsing, the engine and the
 * router all read from here, so a default is changed once.
 */
export const DEFAULTS = {
  seed: 42,
  /** Model used when a fleet entry names only a GPU (`--fleet l20:4`). */
  model: 'llama-3.1-8b',
  /** Default fleet for `router simulate` with no `--fleet`. */
  fleet: 'l20:4',
  /** Default trace for `router simulate` with no `--trace`, relative to the package root. */
  trace: 'traces/default.jsonl',
  policy: 'least-request',
  /** Seconds between engine-metric scrapes seen by the router; 0 = perfect information. */
  scrapeIntervalS: 1,
  /**
   * `simulate --kv-event-lag`: delay of the engines' KV events to the router's precise index,
   * seconds. vLLM publishes each step's events when the step ends and ZMQ on a LAN adds well under
   * a millisecond, so the default is none; the flag studies slower paths.
   */
  kvEventLagS: 0,
  /** Interval of timeseries.csv rows, simulated seconds. */
  timeseriesIntervalS: 1,
  /** Wall seconds between plain progress lines on stderr (no dashboard). */
  progressIntervalS: 5,
  /** Live dashboard refresh period, ms, and the range `+`/`-` move it in (a frame costs ~10-20 ms of CPU: ink re-lays-out the whole screen). */
  dashboardRefreshMs: { initial: 500, min: 250, max: 4000 },
  workload: {
    /** Requests (or sessions) per second imposed on traces without timestamps (ShareGPT, BIRD) when no --rate is given. */
    untimedRateRps: 10,
    /** Mean think time between the turns of a multi-turn session, seconds (exponential). */
    thinkTimeS: 20,
    /** Block size for `trace stats` prefix reuse: the engine's default block. */
    statsBlockTokens: 16,
    /** `router trace synth`; the shared-prefix group sizes are SGLang's generated-shared-prefix defaults. */
    synth: {
      count: 1000,
      rateRps: 10,
      inputLen: 'lognormal:512:1:8192',
      outputLen: 'lognormal:256:0.8:4096',
      promptsPerGroup: 16,
      systemPromptTokens: 2048,
      questionTokens: 128,
    },
  },
  /**
   * `profile export-aibrix` grid, like AIBrix's gpu_benchmark/gen_profile sweep (in/out 4–4096,
   * 1–64 RPS in powers of two, 100 Poisson requests per point); outputs capped at 1024 and inputs
   * at 8192 so a fleet of 8B-class GPUs sweeps in seconds.
   */
  /**
   * SLO the slo* policies plan for, and runs are judged by, when no --slo is given: AIBrix's
   * heterogeneous-GPU scenario (docs/source/features/heterogeneous-gpu.rst), P99 time per output
   * token <= 50 ms. Tables derived for it are cached per deployment (see `sloTableCache`).
   */
  slo: 'tpot_ms=50,percentile=99',
  /** Where derived SLO tables are cached when $ROUTER_CACHE_DIR is unset (under the home directory). */
  cacheDir: '.cache/router',
  aibrixSweep: {
    outputs: [4, 8, 16, 32, 64, 128, 256, 512, 1024],
    inputs: [128, 256, 512, 1024, 2048, 4096, 8192],
    rates: [1, 2, 4, 8, 16, 32, 64],
    /**
     * Rates the slo* policies' derived tables are swept at: steps of √2 instead of 2, so a cell's
     * capacity (the highest rate that passed) is underestimated by at most 1.41x, not 2x; from
     * 0.25 req/s so a cell that fails at 1 req/s still gets a measured rate. Cells stop at their
     * first failing rate, so the finer grid costs little.
     */
    derivedRates: [0.25, 0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8, 11.3, 16, 22.6, 32, 45.3, 64],
    samples: 100,
    /** gen_profile drops a rate whose measured throughput is below this fraction of it. */
    minTputFraction: 0.9,
  },
  engine: {
    maxNumSeqs: 256,
    /** vLLM's online-serving default: 8192 on GPUs with ≥ 70 GiB, else 2048. */
    maxNumBatchedTokensSmallGpu: 2048,
    maxNumBatchedTokensLargeGpu: 8192,
    largeGpuGib: 70,
    blockSize: 16,
    gpuMemoryUtilization: 0.9,
    enablePrefixCaching: true,
    /** vLLM 0.19 `scheduler_reserve_full_isl`: admit a prompt only if its whole input fits in KV. */
    reserveFullPrompt: true,
    /** LoRA (engine `max_loras` turns it on; src/engine/lora.ts). */
    lora: {
      /** vLLM `--max-lora-rank` default: adapters are sized at this rank. */
      maxLoraRank: 16,
      /**
       * Host→GPU copy rate of an adapter from vLLM's CPU adapter cache, GB/s: pinned-memory copies
       * reach ~25 of PCIe Gen4 x16's 32 GB/s per direction (every GPU here has at least Gen4).
       */
      hostLinkGbps: 25,
      /** Per-load fixed cost (slot bookkeeping, punica metadata, one sync), ms: an estimate, no measurement behind it. */
      loadOverheadMs: 2,
    },
  },
  /**
   * Prefill/decode disaggregation in the simulator (docs/pd.md has the sources). Default KV links
   * come from each GPU's `interconnect_gbps` in profiles/hardware.json, which states NVLink and
   * PCIe bandwidth in both directions together: one transfer goes one way, so it gets half.
   */
  pd: {
    /** `--pd-threshold`: uncached prompt tokens from which a request is disaggregated (0 = always, llm-d's decider with nonCachedTokens 0). */
    thresholdTokens: 0,
    /** GPUs of one type per node when the simulator places a fleet in fleet order (DGX/HGX H100: 8). */
    gpusPerNode: 8,
    /** Share of the stated (bidirectional) interconnect bandwidth one one-way transfer gets. */
    oneWayShare: 0.5,
    /** Across nodes: one 400 Gb/s ConnectX-7 NIC per GPU (DGX H100) = 50 GB/s. */
    rdmaGbps: 50,
    /** Fixed cost of one transfer: NIXL/UCX handshake and first byte, µs (order of magnitude, see docs/pd.md). */
    sameNodeLatencyUs: 20,
    rdmaLatencyUs: 50,
    /** Send layer i while layer i+1 is computed (vLLM NIXL and Mooncake send after the prefill: off). */
    layerwise: false,
  },
  /** `router plan`: the fleet × policy search. */
  plan: {
    targetAttainment: 0.99,
    /** Most workers a composition may have (`--max-gpus`). */
    maxGpus: 8,
    /** Configurations simulated per search step (fixed, so the result does not depend on the thread count). */
    batchCells: 8,
    /** The capacity probe replays the workload this many times faster on one worker, so it backs up. */
    probeSpeedup: 16,
    /** Safety factor on probed capacities in the attainment bound (the probe's ramp and drain tail understate them). */
    boundMargin: 1.25,
  },
  /** `router serve`. Retry and breaker defaults follow sgl-router's CLI (research/sgl-router.md §2). */
  serve: {
    host: '127.0.0.1',
    port: 30000,
    /**
     * KV event subscriptions (`kv_events=` per worker): ZMTP heartbeats every second, a stream
     * silent 3 s after a ping counts as lost (the engine's host went away without closing);
     * reconnect after 100 ms, backing off to 2 s.
     */
    kvEvents: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, reconnectMs: 100, reconnectMaxMs: 2000 },
    /** Total attempts per request (1 = no retry), as sgl-router's `max_retries`. */
    retryMaxAttempts: 5,
    retryInitialBackoffMs: 50,
    retryMaxBackoffMs: 30000,
    retryBackoffMultiplier: 1.5,
    retryJitter: 0.2,
    breakerFailureThreshold: 10,
    breakerSuccessThreshold: 3,
    breakerOpenS: 60,
    healthIntervalS: 10,
    healthTimeoutS: 5,
    healthFailureThreshold: 3,
    healthSuccessThreshold: 2,
    healthPath: '/health',
    scrapeIntervalS: 1,
    requestTimeoutS: 1800,
    /** Longest silence allowed between upstream bytes (headers or body). */
    idleTimeoutS: 300,
    connectTimeoutS: 10,
    /**
     * Largest request body: a 1M-token prompt is ~4 MiB of text; bigger bodies cost a blocked
     * event loop and ~4x their size in memory for nothing an engine would accept.
     */
    maxBodyBytes: 4 * 1024 * 1024,
    /** After a 413, this much more of the body is read and dropped so the client reads the answer. */
    drainBodyBytes: 16 * 1024 * 1024,
    /** Request-body bytes held at once across all requests (503 beyond). */
    maxBytesInFlight: 512 * 1024 * 1024,
    /** Client side: seconds to send the request headers, and the whole body (slow-client defence). */
    clientHeaderTimeoutS: 10,
    clientBodyTimeoutS: 60,
    /** Open client connections (below the usual fd limit of 20k-ish), and per client address. */
    maxConnections: 16384,
    maxConnectionsPerClient: 1024,
    /** Streams: seconds an attempt may wait for its first body byte before another worker is tried. */
    firstByteTimeoutS: 120,
    /** Seconds a worker may hold requests without sending a byte while others answer (stall detection). */
    stallTimeoutS: 15,
    drainTimeoutS: 30,
    /** Keep-alive connections per worker pool. */
    upstreamConnections: 256,
    /** Timeout sweeps (request deadlines, upstream sockets) run every tenth of their shortest timeout, within these bounds. */
    timeoutSweepMs: { min: 10, max: 1000 },
    /**
     * Client of the attempts to http: workers: 'h1', serve's lean HTTP/1.1 client
     * (src/serve/upstream/h1-pool.ts), or 'undici'. https: workers always use undici.
     */
    upstreamClient: 'h1' as 'h1' | 'undici',
    /** `output_tokens` a request gets when it names no max_tokens (the router never sees it). */
    defaultMaxTokens: 256,
    /** Prompt tokenizer on the request path (src/serve/tokenize.ts): fast or llama3. */
    tokenizer: 'fast',
    /** Block size of the prefix hashes `--record` writes (`hash_ids`). */
    recordBlockTokens: 16,
    /** `--profiles-redis`: seconds between rescans of the aibrix:profile_* keys (AIBrix's gateway: 10). */
    profilesRedisPollS: 10,
    /** Seconds suggested in Retry-After when the router's queue is full. */
    retryAfterS: 1,
    /** Window of the rolling TTFT/TPOT/E2E percentiles in the live snapshot. */
    rollingWindowS: 60,
    /**
     * V8 old-generation growing factor serve sets at startup, percent over 1 (200 = the old
     * generation's limit is three times its live size, plus the young generation); 0 leaves V8's
     * dynamic factor. Why: src/serve/gc-tuning.ts.
     */
    heapGrowingPercent: 200,
  },
  /** `serve --k8s-selector`: Kubernetes pod discovery (docs/kubernetes.md). */
  kubernetes: {
    /** vLLM's default port; SGLang's is 30000. */
    port: 8000,
    /** Worker labels come from the pod's `router/gpu`, `router/model`, ... annotations or labels. */
    labelPrefix: 'router/',
    roleLabel: 'router/role',
    retryInitialMs: 500,
    retryMaxS: 30,
    retryMultiplier: 2,
    retryJitter: 0.2,
    /** Each watch asks the server to end it after 5-10 min (client-go's range), then resumes. */
    watchTimeoutS: 300,
    listPageSize: 500,
  },
  /** `router mock-worker` and `router replay` (the live side). */
  live: {
    host: '127.0.0.1',
    port: 8000,
    speedup: 1,
    /** Output length of a mock request that gives neither max_tokens nor max_completion_tokens. */
    mockDefaultMaxTokens: 256,
    /** Seconds a replayed request may take before it is abandoned. */
    requestTimeoutS: 600,
    /** Seconds between replay progress lines on stderr. */
    progressIntervalS: 5,
    /** Wall seconds a prefill mock keeps KV no decode has read (vLLM's VLLM_NIXL_ABORT_REQUEST_TIMEOUT: 480). */
    pdHoldS: 480,
    /** Wall seconds a decode mock's bootstrap lookup waits for the prefill of its room to appear. */
    pdBootstrapWaitS: 30,
  },
  /** Several router replicas sharing state (issue 15; docs/replicas.md). */
  replicas: {
    /** `serve --state`: seconds between a replica's writes of its own load and its reads of the others'. */
    syncIntervalS: 0.05,
    /** A replica's entries expire this long after its last write, so a crashed replica's load disappears. */
    entryTtlS: 3,
    /** Prefix of every key and channel in Redis (`--state-prefix`). */
    keyPrefix: 'router:',
    /** Seconds between reconnect attempts while Redis is unreachable. */
    reconnectS: 0.5,
    /** Shared session pins idle longer than this are dropped (session-affinity's idle_ttl_s default is 600). */
    pinRetentionS: 3600,
    /** `simulate --shared-state`: seconds between the modelled syncs (serve's sync interval). */
    simSyncS: 0.05,
    /**
     * `simulate --shared-state`: seconds from a replica's dispatch to the others replaying it in
     * their prefix indexes (serve publishes each event-loop turn's decisions at once: about one
     * Redis round trip on a LAN).
     */
    simRoutingDelayS: 0.002,
  },
} as const;
