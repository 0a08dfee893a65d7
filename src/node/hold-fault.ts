/**
 * Whether this node's network layer fails at the one thing the active must
 * do: take its VIPs and keep them, fence and addresses (R4: the VIPs are the
 * active's first resource). Pure: the agent feeds it the outcome of each
 * driver call that holds the VIPs, and of each check of the network layer
 * while it holds them, with the time.
 *
 * A failure that lasts `reportAfterMs` is reported with the node's VIP
 * check (reportedVipSetup), so the role moves to the standby and this node
 * is no target for it. It stays reported for `stickyMs` after the last
 * failure even once the node no longer tries (it holds nothing then), so
 * that a fault on both nodes does not bounce the role every few seconds;
 * failback is damped beyond that by flap damping.
 */
export interface HoldFaultOptions {
  readonly reportAfterMs: number;
  readonly stickyMs: number;
}

export const HOLD_FAULT_DEFAULTS: HoldFaultOptions = { reportAfterMs: 3000, stickyMs: 30_000 };

/**
 * Two sources, each with its own streak: the driver calls that take or
 * renew the VIPs, and the network layer's check while they are held (a VIP
 * gone that cannot be added back, a fence that cannot be restored). A
 * renewal that works says nothing about an address the check cannot put
 * back, so neither clears the other.
 */
export type HoldFaultSource = 'hold' | 'check';

interface Streak {
  readonly sinceMs: number;
  error: string;
}

export class HoldFault {
  /** The failures in a row of each source, since the first of them; null after a success or once the node stops holding. */
  private readonly streaks: Record<HoldFaultSource, Streak | null> = { hold: null, check: null };
  /** The last streak long enough to report that has ended, shown until stickyMs after its end. */
  private ended: { readonly atMs: number; readonly forMs: number; readonly error: string } | null = null;

  constructor(private readonly options: HoldFaultOptions = HOLD_FAULT_DEFAULTS) {}

  failed(source: HoldFaultSource, nowMs: number, error: string): void {
    const streak = this.streaks[source];
    if (streak === null) this.streaks[source] = { sinceMs: nowMs, error };
    else streak.error = error;
  }

  /** hold: the VIPs were taken or renewed; check: a check while holding them found nothing wrong. */
  succeeded(source: HoldFaultSource): void {
    this.streaks[source] = null;
    this.ended = null;
  }

  /** The node no longer holds or wants the VIPs: nothing is being tried, so no streak goes on; one long enough to report stays shown. */
  stopped(nowMs: number): void {
    for (const source of ['hold', 'check'] as const) {
      const streak = this.streaks[source];
      if (streak !== null && nowMs - streak.sinceMs >= this.options.reportAfterMs) {
        this.ended = { atMs: nowMs, forMs: nowMs - streak.sinceMs, error: streak.error };
      }
      this.streaks[source] = null;
    }
  }

  /** The error of the driver calls failing now, reported or not yet (NETWORK_FAULT shows it at once). */
  failing(): string | null {
    return this.streaks.hold?.error ?? null;
  }

  /** Why this node cannot be trusted with the VIPs now, or null. */
  problem(id: string, nowMs: number): string | null {
    for (const source of ['hold', 'check'] as const) {
      const streak = this.streaks[source];
      if (streak !== null && nowMs - streak.sinceMs >= this.options.reportAfterMs) return sentence(id, nowMs - streak.sinceMs, streak.error);
    }
    const ended = this.ended;
    if (ended === null || nowMs - ended.atMs >= this.options.stickyMs) return null;
    return sentence(id, ended.forMs, ended.error);
  }
}

function sentence(id: string, forMs: number, error: string): string {
  const lasted = forMs < 1000 ? `${Math.round(forMs)} ms` : `${(forMs / 1000).toFixed(1)} s`;
  return `${id}: its network layer failed to take or keep the VIPs for ${lasted}: ${error}`;
}
