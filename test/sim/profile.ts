/**
 * What a schedule looks like, drawn from its seed: cluster shape, timing,
 * limits, and how hard each fault hits. Varying the fault mix per seed
 * matters as much as the faults themselves: a bug that needs long delays
 * and no loss hides in a mix that always has both.
 */
import type { FaultFlags, Member, NodeId, RaftLimits } from '../../src/raft/types.js';
import { Prng } from './prng.js';

/** Virtual time units per tick: message delays and disk latencies are finer than a tick. */
export const TICK_UNITS = 10;

export type ClusterShape = 'mixed' | 'data' | 'witness';

export interface ScheduleOptions {
  readonly seed: number;
  /** Voters; with `shape: 'witness'` the last one is a witness. Ignored with `shape: 'mixed'`. */
  readonly nodes: number;
  readonly shape: ClusterShape;
  /** Length of the fault phase in ticks. */
  readonly faultTicks: number;
  /** Bound on the liveness phase in ticks. */
  readonly livenessTicks: number;
  readonly faults: FaultFlags;
  /** Always draw the sharp fault mix (otherwise SHARP_SHARE of the seeds do). */
  readonly sharp: boolean;
  /** Checker self-test only: pretend every positive lease is this many ticks longer than the core says. */
  readonly leaseSkewTicks?: number;
}

/** Share of mixed-shape schedules with a spare node and membership changes. */
export const MEMBERSHIP_SHARE = 0.3;

/** Share of schedules that draw the sharp fault mix even when not asked to. */
export const SHARP_SHARE = 0.3;

export interface Profile {
  /** The sharp mix: short timeouts, one-entry appends, leaders struck right after election or commit. */
  readonly sharp: boolean;
  /** The bootstrap voters. */
  readonly members: readonly Member[];
  /** Nodes that start outside the cluster (empty disk, no bootstrap) and may be added later. */
  readonly spares: readonly Member[];
  /** Chance that a client action is a membership change (add learner, promote, remove). */
  readonly memberChangeP: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly limits: RaftLimits;
  /** Network delay per message, in units. */
  readonly minDelayUnits: number;
  readonly maxDelayUnits: number;
  readonly lossP: number;
  readonly dupP: number;
  /** Chance that a message takes a long detour (reordering past later messages). */
  readonly reorderP: number;
  readonly reorderMeanUnits: number;
  /** Deliver messages through a msgpackr round trip, as the real transport does. */
  readonly wireCodec: boolean;
  /** Mean ticks between nemesis actions, and the weights of each action. */
  readonly nemesisMeanTicks: number;
  readonly weights: Readonly<Record<NemesisAction, number>>;
  /** Chance that a crash, pause or isolation picks the current leader. */
  readonly leaderVictimP: number;
  /** Chance that a newly elected leader is crashed or isolated within one message delay. */
  readonly strikeP: number;
  /** Chance that a leader is crashed or isolated just after a commit advance it persisted. */
  readonly commitStrikeP: number;
  /** Mean duration of a partition, pause or crash, in ticks. */
  readonly faultMeanTicks: number;
  readonly maxDiskDelayUnits: number;
  /** Per-node clock rate spread: a node's tick lasts TICK_UNITS * (1 +- drift). */
  readonly driftPct: number;
  /** Mean units between client actions. */
  readonly clientMeanUnits: number;
  readonly proposeBurstMax: number;
  readonly readP: number;
  readonly compactP: number;
  readonly transferP: number;
  /** Compact only once this many entries are applied beyond the last snapshot. */
  readonly compactMinEntries: number;
}

export type NemesisAction = 'partition' | 'isolate' | 'oneWay' | 'crash' | 'pause' | 'slowDisk' | 'storm' | 'heal';

export const NEMESIS_ACTIONS: readonly NemesisAction[] = ['partition', 'isolate', 'oneWay', 'crash', 'pause', 'slowDisk', 'storm', 'heal'];

export function nodeId(i: number): NodeId {
  return `n${i + 1}`;
}

