import { Box, Text } from 'ink';
import type { ReactNode } from 'react';
import type { SimDashboardSnapshot, SimWorkerRow } from './sim-snapshot.js';
import type { PdPanelSnapshot } from './sim-pd.js';
import { bar, num, pct } from './format.js';

/** Rows the panel takes beyond one table of all workers (two pool titles, a second header, three transfer lines). */
export const PD_PANEL_EXTRA_ROWS = 6;

/**
 * The simulate dashboard's worker section for a disaggregated fleet: the prefill pool's and the
 * decode pool's workers as two tables under their policies, then the KV transfers between them
 * (where moved requests are, and how busy the prefill workers' KV links were since the last frame).
 * `table` draws one pool's rows (the dashboard's worker table), so both modes look alike.
 */
export function PdPanel({ s, pd, color, table }: { s: SimDashboardSnapshot; pd: PdPanelSnapshot; color: boolean; table: (workers: SimWorkerRow[]) => ReactNode }) {
  const prefill = s.workers.filter((_, i) => pd.roles[i] === 'prefill');
  const decode = s.workers.filter((_, i) => pd.roles[i] !== 'prefill');
  const util = pd.linkUtilisation;
  return (
    <Box flexDirection="column">
      <Text bold>
        prefill pool · policy {pd.prefillPolicy} · {prefill.length} workers
      </Text>
      {table(prefill)}
      <Text bold>
        decode pool · policy {pd.decodePolicy} · {decode.length} workers
      </Text>
      {table(decode)}
      <Text>
        <Text bold>KV transfer </Text>
        {pd.prefilling} prefilling · {pd.waitingForBlocks} waiting for decode blocks · {pd.inTransfer} in flight · {pd.waitingForSlot} waiting for a slot
      </Text>
      <Text>
        {'            '}
        {pd.disaggregated} moved ({num(pd.transferredGb, 2)} GB), {pd.local} prefilled by their decode worker
      </Text>
      <Text>
        <Text bold>KV links    </Text>
        <Text color={color ? (util > 0.9 ? 'red' : 'green') : undefined}>{bar(util, 16)}</Text> {pct(util)} busy · {num(pd.gbPerS, 2)} GB/s since the last frame
      </Text>
    </Box>
  );
}
