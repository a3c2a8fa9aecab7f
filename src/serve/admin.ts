import type { IncomingMessage, ServerResponse } from 'node:http';
import { UserError } from '../util/errors.js';
import { HttpError } from './openai-error.js';
import type { BearerKey } from './auth.js';
import { decodeSegment, methodNotAllowed, readBody, sendJson } from './http.js';
import { parseJsonObject } from './parse-body.js';
import { workerFromObject, type WorkerSpec } from './worker-spec.js';
import type { ServeWorker } from './worker.js';

/** What the admin API drives. */
export interface AdminHost {
  readonly workers: readonly ServeWorker[];
  /** Disaggregated serve: the prefill pool, listed after `workers`. */
  readonly prefillWorkers?: readonly ServeWorker[];
  findWorker(key: string): ServeWorker | undefined;
  /** Adds a worker; resolves once its first health check has run (it starts unhealthy). */
  addWorkerChecked(spec: WorkerSpec): Promise<ServeWorker>;
  drainWorker(w: ServeWorker): void;
  removeWorker(w: ServeWorker): void;
  onError(req: IncomingMessage, res: ServerResponse, path: string, err: unknown): void;
}

const ADMIN_BODY = { maxBytes: 64 * 1024, drainBytes: 1024 * 1024 };

/**
 * `GET|POST /workers`, `GET|DELETE /workers/{name|id|url}`, `POST /workers/{key}/drain`,
 * behind the admin key (403 when serve runs without one).
 */
export class AdminApi {
  constructor(
    private readonly host: AdminHost,
    private readonly key: BearerKey | undefined,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse, method: string, path: string): void {
    if (!this.key) throw new HttpError(403, 'admin API is disabled: start serve with --admin-key', 'admin_disabled');
    if (!this.key.accepts(req)) throw new HttpError(401, 'missing or invalid admin key (expected "Authorization: Bearer <admin key>")', 'invalid_admin_key', null, { 'www-authenticate': 'Bearer' });
    if (path === '/workers') {
      if (method === 'GET') { sendJson(res, method, ['GET'], 200, { workers: [...this.host.workers, ...(this.host.prefillWorkers ?? [])].map(workerJson) }); return; }
      if (method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
      readBody(req, res, ADMIN_BODY)
        .then(async (body) => {
          let spec: WorkerSpec;
          try {
            spec = { ...workerFromObject(parseJsonObject(body), 'body'), source: 'admin' };
          } catch (err) {
            if (err instanceof UserError) throw new HttpError(400, err.message, 'invalid_worker');
            throw err;
          }
          const w = await this.host.addWorkerChecked(spec);
          sendJson(res, 'POST', ['POST'], 201, workerJson(w));
        })
        .catch((err: unknown) => this.host.onError(req, res, path, err));
      return;
    }
    let rest = path.slice('/workers/'.length);
    const drain = rest.endsWith('/drain');
    if (drain) rest = rest.slice(0, -'/drain'.length);
    const key = decodeSegment(rest);
    const w = this.host.findWorker(key);
    if (!w) throw new HttpError(404, `no worker "${key.slice(0, 200)}" (give its name, id or URL)`, 'worker_not_found');
    if (drain) {
      if (method !== 'POST') throw methodNotAllowed(['POST']);
      this.host.drainWorker(w);
      sendJson(res, method, ['POST'], 200, workerJson(w)); return;
    }
    if (method === 'GET') { sendJson(res, method, ['GET'], 200, workerJson(w)); return; }
    if (method !== 'DELETE') throw methodNotAllowed(['GET', 'DELETE']);
    this.host.removeWorker(w);
    sendJson(res, method, ['DELETE'], 200, { removed: workerJson(w) });
  }
}

export function workerJson(w: ServeWorker): Record<string, unknown> {
  const v = w.view;
  return {
    id: v.id,
    index: v.index,
    name: w.name,
    url: w.spec.url,
    gpu: v.gpu,
    profile: v.profile,
    model: v.model,
    cost_usd_per_hour: v.costUsdPerHour,
    healthy: v.healthy,
    health_check_ok: w.healthOk,
    drained: w.drained,
    breaker: w.breaker.state,
    in_flight: v.inFlight,
    in_prefill: v.inPrefill,
    served: w.served,
    errors: w.errors,
    kv_capacity_tokens: v.kvCapacityTokens ?? null,
    scraped: v.scraped ?? null,
    scrape_error: w.lastScrapeError ?? null,
    source: w.spec.source ?? 'static',
    ...(w.spec.pod !== undefined ? { pod: w.spec.pod, role: w.spec.role ?? null } : w.spec.role !== undefined ? { role: w.spec.role } : {}),
  };
}
