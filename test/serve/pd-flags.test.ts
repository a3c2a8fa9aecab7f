import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { splitPools, type PdFlags } from '../../src/serve/pd/config.js';
import { parseWorkersFlag } from '../../src/serve/worker-spec.js';
import { UserError } from '../../src/util/errors.js';
import { createPolicy } from '../../src/routing/registry.js';
import { roomFromBits, sglangBody, vllmPrefillBody } from '../../src/serve/pd/wire.js';

const P = 'http://127.0.0.1:1';
const D = 'http://127.0.0.1:2';

test('bad PD flags exit 2 with one line naming the flag, before anything listens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-flags-'));
  try {
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `workers:\n  - url: ${P}\n    role: prefill\n  - url: ${D}\n    role: primary\n`);
    // The CLI path end to end for a few; the rest through the same parser (a UserError is what runAction turns into exit 2).
    const cli: [string[], RegExp][] = [
      [['--decode', D], /^router: --decode: disaggregated serving needs prefill workers too/],
      [['--prefill', P, '--decode', D, '--pd-protocol', 'nixl'], /^router: --pd-protocol: expected vllm or sglang, got "nixl"/],
      [['--prefill', P, '--decode', D, '--prefill-policy', 'nope'], /nope/],
      [['--config', cfg], /role expects prefill, decode, both, got "primary"/],
      // An empty port is port 80: both entries are the same worker.
      [['--workers', 'http://127.0.0.1:,http://127.0.0.1:'], /^router: worker http:\/\/127\.0\.0\.1: listed twice; give each worker once/],
      [['--workers', `${P};name=a,${D};name=a`], /^router: worker name "a": listed twice/],
    ];
    for (const [args, want] of cli) {
      const r = runCli(['serve', '--port', '0', '--health-interval', '0', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /listening|\n\s+at /);
    }
    const policy = (name: string | undefined) => createPolicy(name ?? 'least-request');
    const parsed: [Parameters<typeof splitPools>[0], PdFlags, RegExp][] = [
      [[], { prefill: [P] }, /^--prefill: disaggregated serving needs decode workers too/],
      [[{ url: D }], { pdThreshold: '100' }, /^--pd-threshold: disaggregated serving needs prefill workers/],
      [[{ url: D }], { prefillPolicy: 'round-robin' }, /^--prefill-policy: disaggregated serving needs prefill workers/],
      [[{ url: D, role: 'decode' }], {}, /^role=decode: disaggregated serving needs prefill workers/],
      [[], { prefill: [P], decode: [D], pdThreshold: '-5' }, /^--pd-threshold: expected an integer >= 0/],
      [[], { prefill: [P, '8998'], decode: [D] }, /^--prefill http:\/\/127\.0\.0\.1:1: a bootstrap port is an SGLang setting/],
      [[], { prefill: [P], decode: [D], pdProtocol: 'sglang', pdThreshold: '64' }, /^--pd-threshold: needs --pd-protocol vllm/],
      [[], { prefill: [P], decode: [P] }, /^http:\/\/127\.0\.0\.1:1: listed twice/],
      [[], { prefill: ['8998', P], decode: [D] }, /^--prefill 8998: a bare number is a bootstrap port and must follow a --prefill URL/],
      [[], { prefill: [P, '99999'], decode: [D], pdProtocol: 'sglang' }, /^--prefill 99999: expected a bootstrap port from 1 to 65535/],
      [[], { prefill: [`${P};role=decode`], decode: [D] }, /^--prefill ".*": role=decode contradicts --prefill/],
    ];
    for (const [workers, flags, want] of parsed) {
      assert.throws(() => splitPools(workers, flags, policy, 16), (e: Error) => e instanceof UserError && want.test(e.message), JSON.stringify(flags));
    }
    assert.throws(() => parseWorkersFlag(`${P};role=primary`), /^UserError: --workers ".*": label role expects prefill, decode, both, got "primary"/);
    const mock = runCli(['mock-worker', '--gpu', 'l20', '--role', 'middle']);
    assert.equal(mock.status, 2);
    assert.match(mock.stderr, /^router: --role: expected prefill, decode, both, got "middle"\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pools: roles in --workers split into prefill and decode; both-role workers decode; no prefill worker = colocated', () => {
  const policy = (name: string | undefined) => createPolicy(name ?? 'least-request');
  const colocated = splitPools([{ url: D }], {}, policy, 16);
  assert.equal(colocated.pd, undefined);
  assert.deepEqual(colocated.decode, [{ url: D }]);
  const s = splitPools([{ url: P, role: 'prefill' }, { url: D, role: 'decode' }, { url: 'http://127.0.0.1:3', role: 'both' }], { prefillPolicy: 'round-robin', pdThreshold: '256' }, policy, 16);
  assert.deepEqual(s.decode.map((w) => w.url), [D, 'http://127.0.0.1:3']);
  assert.deepEqual(s.pd?.prefill.map((w) => w.url), [P]);
  assert.equal(s.pd?.prefillPolicy.name, 'round-robin');
  assert.equal(s.pd?.thresholdTokens, 256);
  assert.equal(s.pd?.protocol, 'vllm');
  const sg = splitPools([], { prefill: [P, '9000', `http://127.0.0.1:4;bootstrap_port=9001`], decode: [D], pdProtocol: 'sglang' }, policy, 16);
  assert.deepEqual(sg.pd?.prefill.map((w) => [w.url, w.bootstrapPort, w.role]), [[P, 9000, 'prefill'], ['http://127.0.0.1:4', 9001, 'prefill']]);
});

test('wire: vLLM prefill body and SGLang bootstrap body as the engines expect them', () => {
  const client = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 50, stream: true, stream_options: { include_usage: true }, min_tokens: 3, top_p: 0.9 };
  assert.deepEqual(JSON.parse(vllmPrefillBody(client).toString()), {
    model: 'm',
    messages: client.messages,
    max_completion_tokens: 1,
    max_tokens: 1,
    stream: false,
    top_p: 0.9,
    kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null },
  });
  // A 63-bit room survives as an exact integer (a JS number would round it).
  const room = roomFromBits(0xffffffff, 0xfffffffe);
  assert.equal(room, String(2n ** 63n - 2n));
  const text = sglangBody({ model: 'm', prompt: 'x', bootstrap_room: 5 }, { host: '10.0.0.7', port: 8998, room }).toString();
  assert.equal(text, `{"model":"m","prompt":"x","bootstrap_host":"10.0.0.7","bootstrap_port":8998,"bootstrap_room":${room}}`);
  assert.equal(roomFromBits(0, 0), '0');
});
