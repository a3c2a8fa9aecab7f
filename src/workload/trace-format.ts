import type { Request } from './request.js';

// Its own module so the readers (imported by trace.ts) need not import trace.ts back.
/** A trace reader: recognises its format from the start of a file and streams `Request`s. */
export interface TraceFormat {
  readonly name: string;
  readonly description: string;
  /** `head` is the file's first bytes (up to 256 KiB) as text. */
  detect(head: string, path: string): boolean;
  read(path: string): AsyncIterable<Request>;
  /**
   * The format has no timestamps (ShareGPT, BIRD): `read` yields arrival 0 with a session's turns
   * consecutive, and the workload imposes an arrival process (`src/workload/arrivals.ts`).
   */
  readonly untimed?: boolean;
  /**
   * The fields a file of this format carries: CSV header columns or keys of each JSON line. Only
   * used to explain a failed detection (which known format a file nearly matched, what it lacks).
   */
  readonly signature?: { kind: 'csv' | 'jsonl'; fields: readonly string[] };
}
