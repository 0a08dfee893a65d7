/**
 * The pure part of the agent's role loop (src/node/role-input.ts), which the
 * simulator runs too: reachability through the leader's report, the role
 * input, and when a lapsed fence calls for a new epoch.
 */
import t from 'tap';
import { makeCommand } from '../../src/fsm/commands.js';
import { NEVER_HEARD_TICKS, type RaftStatus } from '../../src/raft/raft.js';
import { buildRoleInput, healthReportDue, healthReportOf, lastLeaderOnChange, leaderReportVouches, nextLastLeader, peerReachable, decisionHolds, regrantVersion, sameHealthReport, shouldRegrantAfterLapse, silentTicks, viaLeaderTicks, type ReachabilityView } from '../../src/node/role-input.js';
import { decide, initialRoleMemory, policyApplied } from '../../src/role/decide.js';
import type { RoleInput } from '../../src/role/types.js';
import { as, input, lease, local, member, memory, settings, silent, watchMonitors, type Patch } from '../role/fixtures.js';
import { Log, at, pair, register } from '../fsm/fixtures.js';

function stateWith(lease: { holder: string; epoch: number } | null, report?: { node: string; peers: { id: string; reachable: boolean }[] }) {
  const log: Log = pair();
  if (lease !== null) {
    for (let epoch = 1; epoch <= lease.epoch; epoch++) {
      log.run(makeCommand('grantLease', { holder: lease.holder, epoch, reason: 'bootstrap', term: 1 }, { at: at(epoch), principal: 'node:fw1' }));
    }
  }
  if (report !== undefined) {
    log.run(
      makeCommand(
        'reportHealth',
        { node: report.node, health: 'healthy', monitors: [], appliedConfigRevision: 0, appliedPolicyRevision: 0, policyApply: { revision: 0, ok: true, error: null }, peers: report.peers },
        { at: at(0), principal: `node:${report.node}` },
      ),
    );
  }
  return log.state;
}

function status(role: RaftStatus['role'], term: number, over: Partial<RaftStatus> = {}): RaftStatus {
  const voters = [
    { id: 'fw1', kind: 'data' as const, peer: 'fw1:7400' },
    { id: 'fw2', kind: 'data' as const, peer: 'fw2:7400' },
    { id: 'wit', kind: 'witness' as const, peer: 'wit:7400' },
  ];
  return {
    id: 'fw1', kind: 'data', term, vote: null, role, leader: role === 'leader' ? 'fw1' : 'fw2', commit: 10, applied: 10, firstIndex: 1, lastIndex: 12, lastTerm: term,
    snapshotIndex: 0, snapshotTerm: 0, snapshotMembership: { voters, learners: [] }, membership: { voters, learners: [] }, pendingMembershipIndex: 0, termStartIndex: role === 'leader' ? 11 : 0,
    progress: role === 'leader' ? { fw2: { id: 'fw2', learner: false, match: 9, next: 13, state: 'replicate', inflight: 0, ticksSinceHeard: 3, ticksSinceAnswer: NEVER_HEARD_TICKS, snapshotOffset: null } } : {},
    leaseRemainingTicks: role === 'leader' ? 7 : 0, leaseVoid: false, ticksSinceLeaderContact: 0, transferee: null, tick: 500, droppedMessages: 0, timers: { electionTicks: 10, heartbeatTicks: 1, voteRefusalTicks: 10 },
    ...over,
  };
}

