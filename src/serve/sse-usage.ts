const DATA = Buffer.from('data:');
/** `data: [DONE]` after its `data:` (checked byte by byte: cheaper than a native compare per event). */
const DONE_REST = [0x20, 0x5b, 0x44, 0x4f, 0x4e, 0x45, 0x5d];
const USAGE_KEY = Buffer.from('"completion_tokens"');
/** Bytes kept from the end of a response: a usage object sits in the last event or the JSON tail. */
const TAIL = 4096;

/** Whether `data:` starts at `i`. */
function startsData(b: Buffer, i: number): boolean {
  return b[i] === 0x64 && b[i + 1] === 0x61 && b[i + 2] === 0x74 && b[i + 3] === 0x61 && b[i + 4] === 0x3a;
}

/**
 * Whether the `data:` at `i` is `data: [DONE]`. An event cut by the chunk's end is not (it used
 * to throw: Buffer.compare past the end of the chunk, which failed the stream mid-way).
 */
function isDone(b: Buffer, i: number): boolean {
  if (i + DATA.length + DONE_REST.length > b.length) return false;
  for (let k = 0; k < DONE_REST.length; k++) if (b[i + DATA.length + k] !== DONE_REST[k]) return false;
  return true;
}

/** `\s` of a JavaScript regular expression, for one latin1 byte. */
function isSpace(b: number): boolean {
  return (b >= 0x09 && b <= 0x0d) || b === 0x20 || b === 0xa0;
}

/**
 * The value of the last `"completion_tokens"\s*:\s*(\d+)` that starts at or after `from`, read
 * from the bytes as latin1 (what the regular expression over the decoded tail found), scanning
 * backwards so only the end of the response is looked at.
 */
export function lastCompletionTokens(buf: Buffer, from: number): number | undefined {
  let at = buf.lastIndexOf(USAGE_KEY);
  while (at >= from) {
    let i = at + USAGE_KEY.length;
    while (i < buf.length && isSpace(buf[i])) i++;
    if (i < buf.length && buf[i] === 0x3a) {
      i++;
      while (i < buf.length && isSpace(buf[i])) i++;
      const digits = i;
      while (i < buf.length && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
      if (i > digits) return Number(buf.toString('latin1', digits, i));
    }
    if (at === 0) break;
    at = buf.lastIndexOf(USAGE_KEY, at - 1);
  }
  return undefined;
}

/**
 * Counts what an upstream response produced without parsing it: SSE `data:` events as they pass,
 * and the response's last few KiB, where the engine's `usage.completion_tokens` is, decoded only
 * once at the end. One instance per request; `reset()` readies it for a retried attempt.
 */
export class SseUsageCounter {
  private events = 0;
  private sawDone = false;
  private tail: Buffer[] = [];
  private tailBytes = 0;

  reset(): void {
    this.events = 0;
    this.sawDone = false;
    this.tail.length = 0;
    this.tailBytes = 0;
  }

  observe(chunk: Buffer, isSse: boolean): void {
    if (isSse) {
      // An engine's HTTP chunk is usually one event that starts the chunk: checked here in JS,
      // so the native search runs once per chunk (it finds nothing more) instead of twice per event.
      let i = startsData(chunk, 0) ? 0 : chunk.indexOf(DATA);
      while (i >= 0) {
        this.events++;
        if (isDone(chunk, i)) this.sawDone = true;
        i = chunk.indexOf(DATA, i + DATA.length);
      }
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= TAIL) this.tailBytes -= this.tail.shift()?.length ?? 0;
  }

  /** Output tokens: the usage the engine reported, else one per SSE content event; undefined when unknown. */
  outputTokens(): number | undefined {
    if (this.tailBytes === 0) return undefined;
    const buf = this.tail.length === 1 ? this.tail[0] : Buffer.concat(this.tail, this.tailBytes);
    const usage = lastCompletionTokens(buf, Math.max(0, buf.length - TAIL));
    if (usage !== undefined) return usage;
    if (this.events > 0) return Math.max(0, this.events - (this.sawDone ? 1 : 0));
    return undefined;
  }
}
