/**
 * The workers' next step ends, one entry per worker, in a binary min-heap keyed by (time,
 * sequence) like the simulator's EventHeap and sharing its sequence numbers, so the two heaps
 * together order events exactly as one heap would. A worker whose step end moves (an arrival cuts
 * its decode stretch) has its entry re-keyed in place: the heap never holds a superseded step,
 * which a heap of immutable events would pop and discard, one per cut.
 */
export class StepQueue {
  private readonly time: Float64Array;
  private readonly seq: Float64Array;
  /** Workers in heap order, `size` long. */
  private readonly heap: Int32Array;
  /** A worker's position in `heap`, or -1 when it has no step scheduled. */
  private readonly pos: Int32Array;
  private size = 0;

  constructor(workers: number) {
    this.time = new Float64Array(workers);
    this.seq = new Float64Array(workers);
    this.heap = new Int32Array(workers);
    this.pos = new Int32Array(workers).fill(-1);
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** The worker whose step ends first (check `empty` first). */
  get topWorker(): number {
    return this.heap[0];
  }

  get topTime(): number {
    return this.time[this.heap[0]];
  }

  get topSeq(): number {
    return this.seq[this.heap[0]];
  }

  /** Schedules worker `w`'s step end at (`time`, `seq`), replacing the one it had. */
  set(w: number, time: number, seq: number): void {
    this.time[w] = time;
    this.seq[w] = seq;
    let i = this.pos[w];
    if (i < 0) {
      i = this.size++;
      this.heap[i] = w;
      this.pos[w] = i;
      this.up(i);
    } else if (!this.up(i)) this.down(i);
  }

  /** Drops worker `w`'s step end, if it has one. */
  delete(w: number): void {
    const i = this.pos[w];
    if (i < 0) return;
    this.pos[w] = -1;
    const last = this.heap[--this.size];
    if (i === this.size) return;
    this.heap[i] = last;
    this.pos[last] = i;
    if (!this.up(i)) this.down(i);
  }

  private before(a: number, b: number): boolean {
    const ta = this.time[a];
    const tb = this.time[b];
    return ta < tb || (ta === tb && this.seq[a] < this.seq[b]);
  }

  /** Sifts the entry at `i` up; whether it moved. */
  private up(i: number): boolean {
    const h = this.heap;
    const w = h[i];
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(w, h[p])) break;
      h[i] = h[p];
      this.pos[h[i]] = i;
      i = p;
    }
    h[i] = w;
    this.pos[w] = i;
    return i !== start;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = this.size;
    const w = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && this.before(h[r], h[l]) ? r : l;
      if (!this.before(h[m], w)) break;
      h[i] = h[m];
      this.pos[h[i]] = i;
      i = m;
    }
    h[i] = w;
    this.pos[w] = i;
  }
}
