/**
 * Role schedules in CI (half of the budget; role-sim-more.test.ts runs the
 * other half in parallel): the role logic on every node above the Raft
 * cores, VIPs and kernel fences checked in true time (role-layer.ts).
 */
import t from 'tap';
import { runSchedule } from './cluster.js';
import { runRoleCiSlice } from './ci.js';
import { DEFAULT_RUN, scheduleOptions, type RunOptions } from './runner.js';

const ROLE: RunOptions = { ...DEFAULT_RUN, role: true };

t.test('the same role seed replays the same trace', (t) => {
  const a = runSchedule(scheduleOptions(ROLE, 4242));
  const b = runSchedule(scheduleOptions(ROLE, 4242));
  const c = runSchedule(scheduleOptions(ROLE, 4243));
  t.equal(a.traceHash, b.traceHash, `trace ${a.traceHash}`);
  t.same(a.stats, b.stats);
  t.same(a.role, b.role);
  t.not(a.traceHash, c.traceHash, 'another seed gives another trace');
  t.end();
});

t.test('role seeds 1..650', (t) => {
  runRoleCiSlice(t, { from: 1, seeds: 650 });
  t.end();
});
