/**
 * The role logic: which node is active, and what this node should do about
 * it now. One pure function, decide(), called by the driver after every
 * Ready cycle; each rule below is a named, exported function of the
 * replicated state plus local observations. docs/role.md explains each rule
 * and the timing argument; test/role/decide.test.ts is the table of cases.
 *
 * The safety core, in one sentence: a node holds the VIPs only while it is
 * the Raft leader, the committed lease names it, its view of the state is
 * current, and its Raft leader lease has more than the drift margin left;
 * the kernel fence it renews never outlives that remainder. The only
 * exception is the two-voter mode without a witness (twoNodeUnilateralRule),
 * which trades split-brain safety for availability and says so.
 */
import type { LeaseReason, MoveReason } from '../fsm/commands.js';
import { ownMonitorNames, type ClusterSettings } from '../fsm/settings.js';
import { findMember, type ClusterState } from '../fsm/state.js';
import { compareVersions } from '../fsm/versions.js';
import type { NodeId } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { deriveConditions, flapDampedSentence } from './conditions.js';
import { facts, healthOk, isReachable, silenceText, silentTicks, ticksText, vipSetupProblem, type Facts } from './facts.js';
import type {
  Condition,
  NodeRole,
  PolicyView,
  RoleAction,
  RoleConfig,
  RoleDecision,
  RoleInput,
  RoleMemory,
  VipAction,
} from './types.js';

export function initialRoleMemory(): RoleMemory {
  return {
    pendingGrant: null,
    pendingIntent: null,
    transfer: null,
    announcedEpoch: null,
    reachable: [],
    preferredEligible: null,
    leaderSince: null,
    policyWait: null,
    leaseVoidSince: null,
  };
}

/** Relative clock-rate drift the default margin covers (5%: far beyond a working crystal). */
export const DEFAULT_DRIFT_RATE = 0.05;

/** How soon a policy revision that failed to apply on this node is tried again (policyRetryTicks), then twice as long each time, 5 times. */
export const POLICY_RETRY_MS = 10_000;
const POLICY_RETRY_DOUBLINGS = 5;

/** Tick-based role config from the replicated timers and the node's tick length. */
export function roleConfigFromSettings(
  settings: ClusterSettings,
  options: { readonly tickMs: number; readonly driftRate?: number },
): RoleConfig {
  const { tickMs } = options;
  assert(tickMs > 0, 'roleConfigFromSettings: tickMs must be > 0');
  const heartbeatTicks = Math.max(1, Math.round(settings.timers.heartbeatMs / tickMs));
  const electionTicks = Math.max(2 * heartbeatTicks, Math.round(settings.timers.electionTimeoutMs / tickMs));
  const driftRate = options.driftRate ?? DEFAULT_DRIFT_RATE;
  return {
    tickMs,
    heartbeatTicks,
    electionTicks,
    // See docs/role.md, "timing argument": the margin must cover 2ρ of the lease.
    driftMarginTicks: Math.max(1, Math.ceil(2 * driftRate * electionTicks)),
    holdDownTicks: Math.ceil(settings.failback.holdDownMs / tickMs),
    bootstrapGraceTicks: 2 * electionTicks,
    retryTicks: 2 * electionTicks,
    maxLagEntries: 64,
    standbyFirstTicks: 10 * electionTicks,
    policyRetryTicks: Math.ceil(POLICY_RETRY_MS / tickMs),
  };
}

// ---------------------------------------------------------------------------
// Eligibility.

/** Readiness gate: never take the role before catching up, applying the current settings and policy, and hearing every monitor. */
export function readinessGate(f: Facts, options: { readonly ownTermPending?: boolean } = {}): { readonly ready: boolean; readonly reasons: readonly string[] } {
  const { raft, local } = f.input;
  const reasons: string[] = [];
  if (f.me === undefined) reasons.push('this node is not registered in the cluster state yet');
  if (raft.applied < raft.commit) reasons.push(`not caught up with the committed log (applied ${raft.applied} of ${raft.commit})`);
  if (f.isLeader && raft.appliedTerm !== raft.term && options.ownTermPending !== true) reasons.push('has not applied an entry of its own term yet');
  if (local.appliedConfigRevision !== f.state.configRevision) {
    reasons.push(`has not applied settings revision ${f.state.configRevision} (has ${local.appliedConfigRevision})`);
  }
  const policyRevision = f.state.policy.revision;
  if (local.policy.appliedRevision !== policyRevision) {
    reasons.push(
      local.policy.failedRevision === policyRevision
        ? `failed to apply policy revision ${policyRevision}: ${local.policy.error ?? 'no reason given'}`
        : `has not applied policy revision ${policyRevision} (has ${local.policy.appliedRevision})`,
    );
  }
  // Only its own monitors: a monitor of another node is a view of that node, not this node's readiness.
  const silent = [...ownMonitorNames(f.state.settings.monitors)].filter(
    (name) => !(local.monitors.find((o) => o.name === name)?.reported ?? false),
  );
  if (silent.length > 0) reasons.push(`monitors not reported yet: ${silent.join(', ')}`);
  const setup = vipSetupProblem(local.vipSetup, f.state.configRevision);
  if (setup !== null) reasons.push(setup);
  return { ready: reasons.length === 0, reasons };
}

