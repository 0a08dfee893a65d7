/**
 * What a schedule looks like, drawn from its seed: cluster shape, timing,
 * limits, and how hard each fault hits. Varying the fault mix per seed
 * matters as much as the faults themselves: a bug that needs long delays
 * and no loss hides in a mix that always has both.
 */
import { DEFAULT_SETTINGS } from '../../src/fsm/settings.js';
import type { FaultFlags, Member, NodeId, RaftLimits } from '../../src/raft/types.js';
import { DEFAULT_DRIFT_RATE, roleConfigFromSettings } from '../../src/role/decide.js';
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
  /** Run the role logic on every node (role-layer.ts): VIPs, kernel fences, operator actions. */
  readonly role?: boolean;
  /** Deliberately broken role rules (role-layer.ts), for the simulator's own tests. */
  readonly roleFaults?: RoleFaultFlags;
}

/** Broken rules the role layer can switch on, to show that the checks catch them. */
export interface RoleFaultFlags {
  /** Keep the VIPs while the applied lease names this node, whatever Raft says (no leader or lease check). */
  readonly holdWithoutLease?: boolean;
  /** decide() runs with a drift margin of 0: fences as long as the Raft lease, VIPs kept to its last tick. */
  readonly noDriftMargin?: boolean;
  /** Every fence the driver writes is this many ticks longer than decided. */
  readonly fenceSkewTicks?: number;
  /** Start a leadership transfer as soon as the decision asks, without waiting for the driver to release the VIPs. */
  readonly transferBeforeRelease?: boolean;
  /** A hold that waited behind another driver call keeps its whole fence, counted from the later call. */
  readonly staleQueuedFence?: boolean;
  /** A release on a broken driver (nft failing) ends at once instead of waiting for the kernel's last lease to run out. */
  readonly releaseWithoutFenceWait?: boolean;
}

/** What a role schedule draws on top of the Raft profile. */
export interface RoleProfile {
  /** The node's tick length: Raft and role timers come from the settings' milliseconds, as in the agent. */
  readonly tickMs: number;
  /** Each node's tick lasts TICK_UNITS * (1 + driftRate * s), s = driftSigns[node] in [-1, 1]. */
  readonly driftRate: number;
  readonly driftSigns: readonly number[];
  /** Latency of one network-driver operation (an nft transaction), in units. */
  readonly driverMinUnits: number;
  readonly driverMaxUnits: number;
  /** A policy apply takes up to this many times longer. */
  readonly policyFactor: number;
  /** Operator settings: preferred node index (or null), failback, hold-down, flap damping, one monitor or none. */
  readonly preferred: number | null;
  readonly failbackAuto: boolean;
  readonly holdDownMs: number;
  readonly flapMaxMoves: number;
  /** Timers the operator sets (null: the defaults, which the Raft core runs with). */
  readonly timers: { readonly heartbeatMs: number; readonly electionTimeoutMs: number } | null;
  readonly monitor: boolean;
  /** Local ticks before a started node's monitor first reports. */
  readonly monitorDelayTicks: number;
  /** Mean ticks between operator actions, and the weight of each. */
  readonly operatorMeanTicks: number;
  readonly operatorWeights: Readonly<Record<OperatorAction, number>>;
  /** Chance that a frozen node, once resumed, freezes again a moment later (a stuttering VM). */
  readonly stutterP: number;
  /**
   * Every node draws its election timeouts near the minimum: successors are
   * elected as early as the Raft lease allows, the case the drift margin and
   * the fence exist for.
   */
  readonly quickElections: boolean;
}

export type OperatorAction = 'switchover' | 'maintenance' | 'settings' | 'policy';
export const OPERATOR_ACTIONS: readonly OperatorAction[] = ['switchover', 'maintenance', 'settings', 'policy'];

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
  /** Role schedules only. */
  readonly role: RoleProfile | null;
}

export type NemesisAction = 'partition' | 'isolate' | 'oneWay' | 'crash' | 'pause' | 'slowDisk' | 'storm' | 'heal' | 'sick' | 'slowDriver' | 'brokenDriver';

/** The last two act on the role layer only (weight 0 in Raft schedules). */
export const NEMESIS_ACTIONS: readonly NemesisAction[] = ['partition', 'isolate', 'oneWay', 'crash', 'pause', 'slowDisk', 'storm', 'heal', 'sick', 'slowDriver', 'brokenDriver'];

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
    sick: 0,
    slowDriver: 0,
    brokenDriver: 0,
  };
  if (sharp) {
    weights.crash += 3;
    weights.isolate += 3;
  }
  const profile: Profile = {
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
    role: null,
  };
  return options.role === true ? roleProfile(profile, options) : profile;
}

/**
 * A role schedule: the shape of a real pair (2 data + 1 witness, sometimes
 * 3 data nodes), Raft timers from the settings' milliseconds as the agent
 * derives them, clock drift within the bound the drift margin covers, real
 * cluster commands (larger limits), no membership churn and no bare
 * leadership transfers (only the role logic transfers, after a switchover).
 *
 * The sharp mix (30% of role seeds, or --sharp) is the takeover race the
 * fence and the drift margin exist for: the holder frozen for about a lease
 * or more, successors elected as early as the followers' lease allows
 * (election jitter near 0, a fast lossless network, quick drivers), clocks
 * at the extremes of the drift bound, and fine ticks (20 ms: at coarser
 * ticks a grant waits so long for a role tick that the margin never matters).
 */
