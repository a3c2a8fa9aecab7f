import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { RooflineStepCost } from '../../src/profiles/roofline.js';
import { fitCoefficients, prefillSteps, type DecodeObservation, type PrefillObservation } from '../../src/profiles/measure.js';
import { decodeWindow } from '../../src/replay/measure-sweep.js';
import type { StreamResult } from '../../src/replay/client.js';
import { measureProfile } from '../../src/cli/profile.js';
import type { Coefficients } from '../../src/profiles/types.js';

const TRUE: Partial<Coefficients> = { gemm_efficiency: 0.7, attn_efficiency: 0.4, bandwidth_efficiency: 0.75, step_overhead_ms: 4, per_seq_overhead_us: 50 };
const FITTED = ['gemm_efficiency', 'attn_efficiency', 'bandwidth_efficiency', 'step_overhead_ms', 'per_seq_overhead_us'] as const;

function truthDeployment(dir: string): string {
  const file = join(dir, 'truth.json');
  writeFileSync(file, JSON.stringify({ name: 'truth@l20', gpu: 'l20', model: 'llama-3.1-8b', coefficients: TRUE }));
  return file;
}

test('fitCoefficients recovers exact coefficients from noise-free step prices', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-fit-'));
  try {
    const d = resolveDeployment({ profile: truthDeployment(dir) });
    const cost = new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients);
    const transport = 0.004;
    const prefill: PrefillObservation[] = [];
    for (const n of [256, 1024, 2048, 4096, 8192, 16384]) {
      for (const cached of [0, Math.floor((n - 1) / 16) * 16]) {
        const t = prefillSteps(n, cached, d.engine.maxNumBatchedTokens).reduce((s, x) => s + cost.seconds(x), 0);
        prefill.push({ inputTokens: n, cachedTokens: cached, ttftS: t + transport });
      }
    }
    const decode: DecodeObservation[] = [[1, 100], [1, 8000], [16, 2000], [64, 8000], [16, 66000], [200, 6000]].map(([b, kv]) => ({ seqs: b, meanKvTokens: kv, stepS: cost.decodeSeconds(b, kv), steps: 100 }));
    const fit = fitCoefficients({ gpu: d.gpu, model: d.model, tp: 1, maxNumBatchedTokens: d.engine.maxNumBatchedTokens, prior: resolveDeployment({ gpu: 'l20' }).coefficients, prefill, decode, noiseS: 0.003 });
    for (const k of FITTED) assert.ok(Math.abs(fit.coefficients[k] / (TRUE[k] as number) - 1) < 2e-3, `${k}: ${fit.coefficients[k]} vs ${TRUE[k]}`);
    assert.ok(Math.abs(fit.transportS - transport) < 2e-4);
    assert.equal(fit.outliers, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('decodeWindow: steady step time despite a burst of late timestamps', () => {
  const step = 0.03;
  const results: StreamResult[] = [0, 1, 2].map((i) => {
    // Request i joined one step after request i-1; all decode together from step 2 on.
    const times: number[] = [];
    for (let k = 0; k < 120; k++) times.push((i + k + 1) * step);
    // A 6-step stall of the client: those tokens all arrive at once at its end.
    for (let k = 40; k < 46; k++) times[k] = (i + 47) * step;
    return { ok: true, status: 200, sentAt: 0, firstTokenAt: times[0], endAt: times[119], tokenTimes: times, outputTokens: 120 };
  });
  const w = decodeWindow(results, [100, 100, 100]);
  assert.ok(w);
  assert.ok(Math.abs(w.stepS - step) < 1e-9, `step ${w.stepS}`);
  assert.equal(w.seqs, 3);
  assert.ok(w.steps >= 100);
});

function spawnMock(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'mock-worker', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`mock-worker exited with ${code}`)));
  });
}

test('profile measure against a mock-worker recovers its coefficients within 10%, and simulate accepts the profile', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-measure-'));
  const speedup = 5;
  const { child, url } = await spawnMock(['--profile', truthDeployment(dir), '--speedup', String(speedup)]);
  try {
    const lines: string[] = [];
    const t0 = performance.now();
    const file = await measureProfile({ target: url, gpu: 'l20', model: 'llama-3.1-8b', tp: '1', engine: [], speedup: String(speedup) }, (l) => lines.push(l));
    const wallS = (performance.now() - t0) / 1e3;
    const got = file.coefficients as Coefficients;
    const report = FITTED.map((k) => `${k} ${got[k]} (true ${TRUE[k]})`).join(', ');
    process.stderr.write(`profile measure: ${report}; ${wallS.toFixed(1)} s\n`);
    for (const k of FITTED) assert.ok(Math.abs(got[k] / (TRUE[k] as number) - 1) <= 0.1, `${k}: ${report}\n${lines.join('\n')}`);
    // The KV cache size comes from the mock's vllm:cache_config_info.
    const truth = resolveDeployment({ profile: join(dir, 'truth.json') });
    assert.equal(file.engine?.num_gpu_blocks, truth.engine.numGpuBlocks);
    assert.ok(file.measurement.prefill.length >= 8 && file.measurement.decode.length >= 5);

    const profileFile = join(dir, 'measured.json');
    writeFileSync(profileFile, JSON.stringify(file));
    const measured = resolveDeployment({ profile: profileFile });
    assert.equal(measured.engine.numGpuBlocks, truth.engine.numGpuBlocks);
    assert.equal(measured.kvBlocksSource, 'profile');
    const fleet = join(dir, 'fleet.json');
    writeFileSync(fleet, JSON.stringify({ workers: [{ name: 'w', profile: profileFile, count: 2 }] }));
    const sim = spawnSync(process.execPath, ['dist/src/cli/main.js', 'simulate', '--fleet', fleet, '--limit', '20', '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(sim.status, 0, sim.stderr);
    assert.equal((JSON.parse(sim.stdout) as { completed: number }).completed, 20);
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
