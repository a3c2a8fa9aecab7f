import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCpuList } from '../../bench/cores.js';
import { runWrk, uncorrect, wrkScript, wrkVersion } from '../../bench/wrk.js';
import { createRng } from '../../src/util/rng.js';

/** wrk 4's stats_correct (wrk.c / stats.c), ported line for line: the reference uncorrect must invert. */
function wrkCorrect(raw: ReadonlyMap<number, number>, durationUs: number, requests: number, connections: number): Map<number, number> {
  const data = new Map(raw);
  const perConn = Math.floor(requests / connections);
  if (perConn === 0) return data;
  const expected = Math.floor(durationUs / perConn);
  const max = Math.max(...raw.keys());
  for (let n = expected * 2; n <= max; n++) {
    const count = data.get(n) ?? 0;
    let m = n - expected;
    while (count > 0 && m > expected) {
      data.set(m, (data.get(m) ?? 0) + count);
      m -= expected;
    }
  }
  return data;
}

const pairs = (m: ReadonlyMap<number, number>): [number, number][] => [...m.entries()].filter(([, c]) => c > 0);
const sorted = (m: ReadonlyMap<number, number>): [number, number][] => pairs(m).sort((a, b) => a[0] - b[0]);

test('uncorrect: a hand-checked histogram', () => {
  // 2 requests on 1 connection in 200 µs: interval 100 µs. The 500 µs sample gains copies at
  // 400, 300 and 200 (not 100: wrk stops at the interval).
  const corrected = new Map([
    [100, 1],
    [200, 1],
    [300, 1],
    [400, 1],
    [500, 1],
  ]);
  assert.deepEqual(sorted(wrkCorrect(new Map([[100, 1], [500, 1]]), 200, 2, 1)), sorted(corrected));
  assert.deepEqual(sorted(uncorrect(pairs(corrected), 200, 2, 1)), [
    [100, 1],
    [500, 1],
  ]);
  // Fewer requests than connections: wrk corrects nothing, nor does uncorrect.
  assert.deepEqual(sorted(uncorrect([[700, 3]], 1000, 3, 4)), [[700, 3]]);
  // Samples at exactly twice the interval add nothing.
  assert.deepEqual(sorted(uncorrect([[200, 2], [50, 1]], 300, 3, 1)), [
    [50, 1],
    [200, 2],
  ]);
});

test('uncorrect inverts wrk’s correction on random histograms', () => {
  const rng = createRng(11);
  for (let trial = 0; trial < 300; trial++) {
    const raw = new Map<number, number>();
    const distinct = 1 + Math.floor(rng.next() * 200);
    const spread = 10 + Math.floor(rng.next() * 50_000);
    let requests = 0;
    for (let i = 0; i < distinct; i++) {
      // Mostly near the bottom, a few far out (a tail).
      const v = 1 + Math.floor(rng.next() < 0.9 ? rng.next() * spread * 0.05 : rng.next() * spread);
      const c = 1 + Math.floor(rng.next() * 20);
      raw.set(v, (raw.get(v) ?? 0) + c);
      requests += c;
    }
    const connections = 1 + Math.floor(rng.next() * 128);
    const durationUs = 1 + Math.floor(rng.next() * spread * 4 * Math.max(1, requests / connections));
    const corrected = wrkCorrect(raw, durationUs, requests, connections);
    const back = uncorrect(pairs(corrected), durationUs, requests, connections);
    assert.deepEqual(sorted(back), sorted(raw), `trial ${trial}`);
  }
});

test('uncorrect rejects a histogram wrk cannot have produced', () => {
  // interval 100: a 500 µs sample implies one at 400; none there.
  assert.throws(() => uncorrect([[500, 1], [100, 1]], 200, 2, 1), /not a corrected one/);
});

test('parseCpuList', () => {
  assert.deepEqual(parseCpuList('0,1'), [0, 1]);
  assert.deepEqual(parseCpuList('0-3,6,8-9'), [0, 1, 2, 3, 6, 8, 9]);
  assert.deepEqual(parseCpuList('5\n'), [5]);
  assert.throws(() => parseCpuList('a-b'), /not a CPU list/);
});

/** A loopback server answering JSON (every 5th request 503) or a 16-write chunked SSE stream; counts what it sent. */
function fixture(): Promise<{ server: Server; port: number; sent: { ok: number; failed: number }; sseBytes: number }> {
  const sent = { ok: 0, failed: 0 };
  const events = Array.from({ length: 16 }, (_, i) => `data: {"i":${i},"text":"token ${i}"}\n\n`);
  const sseBytes = events.reduce((a, e) => a + Buffer.byteLength(e), 0);
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const stream = (JSON.parse(body) as { stream: boolean }).stream;
      if (!stream) {
        const fail = n++ % 5 === 4;
        res.on('finish', () => (fail ? sent.failed++ : sent.ok++));
        res.writeHead(fail ? 503 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: !fail }));
        return;
      }
      res.on('finish', () => sent.ok++);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const next = (): void => {
        if (i === events.length) {
          res.end();
          return;
        }
        res.write(events[i++]);
        setImmediate(next);
      };
      next();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, sent, sseBytes })));
}

const WRK = wrkVersion();

test('wrk: counts, errors and chunked streams against a real server', { skip: WRK === undefined ? 'wrk not installed (apt-get install -y wrk)' : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wrk-test-'));
  const a = await fixture();
  const b = await fixture();
  try {
    for (const stream of [false, true]) {
      a.sent.ok = a.sent.failed = b.sent.ok = b.sent.failed = 0;
      const script = join(dir, `s-${stream}.lua`);
      writeFileSync(script, wrkScript([a.port, b.port], '/v1/chat/completions', [JSON.stringify({ stream, n: 1 }), JSON.stringify({ stream, n: 2 })]));
      const connections = 8;
      const r = await runWrk({ prefix: [], scriptPath: script, threads: 2, connections, seconds: 1, timeoutS: 5, url: `http://127.0.0.1:${a.port}/` });
      const ok = a.sent.ok + b.sent.ok;
      const failed = a.sent.failed + b.sent.failed;
      assert.ok(r.requests > 0);
      // One thread per port: both servers were loaded.
      assert.ok(a.sent.ok > 0 && b.sent.ok > 0, `${a.sent.ok} / ${b.sent.ok}`);
      // Every sent response was counted once, except those in flight when wrk stopped.
      assert.ok(r.requests <= ok + failed && ok + failed <= r.requests + connections, `wrk ${r.requests}, servers ${ok + failed}`);
      // One latency per response: wrk's correction undone.
      assert.equal(r.latMs.length, r.requests);
      for (let i = 1; i < r.latMs.length; i++) assert.ok(r.latMs[i - 1] <= r.latMs[i]);
      assert.ok(r.latMs[0] > 0);
      assert.equal(r.errSocket, 0);
      if (stream) {
        assert.equal(r.errStatus, 0);
        // Whole streams were read: every response carried all 16 events.
        assert.ok(r.bytes >= r.requests * a.sseBytes, `${r.bytes} bytes for ${r.requests} streams of ${a.sseBytes}`);
      } else {
        assert.ok(r.errStatus <= failed && failed <= r.errStatus + connections, `wrk ${r.errStatus} errors, servers ${failed} 503s`);
        assert.ok(r.errStatus > 0);
      }
      assert.ok(r.correctedP99 >= r.correctedP50);
    }
  } finally {
    await new Promise((r) => a.server.close(r));
    await new Promise((r) => b.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
