import { createReadStream, statSync } from 'node:fs';
import { UserError, located } from '../util/errors.js';

/**
 * Streams the elements of a top-level JSON array (`[{...},{...}]`) one at a time, so a 600 MB
 * ShareGPT file is never parsed as a whole. Elements are cut out by a byte scanner that tracks
 * strings and nesting depth, then parsed with JSON.parse; `line` is where the element starts.
 */
export async function* readJsonArray(path: string): AsyncGenerator<{ value: unknown; index: number; line: number }> {
  try {
    if (!statSync(path).isFile()) throw new UserError(`${path}: not a file`);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let started = false;
  let finished = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let line = 1;
  let elementLine = 1;
  let parts: Buffer[] = [];
  let index = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let from = -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === 0x0a) line++;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      if (finished) throw located(path, line, 'unexpected content after the closing "]" of the top-level array');
      if (!started) {
        if (c === 0xef || c === 0xbb || c === 0xbf) continue; // UTF-8 byte-order mark
        if (c !== 0x5b) throw located(path, line, 'expected a JSON array ("[") at the start of the file');
        started = true;
        continue;
      }
      if (depth === 0) {
        if (c === 0x2c) continue;
        if (c === 0x5d) {
          finished = true;
          continue;
        }
        if (c !== 0x7b && c !== 0x5b) {
          throw located(path, line, `record ${index}: expected a JSON object in the top-level array`);
        }
        from = i;
        elementLine = line;
        depth = 1;
        continue;
      }
      if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        depth--;
        if (depth === 0) {
          parts.push(chunk.subarray(from < 0 ? 0 : from, i + 1));
          const text = parts.length === 1 ? parts[0].toString('utf8') : Buffer.concat(parts).toString('utf8');
          parts = [];
          from = -1;
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch (err) {
            throw located(path, elementLine, `record ${index}: not valid JSON (${(err as Error).message})`);
          }
          yield { value, index: index++, line: elementLine };
        }
      }
    }
    if (depth > 0) parts.push(chunk.subarray(from < 0 ? 0 : from));
  }
  if (!started) throw new UserError(`${path}: empty file, expected a JSON array`);
  if (!finished) throw located(path, line, `record ${index}: the file ends inside the top-level array (truncated?)`);
}
