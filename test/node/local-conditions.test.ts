import t from 'tap';
import { COMMAND_LIMITS } from '../../src/fsm/commands.js';
import { localConditions, reportedVipSetup, type LocalFacts } from '../../src/node/local-conditions.js';
import { vipSetupProblem } from '../../src/role/facts.js';

const quiet: LocalFacts = { id: 'fw1', nowTick: 10_000, tickMs: 10, lastRepair: null, networkErrors: [], vipProblems: [], removed: false };

t.test('nothing wrong: no condition', async (t) => {
  t.same(localConditions(quiet), []);
});

t.test('a repair is shown for a minute, then not', async (t) => {
  const repaired = { ...quiet, lastRepair: { atTick: 10_000 - 6000, detail: 'fence restored: table inet hapair_fence was missing' } };
  t.match(localConditions(repaired), [
    { code: 'NETWORK_REPAIRED', severity: 'warning', node: 'fw1', message: /^fw1 found its network layer changed behind its back and restored it: fence restored/ },
  ]);
  t.same(localConditions({ ...repaired, nowTick: 10_001 }), [], 'a minute and a tick later');
});

t.test('what the check could not put right is an error naming each problem', async (t) => {
  const faulty = { ...quiet, networkErrors: ['ip addr del 10.0.0.1/24 dev eth1: Operation not permitted', 'fence restore failed: nft: No such file or directory'] };
  const [c, ...rest] = localConditions(faulty);
  t.same(rest, []);
  t.match(c, { code: 'NETWORK_FAULT', severity: 'error', node: 'fw1' });
  t.equal(
    c?.message,
    'fw1 cannot put its network layer as the role needs it: ip addr del 10.0.0.1/24 dev eth1: Operation not permitted; ' +
      'fence restore failed: nft: No such file or directory; it tries again every second (read its log, and ip addr and nft list ruleset on fw1)',
  );
});

t.test('a VIP the node config cannot place is SETUP_INVALID; all three can stand together', async (t) => {
  const all = localConditions({
    ...quiet,
    lastRepair: { atTick: 10_000, detail: 'VIP 10.0.0.1/24 added back on eth1' },
    networkErrors: ['cannot read addresses (ip -j addr show)'],
    vipProblems: ['VIP 10.0.0.1/24: interface "lan" is not in network.interfaces'],
  });
  t.same(all.map((c) => c.code), ['NETWORK_REPAIRED', 'NETWORK_FAULT', 'SETUP_INVALID']);
  t.match(all[2]?.message, /^VIP 10\.0\.0\.1\/24: interface "lan" is not in network\.interfaces: fw1 cannot hold these VIPs/);
});

t.test('a removed node says so, and what to do', async (t) => {
  t.same(localConditions({ ...quiet, removed: true }), [
    {
      code: 'REMOVED',
      severity: 'warning',
      node: 'fw1',
      message: 'fw1 was removed from the cluster and takes no part in it any more: stop its agent, and empty its data directory before it joins again (hapair join)',
    },
  ]);
});

t.test('a failed start-up clean-up is reported as keeping the node from holding its VIPs, so it is no target for the role', async (t) => {
  const checked = { revision: 4, problems: [] };
  t.equal(reportedVipSetup('fw1', checked, [], null), checked, 'no clean-up error: the device check as it is');
  t.equal(reportedVipSetup('fw1', null, ['nft: Operation not permitted'], null), null, 'not checked yet: still "not checked"');
  const failed = reportedVipSetup('fw1', checked, ['nft: Operation not permitted', 'ip addr del 10.0.0.1/24 dev eth1: timed out'], null);
  t.same(failed, {
    revision: 4,
    problems: ['fw1: its start-up clean-up of the network layer failed (retried every second): nft: Operation not permitted; ip addr del 10.0.0.1/24 dev eth1: timed out'],
  });
  // What the role logic makes of it: readiness, target checks and the active's own resource-failure rule all read this.
  t.match(vipSetupProblem(failed, 4), /^cannot hold the VIPs: fw1: its start-up clean-up of the network layer failed/);
  t.equal(vipSetupProblem(checked, 4), null);
});

t.test('the reported problems stay within what a health report may carry', async (t) => {
  const many = { revision: 1, problems: Array.from({ length: COMMAND_LIMITS.vipProblems }, (_, i) => `fw1: VIP 10.0.${i}.1/24: device gone`) };
  const out = reportedVipSetup('fw1', many, ['x'.repeat(5000)], 'fw1: its network layer failed to take or keep the VIPs for 3.0 s: nft: busy');
  t.equal(out?.problems.length, COMMAND_LIMITS.vipProblems);
  t.match(out?.problems.at(-2), /^fw1: its start-up clean-up/, 'the clean-up is never the one left out');
  t.match(out?.problems.at(-1), /^fw1: its network layer failed to take or keep the VIPs/, 'nor the failure to hold');
  t.ok(out?.problems.every((p) => p.length <= COMMAND_LIMITS.textChars));
});