t.test('a follower learns of another follower through the leader\'s committed report', async (t) => {
  const state = stateWith(null, { node: 'fw2', peers: [{ id: 'wit', reachable: true }] });
  const v: ReachabilityView = { self: 'fw1', state, knownLeader: 'fw2', lastLeader: null, lastHeardTick: new Map([['fw2', 95]]), nowTick: 100 };
  t.equal(viaLeaderTicks(v, 'wit'), 5, 'vouched for as long ago as the leader was heard');
  t.equal(silentTicks(v, 'wit'), 5);
  t.ok(peerReachable(v, 'wit', 10));
  t.notOk(peerReachable({ ...v, nowTick: 200 }, 'wit', 10), 'the leader itself silent for too long');
  t.equal(viaLeaderTicks({ ...v, knownLeader: null }, 'wit'), Infinity, 'no leader known, and none before');

  // An election: fw2 stopped being the leader at tick 96 (it handed over, or lost its quorum).
  const electing: ReachabilityView = { ...v, knownLeader: null, lastLeader: nextLastLeader(null, { was: 'fw2', now: null, nowTick: 96, self: 'fw1', wasVouches: true }) };
  t.same(electing.lastLeader, { id: 'fw2', lostAtTick: 96 });
  t.equal(viaLeaderTicks(electing, 'wit'), 5, 'the last leader vouches, as long ago as it was heard');
  t.notOk(peerReachable({ ...electing, nowTick: 105 }, 'wit', 10), 'not once it has been silent an election timeout (a crash)');
  const campaigning: ReachabilityView = { ...electing, lastHeardTick: new Map([['fw2', 199]]), nowTick: 200 };
  t.equal(viaLeaderTicks(campaigning, 'wit'), 104, 'heard since (campaigning), its report still ages from tick 96');
  t.notOk(peerReachable(campaigning, 'wit', 10));
  const change = { was: null, now: null, nowTick: 150, self: 'fw1', wasVouches: false };
  t.same(nextLastLeader(electing.lastLeader, change), electing.lastLeader, 'still no leader: kept');
  t.equal(nextLastLeader(electing.lastLeader, { ...change, now: 'wit' }), null, 'another leader is known again');
  t.same(nextLastLeader(electing.lastLeader, { ...change, now: 'fw1' }), electing.lastLeader, 'this node elected: kept');
  t.same(nextLastLeader(null, { ...change, was: 'fw2', now: 'fw1', nowTick: 97, wasVouches: true }), { id: 'fw2', lostAtTick: 97 }, 'elected straight after fw2 (no leaderless moment seen)');
  t.equal(nextLastLeader({ id: 'fw2', lostAtTick: 96 }, { ...change, was: 'wit', wasVouches: false }), null, 'a leader whose report does not vouch: no one vouches (not an older one either)');
  t.same(nextLastLeader({ id: 'fw2', lostAtTick: 96 }, { ...change, was: 'fw1', nowTick: 300 }), { id: 'fw2', lostAtTick: 96 }, 'this node stepping down vouches for no one: the older last leader is kept');

  // Whose report may vouch once it no longer leads.
  t.ok(leaderReportVouches('data', 10, 10), 'a data node that led for an election timeout');
  t.notOk(leaderReportVouches('data', 9, 10), 'not one that handed over sooner: its report may be the one it made as a follower');
  t.notOk(leaderReportVouches('witness', 500, 10), 'never a witness: a bridge cannot commit a report');
  t.notOk(leaderReportVouches(null, 500, 10), 'nor a node no longer a member');
  const onChange = { sinceTick: 0, now: 'fw1', nowTick: 50, self: 'fw1', state, electionTicks: 10 };
  t.same(lastLeaderOnChange(null, { ...onChange, was: 'fw2' }), { id: 'fw2', lostAtTick: 50 }, 'what the agent keeps: a data leader that led 50 ticks');
  t.equal(lastLeaderOnChange(null, { ...onChange, was: 'wit' }), null, 'a witness leader: nothing');
  t.equal(lastLeaderOnChange(null, { ...onChange, was: 'fw2', sinceTick: 45 }), null, 'a data leader that led 5 ticks: nothing');
  // fw1 (active, leader) crashed; the witness bridged and handed over to fw2 at once. Its report,
  // made before the crash, still says fw1 is reachable: fw2 must not believe it.
  const bridgeState = stateWith(null, { node: 'wit', peers: [{ id: 'fw1', reachable: true }] });
  const afterBridge = nextLastLeader(null, { was: 'wit', now: 'fw2', nowTick: 300, self: 'fw2', wasVouches: leaderReportVouches('witness', 3, 10) });
  const fw2: ReachabilityView = { self: 'fw2', state: bridgeState, knownLeader: 'fw2', lastLeader: afterBridge, lastHeardTick: new Map([['wit', 300], ['fw1', 200]]), nowTick: 300 };
  t.notOk(peerReachable(fw2, 'fw1', 10), "after a witness bridge, the dead fw1 is not vouched for by the witness's stale report");
  t.ok(bridgeState.members.some((m) => m.id === 'wit' && m.kind === 'witness'));
  const underBridge: ReachabilityView = { ...fw2, knownLeader: 'wit', lastLeader: null };
  t.equal(viaLeaderTicks(underBridge, 'fw1'), Infinity, 'nor while the witness leads: its report is no leader\'s view');

  // Just elected (a planned move): the other voters have yet to answer this node.
  const elected: ReachabilityView = { ...electing, knownLeader: 'fw1' };
  t.equal(viaLeaderTicks(elected, 'wit'), 5, 'a new leader: the last leader still vouches, under the same bound');
  t.notOk(peerReachable({ ...elected, nowTick: 106 }, 'wit', 10), 'for an election timeout from when it stopped leading, at most');
  t.equal(viaLeaderTicks({ ...elected, lastLeader: null }, 'wit'), Infinity, 'a leader with no last leader: only direct contact counts');
  t.equal(viaLeaderTicks({ ...elected, lastHeardTick: new Map([['fw2', 40]]) }, 'wit'), 60, 'a leader elected after a crash: the old leader, silent since, vouches for no one');

  const twoVouched = stateWith(null, { node: 'fw2', peers: [{ id: 'wit', reachable: true }, { id: 'fw3', reachable: true }] });
  const newLeader: ReachabilityView = { ...v, state: twoVouched, knownLeader: 'wit', lastHeardTick: new Map([['fw2', 95], ['wit', 99]]) };
  t.equal(viaLeaderTicks({ ...newLeader, knownLeader: null, lastLeader: { id: 'fw2', lostAtTick: 96 } }, 'fw3'), 5, 'fw2 vouches for fw3 while no leader is known');
  t.equal(viaLeaderTicks(newLeader, 'fw3'), Infinity, 'a new leader known: only its report counts, and wit has none');
  t.equal(viaLeaderTicks({ ...v, knownLeader: 'fw1' }, 'wit'), Infinity, 'this node leads, with no last leader: only direct contact counts');
  const notVouched = stateWith(null, { node: 'fw2', peers: [{ id: 'wit', reachable: false }] });
  t.equal(silentTicks({ ...v, state: notVouched }, 'wit'), Infinity, 'the leader reports it cannot reach wit');
  t.ok(peerReachable(v, 'fw1', 10), 'a node always reaches itself');
});

