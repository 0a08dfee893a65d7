/**
 * The agent's side of the network driver for the VIPs, without the I/O:
 * one driver call at a time, the latest desired state wins, and a
 * leadership transfer waits until the VIPs are released. The agent runs the
 * driver calls this hands out (src/node/agent.ts); the simulator runs the
 * same object against its simulated driver (test/sim/role-layer.ts).
 *
 * A failed hold (a takeover or a renewal) of an epoch is tried again after
 * 10 ms, then twice as long each time up to 200 ms, rather than on every
 * role pass: a broken nft or ip would otherwise be spawned a hundred times
 * a second until the role moves (HoldFault). A release, a hold of another
 * epoch (a new grant) and anything after a call that worked are never held
 * back.
 *
 * Two rules here are part of the safety argument (docs/role.md §8):
 * - a fence is never written longer than decided: a hold that waited behind
 *   another call has its fence shortened by the wait, because the driver
 *   counts the fence from when it is called, not from the decision;
 * - a transfer is started only once the driver has carried out the release
 *   (the decision lists the release first, but a driver call takes time and
 *   may wait behind a renewal): the target wins without the followers'
 *   lease check, so it could otherwise hold the VIPs while this node still
 *   answers for them.
 */
import type { DesiredVipState } from '../network/driver.js';
import type { NodeId } from '../raft/types.js';

export interface PendingTransfer {
  readonly to: NodeId;
  readonly why: string;
}

export const HOLD_RETRY_FIRST_MS = 10;
export const HOLD_RETRY_MAX_MS = 200;

export class VipPipeline {
  private desiredValue: { readonly state: DesiredVipState; readonly atMs: number } = { state: { hold: false }, atMs: 0 };
  private appliedValue: DesiredVipState = { hold: false };
  /** The desired state whose driver call is under way. */
  private inFlight: DesiredVipState | null = null;
  private lastRenewalMs = -Infinity;
  private pendingTransfer: PendingTransfer | null = null;
  /** Hold calls failed in a row, of which epoch, and when the next hold of it may start. */
  private holdFailures = 0;
  private holdFailedEpoch: number | null = null;
  private holdRetryAtMs = -Infinity;

  /** What the driver holds, as its last successful call left it. */
  get applied(): DesiredVipState {
    return this.appliedValue;
  }

  /** The latest state asked for (carried out or not). */
  get desired(): DesiredVipState {
    return this.desiredValue.state;
  }

  get busy(): boolean {
    return this.inFlight !== null;
  }

  /** Nothing held, nothing on the way to being held. */
  get released(): boolean {
    return !this.appliedValue.hold && this.inFlight === null && !this.desiredValue.state.hold;
  }

  /**
   * The kernel fence is renewed twice per heartbeat, not on every role tick:
   * each renewal costs an nft transaction, and a skipped renewal only lets
   * the fence run out earlier, never later.
   */
  renewalNotDue(epoch: number, nowMs: number, heartbeatMs: number): boolean {
    const applied = this.appliedValue;
    if (!applied.hold || applied.epoch !== epoch || this.inFlight !== null) return false;
    return nowMs - this.lastRenewalMs < heartbeatMs / 2;
  }

  /**
   * Asks for `desired`, decided at `nowMs` (a hold's fence counts from then).
   * Returns the driver call to start now, or null when one is under way:
   * the latest request starts when it completes.
   */
  request(desired: DesiredVipState, nowMs: number): DesiredVipState | null {
    // A hold asked for after a transfer was deferred means the decision changed: no transfer.
    if (desired.hold) this.pendingTransfer = null;
    this.desiredValue = { state: desired, atMs: nowMs };
    return this.inFlight === null ? this.start(nowMs) : null;
  }

  /**
   * The driver finished the call in flight. Returns the next call to start
   * (the desired state changed meanwhile), or null. `startNext` false: the
   * agent is stopping and starts nothing more.
   */
  completed(ok: boolean, nowMs: number, startNext = true): DesiredVipState | null {
    const target = this.inFlight;
    if (target === null) throw new Error('VipPipeline.completed without a call in flight');
    this.inFlight = null;
    if (ok) {
      this.lastRenewalMs = nowMs;
      this.appliedValue = target;
    }
    if (ok) {
      this.holdFailures = 0;
      this.holdRetryAtMs = -Infinity;
    } else if (target.hold) {
      this.holdFailures = this.holdFailedEpoch === target.epoch ? this.holdFailures + 1 : 1;
      this.holdFailedEpoch = target.epoch;
      this.holdRetryAtMs = nowMs + Math.min(HOLD_RETRY_MAX_MS, HOLD_RETRY_FIRST_MS * 2 ** (this.holdFailures - 1));
    }
    return startNext && this.desiredValue.state !== target ? this.start(nowMs) : null;
  }

  /**
   * A leadership transfer the decision asks for: true when it may start now
   * (the VIPs are released); otherwise it is kept until they are, and
   * takeTransfer() hands it out.
   */
  deferTransfer(transfer: PendingTransfer): boolean {
    if (this.released) return false;
    this.pendingTransfer = transfer;
    return true;
  }

  /** The deferred transfer, once the release it waited for is done (then forgotten). */
  takeTransfer(): PendingTransfer | null {
    const transfer = this.pendingTransfer;
    if (transfer === null || !this.released) return null;
    this.pendingTransfer = null;
    return transfer;
  }

  /**
   * What is left at `nowMs` of a fence decided at `decidedMs`: the driver
   * counts the fence from its call. (Protected so that the simulator can
   * show what happens without it.)
   */
  protected fenceLeftMs(fenceMs: number, decidedMs: number, nowMs: number): number {
    return fenceMs - (nowMs - decidedMs);
  }

  private start(nowMs: number): DesiredVipState | null {
    const { state, atMs } = this.desiredValue;
    if (!state.hold) {
      // Nothing held: no call. A standby is asked to release on every role pass, and a call would
      // hold back a hold decided a moment later, or a deferred transfer. Reconcile repairs the kernel.
      if (!this.appliedValue.hold) return null;
      this.inFlight = state;
      return state;
    }
    if (state.epoch === this.holdFailedEpoch && nowMs < this.holdRetryAtMs) return null;
    const fenceMs = this.fenceLeftMs(state.fenceMs, atMs, nowMs);
    if (fenceMs <= 0) return null;
    this.inFlight = state;
    return fenceMs === state.fenceMs ? state : { ...state, fenceMs };
  }
}
