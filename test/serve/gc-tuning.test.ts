import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { heapGrowingGiven } from '../../src/serve/gc-tuning.js';

test('a heap growing factor given to node itself is recognised, in either spelling and in NODE_OPTIONS', () => {
  assert.equal(heapGrowingGiven([], undefined), false);
  assert.equal(heapGrowingGiven(['--max-old-space-size=512', '--enable-source-maps'], '--max-semi-space-size=8'), false);
  assert.equal(heapGrowingGiven(['--heap-growing-percent=50'], undefined), true);
  assert.equal(heapGrowingGiven(['--heap_growing_percent=50'], undefined), true);
  assert.equal(heapGrowingGiven([], '--enable-source-maps  --heap-growing-percent=30'), true);
  // A different flag sharing the prefix is not the factor.
  assert.equal(heapGrowingGiven(['--heap-growing-percentage-x=1'], undefined), false);
});

test('tuneHeapGrowth sets the factor unless the user gave one or the percent is 0', () => {
  // In a child: the V8 flag is process-wide and must not leak into this test process.
  const code = `
    import { tuneHeapGrowth } from ${JSON.stringify(new URL('../../src/serve/gc-tuning.js', import.meta.url).href)};
    const r = [tuneHeapGrowth(0), tuneHeapGrowth(100, [], undefined), tuneHeapGrowth(100, ['--heap-growing-percent=20'], undefined)];
    // The process keeps running with the factor set: a collection under it works.
    globalThis.gc?.();
    process.stdout.write(JSON.stringify(r));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [false, true, false]);
});
