import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subscriber } from 'zeromq';
import { testMock, postJson } from './helpers.js';
import { decodeKvEventMessage, type DecodedMessage } from '../../src/serve/kv-events/decode.js';
import { KvBlockStore } from '../../src/routing/prefix/precise-index.js';
import { promptBlockHashes } from '../../src/workload/block-hash.js';

/** Reads decoded messages from `sub` into `into` until the socket closes. */
async function pump(sub: Subscriber, into: DecodedMessage[]): Promise<void> {
  try {
    for await (const frames of sub) {
      const m = decodeKvEventMessage(frames);
      assert.ok(m.ok, m.ok ? '' : m.reason);
      into.push(m);
    }
  } catch {
    // closed
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000, tick?: () => Promise<unknown>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    if (tick) await tick();
    await new Promise((r) => setTimeout(r, 20));
  }
}

const prompt = (base: number, n: number): number[] => Array.from({ length: n }, (_, i) => base + i);

test('mock-worker --kv-events publishes its block pool\'s BlockStored/BlockRemoved in vLLM\'s wire format over ZMQ', async () => {
  // 40 blocks of 16 tokens: a handful of 160-token prompts evict each other's cached blocks.
  const w = await testMock({ spec: { gpu: 'l20', engine: { num_gpu_blocks: 40 } }, speedup: 50, kvEvents: { endpoint: 'tcp://127.0.0.1:0', topic: 'kv@mock@llama' } });
  const sub = new Subscriber({ linger: 0 });
  const got: DecodedMessage[] = [];
  try {
    assert.ok(w.kvEvents);
    assert.match(w.kvEvents.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    sub.connect(w.kvEvents.endpoint);
    sub.subscribe();
    const pumping = pump(sub, got);
    // A PUB socket drops what it sends before the subscription reaches it: warm up until a message arrives.
    let warm = 0;
    await until(() => got.length > 0, 'a first KV event message', 15_000, () => postJson(`${w.url}/v1/completions`, { prompt: prompt(900_000 + 1000 * warm++, 40), max_tokens: 1 }));
    const seen = got.length;
    const ids = prompt(1, 165);
    const res = await postJson(`${w.url}/v1/completions`, { prompt: ids, max_tokens: 2 });
    assert.equal(res.status, 200);
    const keys = promptBlockHashes({ kind: 'tokens', ids }, ids.length, 16);
    assert.equal(keys.length, 10);
    const store = new KvBlockStore();
    store.open(0);
    for (const m of got) store.applyBatch(0, m.batch);
    await until(() => {
      for (const m of got.splice(seen)) {
        got.push(m);
        store.applyBatch(0, m.batch);
      }
      return store.matchLength(0, keys, 0) === 10;
    }, 'the prompt\'s 10 full blocks stored');
    const msgs = got.slice(seen);
    assert.ok(msgs.every((m) => m.topic === 'kv@mock@llama' && m.batch.dataParallelRank === null));
    const stored = msgs.flatMap((m) => m.batch.events).filter((e) => e.type === 'BlockStored');
    const tokens = stored.flatMap((e) => (e.type === 'BlockStored' ? e.tokenIds : []));
    assert.deepEqual(tokens.slice(0, 160), ids.slice(0, 160), 'token ids of the full blocks, in order (the 5 trailing tokens are not a full block)');
    // Sequence numbers go up by one per message.
    for (let i = 1; i < got.length; i++) assert.equal(got[i].seq, got[i - 1].seq + 1);

    // Fill the pool with other prompts: the first prompt's blocks are evicted and reported removed.
    for (let k = 0; k < 6; k++) assert.equal((await postJson(`${w.url}/v1/completions`, { prompt: prompt(10_000 * (k + 2), 165), max_tokens: 2 })).status, 200);
    const store2 = new KvBlockStore();
    store2.open(0);
    for (const m of got.slice(seen)) store2.applyBatch(0, m.batch);
    let upto = got.length;
    await until(() => {
      for (const m of got.slice(upto)) store2.applyBatch(0, m.batch);
      upto = got.length;
      return store2.matchLength(0, keys, 0) < 10;
    }, 'BlockRemoved of the first prompt\'s blocks');
    assert.ok(got.some((m) => m.batch.events.some((e) => e.type === 'BlockRemoved')));
    // The index never holds more blocks than the engine has.
    assert.ok(store2.blockCount(0) <= 40, `${store2.blockCount(0)} blocks indexed`);
    sub.close();
    await pumping;
  } finally {
    if (!sub.closed) sub.close();
    await w.close();
  }
});
