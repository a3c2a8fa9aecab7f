import type { Rng } from '../../util/rng.js';
import type { RouteRequest } from '../../workload/request.js';

/** Guesses a request's output length for routers that must plan with it (the SLO policies). */
export interface OutputPredictor {
  readonly name: string;
  /** Predicted output tokens; undefined when it has seen nothing like this prompt yet (cold). */
  predict(req: RouteRequest, nowS: number, rng: Rng): number | undefined;
  /** A request completed: its prompt and output lengths feed the estimate. */
  observe(inputTokens: number, outputTokens: number, nowS: number): void;
}
