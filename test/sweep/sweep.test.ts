import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGrid, cellCount, cellKey, type Grid } from '../../src/sweep/grid.js';
import { InlineRunner, ThreadPool, type CellRunner } from '../../src/sweep/pool.js';
import { mergeSweepFiles, runSweep } from '../../src/sweep/run.js';
import { parseShard } from '../../src/cli/sweep.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';

const DEFAULT_TRACE = join(REPO_ROOT, 'traces', 'default.jsonl');
const gridDoc = {
  trace: DEFAULT_TRACE,
  limit: 150,
  policies: ['least-request', { name: 'power-of-two' }, 'random'],
  fleets: ['l20:2', 'a10:1,l20:1'],
  rates: [1, 2],
  slos: ['ttft_ms=2000,tpot_ms=100'],
};
const grid = (): Grid => parseGrid(gridDoc, join(tmpdir(), 'grid.yaml'));

/** Counts the cells a runner is asked to run. */
class CountingRunner implements CellRunner {
  readonly inner = new InlineRunner();
  ran: number[] = [];
  async run(tasks: Parameters<CellRunner['run']>[0], onDone: Parameters<CellRunner['run']>[1]): Promise<void> {
    this.ran.push(...tasks.map((t) => t.index));
    await this.inner.run(tasks, onDone);
  }
  async close(): Promise<void> {}
}

test('grid cells: policies x fleets x rates x seeds x slos, last axis fastest', () => {
  const g = grid();
  assert.equal(cellCount(g), 12);
  assert.deepEqual(cellKey(g, 0), { index: 0, policy: 'least-request', policyOptions: '', fleet: 'l20:2', rate: 1, seed: 42, slo: 'ttft_ms=2000,tpot_ms=100' });
  assert.equal(cellKey(g, 1).rate, 2);
  assert.equal(cellKey(g, 2).fleet, 'a10:1,l20:1');
  assert.equal(cellKey(g, 4).policy, 'power-of-two');
  assert.deepEqual(parseShard({ shard: '1/3' }), { shard: 1, shards: 3 });
  assert.deepEqual(parseShard({ shards: '4' }, { JOB_COMPLETION_INDEX: '3' }), { shard: 3, shards: 4 });
  assert.throws(() => parseShard({ shard: '3/3' }), /--shard: expected I\/N/);
  assert.throws(() => parseShard({ shards: '4' }, {}), /JOB_COMPLETION_INDEX is not set/);
});

