import { UserError } from './errors.js';

/** Checks a ZMQ endpoint for KV events: tcp://HOST:PORT or ipc://PATH (`where` names the flag or field). */
export function checkZmqEndpoint(raw: string, where: string): string {
  if (/^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s;,]+):(\d{1,5}|\*)$/.test(raw) || /^ipc:\/\/[^\s;,]+$/.test(raw)) {
    const port = /:(\d+)$/.exec(raw);
    if (!port || Number(port[1]) <= 65535) return raw;
  }
  throw new UserError(`${where}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:5557) or ipc://PATH, got "${raw}"`);
}
