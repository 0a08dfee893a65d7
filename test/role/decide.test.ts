/**
 * The decision table, case by case: given a world (replicated state + this
 * node's Raft view and observations), decide() must produce exactly these
 * actions. Read alongside src/role/decide.ts: cases are grouped by the rule
 * they exercise, in the order the rules appear there. The default world is
 * the steady state: fw1 active (epoch 3) and Raft leader, fw2 a ready
 * standby, wit the witness, everyone reachable and healthy.
 */
import t from 'tap';
import { decide, policyAfterAttempt, policyApplied, targetCheck } from '../../src/role/decide.js';
import { facts } from '../../src/role/facts.js';
import { CONDITION_CODES, type ConditionCode, type NodeRole, type RoleAction } from '../../src/role/types.js';
import { as, input, lease, local, member, memory, noWitness, raft, settings, silent, watchMonitors, type Patch } from './fixtures.js';

interface Expect {
  vips: 'hold' | 'release';
  epoch?: number;
  mode?: 'lease' | 'unilateral';
  fenceTicks?: number;
  /** Every action after the VIP action, in order (matched field by field). */
  actions?: Partial<RoleAction>[];
  conditions?: ConditionCode[];
  absent?: ConditionCode[];
  role?: NodeRole;
}

interface Case {
  rule: string;
  name: string;
  given: Patch[];
  expect: Expect;
}

const DEAD = 1000; // ticks of silence: a node that is gone
const HOLD_FAULT = 'its network layer failed to take or keep the VIPs for 3 s or more: nft: broken';
const MISSING = 'VIP 192.0.2.1/24 on interface "lan": device "eth9" does not exist on this host';

