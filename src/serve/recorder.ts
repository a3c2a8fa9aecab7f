import { closeSync, openSync, writeSync } from 'node:fs';
import { formatNativeLine } from '../workload/native-jsonl.js';
import type { Request } from '../workload/request.js';
import { UserError } from '../util/errors.js';

/**
 * `serve --record FILE`: live traffic as a native JSONL trace. Requests finish out of order but
 * a trace must be in arrival order, so each arrival takes a sequence number and lines are written
 * once every earlier arrival has finished (bounded by the request timeout).
 */
export class TraceRecorder {
  private readonly fd: number;
  private nextSeq = 0;
  private nextToWrite = 0;
  private readonly done = new Map<number, string>();
  written = 0;

  constructor(
    path: string,
    private readonly withText: boolean,
  ) {
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      throw new UserError(`--record ${path}: cannot open for writing (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }

  /** Reserves the arrival's place in the trace. */
  arrive(): number {
    return this.nextSeq++;
  }

  /** The request finished (any way); `req.outputTokens` is what the engine produced when known. */
  finish(seq: number, req: Request): void {
    this.done.set(seq, formatNativeLine(req, { withText: this.withText }) + '\n');
    let out = '';
    while (this.done.has(this.nextToWrite)) {
      out += this.done.get(this.nextToWrite) ?? '';
      this.done.delete(this.nextToWrite++);
      this.written++;
    }
    if (out !== '') writeSync(this.fd, out);
  }

  close(): void {
    closeSync(this.fd);
  }
}
