/**
 * The facts every role rule reads, computed once per decide() call, and the
 * small helpers about peers and health they share with the conditions.
 */
import { findMember, type ClusterState, type Lease, type MemberRecord, type MoveIntent, type VipSetupReport } from '../fsm/state.js';
import type { MemberKind, NodeId } from '../raft/types.js';
import type { RoleConfig, RoleInput } from './types.js';


export interface Facts {
  readonly input: RoleInput;
  readonly id: NodeId;
  readonly kind: MemberKind;
  readonly state: ClusterState;
  readonly config: RoleConfig;
  readonly now: number;
  readonly me: MemberRecord | undefined;
  readonly lease: Lease | null;
  readonly isLeader: boolean;
  /** Applied everything committed; a leader also applied an entry of its own term. */
  readonly viewCurrent: boolean;
  /** The intent for the current epoch, if one is pending and still wanted (see wantedIntent). */
  readonly intent: MoveIntent | null;
  /** A leadership transfer this node started and that has not finished or timed out. */
  readonly transferring: NodeId | null;
}

export function facts(input: RoleInput): Facts {
  const { state, raft, memory, config } = input;
  const now = input.local.nowTick;
  const isLeader = raft.role === 'leader';
  const lease = state.lease;
  const intent = wantedIntent(state, lease);
  const ownTransfer =
    memory.transfer !== null && memory.transfer.term === raft.term && now - memory.transfer.tick < config.retryTicks
      ? memory.transfer.to
      : null;
  return {
    input,
    id: input.self.id,
    kind: input.self.kind,
    state,
    config,
    now,
    me: findMember(state, input.self.id),
    lease,
    isLeader,
    viewCurrent: raft.applied >= raft.commit && (!isLeader || raft.appliedTerm === raft.term),
    intent,
    transferring: isLeader ? (raft.transferringTo ?? ownTransfer) : null,
  };
}

/**
 * The committed intent for the current epoch, unless what asked for it is
 * gone: a failback while automatic failback is off or another node is
 * preferred; a maintenance move while the active is out of maintenance; a
 * resource failure move once the active reported itself healthy (or
 * degraded), with its VIP devices found, after the move was asked for. A
 * move waiting for its target (MOVE_PENDING) would otherwise go ahead
 * whenever the target passes again, against what the operator set
 * meanwhile, or away from an active that recovered. This is derived, not
 * recorded: the intent stays in the state until the next grant, so
 * restoring the setting first brings the move back (a failback then
 * without a new hold-down). Recording it would change what older versions
 * apply. A switchover (forced or not) stands until the role moves or the
 * API call that asked for it withdraws it.
 */
export function wantedIntent(state: ClusterState, lease: Lease | null): MoveIntent | null {
  const intent = state.intent;
  if (intent === null || lease === null || intent.epoch !== lease.epoch) return null;
  switch (intent.reason) {
    case 'failback': {
      const { failback, preferred } = state.settings;
      return failback.auto && preferred === intent.to ? intent : null;
    }
    case 'maintenance':
      return findMember(state, lease.holder)?.maintenance === true ? intent : null;
    case 'resource-failure': {
      const report = findMember(state, lease.holder)?.health ?? null;
      const recovered = report !== null && report.index > intent.index && healthOk(report.health) && (report.vipSetup?.problems.length ?? 0) === 0;
      return recovered ? null : intent;
    }
    case 'switchover':
    case 'forced':
      return intent;
  }
}

/** Ticks since anything was heard from `id` on its best path (Infinity when never). */
export function silentTicks(f: Facts, id: NodeId): number {
  const peer = f.input.local.peers.find((p) => p.id === id);
  if (peer === undefined || peer.paths.length === 0) return Infinity;
  return Math.min(...peer.paths.map((p) => p.ticksSinceHeard));
}

export function isReachable(f: Facts, id: NodeId): boolean {
  return id === f.id || silentTicks(f, id) < f.config.electionTicks;
}

export function healthOk(health: string | undefined): boolean {
  return health === 'healthy' || health === 'degraded';
}

/** "never heard on any path" or "nothing heard on any path for 3.2 s". */
export function silenceText(f: Facts, id: NodeId): string {
  const ticks = silentTicks(f, id);
  if (!Number.isFinite(ticks)) return 'never heard on any path';
  return `nothing heard on any path for ${durationText(ticks * f.config.tickMs)}`;
}

/** "no answer yet" or "no answer for 1.2 s". */
export function ticksText(f: Facts, ticks: number): string {
  return Number.isFinite(ticks) ? `no answer for ${durationText(ticks * f.config.tickMs)}` : 'no answer yet';
}

function durationText(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

/**
 * Why a data node's check of its VIPs' devices keeps it from holding the
 * VIPs of settings revision `revision` (null when it may): it has not
 * checked them yet, or a VIP's interface maps to no device on its host. A
 * node granted the role then could not add the VIPs and nobody would
 * answer for them (R7).
 */
export function vipSetupProblem(setup: VipSetupReport | null, revision: number): string | null {
  if (setup === null || setup.revision !== revision) return `has not checked its VIPs' devices for settings revision ${revision} yet`;
  return setup.problems.length === 0 ? null : `cannot hold the VIPs: ${setup.problems.join('; ')}`;
}
