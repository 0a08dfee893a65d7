/**
 * Conditions only this node can see, about its own network layer, node
 * config and membership, added to those of the role logic. Pure, so that each sentence is
 * tested without a kernel.
 */
import { COMMAND_LIMITS } from '../fsm/commands.js';
import type { VipSetupReport } from '../fsm/state.js';
import type { Condition } from '../role/types.js';

/** How long a repair of the network layer stays shown. */
export const REPAIR_SHOWN_MS = 60_000;

export interface LocalFacts {
  readonly id: string;
  readonly nowTick: number;
  readonly tickMs: number;
  /** The last repair of the fence or a VIP, when it happened. */
  readonly lastRepair: { readonly atTick: number; readonly detail: string } | null;
  /** What the last check of the network layer could not put right (empty: nothing). */
  readonly networkErrors: readonly string[];
  /** This node's setup check of its VIPs for the settings in force. */
  readonly vipProblems: readonly string[];
  /** The committed membership no longer lists this node, which it once did (Raft.isRemoved). */
  readonly removed: boolean;
}

export function localConditions(f: LocalFacts): Condition[] {
  const out: Condition[] = [];
  if (f.removed) {
    out.push({
      code: 'REMOVED',
      severity: 'warning',
      node: f.id,
      message:
        `${f.id} was removed from the cluster and takes no part in it any more: stop its agent, ` +
        `and empty its data directory before it joins again (hapair join)`,
    });
  }
  const repair = f.lastRepair;
  if (repair !== null && (f.nowTick - repair.atTick) * f.tickMs <= REPAIR_SHOWN_MS) {
    out.push({
      code: 'NETWORK_REPAIRED',
      severity: 'warning',
      node: f.id,
      message: `${f.id} found its network layer changed behind its back and restored it: ${repair.detail} (check for another tool managing nftables or addresses)`,
    });
  }
  if (f.networkErrors.length > 0) {
    out.push({
      code: 'NETWORK_FAULT',
      severity: 'error',
      node: f.id,
      message:
        `${f.id} cannot put its network layer as the role needs it: ${f.networkErrors.join('; ')}; ` +
        `it tries again every second (read its log, and ip addr and nft list ruleset on ${f.id})`,
    });
  }
  if (f.vipProblems.length > 0) {
    out.push({
      code: 'SETUP_INVALID',
      severity: 'error',
      node: f.id,
      message: `${f.vipProblems.join('; ')}: ${f.id} cannot hold these VIPs (fix network.interfaces in its node config and restart its agent)`,
    });
  }
  return out;
}

/** A failed start-up clean-up is tried again this long after it ended. */
export const CLEANUP_RETRY_MS = 1000;

/**
 * What this node tells the cluster about holding its VIPs: the check of
 * their devices, plus
 * - a start-up clean-up that failed and is being retried: such a node holds
 *   nothing until it succeeds, so it must not be granted the role (a
 *   failback to it would leave the VIPs unanswered). `cleanupErrors` come
 *   without those the device check names already (ReconcileReport.setup);
 * - `holdProblem`, a lasting failure to take or keep the VIPs (HoldFault).
 * Either makes an active hand the role on (resourceFailureRule) and keeps
 * the node from being a target.
 */
export function reportedVipSetup(
  id: string,
  setup: VipSetupReport | null,
  cleanupErrors: readonly string[],
  holdProblem: string | null,
): VipSetupReport | null {
  const extra: string[] = [];
  if (cleanupErrors.length > 0) extra.push(`${id}: its start-up clean-up of the network layer failed (retried every second): ${cleanupErrors.join('; ')}`);
  if (holdProblem !== null) extra.push(holdProblem);
  if (setup === null || extra.length === 0) return setup;
  const problems = [...setup.problems.slice(0, COMMAND_LIMITS.vipProblems - extra.length), ...extra.map((line) => line.slice(0, COMMAND_LIMITS.textChars))];
  return { revision: setup.revision, problems };
}
