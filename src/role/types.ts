/**
 * Inputs and outputs of the role logic (decide.ts). Everything is plain
 * data and time is counted in ticks, so decide() is a pure function the
 * driver loop calls after every Ready cycle (and the simulator calls the
 * same way).
 */
import type { HealthState, LeaseReason, MoveReason } from '../fsm/commands.js';
import type { VipSettings } from '../fsm/settings.js';
import type { ClusterState, VipSetupReport } from '../fsm/state.js';
import type { Member, MemberKind, NodeId, RaftRole } from '../raft/types.js';

/** What the Raft core says about itself (from Raft.status() plus what the driver tracks). */
export interface RaftView {
  readonly role: RaftRole;
  readonly leader: NodeId | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /**
   * Term of the last applied entry. A new leader's view of the state is
   * current only once an entry of its own term is applied (its noop): until
   * then a grant committed by the previous leader may be missing from it.
   */
  readonly appliedTerm: number;
  /** Leader: ticks it may still assume no other leader exists. 0 otherwise. */
  readonly leaseRemainingTicks: number;
  /** Leader: its lease is 0 for the rest of the term because it sent a TimeoutNow (RaftStatus.leaseVoid). */
  readonly leaseVoid: boolean;
  /** Leader: index of its noop, the first entry of its term; 0 otherwise. */
  readonly termStartIndex: number;
  readonly ticksSinceLeaderContact: number;
  /** Leader: highest index known replicated on each peer. Empty otherwise. */
  readonly match: Readonly<Record<NodeId, number>>;
  /**
   * Leader: ticks since each peer last answered one of its messages. An
   * answer proves both directions work, where hearing a peer proves only
   * one. Empty otherwise.
   */
  readonly ticksSinceAck: Readonly<Record<NodeId, number>>;
  /** Leader: the target of a leadership transfer in progress, else null. */
  readonly transferringTo: NodeId | null;
  /** Current voters (from the membership). */
  readonly voters: readonly Member[];
}

export interface MonitorObservation {
  readonly name: string;
  /** Has reported at least once since this node started (or the monitor was configured). */
  readonly reported: boolean;
  readonly healthy: boolean;
}

export interface PeerObservation {
  readonly id: NodeId;
  /** Each heartbeat path to the peer (the Raft transport, extra links) and ticks since anything was heard on it. */
  readonly paths: readonly { readonly name: string; readonly ticksSinceHeard: number }[];
}

export interface LocalView {
  /** This node's tick counter (monotonic, local). */
  readonly nowTick: number;
  /** Overall health computed by the monitor layer from the monitors below. */
  readonly health: HealthState;
  readonly monitors: readonly MonitorObservation[];
  readonly peers: readonly PeerObservation[];
  /** Settings revision the node has applied to its monitors and network layer. */
  readonly appliedConfigRevision: number;
  /** Policy revision in force on this node, and the last revision that failed (with its error and when: it is tried again). */
  readonly policy: PolicyView;
  /** Whether the network driver holds the VIPs now (the previous decision, as carried out). */
  readonly holdingVips: boolean;
  /** The last check of this node's VIPs' devices (R7), or null before the first one ended (see VipSetupReport). */
  readonly vipSetup: VipSetupReport | null;
}

/** This node's policy: the revision in force, and the last failed attempt, its error, its nowTick and how many failed in a row. */
export interface PolicyView {
  readonly appliedRevision: number;
  readonly failedRevision: number | null;
  readonly error: string | null;
  readonly failedAtTick: number | null;
  readonly failedAttempts: number;
}

export interface RoleConfig {
  readonly tickMs: number;
  readonly heartbeatTicks: number;
  readonly electionTicks: number;
  /** Ticks kept in hand for clock-rate drift: the VIPs go before the Raft lease could have ended anywhere. */
  readonly driftMarginTicks: number;
  /** Failback hold-down: the preferred node must stay eligible this long. */
  readonly holdDownTicks: number;
  /** After this long as leader with no lease granted, bootstrap stops waiting for the preferred node. */
  readonly bootstrapGraceTicks: number;
  /** A proposal or transfer not reflected in the state after this long is tried again. */
  readonly retryTicks: number;
  /** A target more than this many entries behind the leader's commit is lagging. */
  readonly maxLagEntries: number;
  /** The active waits this long for a standby to apply a new policy revision first (R11). */
  readonly standbyFirstTicks: number;
  /** A policy revision that failed to apply here is tried again after this long, doubled for each failure up to 32 times as long (nft may have been fixed). */
  readonly policyRetryTicks: number;
}

