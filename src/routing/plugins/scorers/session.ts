/**
 * session: llm-d `session-affinity-scorer`: 1 for the worker the request's session was last sent
 * to, 0 for the others. llm-d returns that worker in an `x-session-token` header the client
 * sends back; the router remembering the session's last dispatch is the same signal. The most
 * recent 65,536 sessions are kept.
 */
import type { PluginDef } from '../types.js';

const MAX_SESSIONS = 1 << 16;

export const sessionScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'session',
  aliases: ['session-affinity-scorer'],
  description: "1 for the worker the request's session was last sent to, else 0.",
  follows: 'llm-d session-affinity-scorer',
  usesPrefix: false,
  options: [],
  create: () => {
    const sessions = new Map<string, number>();
    return {
      type: 'session',
      score: (req, eps, out) => {
        const s = req.sessionId === undefined ? undefined : sessions.get(req.sessionId);
        for (let i = 0; i < eps.length; i++) out[i] = eps[i].index === s ? 1 : 0;
      },
      onDispatch: (req, w) => {
        if (req.sessionId === undefined) return;
        sessions.delete(req.sessionId);
        sessions.set(req.sessionId, w.index);
        if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
      },
      onWorkerRemoved: (w) => {
        for (const [s, at] of sessions) if (at === w.index) sessions.delete(s);
      },
    };
  },
};
