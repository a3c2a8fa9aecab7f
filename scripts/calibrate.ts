/**
 * Fits the roofline coefficients on measured operator timings across all GPUs with data and
 * writes profiles/coefficients.json (see src/calibration/coefficients-fit.ts). Deterministic.
 * Run: npm run build && npm run calibrate [-- --dry-run]
 */
import { join } from 'node:path';
import { fitCoefficients } from '../src/calibration/coefficients-fit.js';
import { formatLooTable } from '../src/calibration/cross-gpu-fit.js';
import { defaultGroundTruthDir } from '../src/calibration/ground-truth.js';
import { PROFILES_DIR } from '../src/profiles/catalog.js';
import { sharedDataDir } from '../src/workload/shared-data.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { formatProfileJson } from '../src/cli/profile-import.js';

const root = process.env.OPERATOR_PROFILES ?? join(sharedDataDir() ?? '../shared/data', 'operator-profiles');
const { doc, loo } = fitCoefficients(root, join(defaultGroundTruthDir(), 'meta.json'));
process.stdout.write(`${formatLooTable(loo)}\n`);
process.stdout.write(`${JSON.stringify(doc.coefficients)}\n${JSON.stringify(doc.by_architecture)}\n`);
if (!process.argv.includes('--dry-run')) {
  const file = join(PROFILES_DIR, 'coefficients.json');
  writeFileAtomic(file, `${formatProfileJson(doc)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}