/** What decide() remembers between calls; the driver passes back what the last decision returned. */
export interface RoleMemory {
  readonly pendingGrant: { readonly epoch: number; readonly term: number; readonly tick: number } | null;
  readonly pendingIntent: { readonly to: NodeId; readonly epoch: number; readonly term: number; readonly tick: number } | null;
  readonly transfer: { readonly to: NodeId; readonly term: number; readonly tick: number } | null;
  /** Epoch whose VIPs were last announced. */
  readonly announcedEpoch: number | null;
  /** Peers reachable at the last call, to notice reconnects. Sorted by id. */
  readonly reachable: readonly NodeId[];
  /** Leader: the preferred node, and since when it has been continuously eligible for failback (a new preferred node starts over). */
  readonly preferredEligible: { readonly node: NodeId; readonly since: number } | null;
  /** Since when this node has been leader in `term` (bootstrap grace). */
  readonly leaderSince: { readonly term: number; readonly tick: number } | null;
  /** Active: since when it has waited for the standby to apply a policy revision first. */
  readonly policyWait: { readonly revision: number; readonly tick: number } | null;
  /** Leader holding the lease: since when its Raft lease has been 0 in this term (see voidLeaseRule). */
  readonly leaseVoidSince: { readonly term: number; readonly tick: number } | null;
}

export interface RoleInput {
  readonly self: { readonly id: NodeId; readonly kind: MemberKind };
  readonly state: ClusterState;
  readonly raft: RaftView;
  readonly local: LocalView;
  readonly config: RoleConfig;
  readonly memory: RoleMemory;
}

export type VipAction =
  | {
      readonly type: 'vips';
      readonly hold: true;
      readonly epoch: number;
      /** Kernel fence timeout: never longer than the lease this node can still vouch for. */
      readonly fenceTicks: number;
      readonly vips: readonly VipSettings[];
      /** lease: Raft leader holding the committed lease. unilateral: two voters, peer silent (no quorum). */
      readonly mode: 'lease' | 'unilateral';
    }
  | { readonly type: 'vips'; readonly hold: false; readonly why: string };

/** Carried out by the driver in list order (a VIP release always comes before a leadership transfer). */
export type RoleAction =
  | VipAction
  | { readonly type: 'announce'; readonly epoch: number; readonly why: 'took-role' | 'peer-reconnected' }
  | { readonly type: 'proposeGrant'; readonly epoch: number; readonly reason: LeaseReason }
  | { readonly type: 'proposeIntent'; readonly to: NodeId; readonly reason: MoveReason; readonly epoch: number }
  | { readonly type: 'transferLeadership'; readonly to: NodeId; readonly why: string }
  /** The leader stands again in the next term (Raft.reelect). */
  | { readonly type: 'reelect'; readonly why: string }
  | { readonly type: 'applyPolicy'; readonly revision: number };

export const CONDITION_CODES = [
  'NO_QUORUM',
  'NO_ACTIVE',
  'VERSION_MISMATCH',
  'POLICY_APPLY_FAILED',
  'MEMBER_UNREACHABLE',
  'MEMBER_UNHEALTHY',
  'NO_WITNESS',
  'DEGRADED',
  'ENTITLEMENT_MISSING',
  'MAINTENANCE',
  'FLAP_DAMPED',
  'GUARDED_TAKEOVER',
  'UNILATERAL',
  'NOT_READY',
  'MOVE_PENDING',
  'APPLY_ERROR',
] as const;
/** Conditions about a node's own network layer, node config and membership, raised by the agent rather than by decide() (src/node/local-conditions.ts). */
export const AGENT_CONDITION_CODES = ['NETWORK_REPAIRED', 'NETWORK_FAULT', 'SETUP_INVALID', 'REMOVED'] as const;
export type ConditionCode = (typeof CONDITION_CODES)[number] | (typeof AGENT_CONDITION_CODES)[number];
export type Severity = 'info' | 'warning' | 'error';

export interface Condition {
  readonly code: ConditionCode;
  readonly severity: Severity;
  readonly message: string;
  /** The member it is about, when it is about one. */
  readonly node: NodeId | null;
}

export type NodeRole = 'active' | 'standby' | 'witness' | 'none';

export interface RoleDecision {
  /** This node's role as status shows it. */
  readonly role: NodeRole;
  readonly actions: readonly RoleAction[];
  readonly conditions: readonly Condition[];
  readonly memory: RoleMemory;
  /** Which rules fired and why, one line each (logs, tests). */
  readonly trace: readonly string[];
}
