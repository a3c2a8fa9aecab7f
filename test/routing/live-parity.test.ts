import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { createPolicy } from '../../src/routing/registry.js';
import { Router } from '../../src/routing/router.js';
import type { Outcome, Policy, ScrapedMetrics, WorkerView } from '../../src/routing/types.js';
import { Simulation } from '../../src/sim/simulator.js';
import { parseFleet } from '../../src/profiles/fleet.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import { childRng } from '../../src/util/rng.js';
import type { Clock } from '../../src/util/clock.js';
import type { Request } from '../../src/workload/request.js';

/** What a live deployment feeds the Router: requests, first tokens, completions and scrapes, each at a time. */
type LiveEvent =
  | { t: number; kind: 'submit'; req: Request }
  | { t: number; kind: 'first'; req: Request }
  | { t: number; kind: 'complete'; req: Request; outcome: Outcome; firstTokenSeen: boolean }
  | { t: number; kind: 'scrape'; worker: number; metrics: ScrapedMetrics };

/**
 * A test-only live driver: like `serve`, it owns a clock it only reads (set here from each
 * event's timestamp, as a wall clock would have advanced), receives events one at a time
 * asynchronously, and forwards them to a Router. It records where the Router dispatched.
 */
class FakeLiveDriver {
  private now = 0;
  readonly clock: Clock = { now: () => this.now };
  readonly decisions: string[] = [];
  readonly router: Router;
  constructor(policy: Policy, workers: WorkerView[], seed: number) {
    this.router = new Router({
      policy,
      workers,
      clock: this.clock,
      rng: childRng(seed, 'router'),
      sink: {
        dispatch: (req, w) => this.decisions.push(`${req.id}->${w.index}`),
        reject: (req, reason) => this.decisions.push(`${req.id}->rejected:${reason}`),
      },
    });
  }
  async run(events: AsyncIterable<LiveEvent>): Promise<void> {
    for await (const e of events) {
      this.now = e.t;
      switch (e.kind) {
        case 'submit':
          this.router.submit(e.req);
          break;
        case 'first':
          this.router.onFirstToken(e.req);
          break;
        case 'complete':
          this.router.onComplete(e.req, e.outcome, e.firstTokenSeen);
          break;
        case 'scrape':
          this.router.onScrape(e.worker, e.metrics);
          break;
      }
    }
  }
}

async function* arriveOneByOne(events: LiveEvent[]): AsyncGenerator<LiveEvent> {
  for (const e of events) {
    await tick();
    yield e;
  }
}

function freshViews(views: readonly WorkerView[]): WorkerView[] {
  return views.map((v) => ({ ...v, inFlight: 0, inFlightPromptTokens: 0, inPrefill: 0, scraped: undefined }));
}

async function simulateAndRecord(policyName: string, requests: Request[], seed: number): Promise<{ events: LiveEvent[]; decisions: string[]; views: WorkerView[] }> {
  const sim = new Simulation({
    fleet: parseFleet('l20:3'),
    policy: createPolicy(policyName),
    requests,
    seed,
    scrapeIntervalS: 0.5,
    timeseriesIntervalS: 60,
  });
  const views = freshViews(sim.views);
  const events: LiveEvent[] = [];
  const decisions: string[] = [];
  const r = sim.router;
  const now = (): number => sim.clock.now();
  // Tap the simulator's Router: every event it receives is recorded with its time.
  const submit = r.submit.bind(r);
  const first = r.onFirstToken.bind(r);
  const complete = r.onComplete.bind(r);
  const scrape = r.onScrape.bind(r);
  r.submit = (req) => {
    events.push({ t: now(), kind: 'submit', req });
    const before = r.workers.map((w) => w.inFlight);
    submit(req);
    const w = r.workers.findIndex((x, i) => x.inFlight > before[i]);
    decisions.push(w >= 0 ? `${req.id}->${w}` : `${req.id}->rejected`);
  };
  // The simulator names the worker (`at`); its Router counts placements instead of keeping them by id.
  r.onFirstToken = (req, at) => {
    events.push({ t: now(), kind: 'first', req });
    first(req, at);
  };
  r.onComplete = (req, outcome, seen, at) => {
    events.push({ t: now(), kind: 'complete', req, outcome: { ...outcome }, firstTokenSeen: seen });
    complete(req, outcome, seen, at);
  };
  r.onScrape = (worker, metrics) => {
    events.push({ t: now(), kind: 'scrape', worker, metrics: { ...metrics } });
    scrape(worker, metrics);
  };
  await sim.run();
  return { events, decisions, views };
}

const POLICIES = ['cache-aware', 'prefix-cache', 'kv-cost', 'weighted', 'least-latency', 'least-kv-cache', 'preble', 'power-of-two'];

for (const name of POLICIES) {
  test(`${name}: the same Router + policy gives identical decisions under the simulator and a live driver`, async () => {
    const requests = [
      ...syntheticRequests({
        seed: 5,
        rate: 6,
        count: 150,
        input: { kind: 'lognormal', mean: 200, sigma: 0.5 },
        output: { kind: 'lognormal', mean: 80, sigma: 0.5 },
        sharedPrefix: { groups: 6, prefixTokens: 1024, blockTokens: 16 },
      }),
    ];
    const seed = 11;
    const { events, decisions, views } = await simulateAndRecord(name, requests, seed);
    assert.equal(decisions.length, 150);
    assert.ok(events.some((e) => e.kind === 'complete'));
    // scrapes keep coming every 0.5 s while requests are in flight (not just the one at t = 0)
    const scrapeTimes = new Set(events.filter((e) => e.kind === 'scrape').map((e) => e.t));
    assert.ok(scrapeTimes.size > 20, `scrapes at ${scrapeTimes.size} times`);
    const live = new FakeLiveDriver(createPolicy(name), views, seed);
    await live.run(arriveOneByOne(events));
    const liveDecisions = live.decisions.map((d) => d.replace(/:.*$/, ''));
    assert.deepEqual(liveDecisions, decisions);
    // and the decisions are not trivial: more than one worker was used
    assert.ok(new Set(decisions.map((d) => d.split('->')[1])).size > 1);
  });
}
