import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { SimulationResult } from '../metrics/run-result.js';
import { requestsCsv, summaryCsv, timeseriesCsv } from './csv.js';

/** Writes summary.csv, requests.csv and timeseries.csv into `dir`, each file atomically. */
export function writeReports(dir: string, r: SimulationResult): string[] {
  const files = [
    ['requests.csv', requestsCsv(r.log)],
    ['timeseries.csv', timeseriesCsv(r.timeseries)],
    ['summary.csv', summaryCsv([r.summary])],
  ] as const;
  // Render everything first, so a failure while rendering leaves no file half-replaced.
  for (const [name, content] of files) writeFileAtomic(join(dir, name), content);
  return files.map(([name]) => join(dir, name));
}