test('sweep on threads writes exactly the sequential file; shards merge into it byte for byte; a cut sweep resumes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-sweep-'));
  const pool = new ThreadPool(2);
  try {
    const g = grid();
    const seq = join(dir, 'seq.csv');
    await runSweep({ grid: g, out: seq, shard: 0, shards: 1, runner: new InlineRunner() });
    const par = join(dir, 'par.csv');
    const r = await runSweep({ grid: g, out: par, shard: 0, shards: 1, runner: pool });
    assert.equal(r.ran, 12);
    const full = readFileSync(seq, 'utf8');
    assert.equal(readFileSync(par, 'utf8'), full);
    const lines = full.trim().split('\n');
    assert.equal(lines.length, 13);
    assert.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), [...Array(12).keys()]);
    // The cells really differ (rate x2 hurts attainment), so equality above is not vacuous.
    assert.notEqual(lines[1].split(',').slice(8).join(), lines[2].split(',').slice(8).join());

    const shards = [0, 1, 2].map((i) => join(dir, `shard${i}.csv`));
    for (let i = 0; i < 3; i++) await runSweep({ grid: g, out: shards[i], shard: i, shards: 3, runner: pool });
    assert.equal(mergeSweepFiles(shards, g), full);
    assert.equal(mergeSweepFiles([shards[2], shards[0], shards[1]]), full);
    assert.throws(() => mergeSweepFiles(shards.slice(0, 2), g), /4 of 12 cells missing/);

    // Interrupted after 5 rows and half of the 6th: the resumed run redoes only the other 7.
    const cut = join(dir, 'cut.csv');
    const keep = lines.slice(0, 6).join('\n');
    writeFileSync(cut, `${keep}\n${lines[6].slice(0, 20)}`);
    const counting = new CountingRunner();
    const resumed = await runSweep({ grid: g, out: cut, shard: 0, shards: 1, runner: counting });
    assert.deepEqual({ resumed: resumed.resumed, ran: resumed.ran }, { resumed: 5, ran: 7 });
    assert.deepEqual(counting.ran, [5, 6, 7, 8, 9, 10, 11]);
    assert.equal(readFileSync(cut, 'utf8'), full);
    // A finished sweep runs nothing.
    const again = new CountingRunner();
    await runSweep({ grid: g, out: cut, shard: 0, shards: 1, runner: again });
    assert.deepEqual(again.ran, []);
    // An output written for another grid is refused, not silently mixed.
    const other = parseGrid({ ...gridDoc, fleets: ['l20:3', 'a10:1,l20:1'] }, join(dir, 'grid.yaml'));
    await assert.rejects(runSweep({ grid: other, out: cut, shard: 0, shards: 1, runner: again }), /fleet is "l20:2" but the grid's cell 0 has "l20:3"/);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('router sweep CLI: shards via JOB_COMPLETION_INDEX merge into the single-run file; bad grids exit 2 naming the field before any cell runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-sweep-cli-'));
  try {
    const gridFile = join(dir, 'grid.yaml');
    writeFileSync(gridFile, `trace: ${DEFAULT_TRACE}\nlimit: 100\npolicies: [least-request, random]\nfleets: ["l20:2"]\nseeds: [1, 2]\n`);
    const one = runCli(['sweep', gridFile, '--out', join(dir, 'one.csv'), '--jobs', '2']);
    assert.equal(one.status, 0, one.stderr);
    assert.match(one.stderr, /sweep: 4\/4 cells/);
    for (const i of ['0', '1']) {
      const s = runCli(['sweep', gridFile, '--out', join(dir, `s${i}.csv`), '--shards', '2', '--jobs', '1'], { env: { JOB_COMPLETION_INDEX: i } });
      assert.equal(s.status, 0, s.stderr);
    }
    const m = runCli(['sweep', 'merge', join(dir, 's1.csv'), join(dir, 's0.csv'), '--out', join(dir, 'merged.csv'), '--grid', gridFile]);
    assert.equal(m.status, 0, m.stderr);
    assert.equal(readFileSync(join(dir, 'merged.csv'), 'utf8'), readFileSync(join(dir, 'one.csv'), 'utf8'));

    const bad: [string, RegExp][] = [
      [`trace: ${DEFAULT_TRACE}\npolicies: [least-request]\nfleets: [l20]\nreplicas: [1]\n`, /grid\.yaml: replicas: unknown field/],
      [`trace: ${DEFAULT_TRACE}\npolicies: [least-request]\nfleets: []\n`, /grid\.yaml: fleets: is empty/],
      [`trace: ${DEFAULT_TRACE}\npolicies: [least-request]\nfleets: ["l20:1", "l20:1,h900:2"]\n`, /grid\.yaml: fleets\[1\]: .*unknown GPU "h900"/],
      [`trace: ${DEFAULT_TRACE}\npolicies: [least-request, {name: fastest}]\nfleets: [l20]\n`, /grid\.yaml: policies\[1\]: name: .*unknown policy/],
      [`trace: ${DEFAULT_TRACE}\npolicies: [least-request]\nfleets: [l20]\nrates: [0]\n`, /grid\.yaml: rates\[0\]: expected a number > 0/],
    ];
    for (const [text, want] of bad) {
      const g = join(dir, 'grid.yaml');
      writeFileSync(g, text);
      const out = join(dir, 'bad.csv');
      const r = runCli(['sweep', g, '--out', out]);
      assert.equal(r.status, 2, text);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), 'nothing ran');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deploy/sweep-job.yaml: an Indexed Job whose shards count matches its completions and whose grid is valid', async () => {
  const { parseAllDocuments } = await import('yaml');
  interface K8sDoc {
    kind: string;
    data: Record<string, string>;
    spec: { completionMode: string; completions: number; parallelism: number; template: { spec: { containers: { args: string[] }[] } } };
  }
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'sweep-job.yaml'), 'utf8')).map((d) => d.toJSON() as K8sDoc);
  const cm = docs.find((d) => d.kind === 'ConfigMap');
  const job = docs.find((d) => d.kind === 'Job');
  assert.ok(cm && job);
  assert.equal(job.spec.completionMode, 'Indexed');
  const c = job.spec.template.spec.containers[0];
  const args = c.args;
  assert.equal(args[0], 'sweep');
  assert.equal(Number(args[args.indexOf('--shards') + 1]), job.spec.completions);
  assert.equal(job.spec.parallelism, job.spec.completions);
  assert.match(args[args.indexOf('--out') + 1], /\$\(JOB_COMPLETION_INDEX\)/);
  // The grid parses except for its traces, which live on the cluster's volume.
  const { parse } = await import('yaml');
  const doc = parse(cm.data['grid.yaml']) as Record<string, unknown>;
  const local = parseGrid({ ...doc, mix: undefined, trace: DEFAULT_TRACE }, join(tmpdir(), 'grid.yaml'));
  assert.equal(cellCount(local), 4 * 4 * 4 * 3);
});
