import type { ServerResponse } from 'node:http';

/** The OpenAI error type for each status the router itself answers with. */
const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'internal_error',
  502: 'upstream_error',
  503: 'service_unavailable_error',
  504: 'timeout_error',
};

/** A refusal by the router, carried to the one place that writes it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(status: number, message: string, code: string | null = null, param: string | null = null): string {
  return JSON.stringify({ error: { message, type: TYPES[status] ?? 'error', param, code } });
}

/** Writes an OpenAI-shaped error unless the response has already started. */
export function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const body = errorBody(e.status, e.message, e.code, e.param);
  res.writeHead(e.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...e.headers,
  });
  res.end(body);
}

/** The SSE event that ends a stream whose upstream failed after bytes reached the client. */
export function sseErrorTail(message: string, code: string): string {
  return `data: ${errorBody(502, message, code)}\n\ndata: [DONE]\n\n`;
}