t.test('the role input carries the Raft status, what was applied, and the observations', async (t) => {
  const state = stateWith({ holder: 'fw1', epoch: 2 });
  const reach: ReachabilityView = { self: 'fw1', state, knownLeader: 'fw1', lastLeader: null, lastHeardTick: new Map([['fw2', 490]]), nowTick: 500 };
  const input = buildRoleInput({
    kind: 'data', status: status('leader', 4), applied: 9, appliedTerm: 4, reach, tickMs: 10, memory: initialRoleMemory(),
    health: 'healthy', monitors: [], policy: policyApplied(0), holdingVips: true,
    vipSetup: { revision: state.configRevision, problems: [] },
  });
  t.match(input.raft, { role: 'leader', term: 4, commit: 10, applied: 9, appliedTerm: 4, leaseRemainingTicks: 7, leaseVoid: false, match: { fw2: 9 }, transferringTo: null });
  const voided = buildRoleInput({
    kind: 'data', status: status('leader', 4, { leaseRemainingTicks: 0, leaseVoid: true }), applied: 9, appliedTerm: 4, reach, tickMs: 10, memory: initialRoleMemory(),
    health: 'healthy', monitors: [], policy: policyApplied(0), holdingVips: false,
    vipSetup: { revision: state.configRevision, problems: [] },
  });
  t.equal(voided.raft.leaseVoid, true, 'a lease a TimeoutNow voided reaches the role logic');
  t.same(input.raft.ticksSinceAck, { fw2: Infinity }, "a follower that has not answered this leader yet has not (not CheckQuorum's grace)");
  t.equal(input.config.electionTicks, 80, 'timers from the settings (800 ms) at 10 ms per tick');
  t.same(input.local.peers.map((p) => p.id), ['fw2', 'wit']);
  t.same(input.local.peers[0]?.paths, [{ name: 'raft', ticksSinceHeard: 10 }, { name: 'leader-report', ticksSinceHeard: Infinity }]);
  t.equal(input.local.peers[1]?.paths[0]?.ticksSinceHeard, Infinity, 'never heard');
  t.equal(input.local.holdingVips, true);
  t.same(input.local.vipSetup, { revision: state.configRevision, problems: [] }, 'the last VIP device check');
});