const cases: Case[] = [
  // --- leaseHoldRule -------------------------------------------------------
  { rule: 'leaseHoldRule', name: 'steady state: the leader holding the lease holds the VIPs, fence = lease - margin',
    given: [], expect: { vips: 'hold', epoch: 3, mode: 'lease', fenceTicks: 7, actions: [], role: 'active', absent: ['DEGRADED', 'NO_ACTIVE'] } },
  { rule: 'leaseHoldRule', name: 'Raft lease down to the drift margin: release',
    given: [raft({ leaseRemainingTicks: 1 })], expect: { vips: 'release', actions: [] } },
  { rule: 'leaseHoldRule', name: 'lease names this node but it is not the Raft leader: release',
    given: [raft({ role: 'follower', leader: 'fw2' })], expect: { vips: 'release', actions: [] } },
  { rule: 'leaseHoldRule', name: 'new leader whose own term is not applied yet: release and propose nothing',
    given: [raft({ appliedTerm: 4 })], expect: { vips: 'release', actions: [] } },
  { rule: 'leaseHoldRule', name: 'applied a little behind commit under load: keep holding (only the own-term entry matters)',
    given: [raft({ lag: 3 })], expect: { vips: 'hold', epoch: 3, mode: 'lease', actions: [], role: 'active' } },
  { rule: 'leaseHoldRule', name: 'leadership transfer under way: release',
    given: [raft({ transferringTo: 'fw2' })], expect: { vips: 'release', actions: [] } },
  { rule: 'leaseHoldRule', name: 'a witness never holds the VIPs',
    given: [as('wit', 'follower')], expect: { vips: 'release', actions: [], role: 'witness' } },
  { rule: 'leaseHoldRule', name: 'the standby holds nothing',
    given: [as('fw2', 'follower')], expect: { vips: 'release', actions: [], role: 'standby', absent: ['NOT_READY'] } },

  // --- voidLeaseRule (found by the role simulator: a lost TimeoutNow voids the lease for the term) ---
  { rule: 'voidLeaseRule', name: 'Raft lease void for an election timeout: hand leadership to the standby, which takes the role in a new term',
    given: [raft({ leaseRemainingTicks: 0, leaseVoid: true }), memory({ leaseVoidSince: { term: 5, tick: 990 } })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }] } },
  { rule: 'voidLeaseRule', name: 'the standby cannot take the role: hand leadership to it all the same (it hands it back in a new term)',
    given: [raft({ leaseRemainingTicks: 0, leaseVoid: true }), memory({ leaseVoidSince: { term: 5, tick: 990 } }), member('fw2', { health: 'failed' })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }], conditions: ['MEMBER_UNHEALTHY'] } },
  { rule: 'voidLeaseRule', name: 'a TimeoutNow voided the lease and no data node is reachable: it stands again in the next term',
    given: [raft({ leaseRemainingTicks: 0, leaseVoid: true }), memory({ leaseVoidSince: { term: 5, tick: 990 } }), silent('fw2', DEAD)], expect: { vips: 'release', actions: [{ type: 'reelect' }] } },
  { rule: 'voidLeaseRule', name: 'a lease 0 for want of acknowledgements (no TimeoutNow): it comes back by itself, so no hand-over',
    given: [raft({ leaseRemainingTicks: 0 }), memory({ leaseVoidSince: { term: 5, tick: 990 } })], expect: { vips: 'release', actions: [] } },
  { rule: 'voidLeaseRule', name: 'nor standing again when no data node is reachable',
    given: [raft({ leaseRemainingTicks: 0 }), memory({ leaseVoidSince: { term: 5, tick: 990 } }), silent('fw2', DEAD)], expect: { vips: 'release', actions: [] } },
  { rule: 'voidLeaseRule', name: 'Raft lease 0 for less than an election timeout (a new leader before its first acks): wait',
    given: [raft({ leaseRemainingTicks: 0, leaseVoid: true }), memory({ leaseVoidSince: { term: 5, tick: 995 } })], expect: { vips: 'release', actions: [] } },
  { rule: 'voidLeaseRule', name: 'a void lease counted in an older term does not count in this one',
    given: [raft({ leaseRemainingTicks: 0, leaseVoid: true }), memory({ leaseVoidSince: { term: 4, tick: 900 } })], expect: { vips: 'release', actions: [] } },

  // --- announceRule --------------------------------------------------------
  { rule: 'announceRule', name: 'taking the role announces the VIPs',
    given: [local({ holdingVips: false }), memory({ announcedEpoch: null })],
    expect: { vips: 'hold', actions: [{ type: 'announce', epoch: 3, why: 'took-role' }] } },
  { rule: 'announceRule', name: 'the active re-announces when a peer reconnects',
    given: [memory({ reachable: ['wit'] })], expect: { vips: 'hold', actions: [{ type: 'announce', epoch: 3, why: 'peer-reconnected' }] } },

  // --- bootstrapRule -------------------------------------------------------
  { rule: 'bootstrapRule', name: 'no lease: the preferred node, as leader and ready, takes epoch 1',
    given: [lease(null), local({ holdingVips: false })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 1, reason: 'bootstrap' }], conditions: ['NO_ACTIVE'] } },
  { rule: 'bootstrapRule', name: 'no lease: another leader hands leadership to the eligible preferred node',
    given: [lease(null), as('fw2')], expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }] } },
  { rule: 'bootstrapRule', name: 'no lease: the preferred node is not eligible yet, wait within the grace period',
    given: [lease(null), as('fw2'), member('fw1', { health: 'unknown' }), memory({ leaderSince: { term: 5, tick: 990 } })],
    expect: { vips: 'release', actions: [] } },
  { rule: 'bootstrapRule', name: 'no lease: grace period over, the leader takes epoch 1 itself',
    given: [lease(null), as('fw2'), member('fw1', { health: 'unknown' }), memory({ leaderSince: { term: 5, tick: 900 } })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 1, reason: 'bootstrap' }] } },
  { rule: 'bootstrapRule', name: 'a proposed grant is not proposed again before the retry time',
    given: [lease(null), local({ holdingVips: false }), memory({ pendingGrant: { epoch: 1, term: 5, tick: 995 } })],
    expect: { vips: 'release', actions: [] } },
  { rule: 'bootstrapRule', name: 'a grant from an older term is proposed again',
    given: [lease(null), local({ holdingVips: false }), memory({ pendingGrant: { epoch: 1, term: 4, tick: 995 } })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 1 }] } },

  // --- readinessGate -------------------------------------------------------
  { rule: 'readinessGate', name: 'a leader whose monitors have not all reported does not take the role',
    given: [as('fw2'), silent('fw1', DEAD), local({ monitorReported: false })],
    expect: { vips: 'release', actions: [], conditions: ['NOT_READY', 'MEMBER_UNREACHABLE'], role: 'standby' } },
  { rule: 'readinessGate', name: 'a leader that has not applied the current settings does not take the role',
    given: [as('fw2'), silent('fw1', DEAD), local({ configLag: true })], expect: { vips: 'release', actions: [], conditions: ['NOT_READY'] } },
  { rule: 'readinessGate', name: 'a leader that failed to apply the current policy does not take the role',
    given: [as('fw2'), silent('fw1', DEAD), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2 })],
    expect: { vips: 'release', actions: [], conditions: ['NOT_READY', 'POLICY_APPLY_FAILED'] } },
  { rule: 'readinessGate', name: 'a leader that has not checked its VIPs\' devices against the current settings does not take the role',
    given: [as('fw2'), silent('fw1', DEAD), local({ vipSetup: 'stale' })], expect: { vips: 'release', actions: [], conditions: ['NOT_READY'] } },
  { rule: 'readinessGate', name: 'a leader whose check finds a VIP device missing does not take the role (it could not add the VIPs)',
    given: [as('fw2'), silent('fw1', DEAD), local({ vipProblems: [MISSING] })], expect: { vips: 'release', actions: [], conditions: ['NOT_READY'] } },
  { rule: 'readinessGate', name: 'not ready but the holder can still serve: hand leadership back to it',
    given: [as('fw2'), local({ monitorReported: false })], expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }] } },

  // --- failoverRule (R2, R4) ----------------------------------------------
  { rule: 'failoverRule', name: 'the active is gone: the ready standby, now leader, takes the next epoch',
    given: [as('fw2'), silent('fw1', DEAD)],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 4, reason: 'failover' }], conditions: ['MEMBER_UNREACHABLE'] } },
  { rule: 'failoverRule', name: 'the standby\'s own monitor of the dead active is down or not reported: it still takes over (R2)',
    given: [watchMonitors, as('fw2'), silent('fw1', DEAD), local({ holdingVips: false, watches: [{ name: 'sees-fw1', reported: false, healthy: false }] })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 4, reason: 'failover' }], absent: ['NOT_READY'] } },
  { rule: 'failoverRule', name: 'the grant takes its reason from a committed intent naming this node',
    given: [as('fw2'), (w) => (w.intent = { to: 'fw2', reason: 'switchover' })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 4, reason: 'switchover' }] } },
  { rule: 'plannedTakeoverRule', name: 'the target of an intent, just elected, proposes its grant before its noop is applied',
    given: [as('fw2'), (w) => (w.intent = { to: 'fw2', reason: 'switchover' }), raft({ appliedTerm: 4 }), memory({ leaderSince: null })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 4, reason: 'switchover' }], absent: ['NOT_READY'] } },
  { rule: 'plannedTakeoverRule', name: 'a new leader without an intent naming it waits for its noop (a failover decides on a current view), and is not shown as not ready for that',
    given: [as('fw2'), silent('fw1', DEAD), raft({ appliedTerm: 4 }), memory({ leaderSince: null })],
    expect: { vips: 'release', actions: [], absent: ['NOT_READY'] } },
  { rule: 'plannedTakeoverRule', name: 'a leader whose noop is still not applied an election timeout after it was elected is shown as not ready',
    given: [as('fw2'), silent('fw1', DEAD), raft({ appliedTerm: 4 }), memory({ leaderSince: { term: 5, tick: 1000 - 10 } })],
    expect: { vips: 'release', actions: [], conditions: ['NOT_READY'] } },
  { rule: 'plannedTakeoverRule', name: 'the target of an intent with entries of an earlier term before its noop not yet applied waits (a newer intent or settings may be among them)',
    given: [as('fw2'), (w) => (w.intent = { to: 'fw2', reason: 'switchover' }), raft({ appliedTerm: 4, priorUnapplied: 1 })],
    expect: { vips: 'release', actions: [] } },
  { rule: 'plannedTakeoverRule', name: 'the target of an intent that has not applied the committed log yet waits',
    given: [as('fw2'), (w) => (w.intent = { to: 'fw2', reason: 'switchover' }), raft({ appliedTerm: 4, lag: 2 })],
    expect: { vips: 'release', actions: [] } },
  { rule: 'plannedTakeoverRule', name: 'the target of an intent that is unhealthy does not propose early either',
    given: [as('fw2'), (w) => (w.intent = { to: 'fw2', reason: 'failback' }), raft({ appliedTerm: 4 }), local({ health: 'failed' })],
    expect: { vips: 'release', actions: [] } },
  { rule: 'failoverRule', name: 'a standby that is unhealthy does not take the role',
    given: [as('fw2'), silent('fw1', DEAD), local({ health: 'failed' })], expect: { vips: 'release', actions: [], role: 'none' } },
  { rule: 'failoverRule', name: 'a leader in maintenance hands leadership to the serving holder',
    given: [as('fw2'), member('fw2', { maintenance: true })], expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }], conditions: ['MAINTENANCE'] } },

  // --- updateOrderRule (R11) -----------------------------------------------
  { rule: 'updateOrderRule', name: 'the role never moves automatically to an older node, even on failover',
    given: [as('fw2'), silent('fw1', DEAD), member('fw1', { version: '0.4.0' })],
    expect: { vips: 'release', actions: [], conditions: ['VERSION_MISMATCH', 'DEGRADED'] } },
  { rule: 'updateOrderRule', name: 'a newer standby may take over',
    given: [as('fw2'), silent('fw1', DEAD), member('fw2', { version: '0.4.0' })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 4 }], conditions: ['VERSION_MISMATCH'] } },

  // --- witnessHandoffRule -------------------------------------------------
  { rule: 'witnessHandoffRule', name: 'a witness leader hands leadership back to the serving holder (same epoch)',
    given: [as('wit')], expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }], role: 'witness' } },
  { rule: 'witnessHandoffRule', name: 'a witness leader with the holder gone hands leadership to the standby',
    given: [as('wit'), silent('fw1', DEAD)], expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }] } },
  { rule: 'witnessHandoffRule', name: 'a witness leader with no eligible data node waits',
    given: [as('wit'), silent('fw1', DEAD), member('fw2', { health: 'failed' })], expect: { vips: 'release', actions: [] } },
  { rule: 'witnessHandoffRule', name: 'a witness leader gives leadership back to a failed but reachable holder when nobody else can serve',
    given: [as('wit'), member('fw1', { health: 'failed' }), member('fw2', { health: 'failed' })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }] } },
  { rule: 'witnessHandoffRule', name: 'a witness leader gives leadership back to the holder in maintenance when no node can relieve it (it keeps the role there)',
    given: [as('wit'), member('fw1', { maintenance: true }), silent('fw2', DEAD)],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }] } },
  { rule: 'witnessHandoffRule', name: 'a witness leader with the holder gone hands leadership to a standby that failed to hold the VIPs not long ago (it may work)',
    given: [as('wit'), silent('fw1', DEAD), member('fw2', { holdFault: HOLD_FAULT })], expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }] } },
  { rule: 'witnessHandoffRule', name: 'a witness leader carries a pending intent to its target',
    given: [as('wit'), (w) => (w.intent = { to: 'fw2', reason: 'switchover' })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }] } },

  // --- executeIntentRule --------------------------------------------------
  { rule: 'executeIntentRule', name: 'a committed intent: release the VIPs, then hand leadership to the target',
    given: [(w) => (w.intent = { to: 'fw2', reason: 'switchover' })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }], conditions: ['MOVE_PENDING'] } },
  { rule: 'executeIntentRule', name: 'an intent whose target the leader hears but that does not answer it waits: the VIPs stay',
    given: [(w) => (w.intent = { to: 'fw2', reason: 'switchover' }), raft({ ticksSinceAck: { fw2: 10 } })],
    expect: { vips: 'hold', actions: [], conditions: ['MOVE_PENDING'] } },
  { rule: 'executeIntentRule', name: 'a failback intent whose target reports it cannot hold the VIPs waits: the active keeps them (no handing leadership back and forth)',
    given: [settings({ preferred: 'fw2' }), (w) => (w.intent = { to: 'fw2', reason: 'failback' }), member('fw2', { vipProblems: [MISSING] })],
    expect: { vips: 'hold', actions: [], conditions: ['MOVE_PENDING'] } },
  { rule: 'executeIntentRule', name: 'a forced intent still goes to such a target (the operator asked for it)',
    given: [(w) => (w.intent = { to: 'fw2', reason: 'forced' }), member('fw2', { vipProblems: [MISSING] })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }] } },
  { rule: 'executeIntentRule', name: 'an intent whose target became unreachable waits and the active keeps the role',
    given: [(w) => (w.intent = { to: 'fw2', reason: 'switchover' }), silent('fw2', DEAD)],
    expect: { vips: 'hold', actions: [], conditions: ['MOVE_PENDING', 'DEGRADED'] } },
  { rule: 'executeIntentRule', name: 'a waiting move on a holder whose Raft lease a failed transfer left void: leadership goes on as voidLeaseRule sends it (the role is held again in a new term)',
    given: [(w) => (w.intent = { to: 'fw2', reason: 'switchover' }), member('fw2', { health: 'failed' }), raft({ leaseRemainingTicks: 0, leaseVoid: true }), memory({ leaseVoidSince: { term: 5, tick: 990 } })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw2' }], conditions: ['MOVE_PENDING'] } },
  { rule: 'executeIntentRule', name: 'a waiting move whose holder lost leadership: the leader takes the role (a failover) rather than leave it unheld',
    given: [(w) => w.members.push({ id: 'fw3' }), as('fw3'), silent('fw1', DEAD), (w) => (w.intent = { to: 'fw2', reason: 'switchover' }), member('fw2', { health: 'failed' })],
    expect: { vips: 'release', actions: [{ type: 'proposeGrant', epoch: 4, reason: 'failover' }], conditions: ['MOVE_PENDING'] } },
  { rule: 'executeIntentRule', name: 'such a leader that cannot take the role itself hands leadership to the holder, which keeps its epoch',
    given: [(w) => w.members.push({ id: 'fw3' }), as('fw3'), local({ health: 'failed' }), (w) => (w.intent = { to: 'fw2', reason: 'switchover' }), member('fw2', { health: 'failed' })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }], conditions: ['MOVE_PENDING'] } },

  { rule: 'executeIntentRule', name: 'a committed resource failure move whose target now reports it cannot reach the active waits (R10 as it stands now)',
    given: [local({ health: 'failed' }), (w) => (w.intent = { to: 'fw2', reason: 'resource-failure' }), member('fw2', { sees: { fw1: false } })],
    expect: { vips: 'hold', actions: [], conditions: ['MOVE_PENDING'] } },
  { rule: 'failoverRule', name: 'a data leader that cannot take the role hands leadership back to the holder in maintenance when no node can relieve it',
    given: [lease('fw1'), as('fw2'), local({ health: 'failed' }), member('fw1', { maintenance: true })],
    expect: { vips: 'release', actions: [{ type: 'transferLeadership', to: 'fw1' }] } },

  // --- maintenanceRule ----------------------------------------------------
  { rule: 'maintenanceRule', name: 'the active in maintenance moves the role away first (still holding meanwhile)',
    given: [member('fw1', { maintenance: true })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'maintenance', epoch: 3 }], conditions: ['MAINTENANCE'] } },
  { rule: 'maintenanceRule', name: 'the active in maintenance with nowhere to go keeps the role and says so',
    given: [member('fw1', { maintenance: true }), member('fw2', { health: 'failed' })],
    expect: { vips: 'hold', actions: [], conditions: ['MAINTENANCE', 'DEGRADED', 'MEMBER_UNHEALTHY'] } },
  { rule: 'maintenanceRule', name: 'a standby in maintenance never takes the role',
    given: [as('fw2'), silent('fw1', DEAD), member('fw2', { maintenance: true })],
    expect: { vips: 'release', actions: [], role: 'none', absent: ['NOT_READY'] } },

  // --- resourceFailureRule (R4) and guardedTakeoverRule (R10) ------------
  { rule: 'resourceFailureRule', name: 'the active reports a failed monitor: move to the healthy standby',
    given: [local({ health: 'failed' })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'resource-failure' }], conditions: ['MEMBER_UNHEALTHY'] } },
  { rule: 'resourceFailureRule', name: 'a device the active\'s VIPs need is gone (a lost link, R4): move to the healthy standby',
    given: [local({ vipProblems: [MISSING] })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'resource-failure' }] } },
  { rule: 'resourceFailureRule', name: 'a VIP device gone and no standby that can take the role: the active keeps it',
    given: [local({ vipProblems: [MISSING] }), member('fw2', { health: 'failed' })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'resourceFailureRule', name: 'a VIP device gone, the standby cannot reach the active: no move (R10)',
    given: [local({ vipProblems: [MISSING] }), member('fw2', { sees: { fw1: false } })],
    expect: { vips: 'hold', actions: [], conditions: ['GUARDED_TAKEOVER'] } },
  { rule: 'resourceFailureRule', name: 'a VIP device gone with flap damping engaged: the move still happens, as for a failed active',
    given: [local({ vipProblems: [MISSING] }), (w) => (w.flapDamped = true)],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'resource-failure' }], conditions: ['FLAP_DAMPED'] } },
  { rule: 'resourceFailureRule', name: 'a device check of older settings does not move the role (the current one has not run yet)',
    given: [local({ vipSetup: 'stale', vipProblems: [MISSING] })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'guardedTakeoverRule', name: 'the standby cannot reach the active: a resource failure does not move the role',
    given: [local({ health: 'failed' }), member('fw2', { sees: { fw1: false } })],
    expect: { vips: 'hold', actions: [], conditions: ['GUARDED_TAKEOVER'] } },
  { rule: 'guardedTakeoverRule', name: 'the standby\'s monitor of the active is down: a resource failure does not move the role',
    given: [watchMonitors, local({ health: 'failed' }), member('fw2', { watches: { 'sees-fw1': 'down' } })],
    expect: { vips: 'hold', actions: [], conditions: ['GUARDED_TAKEOVER'] } },
  { rule: 'guardedTakeoverRule', name: 'the standby\'s monitor of the active is up (its monitor of itself never runs): the role moves',
    given: [watchMonitors, local({ health: 'failed' }), member('fw2', { watches: { 'sees-fw1': 'up' } })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'resource-failure' }], absent: ['GUARDED_TAKEOVER'] } },
  { rule: 'guardedTakeoverRule', name: 'a monitor of another node that has not reported yet neither guards nor blocks the move',
    given: [watchMonitors, local({ health: 'failed' }), member('fw2', { watches: { 'sees-fw1': 'unknown' } })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'resource-failure' }], absent: ['GUARDED_TAKEOVER'] } },
  { rule: 'resourceFailureRule', name: 'flap damping does not stop a move away from a failed active',
    given: [local({ health: 'failed' }), (w) => (w.flapDamped = true)],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw2', reason: 'resource-failure' }], conditions: ['FLAP_DAMPED'] } },

  // --- failbackRule (R3, R9) and flapDampingRule --------------------------
  { rule: 'failbackRule', name: 'no failback to a preferred node that failed to hold the VIPs not long ago',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), member('fw1', { holdFault: HOLD_FAULT })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'failbackRule', name: 'preferred node eligible for the hold-down: move back to it',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 950 } })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw1', reason: 'failback', epoch: 3 }] } },
  { rule: 'failbackRule', name: 'preferred node heard but not answering the leader (one direction back after a heal): no failback',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 950 } }), raft({ ticksSinceAck: { fw1: 10 } })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'failbackRule', name: 'preferred node answering the leader again within the election timeout: failback',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 950 } }), raft({ ticksSinceAck: { fw1: 9 } })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw1', reason: 'failback', epoch: 3 }] } },
  { rule: 'failbackRule', name: 'preferred node eligible but inside the hold-down: wait',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 980 } })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'failbackRule', name: 'auto failback off: the roles stay reversed',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), settings({ failback: { auto: false, holdDownMs: 5000 } })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'failbackRule', name: 'the preferred node is unhealthy: no failback',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), member('fw1', { health: 'failed' })],
    expect: { vips: 'hold', actions: [], conditions: ['DEGRADED'] } },
  { rule: 'failbackRule', name: 'the preferred node cannot hold the VIPs (a device its host lacks): no failback, the pair is degraded',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), member('fw1', { vipProblems: [MISSING] })],
    expect: { vips: 'hold', actions: [], conditions: ['DEGRADED'] } },
  { rule: 'failbackRule', name: 'the preferred node has not checked its VIPs\' devices against the current settings: no failback yet',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), member('fw1', { vipSetup: 'stale' })],
    expect: { vips: 'hold', actions: [], absent: ['DEGRADED'] } },
  { rule: 'failbackRule', name: 'a report without the VIP check (a build that does not report it, during an update): failback as before',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), member('fw1', { vipSetup: 'absent' })],
    expect: { vips: 'hold', actions: [{ type: 'proposeIntent', to: 'fw1', reason: 'failback', epoch: 3 }] } },
  { rule: 'failbackRule', name: 'the preferred node is lagging: no failback',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), raft({ match: { fw1: 0 }, indexOffset: 200 })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'flapDampingRule', name: 'flap damping engaged: no failback, with a condition',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), (w) => (w.flapDamped = true)],
    expect: { vips: 'hold', actions: [], conditions: ['FLAP_DAMPED'] } },
  { rule: 'updateOrderRule', name: 'no failback to a preferred node running an older version',
    given: [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } }), member('fw2', { version: '0.4.0' })],
    expect: { vips: 'hold', actions: [], conditions: ['VERSION_MISMATCH'] } },

  // --- twoNodeUnilateralRule ----------------------------------------------
  { rule: 'twoNodeUnilateralRule', name: 'no witness, peer silent on every path past the election timeout: take the role alone',
    given: [noWitness, as('fw2', 'candidate'), silent('fw1', 11)],
    expect: { vips: 'hold', epoch: 4, mode: 'unilateral', fenceTicks: 10, actions: [{ type: 'announce', epoch: 4, why: 'took-role' }], conditions: ['UNILATERAL', 'NO_WITNESS', 'MEMBER_UNREACHABLE'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, peer silent for less than election timeout + margin: wait',
    given: [noWitness, as('fw2', 'candidate'), silent('fw1', 10)], expect: { vips: 'release', conditions: ['NO_WITNESS'], absent: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, the holder keeps the VIPs as soon as its peer falls silent',
    given: [noWitness, raft({ role: 'candidate', leader: null }), silent('fw2', 2)],
    expect: { vips: 'hold', epoch: 3, mode: 'unilateral', actions: [], conditions: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, the leader holding the lease: its peer falls silent, it keeps the VIPs by itself before its Raft lease runs out',
    given: [noWitness, silent('fw2', 2)],
    expect: { vips: 'hold', epoch: 3, mode: 'unilateral', fenceTicks: 10, actions: [], conditions: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, the leader holding the lease while its peer answers: the lease fence',
    given: [noWitness, silent('fw2', 1)],
    expect: { vips: 'hold', epoch: 3, mode: 'lease', fenceTicks: 7, actions: [], absent: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, the holder hears its peer but lost the Raft lease: release',
    given: [noWitness, raft({ role: 'follower', leader: 'fw2' })], expect: { vips: 'release' } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, partition healed, no leader elected yet: the committed holder keeps answering',
    given: [noWitness, raft({ role: 'follower', leader: null }), local({ holdingVips: true }), silent('fw2', 0)],
    expect: { vips: 'hold', epoch: 3, mode: 'unilateral', conditions: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, partition healed: the node that took the role without a commit lets go once it hears its peer',
    given: [noWitness, as('fw2', 'candidate'), local({ holdingVips: true }), silent('fw1', 0)],
    expect: { vips: 'release', absent: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, the committed holder restarted (holds nothing) and no leader yet: it waits for one',
    given: [noWitness, raft({ role: 'follower', leader: null }), local({ holdingVips: false }), silent('fw2', 0)],
    expect: { vips: 'release', absent: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, survivor unhealthy: no unilateral takeover (R10)',
    given: [noWitness, as('fw2', 'candidate'), silent('fw1', DEAD), local({ health: 'failed' })], expect: { vips: 'release' } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, survivor in maintenance: no unilateral takeover',
    given: [noWitness, as('fw2', 'candidate'), silent('fw1', DEAD), member('fw2', { maintenance: true })], expect: { vips: 'release' } },
  { rule: 'twoNodeUnilateralRule', name: 'no witness, the holder in maintenance keeps the VIPs when its peer falls silent (nobody can relieve it)',
    given: [noWitness, raft({ role: 'candidate', leader: null }), member('fw1', { maintenance: true }), silent('fw2', 2)],
    expect: { vips: 'hold', epoch: 3, mode: 'unilateral', actions: [], conditions: ['UNILATERAL'] } },
  { rule: 'twoNodeUnilateralRule', name: 'with a witness, silence alone never gives the role',
    given: [as('fw2', 'candidate'), silent('fw1', DEAD)], expect: { vips: 'release', absent: ['NO_WITNESS', 'UNILATERAL'] } },

  // --- policyOrderRule (R11: standby first) -------------------------------
  { rule: 'policyOrderRule', name: 'a standby applies a new policy revision at once',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1 }), member('fw2', { appliedPolicyRevision: 1 })],
    expect: { vips: 'release', actions: [{ type: 'applyPolicy', revision: 2 }] } },
  { rule: 'policyOrderRule', name: 'the active waits for the standby to apply it first',
    given: [(w) => (w.policyRevisions = 2), local({ policyApplied: 1 }), member('fw2', { appliedPolicyRevision: 1 })],
    expect: { vips: 'hold', actions: [] } },
  { rule: 'policyOrderRule', name: 'the active applies it once the standby has',
    given: [(w) => (w.policyRevisions = 2), local({ policyApplied: 1 })], expect: { vips: 'hold', actions: [{ type: 'applyPolicy', revision: 2 }] } },
  { rule: 'policyOrderRule', name: 'the active applies it after waiting standbyFirstTicks',
    given: [(w) => (w.policyRevisions = 2), local({ policyApplied: 1 }), member('fw2', { appliedPolicyRevision: 1 }), memory({ policyWait: { revision: 2, tick: 900 } })],
    expect: { vips: 'hold', actions: [{ type: 'applyPolicy', revision: 2 }] } },
  { rule: 'policyOrderRule', name: 'the standby failed to apply it: the active keeps its policy',
    given: [(w) => (w.policyRevisions = 2), local({ policyApplied: 1 }), member('fw2', { policyFailed: 'nft: syntax error' })],
    expect: { vips: 'hold', actions: [], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'a standby whose apply failed does not try again at once',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 99 })],
    expect: { vips: 'release', actions: [], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'a standby whose apply failed tries again after policyRetryTicks (nft may have been fixed)',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 100 })],
    expect: { vips: 'release', actions: [{ type: 'applyPolicy', revision: 2 }], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'after three failures in a row the retry waits four times as long',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 399, policyFailedAttempts: 3 })],
    expect: { vips: 'release', actions: [], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'after three failures in a row, tried again after four retry periods',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 400, policyFailedAttempts: 3 })],
    expect: { vips: 'release', actions: [{ type: 'applyPolicy', revision: 2 }], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'after many failures the retry waits 32 retry periods, not less',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 3199, policyFailedAttempts: 40 })],
    expect: { vips: 'release', actions: [], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'the back-off stops doubling at 32 retry periods',
    given: [as('fw2', 'follower'), (w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 3200, policyFailedAttempts: 40 }), (w) => (w.nowTick = 1000)],
    expect: { vips: 'release', actions: [{ type: 'applyPolicy', revision: 2 }], conditions: ['POLICY_APPLY_FAILED'] } },
  { rule: 'policyOrderRule', name: 'the active whose own apply failed tries again too, once the standby has it',
    given: [(w) => (w.policyRevisions = 2), local({ policyApplied: 1, policyFailed: 2, policyFailedAt: 1000 - 100 })],
    expect: { vips: 'hold', actions: [{ type: 'applyPolicy', revision: 2 }], conditions: ['POLICY_APPLY_FAILED'] } },

  // --- conditions not covered above ---------------------------------------
  { rule: 'conditions', name: 'a member without its entitlement', given: [member('fw2', { entitlement: false })], expect: { vips: 'hold', conditions: ['ENTITLEMENT_MISSING'] } },
  { rule: 'conditions', name: 'the standby unreachable: degraded, running without a standby',
    given: [silent('fw2', DEAD)], expect: { vips: 'hold', conditions: ['DEGRADED', 'MEMBER_UNREACHABLE'] } },
  { rule: 'conditions', name: 'no Raft leader for an election timeout: no quorum',
    given: [as('fw2', 'candidate'), raft({ ticksSinceLeaderContact: 30 })], expect: { vips: 'release', conditions: ['NO_QUORUM'] } },
  { rule: 'conditions', name: 'an entry this node could not apply', given: [(w) => (w.applyError = 'UNSUPPORTED_COMMAND')], expect: { vips: 'hold', conditions: ['APPLY_ERROR'] } },
  { rule: 'conditions', name: 'a malformed entry every node skipped alike raises nothing', given: [(w) => (w.applyError = 'MALFORMED_COMMAND')], expect: { vips: 'hold', absent: ['APPLY_ERROR'] } },
];

