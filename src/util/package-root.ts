import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The package root (where `profiles/` and `traces/` live), from the compiled file's location (dist/src/util). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
