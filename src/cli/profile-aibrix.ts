import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { loadDeploymentFile, resolveDeployment, type DeploymentFile } from '../profiles/catalog.js';
import { parseFleet, type FleetWorker } from '../profiles/fleet.js';
import { parseModelGpuProfile, parseProfileText, ProfileTable, profileJson, type AibrixSlos, type ModelGpuProfileJson } from '../routing/slo/profile.js';
import { sweepAibrixProfile } from '../sim/aibrix-sweep.js';
import { checkRedisUrl, writeProfilesToRedis } from '../serve/profiles-redis.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { parseNumberFlag, runAction } from './errors.js';

/** Reads one AIBrix ModelGPUProfile JSON file (NaN cells tolerated, as Python writes them). */
export function readAibrixProfile(path: string): ModelGpuProfileJson {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read AIBrix profile (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseModelGpuProfile(parseProfileText(text, path), path);
}

/** `--slo-profile` values: AIBrix profile files, or directories of them (every *.json inside). */
export function loadSloProfiles(paths: readonly string[]): ProfileTable[] {
  const files: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new UserError(`--slo-profile ${p}: no such file or directory`);
    if (statSync(p).isDirectory()) {
      const inside = readdirSync(p).filter((f) => f.endsWith('.json')).sort();
      if (inside.length === 0) throw new UserError(`--slo-profile ${p}: the directory holds no .json profiles`);
      files.push(...inside.map((f) => join(p, f)));
    } else files.push(p);
  }
  return files.map((f) => new ProfileTable(readAibrixProfile(f)));
}

const SLO_KEYS: Record<string, { key: Exclude<keyof AibrixSlos, 'percentile'>; scale: number }> = {
  e2e: { key: 'e2e', scale: 1 },
  ttft: { key: 'ttft', scale: 1 },
  tpot: { key: 'tpot', scale: 1 },
  tpat: { key: 'tpat', scale: 1 },
  e2e_ms: { key: 'e2e', scale: 1e-3 },
  ttft_ms: { key: 'ttft', scale: 1e-3 },
  tpot_ms: { key: 'tpot', scale: 1e-3 },
  tpat_ms: { key: 'tpat', scale: 1e-3 },
};

/** `--slo e2e=5,percentile=99`: AIBrix keys in seconds (e2e, ttft, tpot, tpat) or ours in ms (e2e_ms, ...). */
export function parseAibrixSloFlag(spec: string): AibrixSlos {
  const out: AibrixSlos = { percentile: 99 };
  let any = false;
  for (const part of spec.split(',')) {
    const [k, v, extra] = part.split('=').map((x) => x.trim());
    const n = Number(v);
    if (k === 'percentile') {
      if (v === undefined || extra !== undefined || v === '' || !Number.isInteger(n) || n < 0 || n > 100) throw new UserError(`--slo percentile: expected an integer 0..100 (0 = mean), got "${v ?? ''}"`);
      out.percentile = n;
      continue;
    }
    const m = SLO_KEYS[k];
    if (!m || v === undefined || extra !== undefined) throw new UserError(`--slo "${part}": expected key=value with key one of percentile, ${Object.keys(SLO_KEYS).join(', ')}`);
    if (v === '' || !Number.isFinite(n) || n <= 0) throw new UserError(`--slo ${k}: expected a positive number, got "${v}"`);
    out[m.key] = n * m.scale;
    any = true;
  }
  if (!any) throw new UserError('--slo: give at least one of e2e, ttft, tpot, tpat (seconds) or their _ms forms');
  return out;
}

function parseList(flag: string, raw: string | undefined, dflt: readonly number[]): number[] {
  if (raw === undefined) return [...dflt];
  const xs = raw.split(',').map((x) => parseNumberFlag(flag, x.trim(), { min: 1 }));
  xs.forEach((x, i) => {
    if (i > 0 && !(x > xs[i - 1])) throw new UserError(`${flag}: values must increase, got "${raw}"`);
  });
  return xs;
}

interface ExportFlags {
  fleet: string;
  slo: string;
  out?: string;
  outputs?: string;
  inputs?: string;
  rates?: string;
  samples: string;
  seed: string;
  redis?: string;
  sharedPrefix?: string;
}

interface ImportFlags {
  profile?: string;
  gpu?: string;
  model?: string;
  tp?: string;
  out?: string;
}

/** One fleet worker per distinct deployment, in fleet order. */
function distinctDeployments(fleet: FleetWorker[]): FleetWorker[] {
  const seen = new Map<string, FleetWorker>();
  for (const w of fleet) if (!seen.has(w.deployment.name)) seen.set(w.deployment.name, w);
  return [...seen.values()];
}

function fileName(deployment: string): string {
  return `${deployment.replace(/[^A-Za-z0-9._@-]/g, '_')}.json`;
}