const seen = new Set<ConditionCode>();
const seenRules = new Set<string>();

for (const c of cases) {
  t.test(`${c.rule}: ${c.name}`, async (t) => {
    const d = decide(input(...c.given));
    const [vips, ...rest] = d.actions;
    t.equal(vips?.type, 'vips', 'the VIP action comes first');
    if (vips?.type !== 'vips') return;
    t.equal(vips.hold ? 'hold' : 'release', c.expect.vips, `vips ${c.expect.vips}; trace: ${d.trace.join(' | ')}`);
    if (vips.hold) {
      if (c.expect.epoch !== undefined) t.equal(vips.epoch, c.expect.epoch, 'epoch');
      if (c.expect.mode !== undefined) t.equal(vips.mode, c.expect.mode, 'mode');
      if (c.expect.fenceTicks !== undefined) t.equal(vips.fenceTicks, c.expect.fenceTicks, 'fence');
    }
    if (c.expect.actions !== undefined) {
      t.equal(rest.length, c.expect.actions.length, `actions: ${JSON.stringify(rest)}`);
      c.expect.actions.forEach((a, i) => t.match(rest[i], a));
    }
    const codes = d.conditions.map((x) => x.code);
    for (const code of c.expect.conditions ?? []) seen.add(code);
    seenRules.add(c.rule);
    for (const x of d.conditions) t.match(x.message, /^[^\n]{20,}$/, `${x.code} has a one-line sentence`);
    for (const code of c.expect.conditions ?? []) t.ok(codes.includes(code), `condition ${code} in ${codes.join(',')}`);
    for (const code of c.expect.absent ?? []) t.notOk(codes.includes(code), `no condition ${code}`);
    if (c.expect.role !== undefined) t.equal(d.role, c.expect.role, 'role');
  });
}

