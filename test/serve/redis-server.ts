import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from '../../bench/ports.js';
import { Redis } from 'ioredis';
import { until } from './helpers.js';

/** Whether a real redis-server can be started (tests skip with a message when not). */
export const haveRedis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
export const NO_REDIS = 'redis-server is not installed (apt-get install -y redis-server)';

export { freePort };

export interface RedisProc {
  port: number;
  child: ChildProcess;
  /** SIGKILL, and wait for the exit. */
  stop: () => Promise<void>;
}

/** A throwaway redis-server on a loopback port (a free one, or `port` to restart on the same), no persistence; resolves once it answers PING. */
export async function startRedis(port?: number): Promise<RedisProc> {
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const probe = new Redis({ port: p, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  const up = await until(async () => {
    try {
      if (probe.status !== 'ready') await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    }
  }, 10_000);
  probe.disconnect();
  if (!up) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`redis-server did not start on port ${p}`);
  }
  return {
    port: p,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
