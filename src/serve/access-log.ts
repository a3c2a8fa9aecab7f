/**
 * One JSON line per request. Lines are batched and written once per event-loop turn, so logging
 * costs one write syscall per burst rather than one per request.
 */
export class AccessLog {
  private buf: string[] = [];
  private scheduled = false;

  constructor(private readonly write: ((chunk: string) => void) | undefined) {}

  get enabled(): boolean {
    return this.write !== undefined;
  }

  log(entry: Record<string, unknown>): void {
    if (!this.write) return;
    this.buf.push(JSON.stringify(entry));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.buf.length === 0 || !this.write) return;
    const out = this.buf.join('\n') + '\n';
    this.buf = [];
    this.write(out);
  }
}
