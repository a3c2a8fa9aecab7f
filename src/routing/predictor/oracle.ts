import { UserError } from '../../util/errors.js';
import type { Request, RouteRequest } from '../../workload/request.js';
import type { OutputPredictor } from './predictor.js';

/**
 * ORACLE, FOR SIMULATION STUDIES ONLY: returns the request's true output length, which a real
 * router cannot know. It measures how much of an SLO policy's result is owed to prediction error.
 * `serve` requests carry no true output length, so this predictor refuses them.
 */
export class OraclePredictor implements OutputPredictor {
  readonly name = 'oracle';

  predict(req: RouteRequest): number {
    const out = (req as Partial<Request>).outputTokens;
    if (out === undefined) throw new UserError(`output predictor "oracle" needs the true output length, which request ${req.id} does not carry (oracle is for simulation only)`);
    return out;
  }

  observe(): void {}
}
