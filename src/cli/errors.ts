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

export function parseNumberFlag(flag: string, raw: string, opts: { min?: number; integer?: boolean } = {}): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min)) {
    throw new UserError(`${flag}: expected ${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got "${raw}"`);
  }
  return v;
}
