import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, call, chatBody, control, startServe, startUpstream, stats, stop, until, type Proc } from './helpers.js';

let up: Proc | undefined;
let dir: string;

before(async () => {
  up = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'serve-drain-'));
});
after(async () => {
  await stop(up);
  rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM stops accepting, drains in-flight requests to completion, records them, and exits 0', async () => {
  const trace = join(dir, 'live.jsonl');
  const serve = await startServe(['--workers', `http://127.0.0.1:${up!.port}`, '--health-interval', '0', '--record', trace, '--log', 'off']);
  try {
    await control(up!, { firstChunkDelayMs: 500, chunkDelayMs: 10, headerDelayMs: 300 });
    const prompts = Array.from({ length: 10 }, (_, i) => `drain request number ${i} `.repeat(1 + i * 3));
    const pending = prompts.map((p, i) => call(serve.port, 'POST', '/v1/chat/completions', chatBody(p, { stream: i % 2 === 0, max_tokens: 5 + i })));
    // SIGTERM once all ten are in flight upstream (each takes 800 ms there).
    assert.ok(await until(async () => (await stats(up!)).active === 10, 3000));
    serve.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 60));
    await assert.rejects(call(serve.port, 'GET', '/health', undefined, {}, 1000), 'a closed listener refuses new connections');
    const results = await Promise.all(pending);
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.ok(!r.body.toString().includes('"error"'));
    }
    assert.equal(await serve.exited, 0);
    assert.match(serve.stderr(), /drained, bye/);
    // The recorded trace replays in the simulator: arrival order, token counts, block hashes.
    const lines = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 10);
    for (let i = 1; i < lines.length; i++) assert.ok((lines[i].arrival_s as number) >= (lines[i - 1].arrival_s as number));
    assert.deepEqual(lines.map((l) => l.output_tokens).sort((a, b) => (a as number) - (b as number)), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    assert.ok(lines.every((l) => l.text === undefined && Array.isArray(l.hash_ids) && l.hash_block_tokens === 16));
    const long = lines.find((l) => (l.input_tokens as number) >= 32)!;
    assert.equal((long.hash_ids as number[]).length, Math.floor((long.input_tokens as number) / 16));
    const sim = spawnSync(process.execPath, [CLI, 'simulate', '--trace', trace, '--fleet', 'l20:2', '--json'], { encoding: 'utf8' });
    assert.equal(sim.status, 0, sim.stderr);
    assert.equal((JSON.parse(sim.stdout) as { requests: number }).requests, 10);
  } finally {
    await stop(serve);
  }
});

test('past the drain deadline, unfinished streams end with an SSE error and [DONE]', async () => {
  const serve = await startServe(['--workers', `http://127.0.0.1:${up!.port}`, '--health-interval', '0', '--drain-timeout', '0.3', '--log', 'off']);
  try {
    await control(up!, { chunkDelayMs: 100 });
    const pending = call(serve.port, 'POST', '/v1/chat/completions', chatBody('slow', { stream: true, max_tokens: 100 }));
    await new Promise((r) => setTimeout(r, 250));
    serve.child.kill('SIGTERM');
    const r = await pending;
    const text = r.body.toString();
    assert.match(text, /"code":"shutting_down"/);
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    assert.equal(await serve.exited, 0);
    assert.match(serve.stderr(), /cut 1 request/);
  } finally {
    await stop(serve);
  }
});
