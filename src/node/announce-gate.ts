/**
 * An announcement waits for the VIPs it announces. The role logic asks for
 * one in the same decision that takes the VIPs, but the agent applies VIP
 * changes one driver call at a time, so the hold may still be queued behind
 * an earlier call (a standby releases on every tick). Sent first, the
 * announcement is refused (the driver does not hold that epoch yet), the
 * role logic never asks again for the same epoch, and clients stay pointed
 * at the old host's MAC until their neighbour entry expires. Pure.
 */
export class AnnounceGate {
  private pending: number | null = null;

  /** The role logic asks to announce `epoch` while the driver holds `heldEpoch` (null: nothing); true: send it now. */
  request(epoch: number, heldEpoch: number | null): boolean {
    if (heldEpoch === epoch) {
      this.pending = null;
      return true;
    }
    this.pending = epoch;
    return false;
  }

  /** A driver call finished: it now holds `heldEpoch` (null: nothing). Returns the epoch to announce now, if one waited for it. */
  applied(heldEpoch: number | null): number | null {
    if (this.pending === null || heldEpoch !== this.pending) return null;
    this.pending = null;
    return heldEpoch;
  }

  /** The role logic gave the VIPs up: whatever waited will not be held. */
  cancel(): void {
    this.pending = null;
  }

  waiting(): number | null {
    return this.pending;
  }
}
