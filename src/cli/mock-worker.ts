import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { parseEngineOverrides, resolveDeployment } from '../profiles/catalog.js';
import { METRICS_STYLES, type MetricsStyle } from '../mock/metrics.js';
import { startMockWorker, type MockFaults } from '../mock/server.js';
import { MOCK_TOKENIZERS, type MockTokenizer } from '../mock/tokenizer.js';
import { checkKvEventsEndpoint } from '../mock/kv-events.js';
import { parseLoraModules } from '../mock/lora.js';
import { UserError } from '../util/errors.js';
import { MOCK_ROLES, type MockRole } from '../mock/pd-role.js';
import { collect, parseNumberFlag, parsePortFlag, runAction } from './errors.js';

interface MockWorkerFlags {
  gpu?: string;
  model?: string;
  tp?: string;
  profile?: string;
  engine: string[];
  host: string;
  port: string;
  servedModelName?: string;
  speedup: string;
  metricsStyle: string;
  tokenizer: string;
  defaultMaxTokens: string;
  errorRate: string;
  stallMs: string;
  stallProb: string;
  crashAfter: string;
  slowStartMs: string;
  seed: string;
  kvEvents?: string;
  kvEventsTopic: string;
  role?: string;
  kvLinkGbps: string;
  kvLinkLatencyUs: string;
  loraModules: string[];
  maxLoras?: string;
  maxLoraRank?: string;
}

/** `--engine k=v` pairs as a vLLM-named engine object (numbers and true/false). */
export function parseEngineFlags(pairs: string[]): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UserError(`--engine "${p}": expected key=value (e.g. max_num_seqs=128)`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    out[k] = v === 'true' ? true : v === 'false' ? false : Number(v);
    if (typeof out[k] === 'number' && !Number.isFinite(out[k])) throw new UserError(`--engine ${k}: expected a number or true/false, got "${v}"`);
  }
  return out;
}

function fraction(flag: string, raw: string): number {
  const v = parseNumberFlag(flag, raw, { min: 0 });
  if (v > 1) throw new UserError(`${flag}: expected a number in [0, 1], got "${raw}"`);
  return v;
}

