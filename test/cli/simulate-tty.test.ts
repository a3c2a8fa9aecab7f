import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI as cli, REPO_ROOT as root } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { killTmux, shellQuote, skipTmux, sleep, tmux, waitFor } from '../helpers/tmux.js';

test('simulate in a pseudo-terminal shows the dashboard (worker rows, progress line); q quits with exit 0 and reports written', { skip: skipTmux, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-tty-'));
  const sock = `router-test-${process.pid}-a`;
  const out = join(dir, 'out');
  const rc = join(dir, 'rc');
  // NO_COLOR keeps the capture plain; --pace keeps the run on screen for ~8 s unless q ends it.
  const cmd = `cd ${shellQuote(root)} && env -u CI NO_COLOR=1 node ${shellQuote(cli)} simulate --limit 1000 --pace 10 --out ${shellQuote(out)}; echo $? > ${shellQuote(rc)}; sleep 60`;
  tmux(sock, 'new-session', '-d', '-s', 'sim', '-x', '120', '-y', '50', cmd);
  try {
    let screen = '';
    await waitFor('the dashboard', 20_000, () => {
      screen = tmux(sock, 'capture-pane', '-p', '-t', 'sim');
      return /^progress .*simulated/m.test(screen) && /^l20-3\s+l20\s+\d+\s+\d+/m.test(screen);
    });
    assert.match(screen, /^router simulate · policy least-request/m);
    for (let i = 0; i < 4; i++) assert.match(screen, new RegExp(`^l20-${i}\\s+l20\\s+\\d+\\s+\\d+\\s+[█░]+\\s+[\\d.]+%`, 'm'));
    assert.match(screen, /requests \d+(\/1000)? arrived · \d+ done/);
    assert.match(screen, /^TTFT\s+[\d.-]+\s+[\d.-]+$/m);
    tmux(sock, 'send-keys', '-t', 'sim', 'q');
    await waitFor('the run to end after q', 20_000, () => existsSync(rc) && readFileSync(rc, 'utf8').trim() !== '');
    assert.equal(readFileSync(rc, 'utf8').trim(), '0');
    const after = tmux(sock, 'capture-pane', '-p', '-t', 'sim', '-S', '-100');
    assert.match(after, /stopped at [\d.]+ s simulated; reports cover what was simulated/);
    const summary = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(summary.length, 2);
    const requests = Number(summary[1].split(',')[1]);
    assert.ok(requests > 0 && requests < 1000, `q stopped the run early: ${requests} requests reported`);
    assert.equal(readFileSync(join(out, 'requests.csv'), 'utf8').trim().split('\n').length, requests + 1);
  } finally {
    killTmux(sock);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CI=true on a terminal: no dashboard and no escape codes, summary on stdout', { skip: skipTmux, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-tty-'));
  const sock = `router-test-${process.pid}-b`;
  const raw = join(dir, 'raw');
  const rc = join(dir, 'rc');
  const cmd = `sleep 0.5; cd ${shellQuote(root)} && CI=true node ${shellQuote(cli)} simulate --limit 300; echo $? > ${shellQuote(rc)}; sleep 60`;
  tmux(sock, 'new-session', '-d', '-s', 'ci', '-x', '120', '-y', '50', cmd);
  try {
    // Everything the program writes to the terminal, byte for byte.
    tmux(sock, 'pipe-pane', '-t', 'ci', '-o', `cat > ${shellQuote(raw)}`);
    await waitFor('the run to end', 30_000, () => existsSync(rc) && readFileSync(rc, 'utf8').trim() !== '');
    assert.equal(readFileSync(rc, 'utf8').trim(), '0');
    await sleep(300);
    const bytes = readFileSync(raw, 'utf8');
    assert.match(bytes, /policy least-request: 300\/300 completed/);
    assert.ok(!bytes.includes('\u001b'), `escape code in output: ${JSON.stringify(bytes.slice(Math.max(0, bytes.indexOf('\u001b') - 20), bytes.indexOf('\u001b') + 20))}`);
    assert.ok(!bytes.includes('keys: q quit'));
  } finally {
    killTmux(sock);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stdout not a terminal: no ink at all, progress on stderr only, summary on stdout; --json likewise', () => {
  const r = runCli(['simulate', '--limit', '200'], { env: { CI: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^policy least-request: 200\/200 completed/);
  assert.ok(!r.stdout.includes('\u001b') && !r.stderr.includes('\u001b'));
  const j = runCli(['simulate', '--limit', '200', '--json'], { env: { CI: '' } });
  assert.equal(j.status, 0, j.stderr);
  assert.equal((JSON.parse(j.stdout) as { completed: number }).completed, 200);
});

test('--pace slows the run to the requested multiple of real time; a bad --pace is a user error', () => {
  // 200 requests span ~17 s of simulated time; at 20x that is ~0.85 s of wall time at least.
  const started = Date.now();
  const r = runCli(['simulate', '--limit', '200', '--pace', '20', '--json']);
  const wallS = (Date.now() - started) / 1e3;
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { duration_s: number; wall_s: number };
  assert.ok(s.wall_s >= (s.duration_s / 20) * 0.9, `wall ${s.wall_s} s for ${s.duration_s} s simulated at 20x`);
  assert.ok(wallS < 30);
  const bad = runCli(['simulate', '--pace', 'fast']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim(), 'router: --pace: expected a number > 0 (times real time), got "fast"');
});