t.test('the table covers every condition code and every rule', async (t) => {
  t.same(CONDITION_CODES.filter((code) => !seen.has(code)), [], 'condition codes no case expects');
  const rules = [
    'leaseHoldRule', 'announceRule', 'bootstrapRule', 'readinessGate', 'failoverRule', 'updateOrderRule', 'witnessHandoffRule',
    'executeIntentRule', 'maintenanceRule', 'resourceFailureRule', 'guardedTakeoverRule', 'failbackRule', 'flapDampingRule',
    'twoNodeUnilateralRule', 'policyOrderRule', 'voidLeaseRule', 'plannedTakeoverRule',
  ];
  t.same(rules.filter((r) => !seenRules.has(r)), [], 'rules without a case');
});

t.test('voidLeaseRule: decide() counts how long the lease holder\'s Raft lease has been 0 in this term', async (t) => {
  t.same(decide(input(raft({ leaseRemainingTicks: 0 }))).memory.leaseVoidSince, { term: 5, tick: 1000 }, 'starts counting');
  t.same(decide(input(raft({ leaseRemainingTicks: 0 }), memory({ leaseVoidSince: { term: 5, tick: 990 } }))).memory.leaseVoidSince, { term: 5, tick: 990 }, 'keeps counting');
  t.equal(decide(input(memory({ leaseVoidSince: { term: 5, tick: 990 } }))).memory.leaseVoidSince, null, 'a lease again: forgotten');
  t.equal(decide(input(as('fw2', 'leader'), raft({ leaseRemainingTicks: 0 }))).memory.leaseVoidSince, null, 'only the lease holder counts');
});