t.test('a lapsed fence: a new epoch, proposed again when the proposal may have been lost', async (t) => {
  const state = stateWith({ holder: 'fw1', epoch: 2 });
  const base = { self: 'fw1', holds: 2 as number | null, lapsed: 2 as number | null, previous: null, state, status: status('leader', 4), nowTick: 100, retryTicks: 20 };
  t.ok(shouldRegrantAfterLapse(base), 'the leader holding the lease takes the next epoch');
  t.notOk(shouldRegrantAfterLapse({ ...base, lapsed: null }), 'not lapsed');
  t.notOk(shouldRegrantAfterLapse({ ...base, lapsed: 1 }), 'another epoch lapsed');
  t.notOk(shouldRegrantAfterLapse({ ...base, status: status('follower', 4) }), 'not the leader');
  t.notOk(shouldRegrantAfterLapse({ ...base, state: stateWith({ holder: 'fw2', epoch: 2 }) }), 'the lease names another node');
  t.notOk(shouldRegrantAfterLapse({ ...base, holds: null }), 'the role decision lets go of epoch 2 (handing the role over): no new epoch');
  const previous = { epoch: 2, term: 4, tick: 90 };
  t.notOk(shouldRegrantAfterLapse({ ...base, previous }), 'proposed 10 ticks ago in this term: wait');
  t.ok(shouldRegrantAfterLapse({ ...base, previous, nowTick: 110 }), 'no grant after retryTicks: propose again');
  // The role simulator's seed: the proposal was lost when leadership was lost, and leadership came back.
  t.ok(shouldRegrantAfterLapse({ ...base, previous, status: status('leader', 6) }), 'a new term: propose again at once');
});

t.test('the new epoch after a lapse: version 1, or version 2 for a holder in maintenance (which version 1 refuses)', async (t) => {
  const log: Log = pair();
  log.run(makeCommand('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }, { at: at(1), principal: 'node:fw1' }));
  t.equal(regrantVersion(log.state, 'fw1'), 1, 'not in maintenance: version 1, which every build applies alike');
  log.run(makeCommand('setMaintenance', { node: 'fw1', on: true }, { at: at(2), principal: 'ops' }));
  const v = regrantVersion(log.state, 'fw1');
  t.equal(v, 2, 'in maintenance (kept the role: no node could take it)');
  log.run(register('wit', 'witness', '0.2.0'));
  t.equal(regrantVersion(log.state, 'fw1'), 1, 'not while a member runs another version: an older build would not apply version 2');
  log.run(register('wit', 'witness'));
  const result = log.run(makeCommand('grantLease', { holder: 'fw1', epoch: 2, reason: 'fence-lapsed', term: 1 }, { at: at(3), principal: 'node:fw1', v }));
  t.match(result, { ok: true, epoch: 2 }, 'and the grant applies');
});

t.test('a lapsed fence during a committed move: a new epoch unless the holder is handing the role over', async (t) => {
  // What the agent does on each pass: decide, then ask whether the lapsed epoch calls for a new
  // one, on the same state. fw2 holds epoch 3 and leads; the moves go to fw1.
  const fw2Holds = [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3 })];
  const regrants = (i: RoleInput): boolean => {
    const holds = decisionHolds(decide(i).actions);
    const leader = status('leader', i.raft.term, { id: 'fw2', leader: 'fw2' });
    return shouldRegrantAfterLapse({ self: 'fw2', holds, lapsed: 3, previous: null, state: i.state, status: leader, nowTick: i.local.nowTick, retryTicks: 20 });
  };
  const switchover: Patch = (w) => (w.intent = { to: 'fw1', reason: 'switchover' });
  t.notOk(regrants(input(...fw2Holds, switchover)), 'fw1 can take the role: fw2 hands it over and does not take it back');
  t.ok(regrants(input(...fw2Holds, switchover, member('fw1', { health: 'failed' }))), 'the switchover waits for fw1: fw2 takes a new epoch rather than leave the VIPs unheld');
  t.ok(regrants(input(...fw2Holds, switchover, silent('fw1', 100))), 'nor when fw1 is unreachable');
  const resourceFailure: Patch = (w) => (w.intent = { to: 'fw1', reason: 'resource-failure' });
  t.notOk(regrants(input(...fw2Holds, resourceFailure, member('fw2', { monitor: 'down' }), watchMonitors)), 'a failed active moving to a ready fw1 is not kept active');
  // The role simulator's seeds 509, 581, 775 and 1425 (of 3,000): a failback voided after the
  // holder let its fence lapse left nobody holding the VIPs.
  const failback: Patch = (w) => (w.intent = { to: 'fw1', reason: 'failback' });
  t.notOk(regrants(input(...fw2Holds, failback)), 'a failback still wanted is under way');
  t.ok(regrants(input(...fw2Holds, failback, settings({ failback: { auto: false, holdDownMs: 5000 } }))), 'a failback voided by turning auto failback off: a new epoch');
  const maintenance: Patch = (w) => (w.intent = { to: 'fw1', reason: 'maintenance' });
  t.ok(regrants(input(...fw2Holds, maintenance)), 'a maintenance move voided by fw2 leaving maintenance: a new epoch');
  t.ok(regrants(input(...fw2Holds)), 'no move at all: a new epoch');
  const kept = input(...fw2Holds, member('fw2', { maintenance: true }), member('fw1', { health: 'failed' }));
  t.ok(regrants(kept), 'in maintenance with nowhere to move the role: a new epoch');
  t.equal(regrantVersion(kept.state, 'fw2'), 2, 'of version 2');
});

