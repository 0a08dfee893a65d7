import t from 'tap';
import { DEFAULT_SETTINGS } from '../../src/fsm/settings.js';
import type { HealthState } from '../../src/fsm/commands.js';
import { findMember } from '../../src/fsm/state.js';
import { compareVersions } from '../../src/fsm/versions.js';
import { decide, memberRole, readinessGate, roleConfigFromSettings, switchoverCheck } from '../../src/role/decide.js';
import { facts } from '../../src/role/facts.js';
import type { RoleInput } from '../../src/role/types.js';
import { as, input, lease, local, member, memory, noWitness, raft, settings, silent, watchMonitors, type Patch } from './fixtures.js';

t.test('switchoverCheck (R13): refusals say why, --force overrides what it can', async (t) => {
  t.same(switchoverCheck(input(), { to: 'fw2' }), { ok: true, to: 'fw2', reason: 'switchover', epoch: 3 });
  t.same(switchoverCheck(input(), {}), { ok: true, to: 'fw2', reason: 'switchover', epoch: 3 }, 'no target: the other one');
  t.same(switchoverCheck(input(member('fw2', { health: 'failed' })), { to: 'fw2' }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: 'cannot switch over to fw2: fw2 is unhealthy (failed; down: upstream); use --force to override',
  });
  t.match(switchoverCheck(input(member('fw2', { health: 'failed' })), { to: 'fw2', force: true }), { ok: true, reason: 'forced' });
  const held = 'fw2: its network layer failed to take or keep the VIPs for 3 s or more: nft: broken';
  t.same(switchoverCheck(input(member('fw2', { holdFault: held })), { to: 'fw2' }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: `cannot switch over to fw2: fw2 is kept from planned moves for a while after a failure to hold the VIPs (${held}); it still takes over if the active fails; use --force to override`,
  });
  t.match(switchoverCheck(input(member('fw2', { holdFault: held })), { to: 'fw2', force: true }), { ok: true, reason: 'forced' });
  t.same(switchoverCheck(input(raft({ match: { fw2: 10 }, indexOffset: 500 })), { to: 'fw2' }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: `cannot switch over to fw2: fw2 is lagging (has index 10 of ${input(raft({ indexOffset: 500 })).raft.commit}); use --force to override`,
  });
  t.same(switchoverCheck(input(member('fw2', { version: '0.4.0' })), { to: 'fw2' }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: 'cannot switch over to fw2: fw2 runs version 0.4.0, the active fw1 runs 0.3.0; use --force to override',
  });
  t.same(switchoverCheck(input(member('fw2', { maintenance: true })), { to: 'fw2', force: true }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: 'cannot switch over to fw2: fw2 is in maintenance (turn maintenance off first)',
  });
  t.same(switchoverCheck(input(), { to: 'wit', force: true }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: 'cannot switch over to wit: wit is a witness and never holds the active role',
  });
  t.match(switchoverCheck(input(), { to: 'fw1' }), { ok: false, message: 'cannot switch over to fw1: fw1 already holds the active role' });
  t.match(switchoverCheck(input(silent('fw2', 1000)), { to: 'fw2', force: true }), {
    ok: false,
    message: 'cannot switch over to fw2: fw2 is unreachable (nothing heard on any path for 100.0 s)',
  });
  t.same(switchoverCheck(input(raft({ ticksSinceAck: { fw2: 12 } })), { to: 'fw2', force: true }), {
    ok: false,
    code: 'TARGET_REFUSED',
    message: 'cannot switch over to fw2: fw2 has not answered fw1 (no answer for 1.2 s)',
  });
  t.same(switchoverCheck(input(lease(null)), {}), { ok: false, code: 'NO_ACTIVE', message: 'no node holds the active role, so there is nothing to switch over' });
  t.same(switchoverCheck(input(member('fw2', { health: null })), {}), {
    ok: false,
    code: 'NO_TARGET',
    message: 'no node can take the active role: fw2 has not reported its health yet',
  });
  t.match(
    switchoverCheck(input(local({ health: 'failed' }), member('fw2', { sees: { fw1: false } })), { to: 'fw2' }),
    { ok: true },
    'a guarded takeover (R10) does not stop a manual switchover',
  );
  t.match(
    switchoverCheck(input(watchMonitors, local({ health: 'failed' }), member('fw2', { watches: { 'sees-fw1': 'down' } })), { to: 'fw2' }),
    { ok: true },
    'nor does one from the standby\'s monitor of the active',
  );
});