t.test('failbackRule: a new preferred node waits its own hold-down, not the one counted for the old', async (t) => {
  // Three data nodes: fw3 holds, fw1 was preferred and eligible since tick 0; the operator now prefers fw2.
  const world: Patch[] = [(w) => w.members.push({ id: 'fw3' }), lease('fw3'), as('fw3'), local({ holdingVips: true }), settings({ failback: { auto: true, holdDownMs: 2000 } })];
  const counted = memory({ announcedEpoch: 3, preferredEligible: { node: 'fw1', since: 0 } });
  const before = decide(input(...world, counted));
  const intents = (d: ReturnType<typeof decide>): RoleAction[] => d.actions.filter((a) => a.type === 'proposeIntent');
  t.match(intents(before), [{ to: 'fw1', reason: 'failback' }], 'fw1 preferred: its hold-down is over, failback');
  const changed = decide(input(...world, counted, settings({ preferred: 'fw2', failback: { auto: true, holdDownMs: 2000 } })));
  t.same(intents(changed), [], 'fw2 preferred: no failback at once');
  t.same(changed.memory.preferredEligible, { node: 'fw2', since: 1000 }, 'the hold-down starts now, for fw2');
  const later = decide(input(...world, memory({ announcedEpoch: 3, preferredEligible: { node: 'fw2', since: 800 } }), settings({ preferred: 'fw2', failback: { auto: true, holdDownMs: 2000 } })));
  t.match(intents(later), [{ to: 'fw2', reason: 'failback' }], 'once fw2 has been eligible for the hold-down: failback to it');
});

