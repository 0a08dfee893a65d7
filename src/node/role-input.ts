/**
 * The pure part of the agent's role loop: how it turns Raft status, the
 * applied cluster state and its own observations into decide()'s input, and
 * the small judgements it makes around the decision (is a peer reachable,
 * is a fence renewal due, does a lapsed fence call for a new epoch, is this
 * node's record or health report current). No I/O and no clock: the agent
 * passes its monotonic tick, and the simulator (test/sim) builds the role
 * input with this same code.
 */
import { COMMAND_LIMITS, type CommandOf, type HealthState, type MemberInfo } from '../fsm/commands.js';
import { findMember, versionWriteBlock, type ClusterState, type HealthReport, type MemberRecord } from '../fsm/state.js';
import { NEVER_HEARD_TICKS, type RaftStatus } from '../raft/raft.js';
import type { MemberKind, NodeId } from '../raft/types.js';
import { roleConfigFromSettings } from '../role/decide.js';
import type { LocalView, MonitorObservation, PeerObservation, PolicyView, RaftView, RoleAction, RoleInput, RoleMemory } from '../role/types.js';

/** A member report is re-sent at most this often while the state does not show it. */
export const REPORT_RETRY_MS = 500;
/** A health report that changed is sent at most this often. */
export const HEALTH_REPORT_MIN_MS = REPORT_RETRY_MS / 5;

/** What a node knows about who it heard from, and when, on its own monotonic tick. */
export interface ReachabilityView {
  readonly self: NodeId;
  readonly state: ClusterState;
  /** The Raft leader as of the last soft-state change. */
  readonly knownLeader: NodeId | null;
  /**
   * While no leader is known, or this node leads: the leader known before,
   * and the tick it stopped being known (the target of a planned move
   * campaigns a moment after its old leader handed over, still hears that
   * leader, and may lead before the other voters have answered it).
   */
  readonly lastLeader: { readonly id: NodeId; readonly lostAtTick: number } | null;
  /** Tick at which anything was last heard from each peer (Raft traffic). */
  readonly lastHeardTick: ReadonlyMap<NodeId, number>;
  readonly nowTick: number;
}

/**
 * Ticks since `id` is vouched for by the leader: a follower never talks to
 * another follower, so the leader's latest committed report that it reaches
 * `id` counts while the leader itself is heard. With no other leader known
 * (an election, or this node just elected), the last one's report counts
 * under the same bound, aged from the moment it stopped being the leader at
 * the latest: a candidate, or a leader whose followers have yet to answer
 * it, does not call unreachable the members it only knew of through the old
 * leader; a former leader heard campaigning for longer vouches for no one.
 * Only a leader whose report speaks for it is kept as the last one
 * (leaderReportVouches). In a crash the old leader has been silent an
 * election timeout by then anyway, so it vouches for no one either.
 */
export function viaLeaderTicks(v: ReachabilityView, id: NodeId): number {
  const current = v.knownLeader !== null && v.knownLeader !== v.self;
  const leader = current ? v.knownLeader : (v.lastLeader?.id ?? null);
  if (leader === null || leader === v.self || leader === id) return Infinity;
  const heardLeader = v.lastHeardTick.get(leader);
  if (heardLeader === undefined) return Infinity;
  const member = findMember(v.state, leader);
  // A witness leads only as a bridge, and cannot commit a report meanwhile: the one it has may predate the crash.
  if (member?.kind !== 'data') return Infinity;
  if (member.health?.peers.find((p) => p.id === id)?.reachable !== true) return Infinity;
  const since = !current && v.lastLeader !== null ? Math.min(heardLeader, v.lastLeader.lostAtTick) : heardLeader;
  return v.nowTick - since;
}

/**
 * The next ReachabilityView.lastLeader when the known leader changes from
 * `was` to `now` on node `self`. `wasVouches`: whether `was`'s report may
 * vouch once it no longer leads (leaderReportVouches).
 */
