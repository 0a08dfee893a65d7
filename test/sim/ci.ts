/**
 * The CI slice of the simulator: a seed range that must pass entirely, with
 * the averages printed so a reader can see the schedules were not trivial.
 */
import type { Test } from 'tap';
import type { SimStats } from './cluster.js';
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