t.test('a node that cannot hold the VIPs: the reasons name the device, for the switchover refusal and DEGRADED', async (t) => {
  const f = facts(input(lease('fw2'), as('fw2'), local({ holdingVips: true }), member('fw1', { vipProblems: [MISSING] })));
  t.equal(targetCheck(f, 'fw1', 'switchover'), `fw1 cannot hold the VIPs: ${MISSING}`);
  t.equal(targetCheck(f, 'fw1', 'forced'), null, 'a forced move is the operator\'s call');
  const degraded = decide(input(lease('fw2'), as('fw2'), local({ holdingVips: true }), member('fw1', { vipProblems: [MISSING] }))).conditions.find((c) => c.code === 'DEGRADED');
  t.match(degraded?.message, `fw1 cannot hold the VIPs: ${MISSING}`);
  const own = decide(input(as('fw2'), silent('fw1', DEAD), local({ vipProblems: [MISSING] }))).conditions.find((c) => c.code === 'NOT_READY');
  t.equal(own?.message, `fw2 cannot take the active role yet: cannot hold the VIPs: ${MISSING}`);
  const fresh = decide(input(as('fw2'), silent('fw1', DEAD), local({ vipSetup: 'none' }))).conditions.find((c) => c.code === 'NOT_READY');
  t.match(fresh?.message, /has not checked its VIPs' devices for settings revision \d+ yet/);
});

t.test('policyAfterAttempt counts the failures of one revision in a row; a success or another revision starts again', async (t) => {
  const none = policyApplied(1);
  const once = policyAfterAttempt(none, 2, { ok: false, error: 'nft: busy' }, 100);
  t.same(once, { appliedRevision: 1, failedRevision: 2, error: 'nft: busy', failedAtTick: 100, failedAttempts: 1 });
  const twice = policyAfterAttempt(once, 2, { ok: false, error: 'nft: still busy' }, 1100);
  t.same(twice, { appliedRevision: 1, failedRevision: 2, error: 'nft: still busy', failedAtTick: 1100, failedAttempts: 2 });
  t.equal(policyAfterAttempt(twice, 3, { ok: false, error: 'nft: syntax error' }, 1200).failedAttempts, 1, 'a new revision counts afresh');
  t.same(policyAfterAttempt(twice, 2, { ok: true }, 3100), { appliedRevision: 2, failedRevision: null, error: null, failedAtTick: null, failedAttempts: 0 });
});