export function nextLastLeader(
  last: ReachabilityView['lastLeader'],
  change: { readonly was: NodeId | null; readonly now: NodeId | null; readonly nowTick: number; readonly self: NodeId; readonly wasVouches: boolean },
): ReachabilityView['lastLeader'] {
  const { was, now, nowTick, self } = change;
  if (now !== null && now !== self) return null;
  if (was === null || was === self) return last;
  return change.wasVouches ? { id: was, lostAtTick: nowTick } : null;
}

/**
 * Whether a leader's committed report still speaks for it once it stops
 * leading: only a data node's that led for an election timeout. A leader
 * reports again at once whatever it sees otherwise, so its report is then
 * its own view as leader. A witness leads only as a bridge and cannot
 * commit a report (it refuses proposals), and a leader that handed over at
 * once may still carry the report it made as a follower: either may vouch
 * for the node whose crash brought on the election.
 */
export function leaderReportVouches(kind: MemberKind | null, ledTicks: number, electionTicks: number): boolean {
  return kind === 'data' && ledTicks >= electionTicks;
}

/**
 * The next ReachabilityView.lastLeader when the known leader changes from
 * `was` (known since `sinceTick`) to `now`: the agent and the simulator
 * both keep it this way.
 */
export function lastLeaderOnChange(
  last: ReachabilityView['lastLeader'],
  change: {
    readonly was: NodeId | null;
    readonly sinceTick: number;
    readonly now: NodeId | null;
    readonly nowTick: number;
    readonly self: NodeId;
    readonly state: ClusterState;
    readonly electionTicks: number;
  },
): ReachabilityView['lastLeader'] {
  const { was, now, nowTick, self } = change;
  const kind = findMember(change.state, was)?.kind ?? null;
  const wasVouches = leaderReportVouches(kind, nowTick - change.sinceTick, change.electionTicks);
  return nextLastLeader(last, { was, now, nowTick, self, wasVouches });
}

/** Ticks since `id` was last known alive: heard directly, or vouched for by the leader. */
export function silentTicks(v: ReachabilityView, id: NodeId): number {
  const heard = v.lastHeardTick.get(id);
  const direct = heard === undefined ? Infinity : v.nowTick - heard;
  return Math.min(direct, viaLeaderTicks(v, id));
}

export function peerReachable(v: ReachabilityView, id: NodeId, electionTicks: number): boolean {
  return id === v.self || silentTicks(v, id) < electionTicks;
}

/** The Raft side of the role input: the core's status plus what the driver loop applied. */
export function raftView(status: RaftStatus, applied: number, appliedTerm: number): RaftView {
  return {
    role: status.role,
    leader: status.leader,
    term: status.term,
    commit: status.commit,
    applied,
    lastIndex: status.lastIndex,
    appliedTerm,
    leaseRemainingTicks: status.leaseRemainingTicks,
    leaseVoid: status.leaseVoid,
    termStartIndex: status.termStartIndex,
    ticksSinceLeaderContact: status.ticksSinceLeaderContact,
    match: Object.fromEntries(Object.entries(status.progress).map(([id, p]) => [id, p.match])),
    // Not CheckQuorum's grace: a node just elected has no answer from anyone yet.
    ticksSinceAck: Object.fromEntries(
      Object.entries(status.progress).map(([id, p]) => [id, p.ticksSinceAnswer === NEVER_HEARD_TICKS ? Infinity : p.ticksSinceAnswer]),
    ),
    transferringTo: status.transferee,
    voters: status.membership.voters,
  };
}

/** Every other member, with each path it can be heard on. */
export function peerObservations(status: RaftStatus, v: ReachabilityView): PeerObservation[] {
  return [...status.membership.voters, ...status.membership.learners]
    .filter((m) => m.id !== v.self)
    .map((m) => {
      const heard = v.lastHeardTick.get(m.id);
      return {
        id: m.id,
        paths: [
          { name: 'raft', ticksSinceHeard: heard === undefined ? Infinity : v.nowTick - heard },
          { name: 'leader-report', ticksSinceHeard: viaLeaderTicks(v, m.id) },
        ],
      };
    });
}

