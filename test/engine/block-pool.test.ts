import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '../../src/engine/block-pool.js';
import { createRng } from '../../src/util/rng.js';

test('allocates in order and counts free blocks', () => {
  const p = new BlockPool(4, true);
  assert.equal(p.free, 4);
  assert.deepEqual([p.allocate(), p.allocate()], [0, 1]);
  assert.equal(p.free, 2);
  assert.equal(p.used, 2);
});

test('a released cached block stays a hit until it is evicted, least recently freed first', () => {
  const p = new BlockPool(3, true);
  const a = p.allocate();
  const b = p.allocate();
  p.register(a, 111);
  p.register(b, 222);
  p.release([a, b]); // reverse order: b freed first, then a
  assert.equal(p.free, 3);
  assert.equal(p.lookup(111), a);
  assert.equal(p.lookup(222), b);
  // Free queue is now [2, b, a]: the first allocation takes the never-used block, the next evicts b.
  assert.equal(p.allocate(), 2);
  assert.equal(p.allocate(), b);
  assert.equal(p.lookup(222), -1);
  assert.equal(p.lookup(111), a);
});

test('touching a free cached block takes it off the free queue', () => {
  const p = new BlockPool(2, true);
  const a = p.allocate();
  p.register(a, 7);
  p.release([a]);
  assert.equal(p.free, 2);
  p.touch(a);
  assert.equal(p.free, 1);
  assert.equal(p.refCount(a), 1);
  assert.equal(p.allocate(), 1);
  assert.equal(p.free, 0);
  p.release([a]);
  assert.equal(p.lookup(7), a);
});

test('with caching disabled nothing is ever a hit', () => {
  const p = new BlockPool(2, false);
  const a = p.allocate();
  p.register(a, 9);
  assert.equal(p.lookup(9), -1);
});

test('the free queue keeps release order through many prefix hits (stale ring entries skipped, the ring compacted)', () => {
  // A model of the queue: never-used blocks first, then released blocks in release order.
  const total = 40;
  const p = new BlockPool(total, true);
  let fresh = 0;
  const queue: number[] = [];
  const held: number[] = [];
  let rnd = 12345;
  const next = (n: number): number => {
    rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
    return rnd % n;
  };
  let nextHash = 1;
  for (let step = 0; step < 5000; step++) {
    // Phases of releases and prefix hits only pile stale entries up until the ring compacts.
    const op = step % 1000 < 500 ? next(3) : 1 + next(2);
    if (op === 0 && p.free > 0) {
      const expected = fresh < total ? fresh++ : (queue.shift() as number);
      const b = p.allocate();
      assert.equal(b, expected);
      p.register(b, nextHash++);
      held.push(b);
    } else if (op === 1 && held.length > 0) {
      const b = held.splice(next(held.length), 1)[0];
      p.release([b]);
      queue.push(b);
    } else if (queue.length > 0) {
      // A prefix hit on an idle cached block takes it from the middle of the queue.
      const b = queue.splice(next(queue.length), 1)[0];
      assert.equal(p.refCount(b), 0);
      p.touch(b);
      held.push(b);
    }
    assert.equal(p.free, total - fresh + queue.length);
    assert.equal(p.used, held.length);
  }
});

/** A prefix-cache probe both pools must answer alike; a hit (with room to spare) is touched in both and returned. */
function probeBoth(fast: BlockPool, slow: BlockPool, probe: number): number | undefined {
  const hit = fast.lookup(probe);
  assert.equal(hit, slow.lookup(probe));
  if (hit < 0 || fast.free <= 3) return undefined;
  fast.touch(hit);
  slow.touch(hit);
  return hit;
}

/** Releases every holder (counting only each one's first `counted` blocks in `fast`), then both pools must hand out blocks in the same order. */
function drainInSameOrder(fast: BlockPool, slow: BlockPool, held: { blocks: number[]; counted: number }[], takeFast: () => number, what: string): void {
  for (const h of held.splice(0).reverse()) {
    fast.release(h.blocks, h.counted);
    slow.release(h.blocks);
  }
  const order: number[][] = [[], []];
  for (let k = 0; k < fast.total; k++) {
    order[0].push(takeFast());
    order[1].push(slow.allocate());
  }
  assert.deepEqual(order[0], order[1], `${what}: allocation order after release`);
}

