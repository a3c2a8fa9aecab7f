import type { Simulation } from '../sim/simulator.js';
import type { PdLiveState } from '../sim/pd.js';

/** The disaggregation part of a simulate dashboard frame (PD fleets only). */
export interface PdPanelSnapshot extends Pick<PdLiveState, 'roles' | 'prefillPolicy' | 'prefilling' | 'waitingForBlocks' | 'inTransfer' | 'waitingForSlot' | 'disaggregated' | 'local'> {
  decodePolicy: string;
  transferredGb: number;
  /**
   * Share of the prefill workers' KV links spent sending since the previous frame (wire seconds
   * per simulated second per prefill worker); NaN before any simulated time has passed.
   */
  linkUtilisation: number;
  /** GB/s moved since the previous frame. */
  gbPerS: number;
}

/**
 * Builds the PD panel from the coordinator's live state. Rates are over the simulated time since
 * the previous frame, so they follow the run's phases; reading changes nothing in the simulation.
 */
export class PdSnapshotTracker {
  private lastT = 0;
  private lastWireS = 0;
  private lastBytes = 0;
  private util = NaN;
  private rate = NaN;

  constructor(private readonly sim: Simulation) {}

  snapshot(): PdPanelSnapshot | null {
    const pd = this.sim.pd;
    if (pd === null) return null;
    const l = pd.live();
    const now = this.sim.clock.now();
    const dt = now - this.lastT;
    const prefills = l.roles.filter((r) => r === 'prefill').length;
    if (dt > 0) {
      this.util = prefills > 0 ? (l.wireS - this.lastWireS) / dt / prefills : NaN;
      this.rate = (l.transferredBytes - this.lastBytes) / dt / 1e9;
      this.lastT = now;
      this.lastWireS = l.wireS;
      this.lastBytes = l.transferredBytes;
    }
    return {
      roles: l.roles,
      prefillPolicy: l.prefillPolicy,
      decodePolicy: this.sim.router.policyName,
      prefilling: l.prefilling,
      waitingForBlocks: l.waitingForBlocks,
      inTransfer: l.inTransfer,
      waitingForSlot: l.waitingForSlot,
      disaggregated: l.disaggregated,
      local: l.local,
      transferredGb: l.transferredBytes / 1e9,
      linkUtilisation: this.util,
      gbPerS: this.rate,
    };
  }
}