export interface RoleInputParts {
  readonly kind: MemberKind;
  readonly status: RaftStatus;
  /** Index and term of the last entry the driver loop applied. */
  readonly applied: number;
  readonly appliedTerm: number;
  readonly reach: ReachabilityView;
  readonly tickMs: number;
  readonly memory: RoleMemory;
  readonly health: HealthState;
  readonly monitors: readonly MonitorObservation[];
  readonly policy: LocalView['policy'];
  /** What the network driver holds now (the last VIP state it carried out). */
  readonly holdingVips: boolean;
  /** This node's last check that it can hold the VIPs (null: not checked yet). */
  readonly vipSetup: LocalView['vipSetup'];
}

export function buildRoleInput(p: RoleInputParts): RoleInput {
  const state = p.reach.state;
  return {
    self: { id: p.reach.self, kind: p.kind },
    state,
    raft: raftView(p.status, p.applied, p.appliedTerm),
    config: roleConfigFromSettings(state.settings, { tickMs: p.tickMs }),
    memory: p.memory,
    local: {
      nowTick: p.reach.nowTick,
      health: p.health,
      monitors: p.monitors,
      peers: peerObservations(p.status, p.reach),
      appliedConfigRevision: state.configRevision,
      policy: { ...p.policy },
      holdingVips: p.holdingVips,
      vipSetup: p.vipSetup,
    },
  };
}

/** The last time this node proposed a new epoch after its fence lapsed. */
export interface RegrantAttempt {
  readonly epoch: number;
  readonly term: number;
  readonly tick: number;
}

/**
 * The kernel fence of an epoch ran out before a renewal (the process was
 * paused, or renewals were starved) and the driver will not hold that epoch
 * again: a leader that still holds the lease, and whose role decision on the
 * current state still holds that epoch, takes the next one. True when this
 * node should propose `grantLease` for `holds + 1`. Asked right after the
 * decision, on the state it was made on: a move committed since could be
 * about to start. A proposal can be lost with the leadership it was made
 * under, so it is made again in a new term or after `retryTicks`: otherwise
 * a leader that lost and regained leadership would keep the lease and never
 * hold the VIPs.
 */
export function shouldRegrantAfterLapse(p: {
  readonly self: NodeId;
  /** The epoch the role decision holds (decisionHolds), null when it releases. */
  readonly holds: number | null;
  /** The epoch the driver reports as lapsed. */
  readonly lapsed: number | null;
  readonly previous: RegrantAttempt | null;
  readonly state: ClusterState;
  readonly status: RaftStatus;
  readonly nowTick: number;
  readonly retryTicks: number;
}): boolean {
  // Not while letting go: a node handing the role over (a committed move under way) decides to
  // release, and taking the role back would cancel the move (a failed active kept active). A move
  // that waits for its target, or is no longer wanted, keeps this node holding: it takes the role
  // again rather than leave nobody holding the VIPs. The grant ends a waiting move (a grant clears
  // the intent); the rules that asked for it ask again, an operator's switchover must be asked again.
  const epoch = p.holds;
  if (epoch === null || p.lapsed !== epoch) return false;
  const prev = p.previous;
  if (prev !== null && prev.epoch === epoch && prev.term === p.status.term && p.nowTick - prev.tick < p.retryTicks) return false;
  const lease = p.state.lease;
  return lease !== null && lease.holder === p.self && lease.epoch === epoch && p.status.role === 'leader';
}

/** The epoch a role decision holds the VIPs under, null when it releases them. */
export function decisionHolds(actions: readonly RoleAction[]): number | null {
  const vips = actions.find((a) => a.type === 'vips');
  return vips?.type === 'vips' && vips.hold ? vips.epoch : null;
}

/**
 * The version of the `fence-lapsed` grant `shouldRegrantAfterLapse` asks
 * for: 2 only where it differs from 1 (the holder is in maintenance, which
 * version 1 refuses) and every member runs the same version (an older build
 * would not apply it, and its lease would differ from then on).
 */