test('releasing private blocks unread frees them exactly as the counting release does (random use, ring wrap and compaction)', () => {
  const rng = createRng('block-pool/private-release');
  for (let run = 0; run < 40; run++) {
    const total = 8 + rng.int(40);
    const fast = new BlockPool(total, true);
    const slow = new BlockPool(total, true);
    // Each holder: shared (cached, possibly touched by others) leading blocks, then private ones.
    const held: { blocks: number[]; counted: number }[] = [];
    let nextHash = 1;
    const trace = (p: BlockPool, out: number[]): void => {
      out.push(p.free, p.used, p.cachedBlocks);
    };
    const a: number[] = [];
    const b: number[] = [];
    for (let op = 0; op < 400; op++) {
      if (held.length > 0 && (rng.next() < 0.45 || fast.free < 4)) {
        const h = held.splice(rng.int(held.length), 1)[0];
        fast.release(h.blocks, h.counted);
        slow.release(h.blocks);
      } else {
        const hits: number[] = [];
        // A prefix hit on some cached block (a shared block another holder may also hold).
        const hit = probeBoth(fast, slow, 1 + rng.int(nextHash));
        if (hit !== undefined) hits.push(hit);
        const n = 1 + rng.int(Math.min(3, fast.free - 1));
        const blocks = [...hits];
        for (let k = 0; k < n; k++) {
          const x = fast.allocate();
          assert.equal(x, slow.allocate());
          blocks.push(x);
        }
        // Some of the fresh blocks get registered: they become shared (cached) content.
        let shared = hits.length;
        while (shared < blocks.length && rng.next() < 0.4) {
          const h = nextHash++;
          fast.register(blocks[shared], h);
          slow.register(blocks[shared], h);
          shared++;
        }
        held.push({ blocks, counted: shared });
      }
      trace(fast, a);
      trace(slow, b);
    }
    assert.deepEqual(a, b);
    // The free queues hold the same blocks in the same order.
    drainInSameOrder(fast, slow, held, () => fast.allocate(), `run ${run}`);
  }
});

test('private blocks whose records are not kept are found again after a preemption exactly when a counting pool finds them', () => {
  // `fast` is used as the engine uses it (allocatePrivate, private releases unread); `slow` keeps
  // every record (allocate, counting releases). Both mark a preemption's release, whose blocks
  // `holds` may find again. They must agree on every hit
  // through a saved generation (`holds`), on every prefix-cache hit and on the allocation order.
  const rng = createRng('block-pool/private-holds');
  for (let run = 0; run < 60; run++) {
    const total = 8 + rng.int(40);
    const fast = new BlockPool(total, true);
    const slow = new BlockPool(total, true);
    // A holder's first `counted` blocks are hits or registered (released by counting), the rest private.
    const held: { blocks: number[]; counted: number }[] = [];
    // Preempted holders: their blocks and the generations each pool gave for them.
    const left: { blocks: number[]; fastGens: number[]; slowGens: number[] }[] = [];
    let nextHash = 1;
    const a: number[] = [];
    const b: number[] = [];
    for (let op = 0; op < 400; op++) {
      const r = rng.next();
      if (held.length > 0 && (r < 0.3 || fast.free < 4)) {
        const h = held.splice(rng.int(held.length), 1)[0];
        fast.release(h.blocks, h.counted);
        slow.release(h.blocks);
      } else if (held.length > 0 && r < 0.45) {
        const h = held.splice(rng.int(held.length), 1)[0];
        left.push({ blocks: h.blocks, fastGens: h.blocks.map((x) => fast.generation(x)), slowGens: h.blocks.map((x) => slow.generation(x)) });
        fast.release(h.blocks, h.counted, true);
        slow.release(h.blocks, h.blocks.length, true);
      } else {
        const blocks: number[] = [];
        if (left.length > 0 && rng.next() < 0.5) {
          // A preempted holder comes back: its leading blocks that still hold their content are hits.
          const l = left.splice(rng.int(left.length), 1)[0];
          for (let i = 0; i < l.blocks.length; i++) {
            const x = l.blocks[i];
            const f = fast.holds(x, l.fastGens[i]);
            assert.equal(f, slow.holds(x, l.slowGens[i]), `run ${run} op ${op}: holds(${x})`);
            if (!f) break;
            assert.equal(fast.refCount(x), slow.refCount(x));
            fast.touch(x);
            slow.touch(x);
            blocks.push(x);
          }
        } else {
          const hit = probeBoth(fast, slow, 1 + rng.int(nextHash));
          if (hit !== undefined) blocks.push(hit);
        }
        const counted0 = blocks.length;
        const n = Math.min(1 + rng.int(3), fast.free - 1);
        for (let k = 0; k < n; k++) {
          const x = fast.allocatePrivate();
          assert.equal(x, slow.allocate());
          blocks.push(x);
        }
        let counted = counted0;
        while (counted < blocks.length && rng.next() < 0.3) {
          const h = nextHash++;
          fast.register(blocks[counted], h);
          slow.register(blocks[counted], h);
          counted++;
        }
        held.push({ blocks, counted });
      }
      a.push(fast.free, fast.used, fast.cachedBlocks);
      b.push(slow.free, slow.used, slow.cachedBlocks);
    }
    assert.deepEqual(a, b);
    drainInSameOrder(fast, slow, held, () => fast.allocatePrivate(), `run ${run}`);
  }
});
