import type { ServeWorker } from './worker.js';
import { setHealthy } from '../routing/worker-registry.js';

export interface FleetOptions {
  /** Seconds a worker with attempts in flight may send nothing while another worker answers; 0 = off. */
  stallTimeoutS: number;
  nowS: () => number;
  /** Some worker started taking requests again (pull mode retries its queue). */
  onAvailable: () => void;
  note: (line: string) => void;
}

/**
 * The live workers and who takes traffic. A worker is *admitted* when its health checks pass and
 * its breaker allows; `view.healthy` (what the Router and policies see) is "admitted", except
 * when no live worker is admitted: then every worker passing its health checks takes traffic
 * (fail open, as Envoy's panic threshold does), because refusing every request while workers
 * answer /health turns a few breaker trips into a full outage. When health checks fail
 * everywhere there is nothing to fail open to, and requests get 503.
 *
 * Stall detection (latency outlier): a worker that has had attempts in flight for
 * `stallTimeoutS` without sending a single byte while some other worker did answer in that
 * time is ejected (breaker tripped) and its attempts are cut: those that sent nothing to the
 * client are retried elsewhere. A fleet where everyone is silent is busy, not stalled.
 */
export class Fleet {
  private readonly list: ServeWorker[] = [];
  panic = false;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly o: FleetOptions) {}

  /** Live (not retired) workers, in index order. */
  get live(): readonly ServeWorker[] {
    return this.list;
  }

  add(w: ServeWorker): void {
    this.list.push(w);
    this.recompute();
  }

  /** Drops a retired worker from the live list. */
  remove(w: ServeWorker): void {
    const i = this.list.indexOf(w);
    if (i >= 0) this.list.splice(i, 1);
    setHealthy(w.view, false);
    this.recompute();
  }

  /** By name, URL or stable id (the admin API's `{name|id|url}`). */
  find(key: string): ServeWorker | undefined {
    return this.list.find((x) => x.name === key || x.spec.url === key || String(x.view.id) === key);
  }

  /** Recomputes `view.healthy` for every live worker (after any worker's admission changed). */
  recompute(): void {
    let any = false;
    for (const w of this.list) if (w.admitted) any = true;
    const panic = !any && this.list.some((w) => w.healthOk && !w.drained);
    if (panic !== this.panic) {
      this.panic = panic;
      if (panic) this.o.note('no worker is admitted (every breaker open): failing open to the workers that pass health checks');
      else this.o.note('a worker is admitted again: fail-open over');
    }
    let became = false;
    for (const w of this.list) {
      const h = w.admitted || (panic && w.healthOk && !w.drained);
      if (h && !w.view.healthy) became = true;
      setHealthy(w.view, h);
    }
    if (became) this.o.onAvailable();
  }

  startWatchdog(): void {
    const s = this.o.stallTimeoutS;
    if (s <= 0 || this.watchdog) return;
    this.watchdog = setInterval(() => this.checkStalls(), Math.max(50, Math.min(1000, (s * 1000) / 4))).unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  checkStalls(): void {
    const now = this.o.nowS();
    const s = this.o.stallTimeoutS;
    for (const w of this.list) {
      const silence = w.silenceS(now);
      if (silence < s || w.breaker.state === 'open') continue;
      // Another worker sent a byte at some point during this worker's silence (not necessarily
      // within the last stallTimeoutS: a fast worker may have answered everything early on).
      const silentSince = now - silence;
      const othersAnswered = this.list.some((x) => x !== w && x.lastProgressS > silentSince);
      if (!othersAnswered) continue;
      this.o.note(`worker ${w.name} stalled: ${w.active.size} request(s) in flight and no byte for ${w.silenceS(now).toFixed(1)} s while other workers answered`);
      w.ejectStalled();
    }
  }
}
