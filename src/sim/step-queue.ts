/**
 * The workers' next step ends, one entry per worker, keyed by (time, sequence) like the
 * simulator's EventHeap and sharing its sequence numbers, so the two together order events exactly
 * as one heap would. A worker whose step end moves (an arrival cuts its decode stretch) has its
 * entry re-keyed in place: the queue never holds a superseded step.
 *
 * A tournament (winner) tree rather than a binary heap: every worker owns a fixed leaf and each
 * inner node holds the earlier of its two children's winners. The common operation — the top
 * worker's step ends and it is re-keyed to a later time — replays one match per level against the
 * sibling's winner (log2(workers) comparisons), where a heap's sift-down compares two children and
 * moves an entry at every level. Keys (time, sequence) are unique among scheduled workers, so the
 * top is the same worker a heap would give.
 */
export class StepQueue {
  /** Step end per worker; Infinity (with sequence Infinity) when it has none. Index `workers` is a never-scheduled pad. */
  private readonly time: Float64Array;
  private readonly seq: Float64Array;
  /** tree[1] is the overall winner; tree[leaves + w] = w; pad leaves name the pad worker. */
  private readonly tree: Int32Array;
  private readonly leaves: number;
  private size = 0;

  constructor(workers: number) {
    let leaves = 1;
    while (leaves < workers) leaves <<= 1;
    this.leaves = leaves;
    this.time = new Float64Array(workers + 1).fill(Infinity);
    this.seq = new Float64Array(workers + 1).fill(Infinity);
    this.tree = new Int32Array(2 * leaves).fill(workers);
    for (let w = 0; w < workers; w++) this.tree[leaves + w] = w;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** The worker whose step ends first (check `empty` first). */
  get topWorker(): number {
    return this.tree[1];
  }

  get topTime(): number {
    return this.time[this.tree[1]];
  }

  get topSeq(): number {
    return this.seq[this.tree[1]];
  }

  /** Schedules worker `w`'s step end at (`time`, `seq`), replacing the one it had. */
  set(w: number, time: number, seq: number): void {
    if (this.seq[w] === Infinity) this.size++;
    this.time[w] = time;
    this.seq[w] = seq;
    this.replay(w);
  }

  /** Drops worker `w`'s step end, if it has one. */
  delete(w: number): void {
    if (this.seq[w] === Infinity) return;
    this.size--;
    this.time[w] = Infinity;
    this.seq[w] = Infinity;
    this.replay(w);
  }

  /**
   * Re-plays `w`'s matches from its leaf up. Each node's winner is the earlier of the path's
   * candidate and the sibling subtree's winner; once a node keeps a winner other than `w`, whose
   * key did not change, no node above it changes either.
   */
  private replay(w: number): void {
    const tree = this.tree;
    const time = this.time;
    const seq = this.seq;
    let c = w;
    let ct = time[w];
    let cs = seq[w];
    let i = this.leaves + w;
    while (i > 1) {
      const s = tree[i ^ 1];
      const st = time[s];
      if (st < ct || (st === ct && seq[s] < cs)) {
        c = s;
        ct = st;
        cs = seq[s];
      }
      i >>= 1;
      if (c !== w && tree[i] === c) return;
      tree[i] = c;
    }
  }
}