/** R11: never move automatically to a node running an older version than the active's. */
export function updateOrderRule(state: ClusterState, candidate: NodeId): string | null {
  const holder = findMember(state, state.lease?.holder);
  const target = findMember(state, candidate);
  if (holder === undefined || target === undefined || holder.id === target.id) return null;
  if (compareVersions(target.version, holder.version) >= 0) return null;
  return `${target.id} runs version ${target.version}, older than the active ${holder.id} (${holder.version}); update ${target.id} first (R11)`;
}

/**
 * Why this node may not take the role now (null when it may). `forced` skips
 * health, readiness and version; `ownTermPending` lets a new leader whose
 * noop is not applied yet pass (plannedTakeoverRule).
 */
export function canTakeRole(f: Facts, forced: boolean, ownTermPending = false): string | null {
  if (f.kind !== 'data') return `${f.id} is a witness and never holds the active role`;
  if (f.me === undefined) return `${f.id} is not registered in the cluster state yet`;
  if (f.me.maintenance) return `${f.id} is in maintenance`;
  if (forced) return null;
  const gate = readinessGate(f, { ownTermPending });
  if (!gate.ready) return `${f.id} is not ready: ${gate.reasons.join('; ')}`;
  if (!healthOk(f.input.local.health)) return `${f.id} is ${f.input.local.health}`;
  return updateOrderRule(f.state, f.id);
}

/**
 * automatic: a move the role logic starts (failback, maintenance, a resource
 * failure); handoff: leadership handed on because the active failed or this
 * leader cannot keep or take the role (like automatic, but a node that
 * failed to hold the VIPs not long ago still counts: better a node that may
 * work than none); switchover and forced: an operator's.
 */
export type TargetMode = 'automatic' | 'handoff' | 'switchover' | 'forced';

/**
 * Why `id` may not receive the role (null when it may), as seen from this
 * node. automatic: R11 order applies. switchover: any version difference
 * refuses. forced: only what no force can fix (unknown, witness,
 * maintenance, unreachable, already active).
 */
export function targetCheck(f: Facts, id: NodeId, mode: TargetMode): string | null {
  const target = findMember(f.state, id);
  if (target === undefined) return `${id} is not a member`;
  if (target.kind !== 'data') return `${id} is a witness and never holds the active role`;
  if (target.maintenance) return `${id} is in maintenance (turn maintenance off first)`;
  if (f.lease?.holder === id) return `${id} already holds the active role`;
  if (!isReachable(f, id)) return `${id} is unreachable (${silenceText(f, id)})`;
  // Hearing a node does not prove it hears us: after a heal one direction may come back before the
  // other (a stalled connection waits for its next retransmission), and a move would release the VIPs
  // towards a node the handover cannot reach yet. So the leader also wants an answer to its own messages.
  const ackTicks = f.isLeader ? (f.input.raft.ticksSinceAck[id] ?? Infinity) : 0;
  if (ackTicks >= f.config.electionTicks) return `${id} has not answered ${f.id} (${ticksText(f, ackTicks)})`;
  if (mode === 'forced') return null;
  const report = target.health;
  if (report === null) return `${id} has not reported its health yet`;
  const own = ownMonitorNames(f.state.settings.monitors);
  const ownReported = report.monitors.filter((m) => own.has(m.name));
  if (!healthOk(report.health)) {
    const down = ownReported.filter((m) => m.state === 'down').map((m) => m.name);
    return `${id} is unhealthy (${report.health}${down.length > 0 ? `; down: ${down.join(', ')}` : ''})`;
  }
  const unknown = ownReported.filter((m) => m.state === 'unknown').map((m) => m.name);
  if (unknown.length > 0) return `${id} has monitors that have not reported yet: ${unknown.join(', ')}`;
  if (report.appliedConfigRevision !== f.state.configRevision) {
    return `${id} has not applied settings revision ${f.state.configRevision} (has ${report.appliedConfigRevision})`;
  }
  if (report.appliedPolicyRevision !== f.state.policy.revision) {
    return report.policyApply.revision === f.state.policy.revision && !report.policyApply.ok
      ? `${id} failed to apply policy revision ${f.state.policy.revision}: ${report.policyApply.error ?? 'no reason given'}`
      : `${id} has not applied policy revision ${f.state.policy.revision} (has ${report.appliedPolicyRevision})`;
  }
  // A report without it comes from a build that does not check (during an update): nothing is known against it.
  const setup = report.vipSetup === undefined ? null : vipSetupProblem(report.vipSetup, f.state.configRevision);
  if (setup !== null) return `${id} ${setup}`;
  if (report.holdFault !== undefined && mode !== 'handoff') {
    return `${id} is kept from planned moves for a while after a failure to hold the VIPs (${report.holdFault}); it still takes over if the active fails`;
  }
  const raft = f.input.raft;
  if (f.isLeader) {
    const match = raft.match[id] ?? 0;
    if (match + f.config.maxLagEntries < raft.commit) return `${id} is lagging (has index ${match} of ${raft.commit})`;
  }
  if (mode === 'switchover') {
    const holder = findMember(f.state, f.lease?.holder);
    if (holder !== undefined && holder.version !== target.version) {
      return `${id} runs version ${target.version}, the active ${holder.id} runs ${holder.version}`;
    }
    return null;
  }
  return updateOrderRule(f.state, id);
}