export function registerProfileAibrix(program: Command): void {
  const profile = program.commands.find((c) => c.name() === 'profile');
  if (!profile) throw new Error('registerProfileAibrix: register the profile command first');
  const d = DEFAULTS.aibrixSweep;
  profile
    .command('export-aibrix')
    .description("build AIBrix ModelGPUProfile tables (tputs/e2e by [output][input] bucket) by sweeping the simulated engine over the grid and rates, as AIBrix's gen_profile sweeps a real server")
    .requiredOption('--fleet <spec>', 'workers (see simulate); one profile per distinct deployment')
    .requiredOption('--slo <spec>', 'the SLO the tables are built for, e.g. e2e=5,percentile=99 (seconds, AIBrix keys) or tpot_ms=50')
    .option('--out <path>', 'write the profile to FILE (one deployment) or into DIR as <deployment>.json (several); default: stdout, one JSON per line')
    .option('--outputs <list>', `output-token buckets (default ${d.outputs.join(',')})`)
    .option('--inputs <list>', `input-token buckets (default ${d.inputs.join(',')})`)
    .option('--rates <list>', `request rates tried per cell, req/s (default ${d.rates.join(',')})`)
    .option('--samples <n>', 'Poisson requests per (cell, rate) point', String(d.samples))
    .option('--seed <n>', 'seed of the arrival process', String(DEFAULTS.seed))
    .option('--shared-prefix <tokens>', 'every sweep prompt also carries this many cached prefix tokens: tables indexed by the tokens a worker computes, measured with a prefix-sharing workload\'s long cached context (default 0, as AIBrix)', '0')
    .option('--redis <url>', 'also write each profile to Redis under AIBrix\'s key aibrix:profile_<model>_<deployment> (redis://host:port[/db])')
    .action((f: ExportFlags) =>
      runAction(async () => {
        const slos = parseAibrixSloFlag(f.slo);
        const opts = {
          outputs: parseList('--outputs', f.outputs, d.outputs),
          inputs: parseList('--inputs', f.inputs, d.inputs),
          rates: parseList('--rates', f.rates, d.rates),
          samples: parseNumberFlag('--samples', f.samples, { integer: true, min: 1 }),
          seed: parseNumberFlag('--seed', f.seed, { integer: true }),
          minTputFraction: d.minTputFraction,
          slos,
          created: Date.now() / 1e3,
          sharedPrefixTokens: parseNumberFlag('--shared-prefix', f.sharedPrefix ?? '0', { integer: true, min: 0 }),
        };
        const redis = f.redis === undefined ? undefined : checkRedisUrl(f.redis, '--redis');
        const deployments = distinctDeployments(parseFleet(f.fleet));
        const profiles: ModelGpuProfileJson[] = [];
        for (const w of deployments) {
          process.stderr.write(`sweeping ${w.deployment.name}: ${opts.outputs.length}x${opts.inputs.length} cells x ${opts.rates.length} rates x ${opts.samples} requests\n`);
          profiles.push(await sweepAibrixProfile(w, opts));
        }
        if (redis) {
          const keys = await writeProfilesToRedis(redis, profiles.map((p, i) => ({ model: deployments[i].deployment.model.id, profile: p })));
          for (const k of keys) process.stderr.write(`wrote Redis key ${k}\n`);
          if (!f.out) return;
        }
        if (!f.out) {
          for (const p of profiles) process.stdout.write(profileJson(p));
          return;
        }
        if (profiles.length === 1 && !(existsSync(f.out) && statSync(f.out).isDirectory())) {
          writeFileAtomic(f.out, profileJson(profiles[0]));
          process.stderr.write(`wrote ${f.out}\n`);
          return;
        }
        if (existsSync(f.out) && !statSync(f.out).isDirectory()) throw new UserError(`--out ${f.out}: the fleet has ${profiles.length} deployments, so --out must be a directory`);
        for (const p of profiles) {
          const path = join(f.out, fileName(p.gpu));
          writeFileAtomic(path, profileJson(p));
          process.stderr.write(`wrote ${path}\n`);
        }
      }),
    );
  profile
    .command('import-aibrix <file>')
    .description('attach AIBrix ModelGPUProfile tables to a deployment profile, so the slo* policies use them whenever that profile is in a fleet')
    .option('--profile <name>', 'the deployment to attach them to: a shipped profile name or a profile file')
    .option('--gpu <id>', 'or build the deployment from a GPU id (with --model, --tp)')
    .option('--model <id>', `model with --gpu (default ${DEFAULTS.model})`)
    .option('--tp <n>', 'tensor parallelism with --gpu (default 1)')
    .option('--out <file>', 'write the deployment profile here (default: stdout)')
    .action((file: string, f: ImportFlags) =>
      runAction(() => {
        if ((f.profile === undefined) === (f.gpu === undefined)) throw new UserError('profile import-aibrix: give exactly one of --profile NAME or --gpu ID');
        const tables = readAibrixProfile(file);
        let base: DeploymentFile;
        if (f.profile !== undefined) {
          if (f.model !== undefined || f.tp !== undefined) throw new UserError('profile import-aibrix: --model and --tp go with --gpu, not --profile');
          base = { ...loadDeploymentFile(f.profile).file };
        } else {
          const tp = f.tp === undefined ? 1 : parseNumberFlag('--tp', f.tp, { integer: true, min: 1 });
          const dep = resolveDeployment({ gpu: f.gpu, model: f.model, tp, where: 'profile import-aibrix' });
          base = { name: dep.name, gpu: dep.gpu.id, model: dep.model.id, tp, source: dep.source };
        }
        const doc: DeploymentFile = { ...base, aibrix: tables };
        const name = doc.name ?? doc.gpu;
        const text = `${JSON.stringify(doc, null, 2)}\n`;
        if (f.out) {
          writeFileAtomic(f.out, text);
          process.stderr.write(`wrote ${f.out}: deployment ${name} with AIBrix tables "${tables.gpu}" (${tables.indexes[0].length}x${tables.indexes[1].length}${tables.e2e ? '' : ', no e2e table: the slo* policies will use their fallback'})\n`);
        } else process.stdout.write(text);
      }),
    );
}
