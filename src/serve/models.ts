import { modelCatalog } from '../profiles/catalog.js';
import type { Router } from '../routing/router.js';
import { UNLABELLED_MODEL } from '../routing/plugins/filters/model.js';
import { HttpError } from './openai-error.js';

/**
 * The other names a worker labelled `model` answers to: a catalog id's Hugging Face name, or a
 * Hugging Face name's catalog id (vLLM serves the HF name unless --served-model-name says else).
 */
export function modelAliases(model: string | undefined): string[] {
  if (model === undefined || model === UNLABELLED_MODEL) return [];
  const cat = modelCatalog();
  const byId = cat.get(model);
  if (byId) return byId.hf_name === model ? [] : [byId.hf_name];
  for (const m of cat.values()) if (m.hf_name === model) return [m.id];
  return [];
}

/**
 * What the OpenAI `model` of a request names: a base model some worker serves (by label or
 * alias; unlabelled workers might serve anything), else a LoRA adapter when a worker reports
 * LoRA serving in its scrape (vLLM takes adapters by name in `model`), else 404 in OpenAI's shape.
 */
export function resolveRequestModel(router: Router, model: string | undefined): { model?: string; adapter?: string } {
  if (model === undefined || router.servesModel(model)) return { model };
  if (router.registry.workers.some((w) => w.scraped?.lora !== undefined)) return { adapter: model };
  const known = router.models.models().map((m) => m.model);
  throw new HttpError(404, `The model \`${model}\` does not exist (served here: ${known.join(', ')})`, 'model_not_found', 'model');
}

/** The request's `model` / `adapter` fields as resolveRequestModel reads `model`, without refusing (checked before). */
export function modelFields(router: Router, model: string | undefined): { model?: string; adapter?: string } {
  if (model === undefined) return {};
  return router.servesModel(model) || !router.registry.workers.some((w) => w.scraped?.lora !== undefined) ? { model } : { adapter: model };
}

/**
 * `GET /v1/models` answered by the router: the union of the workers' labelled models with how
 * many workers serve each (registered, and taking traffic now). Undefined when no worker carries
 * a model label: the request then passes through to a worker, as before.
 */
export function modelsList(router: Router, createdS: number): object | undefined {
  const served = router.models.models();
  if (served.length === 0) return undefined;
  const routable = new Set(router.registry.routable.filter((w) => w.healthy).map((w) => w.id));
  return {
    object: 'list',
    data: served.map((m) => ({
      id: m.model,
      object: 'model',
      created: createdS,
      owned_by: 'router',
      aliases: m.aliases,
      workers: m.workers,
      healthy_workers: router.registry.byModel(m.model).filter((w) => routable.has(w.id)).length,
    })),
  };
}
