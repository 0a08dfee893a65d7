/**
 * Runs ranges of seeds and folds their results into a bounded summary, so a
 * 100,000-seed soak keeps constant memory. Shared by the CLI and the tests.
 */
import type { FaultFlags } from '../../src/raft/types.js';
import { emptyStats, runSchedule, type ScheduleResult, type SimStats } from './cluster.js';
import type { ClusterShape, RoleFaultFlags, ScheduleOptions } from './profile.js';
import { emptyRoleStats, type RoleStats } from './role-layer.js';

export const DEFAULT_FAULT_TICKS = 600;
export const DEFAULT_LIVENESS_TICKS = 400;

export const FAULT_NAMES = ['countStaleVotes', 'commitPreviousTermByCount', 'skipLogUpToDateCheck', 'countOwnVoteBeforeWrite'] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

/** Broken role rules (RoleFaultFlags) the CLI can switch on. */
export const ROLE_FAULT_NAMES = ['holdWithoutLease', 'noDriftMargin', 'transferBeforeRelease', 'staleQueuedFence', 'releaseWithoutFenceWait'] as const;
export type RoleFaultName = (typeof ROLE_FAULT_NAMES)[number];

export interface RunOptions {
  readonly from: number;
  readonly seeds: number;
  readonly nodes: number;
  readonly shape: ClusterShape;
  readonly faultTicks: number;
  readonly livenessTicks: number;
  readonly fault: FaultName | null;
  readonly sharp: boolean;
  /** Role schedules: the role logic on every node, VIPs and fences checked (role-layer.ts). */
  readonly role: boolean;
  readonly roleFault: RoleFaultName | null;
}

export const DEFAULT_RUN: RunOptions = {
  from: 1,
  seeds: 100,
  nodes: 3,
  shape: 'mixed',
  faultTicks: DEFAULT_FAULT_TICKS,
  livenessTicks: DEFAULT_LIVENESS_TICKS,
  fault: null,
  sharp: false,
  role: false,
  roleFault: null,
};

export function faultFlags(fault: FaultName | null): FaultFlags {
  return fault === null ? {} : { [fault]: true };
}

export function roleFaultFlags(fault: RoleFaultName | null): RoleFaultFlags {
  return fault === null ? {} : { [fault]: true };
}

export function scheduleOptions(run: RunOptions, seed: number): ScheduleOptions {
  return {
    role: run.role,
    roleFaults: roleFaultFlags(run.roleFault),
    seed,
    nodes: run.nodes,
    shape: run.shape,
    faultTicks: run.faultTicks,
    livenessTicks: run.livenessTicks,
    faults: faultFlags(run.fault),
    sharp: run.sharp,
  };
}

/** The one-line command that replays exactly this seed with a trace. */
export function replayCommand(run: RunOptions, seed: number): string {
  const parts = ['npm run sim --', '--seeds 1', `--from ${seed}`];
  if (run.role) parts.push('--role');
  if (run.roleFault !== null) parts.push(`--role-fault ${run.roleFault}`);
  if (run.shape === 'witness') parts.push('--witness');
  if (run.shape !== 'mixed') parts.push(`--nodes ${run.nodes}`);
  if (run.faultTicks !== DEFAULT_FAULT_TICKS) parts.push(`--steps ${run.faultTicks}`);
  if (run.livenessTicks !== DEFAULT_LIVENESS_TICKS) parts.push(`--liveness ${run.livenessTicks}`);
  if (run.fault !== null) parts.push(`--fault ${run.fault}`);
  if (run.sharp) parts.push('--sharp');
  parts.push('--verbose');
  return parts.join(' ');
}

export class Summary {
  schedules = 0;
  violations = 0;
  readonly totals: SimStats = emptyStats();
  readonly roleTotals: RoleStats = emptyRoleStats();
  private roleSchedules = 0;
  readonly byKind = new Map<string, number>();
  /** First failures only: the summary stays bounded on a long soak. */
  readonly failures: ScheduleResult[] = [];
  private readonly maxFailures = 20;

  add(result: ScheduleResult): void {
    this.schedules++;
    const t = this.totals as unknown as Record<string, number>;
    for (const [k, v] of Object.entries(result.stats)) t[k] = (t[k] ?? 0) + v;
    if (result.role !== null) {
      this.roleSchedules++;
      const r = this.roleTotals as unknown as Record<string, number>;
      for (const [k, v] of Object.entries(result.role)) r[k] = (r[k] ?? 0) + v;
    }
    if (result.violation !== null) {
      this.violations++;
      this.byKind.set(result.violation.kind, (this.byKind.get(result.violation.kind) ?? 0) + 1);
      if (this.failures.length < this.maxFailures) this.failures.push(result);
    }
  }

  average(key: keyof SimStats): number {
    return this.schedules === 0 ? 0 : this.totals[key] / this.schedules;
  }

  roleAverage(key: keyof RoleStats): number {
    return this.roleSchedules === 0 ? 0 : this.roleTotals[key] / this.roleSchedules;
  }

  line(): string {
    const a = (k: keyof SimStats, digits = 1): string => this.average(k).toFixed(digits);
    const kinds = [...this.byKind].map(([k, n]) => `${k}=${n}`).join(' ');
    return (
      `schedules ${this.schedules}, violations ${this.violations}${kinds === '' ? '' : ` (${kinds})`} | per schedule: ` +
      `ticks ${a('ticks', 0)}, messages ${a('messages', 0)}, elections ${a('elections')}, commits ${a('commits', 0)}, ` +
      `crashes ${a('crashes')}, cuts ${a('partitions')}, pauses ${a('pauses')}, snapshots ${a('snapshotsInstalled')}, ` +
      `compactions ${a('compactions')}, reads ${a('reads')}, transfers ${a('transfers')}, member changes ${a('memberChanges')}, liveness ${a('livenessTicks')} ticks` +
      (this.roleSchedules === 0 ? '' : ` | role: ${this.roleLine()}`)
    );
  }

  private roleLine(): string {
    const r = (k: keyof RoleStats, digits = 1): string => this.roleAverage(k).toFixed(digits);
    return (
      `epochs ${r('epochs')}, VIP holds ${r('vipHolds')}, fence expiries ${r('fenceExpiries')}, lapses ${r('lapses')}, ` +
      `switchovers ${r('switchovers')}, withdrawals ${r('withdrawals', 2)}, operator actions ${r('operatorActions')}, monitor failures ${r('sickSpells')}, broken drivers ${r('brokenSpells')} (failed holds ${r('brokenHolds')}, hold faults ${r('holdFaults', 2)}), no VIPs ${r('vipGapTicks', 0)} ticks`
    );
  }
}

/** Runs `run.seeds` schedules from `run.from`; `onResult` sees each as it finishes. */
export function runSeeds(run: RunOptions, onResult?: (result: ScheduleResult, summary: Summary) => void): Summary {
  const summary = new Summary();
  for (let i = 0; i < run.seeds; i++) {
    const result = runSchedule(scheduleOptions(run, run.from + i));
    summary.add(result);
    onResult?.(result, summary);
  }
  return summary;
}
