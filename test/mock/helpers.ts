import { resolveDeployment, type DeploymentSpec } from '../../src/profiles/catalog.js';
import { startMockWorker, NO_FAULTS, type MockFaults, type MockWorker } from '../../src/mock/server.js';
import type { MetricsStyle } from '../../src/mock/metrics.js';
import type { MockTokenizer } from '../../src/mock/tokenizer.js';
import type { KvEventPublisherOptions } from '../../src/mock/kv-events.js';
import type { MockLoraModule } from '../../src/mock/lora.js';

export interface TestMockOptions {
  spec?: DeploymentSpec;
  speedup?: number;
  faults?: Partial<MockFaults>;
  metricsStyle?: MetricsStyle;
  crash?: () => void;
  tokenizer?: MockTokenizer;
  kvEvents?: KvEventPublisherOptions;
  loraModules?: MockLoraModule[];
}

/** A mock worker on an ephemeral 127.0.0.1 port. */
export function testMock(o: TestMockOptions = {}): Promise<MockWorker> {
  return startMockWorker({
    deployment: resolveDeployment(o.spec ?? { gpu: 'l20' }),
    host: '127.0.0.1',
    port: 0,
    speedup: o.speedup ?? 20,
    metricsStyle: o.metricsStyle ?? 'vllm',
    defaultMaxTokens: 16,
    faults: { ...NO_FAULTS, ...o.faults },
    seed: 1,
    crash: o.crash,
    tokenizer: o.tokenizer,
    kvEvents: o.kvEvents,
    loraModules: o.loraModules,
  });
}

/** SSE `data:` payloads of a stream body, in order. */
export function sseData(body: string): string[] {
  const out: string[] = [];
  for (const event of body.split('\n\n')) {
    if (event.trim() === '') continue;
    for (const line of event.split('\n')) {
      if (line.startsWith('data: ')) out.push(line.slice(6));
      else throw new Error(`unexpected SSE line ${JSON.stringify(line)}`);
    }
  }
  return out;
}

export async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
}

/** `n` distinct three-letter words: n tokens to the mock tokenizer. */
export function words(n: number, seed = 'w'): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = (i * 7919 + seed.charCodeAt(0) * 31 + seed.length * 101) % 17576;
    out.push(String.fromCharCode(97 + (v % 26), 97 + (Math.floor(v / 26) % 26), 97 + Math.floor(v / 676)));
  }
  return out.join(' ');
}