function membersFor(options: ScheduleOptions, rng: Prng): Member[] {
  let count = options.nodes;
  let witness = options.shape === 'witness';
  if (options.shape === 'mixed') {
    const r = rng.next();
    if (r < 0.45) {
      count = 3;
      witness = false;
    } else if (r < 0.85) {
      count = 3;
      witness = true;
    } else {
      count = 5;
      witness = false;
    }
  }
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    const kind = witness && i === count - 1 ? 'witness' : 'data';
    members.push({ id: nodeId(i), kind, peer: `sim:${nodeId(i)}` });
  }
  return members;
}

export function drawProfile(options: ScheduleOptions): Profile {
  const rng = Prng.derive(options.seed, 'profile');
  const drawnSharp = rng.chance(SHARP_SHARE);
  const sharp = options.sharp || drawnSharp;
  const members = membersFor(options, rng);
  // Membership churn only where the cluster shape is left to the seed.
  const churn = options.shape === 'mixed' && rng.chance(MEMBERSHIP_SHARE);
  const spares: Member[] = churn ? [{ id: nodeId(members.length), kind: rng.chance(0.2) ? 'witness' : 'data', peer: `sim:${nodeId(members.length)}` }] : [];
  // Short timeouts in the sharp mix: more elections per schedule, more chances to diverge.
  const electionTicks = sharp ? rng.range(3, 6) : rng.range(6, 14);
  const heartbeatTicks = rng.range(1, Math.max(1, Math.floor(electionTicks / 4)));
  // Small appends leave entries of a deposed leader half-replicated: the ground Figure 8 grows on.
  const limits: RaftLimits = {
    maxEntriesPerAppend: sharp ? 1 : rng.pick([1, 3, 8, 64]),
    maxBytesPerAppend: rng.pick([64, 512, 64 * 1024]),
    maxInflightAppends: sharp ? rng.pick([1, 2]) : rng.pick([1, 2, 4, 16]),
    maxUncommittedBytes: rng.pick([256, 4096, 1024 * 1024]),
    snapshotChunkBytes: rng.pick([32, 100, 4096]),
  };
  const minDelayUnits = rng.range(1, 4);
  const maxDelayUnits = minDelayUnits + rng.pick([2, 8, 20, sharp ? 60 : 30]);
  const weights: Record<NemesisAction, number> = {
    partition: rng.range(0, 4),
    isolate: rng.range(0, 4),
    oneWay: rng.range(0, 3),
    crash: rng.range(1, 4),
    pause: rng.range(0, 2),
    slowDisk: rng.range(0, 2),
    storm: rng.range(0, 2),
    heal: rng.range(1, 3),
  };
  if (sharp) {
    weights.crash += 3;
    weights.isolate += 3;
  }
  return {
    sharp,
    members,
    spares,
    memberChangeP: churn ? rng.pick([0.02, 0.06]) : 0,
    electionTicks,
    heartbeatTicks,
    limits,
    minDelayUnits,
    maxDelayUnits,
    lossP: rng.pick([0, 0.01, 0.05, 0.15]),
    dupP: rng.pick([0, 0.01, 0.05]),
    reorderP: rng.pick([0, 0.02, 0.1]),
    reorderMeanUnits: rng.pick([20, 80, sharp ? 300 : 150]),
    wireCodec: rng.chance(0.25),
    nemesisMeanTicks: sharp ? rng.range(3, 10) : rng.range(8, 40),
    weights,
    leaderVictimP: sharp ? 0.8 : 0.5,
    strikeP: sharp ? rng.pick([0.3, 0.6]) : rng.pick([0, 0.05, 0.2]),
    commitStrikeP: sharp ? rng.pick([0.1, 0.3]) : rng.pick([0, 0, 0.01, 0.03]),
    faultMeanTicks: sharp ? rng.range(3, 15) : rng.range(5, 40),
    maxDiskDelayUnits: rng.pick([5, 20, 60]),
    driftPct: rng.pick([0, 0, 2, 10]),
    clientMeanUnits: rng.pick([5, 15, 40]),
    proposeBurstMax: rng.pick([1, 3, 6]),
    readP: 0.1,
    compactP: rng.pick([0.01, 0.05]),
    transferP: rng.pick([0, 0.005, 0.02]),
    compactMinEntries: rng.pick([1, 5, 20]),
  };
}
