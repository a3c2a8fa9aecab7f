import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Tables the slo* policies derive are cached in a fresh directory per test file (inherited by the
// CLIs and servers it spawns), never in the user's ~/.cache/router: every test starts cold.
if (!process.env.ROUTER_CACHE_DIR) process.env.ROUTER_CACHE_DIR = mkdtempSync(join(tmpdir(), 'router-cache-'));