export function registerMockWorker(program: Command): void {
  const d = DEFAULTS.live;
  program
    .command('mock-worker')
    .description('An OpenAI-compatible server that answers like a vLLM worker on the given GPU, timed by the simulator\'s engine model in real time (no GPU needed)')
    .option('--gpu <id>', 'GPU id (e.g. l20); required unless --profile gives one')
    .option('--model <id>', `model id (default ${DEFAULTS.model}, or the profile's)`)
    .option('--tp <n>', 'tensor-parallel degree (default 1, or the profile\'s)')
    .option('--profile <name|file>', 'start from a shipped deployment profile or a profile file (e.g. one written by `profile measure`)')
    .option('--engine <k=v>', 'engine setting, repeatable: max_num_seqs, max_num_batched_tokens, block_size, num_gpu_blocks, gpu_memory_utilization, enable_prefix_caching, reserve_full_prompt', collect, [])
    .option('--host <addr>', 'address to bind', d.host)
    .option('--port <n>', 'port to listen on (0 = any free port; the URL is printed on stdout)', String(d.port))
    .option('--served-model-name <name>', "model name clients send (default: the model's Hugging Face name; its catalog id is accepted too)")
    .option('--speedup <k>', 'run the engine clock K times faster than real time', String(d.speedup))
    .option('--metrics-style <style>', `/metrics names: ${METRICS_STYLES.join(' or ')}`, 'vllm')
    .option('--tokenizer <kind>', "how prompts are counted, as serve's --tokenizer: fast (serve's piece splitter; chat contents joined by spaces, as serve does) or llama3 (the Llama 3 BPE with BOS and chat template, exact for Llama 3 models, slower)", 'fast')
    .option('--default-max-tokens <n>', 'output length of a request that gives neither max_tokens nor max_completion_tokens (the mock never stops early: every request generates exactly its max tokens)', String(d.mockDefaultMaxTokens))
    .option('--error-rate <p>', 'fault: fraction of completion requests answered with HTTP 500', '0')
    .option('--stall-ms <ms>', 'fault: a stalled request holds its tokens this many wall ms after its first token', '0')
    .option('--stall-prob <p>', 'fault: fraction of requests that stall when --stall-ms is set', '1')
    .option('--crash-after <n>', 'fault: the process exits (code 70) when completion request N+1 arrives, cutting open streams (0 = never)', '0')
    .option('--slow-start-ms <ms>', 'fault: /health and completions answer 503 for this many wall ms after start', '0')
    .option('--seed <n>', 'seed of the fault-injection draws', String(DEFAULTS.seed))
    .option('--kv-events <endpoint>', 'publish the engine\'s KV cache events (BlockStored/BlockRemoved, vLLM\'s ZMQ msgpack format) on a PUB socket bound here, e.g. tcp://127.0.0.1:5557 (port 0 = any; the endpoint is printed on stdout)')
    .option('--kv-events-topic <topic>', 'topic frame of every KV event message (vLLM\'s default is empty)', '')
    .option('--role <role>', `disaggregated serving: ${MOCK_ROLES.join(', ')} (vLLM kv_transfer_params and SGLang bootstrap fields; see docs/pd-serve.md); default: colocated, PD fields ignored`)
    .option('--lora-modules <name[=path]>', 'serve these LoRA adapters by name in "model" (vLLM --lora-modules; repeatable or comma-separated); turns LoRA on', collect, [])
    .option('--max-loras <n>', 'LoRA: adapters resident on the GPU and mixed in one batch (vLLM --max-loras; default 1)')
    .option('--max-lora-rank <n>', `LoRA: rank adapters are sized at, which sets their load time (vLLM --max-lora-rank; default ${DEFAULTS.engine.lora.maxLoraRank})`)
    // The simulator's cross-node link (a prefill mock is another process, as on another node).
    .option('--kv-link-gbps <n>', 'decode role: GB/s of the link KV arrives over from a prefill worker (the simulator\'s cross-node RDMA link)', String(DEFAULTS.pd.rdmaGbps))
    .option('--kv-link-latency-us <n>', 'decode role: fixed microseconds per KV transfer', String(DEFAULTS.pd.rdmaLatencyUs))
    .action((f: MockWorkerFlags) =>
      runAction(async () => {
        if (!f.gpu && !f.profile) throw new UserError('mock-worker: give --gpu (e.g. --gpu l20) or --profile');
        if (!(METRICS_STYLES as readonly string[]).includes(f.metricsStyle)) {
          throw new UserError(`--metrics-style: expected ${METRICS_STYLES.join(' or ')}, got "${f.metricsStyle}"`);
        }
        if (!(MOCK_TOKENIZERS as readonly string[]).includes(f.tokenizer)) {
          throw new UserError(`--tokenizer: expected ${MOCK_TOKENIZERS.join(' or ')}, got "${f.tokenizer}"`);
        }
        const loraModules = parseLoraModules(f.loraModules, '--lora-modules');
        const engine = parseEngineOverrides(parseEngineFlags(f.engine), '--engine');
        if (f.maxLoras !== undefined) engine.max_loras = parseNumberFlag('--max-loras', f.maxLoras, { integer: true, min: 1 });
        if (f.maxLoraRank !== undefined) engine.max_lora_rank = parseNumberFlag('--max-lora-rank', f.maxLoraRank, { integer: true, min: 1 });
        if (loraModules.length > 0) engine.max_loras ??= 1;
        else if (f.maxLoras !== undefined || f.maxLoraRank !== undefined) throw new UserError('--max-loras/--max-lora-rank: give the adapters with --lora-modules');
        const deployment = resolveDeployment({
          gpu: f.gpu,
          model: f.model,
          tp: f.tp === undefined ? undefined : parseNumberFlag('--tp', f.tp, { integer: true, min: 1 }),
          profile: f.profile,
          engine,
          where: 'mock-worker',
        });
        const speedup = parseNumberFlag('--speedup', f.speedup, { min: 0 });
        if (speedup <= 0) throw new UserError('--speedup: expected a number > 0');
        const faults: MockFaults = {
          errorRate: fraction('--error-rate', f.errorRate),
          stallMs: parseNumberFlag('--stall-ms', f.stallMs, { min: 0 }),
          stallProb: fraction('--stall-prob', f.stallProb),
          crashAfter: parseNumberFlag('--crash-after', f.crashAfter, { integer: true, min: 0 }),
          slowStartMs: parseNumberFlag('--slow-start-ms', f.slowStartMs, { min: 0 }),
        };
        const kvEvents = f.kvEvents === undefined ? undefined : { endpoint: checkKvEventsEndpoint(f.kvEvents, '--kv-events'), topic: f.kvEventsTopic };
        if (f.role !== undefined && !(MOCK_ROLES as readonly string[]).includes(f.role)) throw new UserError(`--role: expected ${MOCK_ROLES.join(', ')}, got "${f.role}"`);
        const gbps = parseNumberFlag('--kv-link-gbps', f.kvLinkGbps, { min: 0 });
        if (gbps <= 0) throw new UserError('--kv-link-gbps: expected a number > 0');
        const pd = f.role === undefined ? undefined : {
          role: f.role as MockRole,
          link: { gbps, latencyUs: parseNumberFlag('--kv-link-latency-us', f.kvLinkLatencyUs, { min: 0 }) },
          holdS: d.pdHoldS,
          bootstrapWaitS: d.pdBootstrapWaitS,
        };
        const worker = await startMockWorker({
          pd,
          loraModules,
          deployment,
          servedModelName: f.servedModelName,
          host: f.host,
          port: parsePortFlag('--port', f.port),
          speedup,
          metricsStyle: f.metricsStyle as MetricsStyle,
          tokenizer: f.tokenizer as MockTokenizer,
          defaultMaxTokens: parseNumberFlag('--default-max-tokens', f.defaultMaxTokens, { integer: true, min: 1 }),
          faults,
          seed: parseNumberFlag('--seed', f.seed, { integer: true }),
          kvEvents,
          crash: () => {
            process.stderr.write(`mock-worker: crashing on request ${faults.crashAfter + 1} (--crash-after ${faults.crashAfter})\n`);
            process.exit(70);
          },
        }).catch((err: unknown) => {
          const e = err as NodeJS.ErrnoException;
          if (err instanceof UserError) throw err;
          throw new UserError(`mock-worker: cannot listen on ${f.host}:${f.port} (${e.code ?? e.message})`);
        });
        const e = deployment.engine;
        process.stderr.write(
          `mock-worker ${deployment.name}: ${e.numGpuBlocks * e.blockSize} KV tokens, max_num_seqs=${e.maxNumSeqs}, max_num_batched_tokens=${e.maxNumBatchedTokens}, speedup ${speedup}, ${f.metricsStyle} metrics\n`,
        );
        if (pd) process.stderr.write(`mock-worker: role ${pd.role}${pd.role === 'prefill' ? `, SGLang bootstrap port ${worker.port} (this listener)` : ''}${pd.role !== 'prefill' ? `, KV link ${pd.link.gbps} GB/s + ${pd.link.latencyUs} µs` : ''}\n`);
        process.stdout.write(`listening on ${worker.url}\n`);
        if (worker.kvEvents) process.stdout.write(`kv events on ${worker.kvEvents.endpoint}\n`);
        const stop = (): void => {
          void worker.close().then(() => process.exit(0));
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }),
    );
}
