/**
 * The CI slice of the simulator: a seed range that must pass entirely, with
 * the averages printed so a reader can see the schedules were not trivial.
 */
import type { Test } from 'tap';
import type { SimStats } from './cluster.js';
import type { RoleStats } from './role-layer.js';
import { DEFAULT_RUN, replayCommand, runSeeds, type RunOptions } from './runner.js';

export interface CiSlice {
  readonly from: number;
  readonly seeds: number;
}

export function runCiSlice(t: Test, slice: CiSlice): void {
  const run: RunOptions = { ...DEFAULT_RUN, from: slice.from, seeds: slice.seeds };
  const summary = runSeeds(run);
  t.comment(summary.line());
  for (const failure of summary.failures) {
    const v = failure.violation;
    if (v === null) continue;
    t.fail(`seed ${failure.seed} [${failure.shape}] tick ${v.tick}: ${v.message}\n  replay: ${replayCommand(run, failure.seed)}`);
  }
  t.equal(summary.violations, 0, `all ${slice.seeds} schedules from seed ${slice.from} are safe and converge`);
  // The schedules must be meaningful: faults, churn and progress all happened.
  const atLeast = (key: keyof SimStats, min: number, what: string): void => {
    const avg = summary.average(key);
    t.ok(avg >= min, `${what} per schedule: ${avg.toFixed(1)} >= ${min}`);
  };
  atLeast('elections', 5, 'elections');
  atLeast('commits', 100, 'committed entries');
  atLeast('crashes', 5, 'crashes');
  atLeast('partitions', 10, 'network cuts');
  atLeast('snapshotsInstalled', 0.5, 'snapshots installed from a leader');
  atLeast('reads', 5, 'linearizable reads confirmed');
  atLeast('memberChanges', 0.3, 'membership changes accepted');
  atLeast('transfers', 0.5, 'leadership transfers asked');
}

/**
 * The CI slice of role schedules (--role): every seed safe (no two nodes
 * answer for the VIPs at once, a witness never does) and converged (one
 * healthy data node holds them, every node's state names it), and the
 * schedules must have moved the role around under faults.
 */
export function runRoleCiSlice(t: Test, slice: CiSlice): void {
  const run: RunOptions = { ...DEFAULT_RUN, from: slice.from, seeds: slice.seeds, role: true };
  const summary = runSeeds(run);
  t.comment(summary.line());
  for (const failure of summary.failures) {
    const v = failure.violation;
    if (v === null) continue;
    t.fail(`seed ${failure.seed} [${failure.shape}] tick ${v.tick}: ${v.message}\n  replay: ${replayCommand(run, failure.seed)}`);
  }
  t.equal(summary.violations, 0, `all ${slice.seeds} role schedules from seed ${slice.from} are safe and converge`);
  const atLeast = (key: keyof SimStats, min: number, what: string): void => {
    const avg = summary.average(key);
    t.ok(avg >= min, `${what} per schedule: ${avg.toFixed(1)} >= ${min}`);
  };
  const roleAtLeast = (key: keyof RoleStats, min: number, what: string): void => {
    const avg = summary.roleAverage(key);
    t.ok(avg >= min, `${what} per schedule: ${avg.toFixed(1)} >= ${min}`);
  };
  atLeast('crashes', 2.5, 'crashes');
  atLeast('partitions', 4.5, 'network cuts');
  atLeast('pauses', 1.5, 'freezes');
  atLeast('elections', 4, 'elections');
  roleAtLeast('epochs', 3, 'lease epochs granted');
  roleAtLeast('vipHolds', 4, 'times a node started answering for the VIPs');
  roleAtLeast('fenceExpiries', 1.5, 'VIP holds ended by the kernel fence alone');
  roleAtLeast('lapses', 0.4, 'fences that lapsed before a renewal');
  roleAtLeast('switchovers', 1, 'operator switchovers');
  roleAtLeast('sickSpells', 0.7, 'monitor failures');
}
