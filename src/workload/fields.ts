import { located } from '../util/errors.js';

/** Typed field access for parsed records; every failure names the file, line and field. */
export class FieldReader {
  constructor(
    readonly file: string,
    readonly line: number,
    private readonly obj: Record<string, unknown>,
  ) {}

  static parseJson(file: string, line: number, text: string): FieldReader {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw located(file, line, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw located(file, line, 'expected a JSON object');
    }
    return new FieldReader(file, line, v as Record<string, unknown>);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    return this.obj[key];
  }

  fail(key: string, expected: string): never {
    const got = this.obj[key];
    throw located(this.file, this.line, `field "${key}": expected ${expected}, got ${got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 60)}`);
  }

  number(key: string, opts: { min?: number; integer?: boolean } = {}): number {
    const v = this.obj[key];
    const what = `${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}`;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, what);
    if (opts.integer && !Number.isInteger(v)) this.fail(key, what);
    if (opts.min !== undefined && v < opts.min) this.fail(key, what);
    return v;
  }

  optNumber(key: string, opts: { min?: number; integer?: boolean } = {}): number | undefined {
    return this.has(key) ? this.number(key, opts) : undefined;
  }

  string(key: string): string {
    const v = this.obj[key];
    if (typeof v !== 'string') this.fail(key, 'a string');
    return v;
  }

  optString(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (typeof v === 'number') return String(v);
    return this.string(key);
  }

  intArray(key: string): number[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) {
      this.fail(key, 'an array of integers');
    }
    return v as number[];
  }

  object(key: string): FieldReader {
    const v = this.obj[key];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'an object');
    return new FieldReader(this.file, this.line, v as Record<string, unknown>);
  }
}
