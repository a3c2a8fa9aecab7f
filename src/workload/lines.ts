import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { UserError } from '../util/errors.js';

/** Streams a text file line by line (1-based line numbers), so a 2 GB trace never sits in memory. */
export async function* readLines(path: string): AsyncGenerator<{ line: string; n: number }> {
  try {
    if (!statSync(path).isFile()) throw new UserError(`${path}: not a file`);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: cannot read trace (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    yield { line, n };
  }
}