t.test('a past failure to hold goes into the health report only while every member runs one version', async (t) => {
  const policy = policyApplied(0);
  const fault = 'fw1: its network layer failed to take or keep the VIPs for 3 s or more: nft: broken';
  const same = input(as('fw1'));
  const report = healthReportOf(same, policy, () => true, fault);
  t.equal(report.holdFault, fault);
  t.equal(healthReportOf(same, policy, () => true).holdFault, undefined, 'none: no field');
  t.notOk(sameHealthReport({ ...report, at: at(1), index: 1, holdFault: undefined }, report), 'a new past fault is a new report');
  t.ok(sameHealthReport({ ...report, at: at(1), index: 1 }, report));
  const mixed = input(as('fw1'), member('wit', { kind: 'witness', version: '0.1.0' }));
  t.equal(healthReportOf(mixed, policy, () => true, fault).holdFault, undefined, 'an older member would drop the field: left out');
});

t.test('a health report is sent when it is new, a changed one at most every 100 ms, the same one again only after 500 ms or to a new leader', async (t) => {
  const policy = policyApplied(0);
  const report = healthReportOf(input(as('fw1')), policy, () => true);
  const changed = healthReportOf(input(as('fw1'), local({ health: 'degraded' })), policy, () => true);
  t.notSame(changed, report, 'the two reports differ');
  const shown = { ...report, at: at(1), index: 1 };
  t.notOk(healthReportDue(shown, report, null, 'fw2', 0), 'the state shows it: never sent');
  t.ok(healthReportDue(null, report, null, 'fw2', 0), 'never sent and not in the state: sent at once');
  const sent = { report, leader: 'fw2', atMs: 1000 };
  t.notOk(healthReportDue(null, changed, sent, 'fw2', 1099), 'a changed report waits 100 ms after the last');
  t.ok(healthReportDue(null, changed, sent, 'fw2', 1100), 'and goes then');
  t.notOk(healthReportDue(null, report, sent, 'fw2', 1499), 'the same one to the same leader: it may still be on its way');
  t.ok(healthReportDue(null, report, sent, 'fw2', 1500), 'sent again after 500 ms');
  t.ok(healthReportDue(null, report, sent, 'wit', 1100), 'to a new leader after 100 ms: the old one may have lost it');
  t.notOk(healthReportDue(shown, report, sent, 'fw2', 9000), 'once the state shows it, never again');
});