function roleProfile(base: Profile, options: ScheduleOptions): Profile {
  const rng = Prng.derive(options.seed, 'role-profile');
  let count = options.nodes;
  let witness = options.shape === 'witness';
  if (options.shape === 'mixed') {
    count = 3;
    witness = rng.chance(0.8);
  }
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    const kind = witness && i === count - 1 ? 'witness' : 'data';
    members.push({ id: nodeId(i), kind, peer: `sim:${nodeId(i)}` });
  }
  const race = base.sharp;
  // The agent ticks every 10 ms (E = 80 ticks); coarser ticks keep schedules cheap, down to
  // E = 10 ticks: the message delays below are drawn in ticks, and a round trip must stay well
  // inside the election timeout for the lease to last (as between real nodes on a LAN).
  const tickMs = race ? 20 : rng.pick([20, 40, 40, 80]);
  const timers = roleConfigFromSettings(DEFAULT_SETTINGS, { tickMs });
  const driverMinUnits = rng.pick([0, 1, 2]);
  const driverMaxUnits = driverMinUnits + rng.pick([1, 4, 10, 30]);
  const dataCount = members.filter((m) => m.kind === 'data').length;
  const driftRate = race ? DEFAULT_DRIFT_RATE : rng.pick([0, DEFAULT_DRIFT_RATE / 2, DEFAULT_DRIFT_RATE, DEFAULT_DRIFT_RATE]);
  const uniformDrift = members.map(() => 2 * rng.next() - 1);
  const role: RoleProfile = {
    tickMs,
    driftRate,
    driftSigns: race ? members.map(() => (rng.chance(0.5) ? 1 : -1)) : uniformDrift,
    driverMinUnits: race ? 0 : driverMinUnits,
    driverMaxUnits: race ? 2 : driverMaxUnits,
    policyFactor: rng.pick([1, 3, 10]),
    preferred: rng.chance(0.7) ? rng.int(dataCount) : null,
    failbackAuto: rng.chance(0.7),
    holdDownMs: rng.pick([0, 500, 2000]),
    flapMaxMoves: rng.pick([2, 3, 1000]),
    timers: rng.chance(0.3) ? rng.pick([{ heartbeatMs: 100, electionTimeoutMs: 500 }, { heartbeatMs: 100, electionTimeoutMs: 2000 }]) : null,
    monitor: rng.chance(0.7),
    monitorDelayTicks: rng.range(1, 4),
    operatorMeanTicks: race ? 200 : rng.pick([10, 40, 150]),
    operatorWeights: {
      switchover: rng.range(1, 4),
      maintenance: rng.range(0, 2),
      settings: rng.range(0, 2),
      policy: rng.range(0, 3),
    },
    stutterP: rng.pick([0, 0.2, 0.5]),
    quickElections: race || rng.chance(0.2),
  };
  // Fault durations scale with the election timeout (drawn for E = 20 ticks).
  const scale = Math.max(1, timers.electionTicks / 20);
  const profile: Profile = {
    ...base,
    members,
    spares: [],
    memberChangeP: 0,
    electionTicks: timers.electionTicks,
    heartbeatTicks: timers.heartbeatTicks,
    limits: {
      // The product's limits are large (DEFAULT_LIMITS): one entry per round trip would starve a log of real commands.
      maxEntriesPerAppend: rng.pick([8, 64, 512]),
      maxInflightAppends: rng.pick([2, 8, 64]),
      maxBytesPerAppend: rng.pick([4096, 64 * 1024]),
      maxUncommittedBytes: rng.pick([64 * 1024, 1024 * 1024]),
      snapshotChunkBytes: rng.pick([1024, 8192, 65536]),
    },
    weights: { ...base.weights, sick: rng.range(0, 3), slowDriver: rng.range(0, 2), brokenDriver: rng.range(0, 1.5) },
    driftPct: driftRate * 100,
    nemesisMeanTicks: Math.max(1, Math.round(base.nemesisMeanTicks * scale)),
    faultMeanTicks: Math.max(1, Math.round(base.faultMeanTicks * scale)),
    clientMeanUnits: rng.pick([20, 50, 100]),
    proposeBurstMax: rng.pick([1, 3]),
    transferP: 0,
    compactMinEntries: rng.pick([5, 20, 50]),
    role,
  };
  if (!race) return profile;
  const e = timers.electionTicks;
  return {
    ...profile,
    minDelayUnits: 1,
    maxDelayUnits: rng.pick([1, 2, 3]),
    lossP: 0,
    dupP: 0,
    reorderP: 0,
    weights: { partition: 0, isolate: 1, oneWay: 0, crash: 1, pause: 6, slowDisk: 0, storm: 0, heal: 1, sick: 0, slowDriver: 0, brokenDriver: 0 },
    leaderVictimP: 0.9,
    strikeP: 0,
    commitStrikeP: 0,
    // Freezes from well under a lease to a few leases, a few election timeouts apart.
    nemesisMeanTicks: 3 * e,
    faultMeanTicks: e,
  };
}
