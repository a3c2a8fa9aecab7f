import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'ink-testing-library';
import { ServeApp, type ServeOptions } from '../../src/serve/server.js';
import { createPolicy } from '../../src/routing/registry.js';
import { ServeDashboard } from '../../src/tui/serve-dashboard.js';
import { serveDashboardFeed } from '../../src/tui/serve-live.js';
import { Upstream } from '../serve/fixtures/upstream.js';
import { call, chatBody } from '../serve/helpers.js';
import { serveTestOptions } from '../serve/serve-options.js';

function options(ports: number[]): ServeOptions {
  // Breaker and health checks out of the way: every request tries the failing worker in turn.
  return serveTestOptions(ports, createPolicy('round-robin'), { breaker: { failureThreshold: 1000, successThreshold: 1, openS: 1 }, scrapeIntervalMs: 0 });
}

test('serve --dashboard: per-worker served and errors columns count what each worker answered', async () => {
  const ups = [new Upstream(), new Upstream()];
  const ports = await Promise.all(ups.map((u) => u.listen()));
  ups[1].behaviour = { ...ups[1].behaviour, mode: 'fail', failStatus: 503 };
  const app = new ServeApp(options(ports));
  const addr = await app.listen();
  try {
    // Round robin alternates; every attempt on w1 fails with 503 and is retried on w0.
    for (let i = 0; i < 4; i++) assert.equal((await call(addr.port, 'POST', '/v1/chat/completions', chatBody(`count ${i}`))).status, 200);
    const rows = app.snapshot().workers.map((w) => [w.name, w.served, w.errors]);
    assert.deepEqual(rows, [['w0', 4, 0], ['w1', 0, 2]]);
    const frame = serveDashboardFeed(app, `http://127.0.0.1:${addr.port}`)();
    const { lastFrame, unmount } = render(<ServeDashboard s={frame} color={false} refreshMs={500} />);
    const lines = (lastFrame() ?? '').split('\n');
    unmount();
    const header = lines.find((l) => l.startsWith('worker')) ?? '';
    const cols = header.split(/\s{2,}/);
    assert.deepEqual(cols.slice(-2), ['served', 'errors']);
    const row = (name: string): string[] => (lines.find((l) => l.startsWith(name)) ?? '').trim().split(/\s+/);
    assert.deepEqual(row('w0').slice(-2), ['4', '0']);
    assert.deepEqual(row('w1').slice(-2), ['0', '2']);
  } finally {
    await app.shutdown();
    await Promise.all(ups.map((u) => u.close()));
  }
});
