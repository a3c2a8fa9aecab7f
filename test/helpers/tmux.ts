import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;
export const skipTmux = hasTmux ? false : 'tmux not installed (apt-get install -y tmux); skipping the pseudo-terminal tests';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A detached tmux session on its own server socket, so tests never touch a user's tmux. */
export function tmux(sock: string, ...args: string[]): string {
  return execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
}

export function killTmux(sock: string): void {
  spawnSync('tmux', ['-L', sock, 'kill-server']);
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function waitFor(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (probe()) return;
    await sleep(200);
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
