import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../util/errors.js';

/**
 * Output paths are checked before any work starts, so a mistake in `--out` costs one line, not a
 * whole run followed by a stack trace.
 */
function stat(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (err) {
    // ENOTDIR: a parent is a file; the walk up names it.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The directory a new path would be created under must exist as a directory we may write (or be creatable). */
function checkCreatable(flag: string, path: string): void {
  let dir = dirname(resolve(path));
  for (;;) {
    const s = stat(dir);
    if (s) {
      if (!s.isDirectory()) throw new UserError(`${flag} ${path}: ${dir} is not a directory`);
      writable(flag, path, dir);
      return;
    }
    const up = dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

function writable(flag: string, path: string, dir: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError(`${flag} ${path}: cannot write in ${dir} (permission denied)`);
  }
}

/** `--out DIR`: an existing directory, or a path where one can be created. */
export function checkOutputDir(flag: string, path: string): void {
  const s = stat(path);
  if (!s) {
    checkCreatable(flag, path);
    return;
  }
  if (!s.isDirectory()) throw new UserError(`${flag} ${path}: exists and is not a directory; expected a directory for the reports`);
  writable(flag, path, path);
}

/** `--out FILE` / `-o FILE`: a file path (not a directory) in a writable directory. */
export function checkOutputFile(flag: string, path: string): void {
  const s = stat(path);
  if (s?.isDirectory()) throw new UserError(`${flag} ${path}: is a directory; expected a file name`);
  checkCreatable(flag, path);
}
