/**
 * The role simulator must be able to find bugs in the role logic and in the
 * agent's handling of its decisions. Each broken rule (RoleFaultFlags) is
 * switched on in turn and some seed must break VIP safety within the budget;
 * the same seed is clean with the rule intact, so the fault, not the mix,
 * is what broke it. Two of these rules are the agent's own former bugs that
 * the simulator found (test/sim/KNOWN.md).
 */
import t from 'tap';
import { runSchedule, type ScheduleResult } from './cluster.js';
import { DEFAULT_RUN, replayCommand, scheduleOptions, type RoleFaultName, type RunOptions } from './runner.js';

const BUDGET_SEEDS = 500;
const SAFETY_KINDS = new Set(['vip-overlap', 'witness-holds', 'wrong-epoch', 'epoch-conflict']);

const RULES: { fault: RoleFaultName; what: string }[] = [
  { fault: 'holdWithoutLease', what: 'a holder keeps its VIPs while its state names it, leader or not' },
  { fault: 'transferBeforeRelease', what: 'leadership is handed over before the driver has released the VIPs (the agent before this fix)' },
  { fault: 'noDriftMargin', what: 'the role logic keeps the VIPs to the last tick of the Raft lease (no drift margin)' },
  { fault: 'releaseWithoutFenceWait', what: 'a release on a broken driver (nft failing) answers before the last lease it wrote has run out in the kernel' },
];

for (const { fault, what } of RULES) {
  t.test(`the role simulator catches ${fault}: ${what}`, (t) => {
    const run: RunOptions = { ...DEFAULT_RUN, role: true, roleFault: fault };
    let found: ScheduleResult | null = null;
    let tried = 0;
    for (let seed = 1; seed <= BUDGET_SEEDS && found === null; seed++) {
      tried++;
      const result = runSchedule(scheduleOptions(run, seed));
      if (result.violation !== null && SAFETY_KINDS.has(result.violation.kind)) found = result;
    }
    if (found === null || found.violation === null) {
      t.fail(`no VIP safety violation in ${tried} seeds with ${fault} on`);
      t.end();
      return;
    }
    t.comment(`${fault}: caught at seed ${found.seed} (${tried} tried): ${found.violation.message}`);
    t.comment(`replay: ${replayCommand(run, found.seed)}`);
    t.pass(`caught by the ${found.violation.kind} check`);
    const intact = runSchedule(scheduleOptions({ ...run, roleFault: null }, found.seed));
    t.equal(intact.violation, null, `seed ${found.seed} is clean with the rule intact`);
    t.end();
  });
}
