/**
 * Whether this node's network layer fails at the one thing the active must
 * do: take its VIPs and keep them, fence and addresses (R4: the VIPs are the
 * active's first resource). Pure: the agent feeds it the outcome of each
 * driver call that holds the VIPs, and of each check of the network layer
 * while it holds them, with the time.
 *
 * - `current`: a failure that has lasted `reportAfterMs`. It joins the
 *   node's VIP check (reportedVipSetup): the node cannot hold the VIPs, so
 *   an active hands the role on (resourceFailureRule) and no node moves it
 *   there.
 * - `past`: a fault that ended (the node stopped trying: it holds nothing
 *   then) less than a window ago: `stickyMs`, doubled for each further
 *   fault, up to `maxStickyMs`. The health report carries it apart
 *   (`holdFault`): no planned move goes to the node (a fault on both nodes
 *   moves the role back and forth ever more rarely, not every half
 *   minute), but it still takes over, or is handed leadership, when the
 *   active fails: better a node that may work than none.
 * The doubling is forgotten once the node has held the VIPs without a
 * failure for `stickyMs`, or `maxStickyMs` after the end of the last
 * fault's window without a new fault.
 *
 * The sentence is fixed for a fault (its first error, no running
 * duration): it travels in health reports, which are written to the log
 * again whenever their text changes.
 */
export interface HoldFaultOptions {
  readonly reportAfterMs: number;
  readonly stickyMs: number;
  readonly maxStickyMs: number;
}

export const HOLD_FAULT_DEFAULTS: HoldFaultOptions = { reportAfterMs: 3000, stickyMs: 30_000, maxStickyMs: 3_600_000 };

/**
 * Two sources, each with its own streak: the driver calls that take or
 * renew the VIPs, and the network layer's check while they are held (a VIP
 * gone that cannot be added back, a fence that cannot be restored). A
 * renewal that works says nothing about an address the check cannot put
 * back, so neither clears the other.
 */
export type HoldFaultSource = 'hold' | 'check';

const SOURCES: readonly HoldFaultSource[] = ['hold', 'check'];

interface Streak {
  readonly sinceMs: number;
  /** The first error of the streak (what the failure is), kept so the report does not change with every retry. */
  readonly error: string;
}

export class HoldFault {
  /** The failures in a row of each source, since the first of them; null after a success or once the node stops holding. */
  private readonly streaks: Record<HoldFaultSource, Streak | null> = { hold: null, check: null };
  /** The last fault that ended, shown until its window after its end; null once the node held the VIPs again. */
  private ended: { readonly atMs: number; readonly windowMs: number; readonly error: string } | null = null;
  /** When the last fault's window ends (kept when a success clears `ended`), to forget the doubling an hour later. */
  private lastWindowEndMs = -Infinity;
  /** Faults that ended since the doubling was last forgotten: each doubles the window. */
  private faults = 0;
  /** Since when the node has held the VIPs without a failure (null: not holding, or failing). */
  private cleanSinceMs: number | null = null;

  constructor(private readonly options: HoldFaultOptions = HOLD_FAULT_DEFAULTS) {}

  failed(source: HoldFaultSource, nowMs: number, error: string): void {
    this.streaks[source] ??= { sinceMs: nowMs, error };
    this.cleanSinceMs = null;
  }

  /** hold: the VIPs were taken or renewed; check: a check while holding them found nothing wrong. */
  succeeded(source: HoldFaultSource, nowMs: number): void {
    this.streaks[source] = null;
    this.ended = null;
    if (this.streaks.hold !== null || this.streaks.check !== null) return;
    this.cleanSinceMs ??= nowMs;
    if (nowMs - this.cleanSinceMs >= this.options.stickyMs) this.faults = 0;
  }

  /** The node no longer holds or wants the VIPs: nothing is being tried, so no streak goes on; one long enough to report becomes `recent`. */
  stopped(nowMs: number): void {
    this.cleanSinceMs = null;
    const lasting = SOURCES.map((source) => this.streaks[source]).find((s) => s !== null && nowMs - s.sinceMs >= this.options.reportAfterMs);
    this.streaks.hold = null;
    this.streaks.check = null;
    if (lasting === undefined || lasting === null) return;
    if (nowMs - this.lastWindowEndMs >= this.options.maxStickyMs) this.faults = 0;
    this.faults++;
    const windowMs = Math.min(this.options.maxStickyMs, this.options.stickyMs * 2 ** (this.faults - 1));
    this.ended = { atMs: nowMs, windowMs, error: lasting.error };
    this.lastWindowEndMs = nowMs + windowMs;
  }

  /** The first error of driver calls failing for a second or more (NETWORK_FAULT shows it before it is reported; one failed renewal is not a fault). */
  failing(nowMs: number): string | null {
    const streak = this.streaks.hold;
    return streak !== null && nowMs - streak.sinceMs >= Math.min(1000, this.options.reportAfterMs) ? streak.error : null;
  }

  /** A failure to hold going on for reportAfterMs or more, or null. */
  current(id: string, nowMs: number): string | null {
    for (const source of SOURCES) {
      const streak = this.streaks[source];
      if (streak !== null && nowMs - streak.sinceMs >= this.options.reportAfterMs) return this.sentence(id, streak.error);
    }
    return null;
  }

  /** A fault that ended less than its window ago, while none is current. */
  past(id: string, nowMs: number): string | null {
    if (this.current(id, nowMs) !== null) return null;
    const ended = this.ended;
    if (ended === null || nowMs - ended.atMs >= ended.windowMs) return null;
    return this.sentence(id, ended.error);
  }

  private sentence(id: string, error: string): string {
    const seconds = Math.round(this.options.reportAfterMs / 100) / 10;
    return `${id}: its network layer failed to take or keep the VIPs for ${seconds} s or more: ${error}`;
  }
}