export function regrantVersion(state: ClusterState, self: NodeId): 1 | 2 {
  return findMember(state, self)?.maintenance === true && versionWriteBlock(state) === null ? 2 : 1;
}

/** The state already records this node as it would register itself. */
export function registrationCurrent(me: MemberRecord | undefined, want: MemberInfo): boolean {
  return (
    me !== undefined &&
    me.kind === want.kind &&
    me.peer === want.peer &&
    me.api === want.api &&
    me.version === want.version &&
    me.entitlementPresent === want.entitlementPresent
  );
}

/** The fields of a reportHealth command. */
export type HealthReportFields = Omit<CommandOf<'reportHealth'>, 'type' | 'v' | 'at' | 'principal'>;

/**
 * This node's health report, from the role input it just decided on, and
 * `holdFault`: a recent failure to hold the VIPs that its own decisions do
 * not read (HoldFault), left out while members run different versions
 * (older builds do not know the field).
 */
export function healthReportOf(
  input: RoleInput,
  appliedPolicy: PolicyView,
  reachable: (id: NodeId) => boolean,
  holdFault: string | null = null,
): HealthReportFields {
  return {
    node: input.self.id,
    health: input.local.health,
    monitors: input.local.monitors.map((m) => ({ name: m.name, state: !m.reported ? ('unknown' as const) : m.healthy ? ('up' as const) : ('down' as const) })),
    appliedConfigRevision: input.local.appliedConfigRevision,
    appliedPolicyRevision: appliedPolicy.appliedRevision,
    policyApply: {
      revision: appliedPolicy.failedRevision ?? appliedPolicy.appliedRevision,
      ok: appliedPolicy.failedRevision === null,
      error: appliedPolicy.error,
    },
    peers: input.local.peers.map((p) => ({ id: p.id, reachable: reachable(p.id) })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    ...(input.local.vipSetup === null ? {} : { vipSetup: { revision: input.local.vipSetup.revision, problems: [...input.local.vipSetup.problems] } }),
    ...(holdFault === null || versionWriteBlock(input.state) !== null ? {} : { holdFault: holdFault.slice(0, COMMAND_LIMITS.textChars) }),
  };
}

/** A health report this node sent, to which leader, and when (ms on its monotonic clock). */
export interface SentHealthReport {
  readonly report: HealthReportFields;
  readonly leader: NodeId;
  readonly atMs: number;
}

/**
 * Whether to send `report` to `leader` now: never while the state shows it;
 * a changed report at most every HEALTH_REPORT_MIN_MS; the report last sent
 * to this same leader again only after REPORT_RETRY_MS, since it may still
 * be on its way (a slow commit) and each copy is a log entry.
 */
export function healthReportDue(shown: HealthReport | null, report: HealthReportFields, sent: SentHealthReport | null, leader: NodeId, nowMs: number): boolean {
  if (sameHealthReport(shown, report)) return false;
  if (sent === null) return true;
  const again = sent.leader === leader && sameHealthReport(sent.report, report);
  return nowMs - sent.atMs >= (again ? REPORT_RETRY_MS : HEALTH_REPORT_MIN_MS);
}

/** `h` (the state's, or one sent) says what this report says. */
export function sameHealthReport(h: HealthReport | HealthReportFields | null, report: HealthReportFields): boolean {
  return (
    h !== null &&
    h.health === report.health &&
    JSON.stringify(h.monitors) === JSON.stringify(report.monitors) &&
    h.appliedConfigRevision === report.appliedConfigRevision &&
    h.appliedPolicyRevision === report.appliedPolicyRevision &&
    JSON.stringify(h.policyApply) === JSON.stringify(report.policyApply) &&
    JSON.stringify(h.peers) === JSON.stringify(report.peers) &&
    JSON.stringify(h.vipSetup) === JSON.stringify(report.vipSetup) &&
    h.holdFault === report.holdFault
  );
}