/** The data node to move to: the preferred one first, then by id; null when none passes. */
export function bestTarget(f: Facts, mode: TargetMode, exclude: readonly NodeId[] = []): NodeId | null {
  const preferred = f.state.settings.preferred;
  const candidates = f.state.members
    .filter((m) => m.kind === 'data' && m.id !== f.id && !exclude.includes(m.id))
    .map((m) => m.id)
    .sort((a, b) => (a === preferred ? -1 : b === preferred ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return candidates.find((id) => targetCheck(f, id, mode) === null) ?? null;
}

// ---------------------------------------------------------------------------
// Switchover (R13), called by the API on the leader before it proposes the intent.

export type SwitchoverCheck =
  | { readonly ok: true; readonly to: NodeId; readonly reason: MoveReason; readonly epoch: number }
  | { readonly ok: false; readonly code: 'NO_ACTIVE' | 'NO_TARGET' | 'TARGET_REFUSED'; readonly message: string };

export function switchoverCheck(
  input: RoleInput,
  request: { readonly to?: NodeId | null; readonly force?: boolean },
): SwitchoverCheck {
  const f = facts(input);
  const force = request.force ?? false;
  const mode: TargetMode = force ? 'forced' : 'switchover';
  const reason: MoveReason = force ? 'forced' : 'switchover';
  if (f.lease === null) {
    return { ok: false, code: 'NO_ACTIVE', message: 'no node holds the active role, so there is nothing to switch over' };
  }
  const epoch = f.lease.epoch;
  const to = request.to ?? null;
  if (to !== null) {
    const refusal = targetCheck(f, to, mode);
    if (refusal === null) return { ok: true, to, reason, epoch };
    const forceable = !force && targetCheck(f, to, 'forced') === null;
    return {
      ok: false,
      code: 'TARGET_REFUSED',
      message: `cannot switch over to ${to}: ${refusal}${forceable ? '; use --force to override' : ''}`,
    };
  }
  const others = f.state.members.filter((m) => m.kind === 'data' && m.id !== f.lease?.holder);
  const pick = others.map((m) => m.id).find((id) => targetCheck(f, id, mode) === null);
  if (pick !== undefined) return { ok: true, to: pick, reason, epoch };
  const why = others.length === 0 ? 'there is no other data node' : others.map((m) => targetCheck(f, m.id, mode)).join('; ');
  return { ok: false, code: 'NO_TARGET', message: `no node can take the active role: ${why}` };
}

// ---------------------------------------------------------------------------
// Leader rules: what the Raft leader proposes or hands over. Each returns the
// actions it wants (empty when it does not apply) and may add a condition.

interface RuleOutput {
  readonly actions: RoleAction[];
  readonly conditions: Condition[];
  readonly trace: string[];
  memory: RoleMemory;
}

function propose(out: RuleOutput, f: Facts, epoch: number, reason: LeaseReason, why: string): void {
  const p = out.memory.pendingGrant;
  const term = f.input.raft.term;
  if (p !== null && p.epoch === epoch && p.term === term && f.now - p.tick < f.config.retryTicks) {
    out.trace.push(`${why}: grant of epoch ${epoch} already proposed`);
    return;
  }
  out.actions.push({ type: 'proposeGrant', epoch, reason });
  out.memory = { ...out.memory, pendingGrant: { epoch, term, tick: f.now } };
  out.trace.push(`${why}: propose grant of epoch ${epoch} (${reason})`);
}

function proposeIntent(out: RuleOutput, f: Facts, to: NodeId, reason: MoveReason, why: string): void {
  assert(f.lease !== null, 'proposeIntent without a lease');
  const epoch = f.lease.epoch;
  const p = out.memory.pendingIntent;
  const term = f.input.raft.term;
  if (p !== null && p.to === to && p.epoch === epoch && p.term === term && f.now - p.tick < f.config.retryTicks) {
    out.trace.push(`${why}: intent to move to ${to} already proposed`);
    return;
  }
  out.actions.push({ type: 'proposeIntent', to, reason, epoch });
  out.memory = { ...out.memory, pendingIntent: { to, epoch, term, tick: f.now } };
  out.trace.push(`${why}: propose moving the role to ${to} (${reason})`);
}

function transfer(out: RuleOutput, f: Facts, to: NodeId, why: string): void {
  out.actions.push({ type: 'transferLeadership', to, why });
  out.memory = { ...out.memory, transfer: { to, term: f.input.raft.term, tick: f.now } };
  out.trace.push(`${why}: transfer leadership to ${to}`);
}

/** Bootstrap: with no lease yet, the preferred node takes epoch 1 (others wait for it, up to a grace period). */
export function bootstrapRule(f: Facts, out: RuleOutput): void {
  const preferred = f.state.settings.preferred;
  const selfRefusal = canTakeRole(f, false);
  if (preferred === f.id && selfRefusal === null) {
    propose(out, f, 1, 'bootstrap', 'bootstrapRule');
    return;
  }
  if (preferred !== null && preferred !== f.id && targetCheck(f, preferred, 'automatic') === null) {
    transfer(out, f, preferred, 'bootstrapRule (the preferred node takes epoch 1)');
    return;
  }
  const since = out.memory.leaderSince;
  const graceOver = preferred === null || (since !== null && f.now - since.tick >= f.config.bootstrapGraceTicks);
  if (!graceOver) {
    out.trace.push(`bootstrapRule: waiting for the preferred node ${preferred ?? ''}`);
    return;
  }
  if (selfRefusal === null) {
    propose(out, f, 1, 'bootstrap', 'bootstrapRule (no eligible preferred node)');
    return;
  }
  const target = bestTarget(f, 'automatic');
  if (target !== null) transfer(out, f, target, `bootstrapRule (${selfRefusal})`);
  else out.trace.push(`bootstrapRule: no node can take epoch 1 (${selfRefusal})`);
}

/**
 * Failover (R2, R4): the leader does not hold the lease, so the previous
 * holder lost leadership (dead, cut off, paused) or a planned move is under
 * way. A ready, healthy data leader takes the next epoch (the intent's
 * reason if one names it, else `failover`); any other leader (a witness, a
 * node not ready) hands leadership to a node that can take the role.
 */
export function failoverRule(f: Facts, out: RuleOutput): void {
  assert(f.lease !== null && f.lease.holder !== f.id, 'failoverRule applies when another node holds the lease');
  const intentForMe = f.intent !== null && f.intent.to === f.id ? f.intent : null;
  const refusal = canTakeRole(f, intentForMe?.reason === 'forced');
  if (refusal === null) {
    propose(out, f, f.lease.epoch + 1, intentForMe?.reason ?? 'failover', 'failoverRule');
    return;
  }
  const target = handoffTarget(f);
  if (target !== null) transfer(out, f, target, `failoverRule (${refusal})`);
  else out.trace.push(`failoverRule: cannot take the role and no other node can (${refusal})`);
}

/**
 * A planned move (an intent of any reason), this node its target and just
 * elected: it proposes its grant at once, behind its noop, rather than after
 * the noop is applied (one Raft round less). Not on a partial view: it must
 * have applied every entry before its noop, which is everything earlier
 * leaders committed; and the grant stays a compare-and-set of the epoch at
 * apply. The old holder's silence does not rest on the view: it released
 * before handing leadership over, or lost its Raft lease before this node
 * could be elected.
 */
function plannedTakeoverRule(f: Facts, out: RuleOutput): boolean {
  const intent = f.intent;
  if (intent === null || intent.to !== f.id || f.lease === null || f.lease.holder === f.id) return false;
  // Every entry before its noop applied: by leader completeness that is every entry an earlier leader
  // committed, so no newer intent, settings or policy is missing from the view it decides on.
  if (f.input.raft.applied < f.input.raft.termStartIndex - 1) return false;
  if (canTakeRole(f, intent.reason === 'forced', true) !== null) return false;
  propose(out, f, f.lease.epoch + 1, intent.reason, 'plannedTakeoverRule');
  return true;
}

/**
 * Where a leader that will not take the role sends leadership: the target
 * of a pending intent, else the holder if it can serve (it keeps its
 * epoch), else the best eligible node, else the holder if it is at least
 * reachable (a failed active, or one in maintenance that no node can
 * relieve, still beats none: it keeps its epoch).
 */
function handoffTarget(f: Facts): NodeId | null {
  if (f.intent !== null && f.intent.to !== f.id && targetCheck(f, f.intent.to, intentMode(f.intent.reason)) === null) return f.intent.to;
  const holder = f.lease === null ? undefined : findMember(f.state, f.lease.holder);
  if (holder !== undefined && holder.id !== f.id && isHolderServing(f)) return holder.id;
  const best = bestTarget(f, 'handoff');
  if (best !== null) return best;
  const fallback = holder !== undefined && holder.id !== f.id && holder.kind === 'data' && isReachable(f, holder.id);
  return fallback ? holder.id : null;
}

/** The holder is a data member, not in maintenance, reachable and healthy by its last report: it can keep its epoch. */
function isHolderServing(f: Facts): boolean {
  const holder = findMember(f.state, f.lease?.holder);
  return (
    holder !== undefined &&
    holder.kind === 'data' &&
    !holder.maintenance &&
    isReachable(f, holder.id) &&
    healthOk(holder.health?.health) &&
    (!f.isLeader || (f.input.raft.match[holder.id] ?? 0) + f.config.maxLagEntries >= f.input.raft.commit)
  );
}

/** Carries out a committed move intent: release the VIPs, then hand leadership to the target. */
export function executeIntentRule(f: Facts, out: RuleOutput): void {
  const intent = f.intent;
  assert(intent !== null && intent.to !== f.id, 'executeIntentRule needs an intent for another node');
  // Checked as the move was asked for: a target that could not take the role would hand
  // leadership straight back, and the VIPs would be released on every round. A resource failure
  // move also keeps R10 (guardedTakeoverRule) as it stands now: it may have been void meanwhile
  // (the active recovered) and come back with a new failure, when the target lost the active.
  const refusal =
    targetCheck(f, intent.to, intentMode(intent.reason)) ??
    (intent.reason === 'resource-failure' && f.lease?.holder === f.id ? guardedTakeoverRule(f, intent.to) : null);
  if (refusal !== null) {
    out.conditions.push({
      code: 'MOVE_PENDING',
      severity: 'warning',
      node: intent.to,
      message: `moving the active role to ${intent.to} (${intent.reason}) is waiting: ${refusal}`,
    });
    out.trace.push(`executeIntentRule: waiting (${refusal})`);
    // While the move waits, the role stays where it is, so it must be held there: a holder whose
    // Raft lease a failed transfer left void hands leadership on as voidLeaseRule does, and a
    // leader that is not the holder (the holder lost leadership, so holds nothing) takes over.
    if (f.lease?.holder === f.id) voidLeaseRule(f, out);
    else failoverRule(f, out);
    return;
  }
  transfer(out, f, intent.to, `executeIntentRule (${intent.reason})`);
}

/** How an intent's target is checked: as the operator asked (forced, switchover), else as any automatic move. */
function intentMode(reason: MoveReason): TargetMode {
  return reason === 'forced' ? 'forced' : reason === 'switchover' ? 'switchover' : 'automatic';
}

/** Maintenance: the active put into maintenance moves the role away first (it keeps it only if nobody can take it). */
export function maintenanceRule(f: Facts, out: RuleOutput): boolean {
  if (f.me?.maintenance !== true) return false;
  const target = bestTarget(f, 'automatic');
  if (target === null) {
    out.trace.push('maintenanceRule: in maintenance but no node can take the role; keeping it');
    return true;
  }
  proposeIntent(out, f, target, 'maintenance', 'maintenanceRule');
  return true;
}

/**
 * Guarded takeover (R10): a target that reports it cannot reach the active
 * may be the one whose network is broken, so a resource failure on the
 * active does not move the role to it (a manual switchover still can). It
 * cannot reach the active when a monitor it runs `of` the active is down
 * (the seed's "monitored address"), or when its Raft view lost the active.
 * The monitor is what makes this work with a witness: a standby cut from
 * the leader on every path cannot get a report committed at all, but one
 * that lost only the monitored path still can.
 */
export function guardedTakeoverRule(f: Facts, target: NodeId): string | null {
  const report = findMember(f.state, target)?.health;
  if (report === undefined || report === null) return null;
  const watching = new Set(f.state.settings.monitors.filter((m) => m.of === f.id).map((m) => m.name));
  const down = report.monitors.filter((m) => watching.has(m.name) && m.state === 'down').map((m) => m.name);
  const why =
    down.length > 0
      ? `its monitor${down.length > 1 ? 's' : ''} of ${f.id} (${down.join(', ')}) ${down.length > 1 ? 'are' : 'is'} down`
      : report.peers.some((p) => p.id === f.id && !p.reachable)
        ? `it hears nothing from ${f.id}`
        : null;
  return why === null
    ? null
    : `${target} reports that it cannot reach ${f.id} (${why}), so a resource failure on ${f.id} does not move the role (R10); a manual switchover still can`;
}

/**
 * Resource failure on the active (R4): its own monitors report failure, or
 * a device its VIPs need is gone from the host (a lost link: it cannot
 * serve them), so the role moves to a healthy standby.
 */
export function resourceFailureRule(f: Facts, out: RuleOutput): boolean {
  if (f.input.local.health !== 'failed' && !vipDevicesLost(f)) return false;
  const guarded: NodeId[] = [];
  for (;;) {
    const target = bestTarget(f, 'automatic', guarded);
    if (target === null) break;
    const guard = guardedTakeoverRule(f, target);
    if (guard === null) {
      proposeIntent(out, f, target, 'resource-failure', 'resourceFailureRule');
      return true;
    }
    guarded.push(target);
    out.conditions.push({ code: 'GUARDED_TAKEOVER', severity: 'warning', node: target, message: guard });
  }
  out.trace.push(`resourceFailureRule: ${f.id} failed or lost a VIP device, but no node can take the role`);
  return true;
}

/** This node's last VIP device check, of the current settings, found a problem. */
function vipDevicesLost(f: Facts): boolean {
  const setup = f.input.local.vipSetup;
  return setup !== null && setup.revision === f.state.configRevision && setup.problems.length > 0;
}

/** Flap damping: while engaged, automatic moves other than a failover from a dead or failed active (or one that lost a VIP device) stop. */
export function flapDampingRule(state: ClusterState): string | null {
  return flapDampedSentence(state);
}

/** Failback (R3, R9): with auto failback, the preferred node gets the role back after staying eligible for the hold-down. */
export function failbackRule(f: Facts, out: RuleOutput): void {
  const preferred = f.state.settings.preferred;
  const clear = () => {
    out.memory = { ...out.memory, preferredEligible: null };
  };
  if (!f.state.settings.failback.auto || preferred === null || preferred === f.id) return clear();
  const refusal = targetCheck(f, preferred, 'automatic');
  if (refusal !== null) {
    out.trace.push(`failbackRule: ${refusal}`);
    return clear();
  }
  // Counted for this preferred node only: after a settings change the new one waits its own hold-down.
  const counted = out.memory.preferredEligible;
  const since = counted !== null && counted.node === preferred ? counted.since : f.now;
  out.memory = { ...out.memory, preferredEligible: { node: preferred, since } };
  if (f.now - since < f.config.holdDownTicks) {
    out.trace.push(`failbackRule: ${preferred} eligible, hold-down ${f.now - since}/${f.config.holdDownTicks} ticks`);
    return;
  }
  const damped = flapDampingRule(f.state);
  if (damped !== null) {
    out.trace.push(`failbackRule: ${damped}`);
    return;
  }
  proposeIntent(out, f, preferred, 'failback', 'failbackRule');
}

/** The witness as leader hands leadership to a caught-up data node (see handoffTarget). */
export function witnessHandoffRule(f: Facts, out: RuleOutput): void {
  const target = handoffTarget(f);
  if (target === null) {
    out.trace.push('witnessHandoffRule: no data node can take leadership yet');
    return;
  }
  transfer(out, f, target, 'witnessHandoffRule');
}

/**
 * A leader holding the role whose Raft lease has stayed at 0 for an
 * election timeout: a leadership transfer it started did not happen (the
 * TimeoutNow was lost, the target could not win), and the core never trusts
 * its lease again in that term (a late TimeoutNow may still elect the
 * target). It cannot hold the VIPs in this term, so it hands leadership to
 * a data node (a witness never takes it): the node best placed to take the
 * role, which then does, or else any reachable data voter, which hands it
 * back in a new term (and the holder keeps its epoch). With no data node to
 * hand it to, it stands again itself in the next term (reelect). True when
 * the rule applies.
 */
export function voidLeaseRule(f: Facts, out: RuleOutput): boolean {
  const since = out.memory.leaseVoidSince;
  // Only a lease voided by a TimeoutNow stays 0 for the whole term; one that is 0 because
  // acknowledgements are late comes back by itself, or CheckQuorum ends the term.
  if (!f.input.raft.leaseVoid || since === null || f.now - since.tick < f.config.electionTicks) return false;
  const anyData = f.input.raft.voters.find((v) => v.kind === 'data' && v.id !== f.id && isReachable(f, v.id));
  const target = bestTarget(f, 'handoff') ?? anyData?.id ?? null;
  if (target === null) {
    // Standing again in the next term brings a lease back.
    const why = `voidLeaseRule (Raft lease void for ${f.now - since.tick} ticks, and no node to hand leadership to)`;
    out.actions.push({ type: 'reelect', why });
    out.trace.push(`${why}: stand again in the next term`);
    return true;
  }
  transfer(out, f, target, `voidLeaseRule (Raft lease void for ${f.now - since.tick} ticks)`);
  return true;
}

/** Everything the Raft leader does about the role, in priority order. */
function leaderRules(f: Facts, out: RuleOutput): void {
  if (!f.isLeader) return;
  if (!f.viewCurrent) {
    if (f.kind === 'data' && plannedTakeoverRule(f, out)) return;
    out.trace.push('leader: waiting for its own term to be applied');
    return;
  }
  if (f.transferring !== null) {
    out.trace.push(`leader: transferring leadership to ${f.transferring}`);
    return;
  }
  if (f.kind === 'witness') return witnessHandoffRule(f, out);
  if (f.lease === null) return bootstrapRule(f, out);
  if (f.intent !== null && f.intent.to !== f.id) return executeIntentRule(f, out);
  if (f.lease.holder !== f.id) return failoverRule(f, out);
  if (f.state.intent !== null && f.intent === null) out.trace.push('leader: ignoring an intent for an older epoch, or a failback, maintenance or resource failure move no longer wanted');
  if (voidLeaseRule(f, out)) return;
  if (maintenanceRule(f, out)) return;
  if (resourceFailureRule(f, out)) return;
  failbackRule(f, out);
}

// ---------------------------------------------------------------------------
// VIP rules.

/** Lease rule: hold the VIPs only as the leader holding the committed lease with more than the drift margin left. */
export function leaseHoldRule(f: Facts): VipAction | null {
  const raft = f.input.raft;
  // Keeping the role needs only that this leader has applied an entry of its
  // own term (so no grant by an earlier leader is hidden from it); applied
  // lagging commit for a moment under load must not drop the VIPs.
  if (f.kind !== 'data' || !f.isLeader || f.lease?.holder !== f.id || raft.appliedTerm !== raft.term) return null;
  if (f.transferring !== null) return { type: 'vips', hold: false, why: `handing the role to ${f.transferring}` };
  if (raft.leaseRemainingTicks <= f.config.driftMarginTicks) return null;
  return {
    type: 'vips',
    hold: true,
    epoch: f.lease.epoch,
    fenceTicks: raft.leaseRemainingTicks - f.config.driftMarginTicks,
    vips: f.state.settings.vips,
    mode: 'lease',
  };
}

/** Two voters and no witness: does this node run in that mode, and who is its peer. */
export function twoVoterPeer(f: Facts): NodeId | null {
  const voters = f.input.raft.voters;
  if (voters.length !== 2 || voters.some((v) => v.kind !== 'data')) return null;
  return voters.find((v) => v.id !== f.id)?.id ?? null;
}

/**
 * Two voters without a witness: Raft cannot elect with one node, so the
 * survivor holds the role by itself when its peer is silent on every path
 * (the holder keeps it as soon as the peer falls silent, and while the two
 * have no leader; another node waits a full election timeout plus the drift
 * margin and lets go once it hears its peer), its monitors are healthy and
 * it is not in maintenance, unless it holds the lease: the holder keeps the
 * role in maintenance while no node can relieve it, as with a witness.
 * Split brain is possible in this mode.
 */
export function twoNodeUnilateralRule(f: Facts): VipAction | null {
  const peer = twoVoterPeer(f);
  if (peer === null || f.kind !== 'data' || f.me === undefined) return null;
  if (!healthOk(f.input.local.health)) return null;
  const silent = silentTicks(f, peer);
  const holder = f.lease?.holder === f.id;
  if (f.me.maintenance && !holder) return null;
  // After a partition heals the two have no Raft leader until they elect one (an election timeout
  // or two): the holder of the committed lease keeps answering meanwhile rather than leave a gap;
  // a node that took the role without a commit lets go as soon as it hears its peer.
  const electing = f.input.raft.leader === null;
  const keeping = holder && f.input.local.holdingVips && (silent >= 2 * f.config.heartbeatTicks || electing);
  const taking = silent >= f.config.electionTicks + f.config.driftMarginTicks;
  if (!keeping && !taking) return null;
  if (!holder) {
    const gate = readinessGate({ ...f, isLeader: false });
    if (!gate.ready || updateOrderRule(f.state, f.id) !== null) return null;
  }
  return {
    type: 'vips',
    hold: true,
    // Not a committed epoch when taking: the grant follows once the peer is back.
    epoch: holder && f.lease !== null ? f.lease.epoch : (f.lease?.epoch ?? 0) + 1,
    fenceTicks: f.config.electionTicks,
    vips: f.state.settings.vips,
    mode: 'unilateral',
  };
}

function vipDecision(f: Facts): VipAction {
  const lease = leaseHoldRule(f);
  const unilateral = twoNodeUnilateralRule(f);
  // Two voters, the holder's peer fell silent: it keeps the VIPs by itself from now on, while
  // its Raft lease still runs. Waiting for the lease to run out would let the kernel fence
  // (lease minus margin) lapse first, and a lapsed epoch is never held again (docs/fencing.md).
  if (lease?.hold === true && unilateral?.hold === true && unilateral.epoch === lease.epoch) {
    return { ...unilateral, fenceTicks: Math.max(lease.fenceTicks, unilateral.fenceTicks) };
  }
  return lease ?? unilateral ?? { type: 'vips', hold: false, why: releaseReason(f) };
}

function releaseReason(f: Facts): string {
  if (f.kind !== 'data') return 'a witness never holds the VIPs';
  if (f.lease === null) return 'no lease granted yet';
  if (f.lease.holder !== f.id) return `${f.lease.holder} holds the lease`;
  if (!f.isLeader) return 'not the Raft leader';
  if (f.input.raft.appliedTerm !== f.input.raft.term) return 'has not applied an entry of its own term yet';
  return `Raft lease too short (${f.input.raft.leaseRemainingTicks} ticks, margin ${f.config.driftMarginTicks})`;
}

/** Re-announce the VIPs on taking the role or a new epoch, and after a peer reconnects. */
export function announceRule(f: Facts, vips: VipAction, memory: RoleMemory, reachableNow: readonly NodeId[]): RoleAction | null {
  if (!vips.hold) return null;
  if (!f.input.local.holdingVips || memory.announcedEpoch !== vips.epoch) {
    return { type: 'announce', epoch: vips.epoch, why: 'took-role' };
  }
  const reconnected = reachableNow.some((id) => !memory.reachable.includes(id));
  return reconnected ? { type: 'announce', epoch: vips.epoch, why: 'peer-reconnected' } : null;
}

/** This node's policy view with `revision` in force and no failure (0: none applied yet, as at start). */
export function policyApplied(revision: number): PolicyView {
  return { appliedRevision: revision, failedRevision: null, error: null, failedAtTick: null, failedAttempts: 0 };
}

/** This node's policy view once an attempt to apply `revision` has ended (the agent's bookkeeping, and the simulator's). */
export function policyAfterAttempt(
  view: PolicyView,
  revision: number,
  result: { readonly ok: true } | { readonly ok: false; readonly error: string },
  nowTick: number,
): PolicyView {
  if (result.ok) return policyApplied(revision);
  const attempts = view.failedRevision === revision ? view.failedAttempts + 1 : 1;
  return { ...view, failedRevision: revision, error: result.error, failedAtTick: nowTick, failedAttempts: attempts };
}

/**
 * Policy order (R11): standbys apply a new policy revision at once; the
 * active applies it after every reachable standby has applied it, or after
 * standbyFirstTicks, and never when a standby failed to apply it.
 */
export function policyOrderRule(f: Facts, holding: boolean): { action: RoleAction | null; wait: RoleMemory['policyWait']; why: string } {
  const revision = f.state.policy.revision;
  const local = f.input.local.policy;
  if (f.kind !== 'data' || local.appliedRevision === revision) return { action: null, wait: null, why: 'nothing to apply' };
  // A failed revision is tried again now and then: nft may have been fixed or freed meanwhile, and until
  // it is applied this node is no target for the role (nor, as a standby, lets the active apply it).
  if (local.failedRevision === revision) {
    // Backed off: each attempt lists the ruleset and runs nft twice, and the kernel commits one nft transaction at a time.
    const after = f.config.policyRetryTicks * 2 ** Math.min(Math.max(0, local.failedAttempts - 1), POLICY_RETRY_DOUBLINGS);
    if (local.failedAtTick === null || f.now - local.failedAtTick < after) {
      return { action: null, wait: null, why: `failed here ${local.failedAttempts} time(s); tried again ${after} ticks after the last attempt` };
    }
  }
  const apply = { type: 'applyPolicy', revision } as const;
  if (!holding && f.lease?.holder !== f.id) return { action: apply, wait: null, why: 'standby applies first' };
  const standbys = f.state.members.filter((m) => m.kind === 'data' && m.id !== f.id && !m.maintenance && isReachable(f, m.id));
  const failed = standbys.find((m) => m.health?.policyApply.revision === revision && !m.health.policyApply.ok);
  if (failed !== undefined) return { action: null, wait: null, why: `${failed.id} failed to apply revision ${revision}` };
  if (standbys.every((m) => m.health?.appliedPolicyRevision === revision)) {
    return { action: apply, wait: null, why: 'standbys applied it' };
  }
  const previous = f.input.memory.policyWait;
  const wait = previous !== null && previous.revision === revision ? previous : { revision, tick: f.now };
  if (f.now - wait.tick >= f.config.standbyFirstTicks) return { action: apply, wait: null, why: 'standby did not report in time' };
  return { action: null, wait, why: 'waiting for the standby to apply it first' };
}

// ---------------------------------------------------------------------------
// decide.

export function decide(input: RoleInput): RoleDecision {
  const f = facts(input);
  const raft = input.raft;
  let memory: RoleMemory = input.memory;
  // Forget what belongs to an older term or a finished transfer.
  if (!f.isLeader) memory = { ...memory, leaderSince: null, preferredEligible: null, transfer: null };
  else if (memory.leaderSince === null || memory.leaderSince.term !== raft.term) {
    memory = { ...memory, leaderSince: { term: raft.term, tick: f.now }, preferredEligible: null };
  }
  if (memory.transfer !== null && f.transferring === null) memory = { ...memory, transfer: null };
  // How long this lease holder's Raft lease has been 0 in this term (voidLeaseRule).
  const leaseVoid = f.isLeader && f.lease?.holder === f.id && raft.leaseRemainingTicks === 0;
  if (!leaseVoid && memory.leaseVoidSince !== null) memory = { ...memory, leaseVoidSince: null };
  else if (leaseVoid && memory.leaseVoidSince?.term !== raft.term) memory = { ...memory, leaseVoidSince: { term: raft.term, tick: f.now } };
  if (memory.pendingGrant !== null && (f.lease?.epoch ?? 0) >= memory.pendingGrant.epoch) memory = { ...memory, pendingGrant: null };
  if (memory.pendingIntent !== null && (f.intent?.to === memory.pendingIntent.to || (f.lease?.epoch ?? 0) > memory.pendingIntent.epoch)) {
    memory = { ...memory, pendingIntent: null };
  }

  const out: RuleOutput = { actions: [], conditions: [], trace: [], memory };
  leaderRules(f, out);
  // A transfer started in this call releases the VIPs first.
  const started = out.actions.find((a) => a.type === 'transferLeadership');
  const vips: VipAction =
    started !== undefined && started.type === 'transferLeadership'
      ? { type: 'vips', hold: false, why: `handing the role to ${started.to}` }
      : vipDecision(f);
  out.trace.push(vips.hold ? `vips: hold epoch ${vips.epoch} (${vips.mode}), fence ${vips.fenceTicks} ticks` : `vips: release (${vips.why})`);

  const reachableNow = input.local.peers
    .map((p) => p.id)
    .filter((id) => isReachable(f, id))
    .sort();
  const announce = announceRule(f, vips, out.memory, reachableNow);
  const policy = policyOrderRule(f, vips.hold);
  out.trace.push(`policy: ${policy.why}`);

  const actions: RoleAction[] = [vips, ...out.actions];
  if (announce !== null) actions.push(announce);
  if (policy.action !== null) actions.push(policy.action);

  const nextMemory: RoleMemory = {
    ...out.memory,
    reachable: reachableNow,
    announcedEpoch: vips.hold ? vips.epoch : null,
    policyWait: policy.wait,
  };
  if (vips.hold && vips.mode === 'unilateral') {
    out.conditions.push({
      code: 'UNILATERAL',
      severity: 'error',
      node: f.id,
      message: `${f.id} holds the active role by itself: its peer is silent on every path and there is no witness to confirm it is down; if the peer is alive and also took the role, both answer for the VIPs (split brain)`,
    });
  }
  if (f.kind === 'data' && !vips.hold && f.me?.maintenance !== true) {
    // A leader's own first entry is a moment of every election, not something for an operator to see,
    // unless it takes longer than an election timeout.
    const since = out.memory.leaderSince;
    const gate = readinessGate(f, { ownTermPending: since !== null && f.now - since.tick < f.config.electionTicks });
    if (!gate.ready) {
      out.conditions.push({
        code: 'NOT_READY',
        severity: 'warning',
        node: f.id,
        message: `${f.id} cannot take the active role yet: ${gate.reasons.join('; ')}`,
      });
    }
  }
  // A rule's condition carries its reason: it replaces the derived one with the same code and node.
  const fromRules = new Set(out.conditions.map((c) => `${c.code}/${c.node ?? ''}`));
  const derived = deriveConditions(f, vips.hold).filter((c) => !fromRules.has(`${c.code}/${c.node ?? ''}`));
  const conditions = [...derived, ...out.conditions];
  return {
    role: nodeRole(f, vips.hold),
    actions,
    conditions: sortConditions(conditions),
    memory: nextMemory,
    trace: out.trace,
  };
}

function nodeRole(f: Facts, holding: boolean): NodeRole {
  if (f.kind === 'witness') return 'witness';
  if (holding) return 'active';
  if (f.me === undefined || f.me.maintenance || !healthOk(f.input.local.health)) return 'none';
  return 'standby';
}

/** The role each member has in the replicated state (for status): the lease holder is active. */
export function memberRole(state: ClusterState, id: NodeId): NodeRole {
  const member = findMember(state, id);
  if (member === undefined) return 'none';
  if (member.kind === 'witness') return 'witness';
  if (state.lease?.holder === id) return 'active';
  if (member.maintenance || (member.health !== null && !healthOk(member.health.health))) return 'none';
  return 'standby';
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

function sortConditions(conditions: readonly Condition[]): Condition[] {
  return [...conditions].sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) ||
      ((a.node ?? '') < (b.node ?? '') ? -1 : (a.node ?? '') > (b.node ?? '') ? 1 : 0),
  );
}