t.test('readinessGate lists every reason', async (t) => {
  const i = input(as('fw2'), raft({ lag: 2, appliedTerm: 4 }), local({ configLag: true, monitorReported: false }), (w) => (w.policyRevisions = 1), local({ policyApplied: 0 }));
  t.same(readinessGate(facts(i)).reasons, [
    `not caught up with the committed log (applied ${i.raft.applied} of ${i.raft.commit})`,
    'has not applied an entry of its own term yet',
    'has not applied settings revision 1 (has 0)',
    'has not applied policy revision 1 (has 0)',
    'monitors not reported yet: upstream',
  ]);
  t.same(readinessGate(facts(input())).reasons, []);
});

function sentence(i: RoleInput, code: string): string | undefined {
  return decide(i).conditions.find((c) => c.code === code)?.message;
}

t.test('condition sentences', async (t) => {
  t.equal(
    sentence(input(noWitness), 'NO_WITNESS'),
    'there is no witness: if every path between the two nodes is cut while both still reach the network, both may take the active role, so split brain cannot be ruled out; add a witness on a third host',
  );
  t.equal(
    sentence(input(silent('fw2', 32)), 'DEGRADED'),
    'running without a standby: fw2 is unreachable; the active fw1 has nowhere to fail over to, so fix this to return to the duplexed state',
  );
  t.equal(sentence(input(silent('fw2', 32)), 'MEMBER_UNREACHABLE'), 'fw2 is unreachable: nothing heard on any path for 3.2 s');
  t.equal(
    sentence(input(member('fw2', { version: '0.4.0' })), 'VERSION_MISMATCH'),
    'members run different software versions (fw1 0.3.0, fw2 0.4.0, wit 0.3.0): settings, policy and restore writes are refused, and the role never moves automatically to an older node, until every node runs the same version',
  );
  t.equal(
    sentence(input((w) => (w.policyRevisions = 2), member('fw2', { policyFailed: 'nft: syntax error' })), 'POLICY_APPLY_FAILED'),
    'fw2 failed to apply policy revision 2: nft: syntax error; the active fw1 keeps its current policy until this is fixed (standby first, R11)',
  );
  t.equal(sentence(input(member('fw2', { entitlement: false })), 'ENTITLEMENT_MISSING'), 'fw2 has no entitlement: the licence file named in its node config is missing');
  t.equal(sentence(input(member('fw2', { maintenance: true })), 'MAINTENANCE'), 'fw2 is in maintenance: it will not take the active role');
  t.equal(
    sentence(input(member('fw1', { maintenance: true })), 'MAINTENANCE'),
    'the active fw1 is in maintenance; the role moves away as soon as another node can take it',
  );
  t.match(sentence(input((w) => (w.flapDamped = true)), 'FLAP_DAMPED'), /^the active role moved 4 times within 600 s \(at .*\); automatic failback is stopped until an operator clears flap damping$/);
  t.equal(sentence(input(member('fw2', { health: 'failed' })), 'MEMBER_UNHEALTHY'), 'fw2 reports failed health (down: upstream)');
  t.equal(
    sentence(input(noWitness, as('fw2', 'candidate'), silent('fw1', 50)), 'UNILATERAL'),
    'fw2 holds the active role by itself: its peer is silent on every path and there is no witness to confirm it is down; if the peer is alive and also took the role, both answer for the VIPs (split brain)',
  );
  t.equal(
    sentence(input(local({ health: 'failed' }), member('fw2', { sees: { fw1: false } })), 'GUARDED_TAKEOVER'),
    'fw2 reports that it cannot reach fw1 (it hears nothing from fw1), so a resource failure on fw1 does not move the role (R10); a manual switchover still can',
  );
  t.equal(
    sentence(input(watchMonitors, local({ health: 'failed' }), member('fw2', { watches: { 'sees-fw1': 'down' } })), 'GUARDED_TAKEOVER'),
    'fw2 reports that it cannot reach fw1 (its monitor of fw1 (sees-fw1) is down), so a resource failure on fw1 does not move the role (R10); a manual switchover still can',
  );
  t.equal(
    sentence(input(watchMonitors, member('fw2', { health: 'failed', watches: { 'sees-fw1': 'down' } })), 'MEMBER_UNHEALTHY'),
    'fw2 reports failed health (down: upstream)',
    'a monitor of another node is not named as a cause of failed health',
  );
});

