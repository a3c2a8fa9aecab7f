import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDataDir, SHARED_TRACES } from '../../src/workload/shared-data.js';
import { buildWorkload } from '../../src/workload/workload.js';
import { Simulation } from '../../src/sim/simulator.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { createPolicy } from '../../src/routing/registry.js';
import { PACKAGE_ROOT } from '../../src/profiles/catalog.js';
import type { Request } from '../../src/workload/request.js';

const data = sharedDataDir();
const skip = data ? false : 'real traces absent: ../shared/data not found beside the checkout';
const cli = join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');

function stats(file: string, ...flags: string[]): { requests: number; duration_s: number; rate_rps: number; input_tokens: Record<string, number>; output_tokens: Record<string, number>; prefix_reuse: number } {
  return JSON.parse(execFileSync(process.execPath, [cli, 'trace', 'stats', join(data as string, file), '--json', ...flags], { encoding: 'utf8' })) as ReturnType<typeof stats>;
}

test('trace stats: record counts and token statistics of the shared traces', { skip }, () => {
  const sg = stats(SHARED_TRACES.sharegpt);
  // 1,000 records: 661 start human → gpt (the rest start with gpt or a system turn, or have one turn).
  assert.equal(sg.requests, 661);
  // vLLM's length filter on top keeps 592 of them.
  assert.equal(stats(SHARED_TRACES.sharegpt, '--format', 'sharegpt-vllm').requests, 592);
  assert.ok(sg.input_tokens.p50 > 10 && sg.input_tokens.p50 < 200 && sg.input_tokens.p99 > 1000, JSON.stringify(sg.input_tokens));
  assert.ok(sg.output_tokens.mean > 150 && sg.output_tokens.mean < 400, JSON.stringify(sg.output_tokens));

  const bird = stats(SHARED_TRACES.bird);
  assert.equal(bird.requests, 1528);
  // The schema (91-98% of each prompt) is shared by every question of its database.
  assert.ok(bird.prefix_reuse > 0.95, String(bird.prefix_reuse));
  assert.ok(bird.output_tokens.mean > 20 && bird.output_tokens.mean < 100, JSON.stringify(bird.output_tokens));

  const mc = stats(SHARED_TRACES.mooncake);
  assert.equal(mc.requests, 3993);
  assert.equal(Math.round(mc.input_tokens.mean), 15325);
  assert.equal(Math.round(mc.output_tokens.mean), 149);
  assert.ok(mc.prefix_reuse > 0.5 && mc.prefix_reuse < 0.8, String(mc.prefix_reuse));

  const az = stats(SHARED_TRACES.azure);
  assert.equal(az.requests, 19366);
  assert.equal(Math.round(az.input_tokens.mean), 1155);
  assert.equal(Math.round(az.output_tokens.mean), 211);
  assert.ok(Math.abs(az.rate_rps - 5.53) < 0.01, String(az.rate_rps));
  assert.equal(az.prefix_reuse, 0);
});

test('ShareGPT multi-turn: sessions re-send their history; later turns hit the prefix cache', { skip }, async () => {
  const all = stats(SHARED_TRACES.sharegpt, '--multi-turn');
  // 662 conversations (661 human → gpt, one system → human → gpt) with 2,277 answered turns.
  assert.equal(all.requests, 2277);
  assert.ok(all.prefix_reuse > 0.5, String(all.prefix_reuse));
  // One worker, the first 400 turns, a think time long enough for each answer to finish.
  const { requests } = buildWorkload({ trace: join(data as string, SHARED_TRACES.sharegpt), multiTurn: true, rate: '1', thinkTime: '60', limit: '400', seed: '1' });
  const sim = new Simulation({ fleet: parseFleet('l20:1'), policy: createPolicy('round-robin'), requests, seed: 1, scrapeIntervalS: 1, timeseriesIntervalS: 1 });
  const { log } = await sim.run();
  let cached = 0;
  let input = 0;
  for (let i = 0; i < log.length; i++) {
    if (log.ids[i].endsWith('#0')) continue;
    cached += log.cachedTokens.get(i);
    input += log.inputTokens.get(i);
  }
  // Each turn carries its answer's token ids, so the engine caches the generated blocks under the
  // content the next turn re-sends: later turns hit the previous prompt and answer.
  assert.ok(input > 0 && cached / input > 0.8, `hit rate of later turns ${cached / input}`);
});

test('BIRD on one simulated worker: prefix-cache hit rate > 0.8 after the first question of each database', { skip }, async () => {
  const root = data as string;
  const questions = JSON.parse(readFileSync(join(root, SHARED_TRACES.bird), 'utf8')) as { question_id: number; db_id: string }[];
  const dbOf = new Map(questions.map((q) => [`bird-${q.question_id}`, q.db_id]));
  // A subset keeps it fast: the first 25 questions of every database, at 2 req/s.
  const perDb = new Map<string, number>();
  const requests: Request[] = [];
  for await (const r of buildWorkload({ trace: join(root, SHARED_TRACES.bird), rate: '2', seed: '1' }).requests) {
    const db = dbOf.get(r.id) as string;
    const n = perDb.get(db) ?? 0;
    if (n < 25) requests.push(r);
    perDb.set(db, n + 1);
  }
  assert.equal(perDb.size, 11);
  const sim = new Simulation({ fleet: parseFleet('l20:1'), policy: createPolicy('round-robin'), requests, seed: 1, scrapeIntervalS: 1, timeseriesIntervalS: 1 });
  const { log } = await sim.run();
  const first = new Set<string>();
  let cached = 0;
  let input = 0;
  for (let i = 0; i < log.length; i++) {
    const db = dbOf.get(log.ids[i]) as string;
    if (!first.has(db)) {
      first.add(db);
      continue;
    }
    cached += log.cachedTokens.get(i);
    input += log.inputTokens.get(i);
  }
  assert.equal(first.size, 11);
  assert.ok(cached / input > 0.8, `hit rate ${cached / input}`);
});

test('router simulate runs on every shared trace and on the ShareGPT 7 + BIRD 4 req/s mix', { skip }, () => {
  const root = data as string;
  const run = (...args: string[]): { requests: number; completed: number } =>
    JSON.parse(execFileSync(process.execPath, [cli, 'simulate', '--json', ...args], { encoding: 'utf8', cwd: root })) as { requests: number; completed: number };
  for (const f of Object.values(SHARED_TRACES)) {
    const s = run('--trace', f, '--limit', '200');
    assert.equal(s.requests, 200, f);
    assert.equal(s.completed, 200, f);
  }
  const mix = run('--mix', `${SHARED_TRACES.sharegpt}:7,${SHARED_TRACES.bird}:4`, '--fleet', 'l20:1,a10:1', '--duration', '30');
  assert.ok(mix.requests > 250 && mix.requests < 420, String(mix.requests));
  const multi = run('--trace', SHARED_TRACES.sharegpt, '--multi-turn', '--limit', '200', '--rate', '2');
  assert.equal(multi.completed, 200);
});
