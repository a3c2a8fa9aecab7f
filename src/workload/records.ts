import { located } from '../util/errors.js';

/** Field access on one record of a JSON-array file; every failure names file, line, record index and field. */
export class RecordReader {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly index: number,
    readonly value: unknown,
  ) {}

  private where(field: string): string {
    return `record ${this.index}, field "${field}"`;
  }

  fail(field: string, expected: string, got: unknown): never {
    const shown = got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 60);
    throw located(this.file, this.line, `${this.where(field)}: expected ${expected}, got ${shown}`);
  }

  object(): Record<string, unknown> {
    const v = this.value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw located(this.file, this.line, `record ${this.index}: expected a JSON object`);
    }
    return v as Record<string, unknown>;
  }

  string(obj: Record<string, unknown>, field: string, path = field): string {
    const v = obj[field];
    if (typeof v !== 'string') this.fail(path, 'a string', v);
    return v;
  }

  optString(obj: Record<string, unknown>, field: string, path = field): string | undefined {
    const v = obj[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') return String(v);
    return this.string(obj, field, path);
  }

  array(obj: Record<string, unknown>, field: string, path = field): unknown[] {
    const v = obj[field];
    if (!Array.isArray(v)) this.fail(path, 'an array', v);
    return v;
  }

  objectAt(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'an object', v);
    return v as Record<string, unknown>;
  }
}
