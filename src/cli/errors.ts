import { UserError } from '../util/errors.js';

/** Runs a command body; a UserError becomes one line on stderr and its exit code, never a stack. */
export async function runAction(body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`router: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

/** Collects a repeatable flag into an array (commander's option argParser). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseNumberFlag(flag: string, raw: string, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const v = Number(raw);
  const bad = raw.trim() === '' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max);
  if (bad) {
    const range = opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : opts.min !== undefined ? ` >= ${opts.min}` : opts.max !== undefined ? ` <= ${opts.max}` : '';
    throw new UserError(`${flag}: expected ${opts.integer ? 'an integer' : 'a number'}${range}, got "${raw}"`);
  }
  return v;
}

/** A TCP port to listen on: 0 (any free port) to 65535. */
export function parsePortFlag(flag: string, raw: string): number {
  return parseNumberFlag(flag, raw, { integer: true, min: 0, max: 65535 });
}
