/**
 * The network driver: what a node does to its own network layer. The role
 * logic decides (src/role), the driver loop carries the decision out through
 * this narrow interface; `linux` (ip, arping, unsolicited NA, nft) and `sim`
 * (no privileges, records everything) implement it.
 *
 * Contract for implementations:
 * - setVipState is idempotent and called on every decision: with hold true
 *   it adds missing VIPs and renews the kernel fence for `fenceMs` (the
 *   node answers for the VIPs only until then unless renewed); with hold
 *   false it removes the VIPs and the fence element.
 * - announce sends gratuitous ARP (IPv4) / unsolicited NA (IPv6) for each VIP.
 * - applyPolicy replaces the ruleset atomically: on failure the previous
 *   ruleset stays in force and the result says why.
 * - reconcile compares the kernel with the last desired state and repairs it.
 * - Errors are results, never thrown, except programmer errors.
 */
import type { VipSettings } from '../fsm/settings.js';
import type { VipAction } from '../role/types.js';
import { assert } from '../util/assert.js';

export type DesiredVipState =
  | {
      readonly hold: true;
      /** The lease epoch (fencing token) the VIPs are held under. */
      readonly epoch: number;
      readonly vips: readonly VipSettings[];
      /** Kernel fence timeout from now; never longer than the lease the node can vouch for. */
      readonly fenceMs: number;
    }
  | { readonly hold: false };

export type DriverResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface ReconcileReport {
  /** What was found different from the desired state and repaired, one line each. */
  readonly repaired: readonly string[];
  /** What could not be repaired. */
  readonly errors: readonly string[];
  /**
   * Those of `errors` the node's setup check names too, with the fix to
   * make (a VIP on an interface the node config does not map, or on a device
   * the host lacks); start-up clean-up only.
   */
  readonly setup?: readonly string[];
}

export interface NetworkDriver {
  readonly name: string;
  setVipState(desired: DesiredVipState): Promise<DriverResult>;
  announce(vips: readonly VipSettings[], epoch: number): Promise<DriverResult>;
  applyPolicy(ruleset: string, revision: number): Promise<DriverResult>;
  reconcile(): Promise<ReconcileReport>;
  /** Start-up: installs what the driver needs and removes VIPs a crash left behind; before this node may hold them. */
  cleanupAtStart?(vips: readonly VipSettings[]): Promise<ReconcileReport>;
  /** The epoch whose kernel lease ran out before it was renewed (the driver refuses to hold it again), or null. */
  lapsed?(): number | null;
  /** The VIPs of the current settings, so the fence knows them on a standby too. */
  configureVips?(vips: readonly VipSettings[]): Promise<DriverResult>;
  /**
   * The setup check (R7): for each device name, why this driver cannot
   * manage it here (it does not exist), or null when it can. Read-only.
   * Rejects when it cannot tell (the devices could not be listed).
   */
  checkDevices?(devices: readonly string[]): Promise<Readonly<Record<string, string | null>>>;
  /** Releases what the driver holds (VIPs, fence) and stops; safe to call twice. */
  close(): Promise<void>;
}

/** The desired state for a role decision's VIP action (ticks become milliseconds). */
export function desiredVipState(action: VipAction, tickMs: number): DesiredVipState {
  if (!action.hold) return { hold: false };
  assert(action.fenceTicks > 0, 'desiredVipState: a hold needs a positive fence');
  return { hold: true, epoch: action.epoch, vips: action.vips, fenceMs: action.fenceTicks * tickMs };
}
