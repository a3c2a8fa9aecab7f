import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * A bearer-token check in constant time: both sides are hashed first, so neither the length nor
 * a matching prefix of the expected key leaks through timing.
 */
export class BearerKey {
  private readonly expected: Buffer;
  constructor(key: string) {
    this.expected = digest(key);
  }

  accepts(req: IncomingMessage): boolean {
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Bearer\s+(.+)$/i.exec(h);
    const given = digest(m ? m[1].trim() : '');
    return timingSafeEqual(given, this.expected) && m !== null;
  }
}
