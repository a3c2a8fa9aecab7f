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
  /** Interval of timeseries.csv rows, simulated seconds. */
  timeseriesIntervalS: 1,
  /** Wall seconds between plain progress lines on stderr (no dashboard). */
  progressIntervalS: 5,
  /** Live dashboard refresh period, ms, and the range `+`/`-` move it in. */
  dashboardRefreshMs: { initial: 250, min: 100, max: 4000 },
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
  },
} as const;