t.test('conditions are sorted: errors first, then warnings, then information', async (t) => {
  const d = decide(input(silent('fw2', 1000), member('fw2', { entitlement: false }), noWitness));
  const order = { error: 0, warning: 1, info: 2 } as const;
  const severities = d.conditions.map((c) => order[c.severity]);
  t.same(severities, [...severities].sort((a, b) => a - b));
});

/** Runs decide() repeatedly, carrying memory and the VIP state forward like the driver does. */
function run(start: RoleInput, ticks: number, change: (i: RoleInput, tick: number) => RoleInput = (i) => i) {
  let mem = start.memory;
  let holding = start.local.holdingVips;
  const decisions = [];
  for (let k = 0; k < ticks; k++) {
    const base = change(start, k);
    const i: RoleInput = { ...base, memory: mem, local: { ...base.local, nowTick: start.local.nowTick + k, holdingVips: holding } };
    const d = decide(i);
    decisions.push(d);
    mem = d.memory;
    const v = d.actions[0];
    holding = v?.type === 'vips' && v.hold;
  }
  return decisions;
}

t.test('failback hold-down counts across calls and restarts when the preferred node falters', async (t) => {
  const start = input(lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3 }));
  const ds = run(start, 60);
  const first = ds.findIndex((d) => d.actions.some((a) => a.type === 'proposeIntent'));
  t.equal(first, 50, 'the intent comes exactly after holdDownTicks');
  t.equal(ds.filter((d) => d.actions.some((a) => a.type === 'proposeIntent')).length, 1, 'proposed once within the retry time');

  const faltering = input(lease('fw2'), as('fw2'), local({ holdingVips: true }), member('fw1', { health: 'failed' }));
  const ds2 = run(start, 90, (i, k) => (k >= 30 && k < 35 ? { ...i, state: faltering.state } : i));
  t.equal(
    ds2.findIndex((d) => d.actions.some((a) => a.type === 'proposeIntent')),
    85,
    'fw1 failed at tick 30-34: the hold-down starts again at 35',
  );
});

t.test('after starting a transfer the VIPs stay released until it completes or times out', async (t) => {
  const start = input((w) => (w.intent = { to: 'fw2', reason: 'switchover' }));
  const ds = run(start, 25);
  t.match(ds[0]?.actions, [{ type: 'vips', hold: false }, { type: 'transferLeadership', to: 'fw2' }]);
  for (let k = 1; k < 20; k++) {
    t.match(ds[k]?.actions[0], { type: 'vips', hold: false }, `tick ${k}: still released`);
    t.notOk(ds[k]?.actions.some((a) => a.type === 'transferLeadership'), `tick ${k}: no second transfer`);
  }
  t.match(ds[20]?.actions, [{ type: 'vips', hold: false }, { type: 'transferLeadership', to: 'fw2' }], 'retried after retryTicks');
});

t.test('roleConfigFromSettings converts timers to ticks with a drift margin', async (t) => {
  const c = roleConfigFromSettings(DEFAULT_SETTINGS, { tickMs: 10 });
  // The default timers: 100 ms heartbeat, 800 ms election timeout; a 5 % drift either way is 2 x 5 % x 80 ticks.
  t.match(c, { tickMs: 10, heartbeatTicks: 10, electionTicks: 80, driftMarginTicks: 8, holdDownTicks: 500, retryTicks: 160 });
  t.equal(roleConfigFromSettings(DEFAULT_SETTINGS, { tickMs: 10, driftRate: 0.01 }).driftMarginTicks, 2);
});

t.test('memberRole for status', async (t) => {
  const { state } = input(member('fw2', { maintenance: true }));
  t.equal(memberRole(state, 'fw1'), 'active');
  t.equal(memberRole(state, 'fw2'), 'none');
  t.equal(memberRole(state, 'wit'), 'witness');
  t.equal(memberRole(input().state, 'fw2'), 'standby');
  t.equal(memberRole(state, 'ghost'), 'none');
});

t.test('compareVersions orders releases and pre-releases', async (t) => {
  t.ok(compareVersions('0.3.0', '0.4.0') < 0);
  t.ok(compareVersions('0.10.0', '0.9.9') > 0);
  t.ok(compareVersions('1.0.0-rc.1', '1.0.0') < 0);
  t.ok(compareVersions('1.0.0-rc.2', '1.0.0-rc.10') < 0);
  t.equal(compareVersions('v1.2.3', '1.2.3+build.5'), 0);
  t.ok(compareVersions('1.0.0-alpha', '1.0.0-alpha.1') < 0);
});

