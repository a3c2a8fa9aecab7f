import type { Command } from 'commander';
import { basename } from 'node:path';
import { deploymentName, getGpu, getModel, gpuCatalog, modelCatalog, parseEngineOverrides, resolveDeployment, type DeploymentFile } from '../profiles/catalog.js';
import { importLlmServingSim, readLlmServingSimMeta } from '../profiles/import/llmservingsim.js';
import { importVidur } from '../profiles/import/vidur.js';
import type { OperatorTablesJson } from '../profiles/operator-tables.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { collect, parseNumberFlag, runAction } from './errors.js';
import { parseEngineFlags } from './mock-worker.js';
import { describeDeployment } from './describe-deployment.js';

interface ImportFlags {
  from: string;
  gpu?: string;
  model?: string;
  tp: string;
  network?: string;
  engine: string[];
  name?: string;
  out?: string;
}

/** Vidur's GPU directory names → catalog ids (Vidur profiles the SXM parts of DGX nodes). */
const VIDUR_GPUS: Record<string, string> = { a100: 'a100-80g-sxm', h100: 'h100-sxm' };

const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

function gpuByName(name: string, where: string): string {
  const n = squash(name);
  for (const g of gpuCatalog().values()) if (squash(g.id) === n || squash(g.name) === n || squash(g.name).endsWith(n)) return g.id;
  throw new UserError(`${where}: GPU "${name}" is not in profiles/hardware.json; give --gpu`);
}

function modelByHfName(name: string, where: string): string {
  const n = name.toLowerCase();
  for (const m of modelCatalog().values()) if (m.hf_name.toLowerCase() === n || m.hf_name.toLowerCase().endsWith(`/${n}`)) return m.id;
  throw new UserError(`${where}: model "${name}" is not in profiles/models.json; give --model (a catalog model with the same shapes)`);
}

/** `profile import`: operator tables from another simulator's profiler → a deployment profile file. */
export function importProfile(f: ImportFlags, dir: string): DeploymentFile {
  const tp = parseNumberFlag('--tp', f.tp, { integer: true, min: 1 });
  let gpu: string;
  let model: string;
  let operators: OperatorTablesJson;
  let what: string;
  if (f.from === 'llmservingsim') {
    const meta = readLlmServingSimMeta(dir);
    gpu = f.gpu ? getGpu(f.gpu, '--gpu').id : gpuByName(meta.hardware, `${dir}/meta.yaml hardware`);
    model = f.model ? getModel(f.model, '--model').id : modelByHfName(meta.model, `${dir}/meta.yaml model`);
    operators = importLlmServingSim(dir, tp);
    what = `LLMServingSim profiler tables for ${meta.model} on ${meta.gpu} (vLLM ${meta.vllmVersion}, eager mode)`;
  } else if (f.from === 'vidur') {
    const gpuDir = basename(dirname1(dir));
    gpu = f.gpu ? getGpu(f.gpu, '--gpu').id : VIDUR_GPUS[gpuDir] ?? gpuByName(gpuDir, dir);
    model = f.model ? getModel(f.model, '--model').id : modelByHfName(basename(dir), dir);
    operators = importVidur(dir, getModel(model), tp, f.network);
    what = `Vidur per-op tables for ${basename(dir)} on ${gpuDir} at TP ${tp}`;
  } else {
    throw new UserError(`--from: expected "llmservingsim" or "vidur", got "${f.from}"`);
  }
  const engine = parseEngineOverrides(parseEngineFlags(f.engine), '--engine');
  return {
    name: f.name ?? deploymentName(model, gpu, tp),
    gpu,
    model,
    tp,
    ...(Object.keys(engine).length ? { engine } : {}),
    source: `measured operator tables: ${what}, imported by \`router profile import --from ${f.from}\`. ${operators.attribution}`,
    operators,
  };
}

function dirname1(p: string): string {
  return p.replace(/\/+$/, '').split('/').slice(0, -1).join('/') || '/';
}

export function registerProfileImport(profile: Command): void {
  profile
    .command('import <dir>')
    .description('turn another simulator\'s measured operator timings into a deployment profile: --from llmservingsim (profiler/perf/<hw>/<model>/<variant>: meta.yaml, tp<N>/*.csv) or --from vidur (data/profiling/compute/<gpu>/<model>: mlp.csv)')
    .requiredOption('--from <format>', 'llmservingsim or vidur')
    .option('--gpu <id>', 'catalog GPU id (default: from meta.yaml, or Vidur\'s GPU directory name)')
    .option('--model <id>', 'catalog model id (default: matched by Hugging Face name); must have the profiled shapes')
    .option('--tp <n>', 'tensor-parallel degree to import', '1')
    .option('--network <dir>', 'Vidur network directory (all_reduce.csv) for the TP all-reduce table')
    .option('--engine <k=v>', 'engine settings to store in the profile, repeatable (e.g. num_gpu_blocks=2588)', collect, [])
    .option('--name <name>', 'profile name (default MODEL@GPU[-tpN])')
    .option('--out <file>', 'write the profile JSON here; default: print it')
    .action((dir: string, f: ImportFlags) =>
      runAction(() => {
        const file = importProfile(f, dir);
        const text = `${formatProfileJson(file)}\n`;
        if (f.out) {
          writeFileAtomic(f.out, text);
          process.stderr.write(`wrote ${f.out}\n`);
          process.stdout.write(`${describeDeployment(resolveDeployment({ profile: f.out, where: f.out }))}\n`);
        } else process.stdout.write(text);
      }),
    );
}

/** Pretty JSON with arrays of numbers kept on one line (operator tables stay readable and diffable). */
export function formatProfileJson(v: unknown): string {
  return JSON.stringify(v, null, 2).replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_m, body: string) => `[${body.split(/,\s*/).join(', ')}]`);
}
