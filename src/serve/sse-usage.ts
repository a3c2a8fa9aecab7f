const DATA = Buffer.from('data:');
const DONE = Buffer.from('data: [DONE]');
const USAGE = /"completion_tokens"\s*:\s*(\d+)/g;
/** Bytes kept from the end of a response: a usage object sits in the last event or the JSON tail. */
const TAIL = 4096;

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
      let i = chunk.indexOf(DATA);
      while (i >= 0) {
        this.events++;
        if (chunk.compare(DONE, 0, DONE.length, i, i + DONE.length) === 0) this.sawDone = true;
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
    const buf = this.tail.length === 1 ? this.tail[0] : Buffer.concat(this.tail);
    const text = buf.subarray(Math.max(0, buf.length - TAIL)).toString('latin1');
    let last: string | undefined;
    for (const m of text.matchAll(USAGE)) last = m[1];
    if (last !== undefined) return Number(last);
    if (this.events > 0) return Math.max(0, this.events - (this.sawDone ? 1 : 0));
    return undefined;
  }
}
