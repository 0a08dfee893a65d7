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

type Summary = ReturnType<typeof runSeeds>;

/** Runs the slice and fails on every violation with its replay command. */
function runSlice(t: Test, run: RunOptions, what: string): Summary {
  const summary = runSeeds(run);
  t.comment(summary.line());
  for (const failure of summary.failures) {
    const v = failure.violation;
    if (v === null) continue;
    t.fail(`seed ${failure.seed} [${failure.shape}] tick ${v.tick}: ${v.message}\n  replay: ${replayCommand(run, failure.seed)}`);
  }
  t.equal(summary.violations, 0, `all ${run.seeds} ${what} from seed ${run.from} are safe and converge`);
  return summary;
}

function atLeast(t: Test, avg: number, min: number, what: string): void {
  t.ok(avg >= min, `${what} per schedule: ${avg.toFixed(1)} >= ${min}`);
}

export function runCiSlice(t: Test, slice: CiSlice): void {
  const summary = runSlice(t, { ...DEFAULT_RUN, from: slice.from, seeds: slice.seeds }, 'schedules');
  // The schedules must be meaningful: faults, churn and progress all happened.
  const sim = (key: keyof SimStats, min: number, what: string): void => atLeast(t, summary.average(key), min, what);
  sim('elections', 5, 'elections');
  sim('commits', 100, 'committed entries');
  sim('crashes', 5, 'crashes');
  sim('partitions', 10, 'network cuts');
  sim('snapshotsInstalled', 0.5, 'snapshots installed from a leader');
  sim('reads', 5, 'linearizable reads confirmed');
  sim('memberChanges', 0.3, 'membership changes accepted');
  sim('transfers', 0.5, 'leadership transfers asked');
}

/**
 * The CI slice of role schedules (--role): every seed safe (no two nodes
 * answer for the VIPs at once, a witness never does) and converged (one
 * healthy data node holds them, every node's state names it), and the
 * schedules must have moved the role around under faults.
 */
export function runRoleCiSlice(t: Test, slice: CiSlice): void {
  const summary = runSlice(t, { ...DEFAULT_RUN, from: slice.from, seeds: slice.seeds, role: true }, 'role schedules');
  const sim = (key: keyof SimStats, min: number, what: string): void => atLeast(t, summary.average(key), min, what);
  const role = (key: keyof RoleStats, min: number, what: string): void => atLeast(t, summary.roleAverage(key), min, what);
  sim('crashes', 2.5, 'crashes');
  sim('partitions', 4.5, 'network cuts');
  sim('pauses', 1.5, 'freezes');
  sim('elections', 4, 'elections');
  role('epochs', 3, 'lease epochs granted');
  role('vipHolds', 4, 'times a node started answering for the VIPs');
  role('fenceExpiries', 1.5, 'VIP holds ended by the kernel fence alone');
  role('lapses', 0.4, 'fences that lapsed before a renewal');
  role('switchovers', 1, 'operator switchovers');
  role('sickSpells', 0.7, 'monitor failures');
  role('brokenSpells', 0.5, 'broken network drivers');
  role('holdFaults', 0.03, 'failures to hold that lasted long enough to count');
}