t.test('a committed failback or maintenance move is void once what asked for it has gone; a switchover stands', async (t) => {
  const failback: Patch = (w) => (w.intent = { to: 'fw1', reason: 'failback' });
  const fw2Holds = [lease('fw2'), as('fw2'), local({ holdingVips: true }), memory({ announcedEpoch: 3 })];
  const moving = (i: RoleInput) => decide(i).actions.some((a) => a.type === 'transferLeadership' && a.to === 'fw1');
  const pending = (i: RoleInput) => decide(i).conditions.some((c) => c.code === 'MOVE_PENDING');

  t.ok(moving(input(...fw2Holds, failback)), 'wanted: fw2 hands over to fw1');
  t.ok(pending(input(...fw2Holds, failback, member('fw1', { health: 'failed' }))), 'wanted but fw1 failed: it waits');

  const off = settings({ failback: { auto: false, holdDownMs: 5000 } });
  t.equal(facts(input(...fw2Holds, failback, off)).intent, null, 'automatic failback turned off');
  t.notOk(moving(input(...fw2Holds, failback, off)), 'so fw1 does not get the role when it passes again');
  t.notOk(pending(input(...fw2Holds, failback, off, member('fw1', { health: 'failed' }))), 'and nothing waits');
  t.equal(facts(input(...fw2Holds, failback, settings({ preferred: 'fw2' }))).intent, null, 'another preferred node');
  t.ok(moving(input(...fw2Holds, failback, off, settings({ failback: { auto: true, holdDownMs: 5000 } }))), 'auto failback on again before the role moved: the move is back');

  const switchover: Patch = (w) => (w.intent = { to: 'fw1', reason: 'switchover' });
  t.ok(moving(input(...fw2Holds, switchover, off)), 'a switchover stands whatever the failback settings');

  const maintenance: Patch = (w) => (w.intent = { to: 'fw1', reason: 'maintenance' });
  t.ok(moving(input(...fw2Holds, maintenance, member('fw2', { maintenance: true }))), 'fw2 in maintenance hands over to fw1');
  t.equal(facts(input(...fw2Holds, maintenance)).intent, null, 'fw2 out of maintenance again: the move is void');
  t.notOk(moving(input(...fw2Holds, maintenance)), 'and fw2 keeps the role');
  t.match(decide(input(...fw2Holds, maintenance)).actions, [{ type: 'vips', hold: true }], 'holding the VIPs');
});

t.test('a resource failure move is void once the active reports itself healthy again after the move was asked for', async (t) => {
  const resourceFailure: Patch = (w) => (w.intent = { to: 'fw2', reason: 'resource-failure' });
  const base = input(resourceFailure);
  // fw1, the active and leader, as its own later (or earlier) report would show it.
  const reported = (health: HealthState, after: boolean): RoleInput => {
    const template = findMember(base.state, 'fw2')?.health;
    const intent = base.state.intent;
    if (template === undefined || template === null || intent === null) throw new Error('fixture: fw2 reports and an intent is committed');
    const report = { ...template, health, index: intent.index + (after ? 1 : -1) };
    return { ...base, state: { ...base.state, members: base.state.members.map((m) => (m.id === 'fw1' ? { ...m, health: report } : m)) } };
  };
  const moving = (i: RoleInput) => decide(i).actions.some((a) => a.type === 'transferLeadership' && a.to === 'fw2');

  t.ok(moving(reported('failed', true)), 'reported failed after the move was asked for: it goes ahead');
  t.ok(moving(reported('healthy', false)), 'a healthy report from before the move does not stop it');
  t.equal(facts(reported('healthy', true)).intent, null, 'reported healthy after it: the move is void');
  t.notOk(moving(reported('healthy', true)), 'so fw1 keeps the role');
  t.notOk(moving(reported('degraded', true)), 'degraded is not failed either');
  t.ok(moving(reported('unknown', true)), 'unknown health does not void it');
  const devicesGone = (i: RoleInput): RoleInput => {
    const fw1 = findMember(i.state, 'fw1');
    const report = fw1?.health;
    if (report === undefined || report === null) throw new Error('fixture: fw1 reports');
    const gone = { ...report, vipSetup: { revision: i.state.configRevision, problems: ['VIP 192.0.2.1/24: device "eth9" does not exist'] } };
    return { ...i, state: { ...i.state, members: i.state.members.map((m) => (m.id === 'fw1' ? { ...m, health: gone } : m)) } };
  };
  t.ok(moving(devicesGone(reported('healthy', true))), 'healthy monitors but a VIP device still gone: the move stands');
});
