/**
 * The role layer of a role schedule (`npm run sim -- --role`): on every node
 * the agent's role loop runs on the node's own clock, as src/node/agent.ts
 * runs it, above the simulated Raft cores:
 *
 * - each role tick builds decide()'s input with the agent's own code
 *   (src/node/role-input.ts), calls the real decide() and carries out the
 *   actions in order, like Agent.carryOut: VIP holds and releases go to a
 *   simulated network driver, proposals are forwarded into the node's core,
 *   transfers go to the core; registration and health reports as the agent
 *   sends them;
 * - the network driver follows the linux driver's contract: operations run
 *   one at a time (policy loads on a chain of their own) and take time (an
 *   nft transaction), a fence is anchored
 *   when the operation is called, a renewal of an epoch whose fence ran out
 *   fails and that epoch is never held again (the agent then takes a new
 *   epoch); a broken driver (nft failing) fails every takeover, renewal,
 *   clean-up and policy load, and releases only once its last lease has run
 *   out in the kernel; what the agent does with the result runs only while
 *   its process runs (a frozen process catches up on resume, I/O before
 *   timers), its bookkeeping of failures to hold (HoldFault) included;
 * - the kernel holds the VIPs under a fence that ends by itself at its
 *   deadline on the node's clock, also while the process is frozen or after
 *   it crashed; a restarted agent removes leftovers before it may hold.
 *
 * The checks, in true (virtual) time: two nodes never answer for the VIPs at
 * once, a witness never does, a node only answers under an epoch granted to
 * it; and after the faults heal, exactly one healthy data node holds the
 * VIPs and every node's state names it as the lease holder.
 */
import { encodeCommand, makeCommand, type ClusterCommand, type CommandType, type HealthState } from '../../src/fsm/commands.js';
import type { Lease } from '../../src/fsm/state.js';
import { desiredVipState, type DesiredVipState, type DriverResult } from '../../src/network/driver.js';
import { findOverlaps, type VipInterval } from '../../src/network/sim-driver.js';
import {
  buildRoleInput,
  healthReportDue,
  healthReportOf,
  lastLeaderOnChange,
  peerReachable,
  registrationCurrent,
  REPORT_RETRY_MS,
  decisionHolds,
  regrantVersion,
  shouldRegrantAfterLapse,
  type ReachabilityView,
  type RegrantAttempt,
  type SentHealthReport,
} from '../../src/node/role-input.js';
import { HoldFault } from '../../src/node/hold-fault.js';
import { CLEANUP_RETRY_MS, reportedVipSetup } from '../../src/node/local-conditions.js';
import { VERSION } from '../../src/node/version.js';
import { VipPipeline, type PendingTransfer } from '../../src/node/vip-pipeline.js';
import type { Raft } from '../../src/raft/raft.js';
import type { Entry, Member, NodeId, RaftRole } from '../../src/raft/types.js';
import { decide, initialRoleMemory, policyAfterAttempt, policyApplied, switchoverCheck } from '../../src/role/decide.js';
import type { MonitorObservation, PolicyView, RoleAction, RoleDecision, RoleInput, RoleMemory, VipAction } from '../../src/role/types.js';
import { unreachable } from '../../src/util/assert.js';
import { violation } from './checker.js';
import { Prng } from './prng.js';
import { OPERATOR_ACTIONS, TICK_UNITS, type OperatorAction, type Profile, type RoleFaultFlags, type RoleProfile } from './profile.js';
import { RoleApp, SIM_EPOCH_MS } from './role-app.js';

/** The linux driver refuses to write a fence shorter than this (src/network/linux/fence.ts MIN_LEASE_MS). */
const MIN_FENCE_MS = 20;
/** VIP intervals kept for the final cross-check and the trace. */
const MAX_INTERVALS = 20_000;
/** Share of a broken driver's calls whose nft hangs: killed after 2 s, answered up to 1 s later (LineSession). */
const HUNG_SHARE = 0.3;
/** Share of a broken driver's renewals that nft carried out although it reported a failure. */
const WROTE_ANYWAY_SHARE = 0.25;
/** In the liveness phase a driver call takes at most this much longer than its quickest (units). */
const HEALED_DRIVER_SPREAD_UNITS = 10;
/** A slow driver (a loaded nft, a stalled netlink) multiplies each operation's latency by this. */
const SLOW_DRIVER_FACTOR = 10;

export type RoleEvent =
  | { readonly kind: 'roleTick'; readonly time: number; readonly node: number; readonly incarnation: number }
  | { readonly kind: 'roleSoon'; readonly time: number; readonly node: number; readonly incarnation: number }
  | { readonly kind: 'driverDone'; readonly time: number; readonly node: number; readonly op: number }
  | { readonly kind: 'operator'; readonly time: number; readonly chain: number }
  | { readonly kind: 'sickEnd'; readonly time: number; readonly node: number; readonly spell: number }
  | { readonly kind: 'driverFast'; readonly time: number; readonly node: number; readonly spell: number }
  | { readonly kind: 'driverFixed'; readonly time: number; readonly node: number; readonly spell: number }
  | { readonly kind: 'stutter'; readonly time: number; readonly node: number; readonly until: number };

/** What the role layer needs from the harness. */
export interface RoleHost {
  readonly profile: Profile;
  readonly seed: number;
  readonly faults: RoleFaultFlags;
  now(): number;
  inLiveness(): boolean;
  /** The node's core, or null while it is crashed. */
  raft(idx: number): Raft | null;
  /** After a call into a node's core: the harness observes it and runs its driver loop. */
  settle(idx: number): void;
  paused(idx: number): boolean;
  /** Freezes a running node until `until` (the stutter after a resume). */
  pause(idx: number, until: number): void;
  /** True time of the node's last Raft tick (missed ticks of a frozen node included). */
  lastTickAt(idx: number): number;
  tickUnits(idx: number): number;
  app(idx: number): RoleApp;
  /** The live leader with the highest term, as a client would find it. */
  leader(): number | null;
  schedule(event: RoleEvent): void;
  emit(line: string): void;
  trace(...values: number[]): void;
}

export interface RoleStats {
  /** Intervals during which some node answered for the VIPs. */
  vipHolds: number;
  /** Highest lease epoch granted. */
  epochs: number;
  /** Intervals ended by the kernel fence (not by a release). */
  fenceExpiries: number;
  /** Renewals the driver refused because the fence had lapsed. */
  lapses: number;
  switchovers: number;
  /** Operator moves withdrawn (asked for; refused when the move already ended). */
  withdrawals: number;
  operatorActions: number;
  sickSpells: number;
  /** Spells of a driver whose every call failed (nft broken). */
  brokenSpells: number;
  /** Driver calls to take or renew the VIPs that failed because the driver was broken. */
  brokenHolds: number;
  /** Times a node's failure to hold had lasted long enough to count (HoldFault.current: it joins its VIP check). */
  holdFaults: number;
  /** Virtual ticks during which no node answered for the VIPs, after the first hold. */
  vipGapTicks: number;
}

export function emptyRoleStats(): RoleStats {
  return { vipHolds: 0, epochs: 0, fenceExpiries: 0, lapses: 0, switchovers: 0, withdrawals: 0, operatorActions: 0, sickSpells: 0, brokenSpells: 0, brokenHolds: 0, holdFaults: 0, vipGapTicks: 0 };
}

type OpKind = 'hold' | 'release' | 'cleanup' | 'policy';
type Lane = 'vips' | 'policy';

function laneOf(kind: OpKind): Lane {
  return kind === 'policy' ? 'policy' : 'vips';
}

function idleLanes(): Record<Lane, { inFlight: DriverOp | null; queue: DriverOp[] }> {
  return { vips: { inFlight: null, queue: [] }, policy: { inFlight: null, queue: [] } };
}

interface DriverOp {
  readonly id: number;
  readonly kind: OpKind;
  readonly desired: DesiredVipState | null;
  /** True time the agent called the driver: the fence is counted from here, as the linux driver does. */
  readonly calledAt: number;
  readonly incarnation: number;
  readonly done: (result: DriverResult) => void;
  /** The driver was broken when the call started (its nft runs then): nothing it does reaches the kernel. */
  broken: boolean;
}

/** The kernel's side of one node: outlives crashes of the agent. */
interface Kernel {
  open: { epoch: number; start: number; deadline: number } | null;
}

/** One node: the agent process (reset on restart), its driver process state, and the kernel. */
class NodeModel {
  // --- the kernel: survives the agent ---------------------------------------
  readonly kernel: Kernel = { open: null };
  // --- the driver (process memory) -----------------------------------------
  held: { epoch: number; expiresAt: number } | null = null;
  lapsedEpoch: number | null = null;
  /**
   * Per chain of the driver (LinuxDriver: VIP calls on one, policy loads on
   * another), the live process's call in flight and the calls queued behind it.
   */
  lanes: Record<Lane, { inFlight: DriverOp | null; queue: DriverOp[] }> = idleLanes();
  /** Every transaction under way, also those of a process that died since: the kernel still carries them out. */
  readonly underWay = new Map<number, DriverOp>();
  slowSpell = 0;
  slowUntil = 0;
  /** Until then every driver call fails (nft broken); the spell that set it. */
  brokenUntil = 0;
  brokenSpell = 0;
  // --- the agent (process memory) -------------------------------------------
  incarnation = 0;
  running = false;
  startedAt = 0;
  nowTick = 0;
  memory: RoleMemory = initialRoleMemory();
  lastHeardTick = new Map<NodeId, number>();
  knownLeader: NodeId | null = null;
  lastLeader: ReachabilityView['lastLeader'] = null;
  knownLeaderSinceTick = 0;
  policy: PolicyView = policyApplied(0);
  policyBusy = false;
  startupCleanup: 'pending' | 'running' | 'done' = 'pending';
  /** What the last start-up clean-up could not do (Agent.cleanupErrors), and the role tick of the next try. */
  cleanupErrors: readonly string[] = [];
  cleanupRetryTick = 0;
  holdFault = new HoldFault();
  /** HoldFault.current was not null at the last role pass (counts holdFaults). */
  holdFaultShown = false;
  vips: VipPipeline = new VipPipeline();
  regranted: RegrantAttempt | null = null;
  lastReportSent: SentHealthReport | null = null;
  lastRegisterTick = -Infinity;
  lastInput: RoleInput | null = null;
  lastDecision: RoleDecision | null = null;
  /** What the process must do once it runs again (driver results that arrived while frozen). */
  deferred: (() => void)[] = [];
  missedRoleTick = false;
  /** Agent.roleSoon: a pass asked for by an event is scheduled. */
  roleSoonPending = false;
  monitorsKey = '';
  monitorsSinceTick = 0;
  // --- the nemesis ------------------------------------------------------------
  sick = false;
  sickSpell = 0;

  constructor(
    readonly idx: number,
    readonly member: Member,
  ) {}

  get id(): NodeId {
    return this.member.id;
  }
}

export class RoleLayer {
  readonly stats = emptyRoleStats();
  private readonly nodes: NodeModel[];
  private readonly rp: RoleProfile;
  private readonly driverRng: Prng;
  private readonly operatorRng: Prng;
  private readonly nemesisRng: Prng;
  private readonly intervals: VipInterval[] = [];
  /** epoch -> holder, from every grant any node applied. */
  private readonly grants = new Map<number, NodeId>();
  private nextOp = 1;
  private nextSpell = 1;
  private convergedSince: number | null = null;
  private lastVipEnd = -1;
  private operatorSeq = 0;
  /** Operator events of an older chain (the fault phase's, once healed) are dropped. */
  private operatorChain = 0;

  constructor(
    private readonly host: RoleHost,
    members: readonly Member[],
  ) {
    const rp = host.profile.role;
    if (rp === null) throw new Error('role layer needs a role profile');
    this.rp = rp;
    this.nodes = members.map((m, idx) => new NodeModel(idx, m));
    this.driverRng = Prng.derive(host.seed, 'role-driver');
    this.operatorRng = Prng.derive(host.seed, 'role-operator');
    this.nemesisRng = Prng.derive(host.seed, 'role-nemesis');
    host.schedule({ kind: 'operator', time: this.operatorRng.exp(rp.operatorMeanTicks * TICK_UNITS), chain: 0 });
  }

  /** Every lease a node's state takes on (role-app.ts): one epoch names one holder, ever. */
  onLease(lease: Lease): void {
    const known = this.grants.get(lease.epoch);
    if (known === undefined) {
      this.grants.set(lease.epoch, lease.holder);
      this.stats.epochs = Math.max(this.stats.epochs, lease.epoch);
      this.host.emit(`GRANT epoch ${lease.epoch} -> ${lease.holder} (${lease.reason})`);
      this.host.trace(70, lease.epoch, this.indexOf(lease.holder));
    } else if (known !== lease.holder) {
      violation('epoch-conflict', `epoch ${lease.epoch} was granted to ${known} and to ${lease.holder} at ${this.where()}`);
    }
  }

  // --- hooks from the harness ---------------------------------------------------

  onStart(idx: number): void {
    const n = this.node(idx);
    n.incarnation++;
    n.running = true;
    n.startedAt = this.host.now();
    n.nowTick = 0;
    n.memory = initialRoleMemory();
    n.lastHeardTick = new Map();
    n.knownLeader = null;
    n.lastLeader = null;
    n.knownLeaderSinceTick = 0;
    n.policy = policyApplied(0);
    n.policyBusy = false;
    n.startupCleanup = 'pending';
    n.cleanupErrors = [];
    n.cleanupRetryTick = 0;
    n.holdFault = new HoldFault();
    n.holdFaultShown = false;
    n.vips = this.host.faults.staleQueuedFence === true ? new StaleFencePipeline() : new VipPipeline();
    n.regranted = null;
    n.lastReportSent = null;
    n.lastRegisterTick = -Infinity;
    n.lastInput = null;
    n.lastDecision = null;
    n.deferred = [];
    n.missedRoleTick = false;
    n.roleSoonPending = false;
    n.monitorsKey = '';
    n.monitorsSinceTick = 0;
    // A new driver process: it knows nothing of what the kernel holds.
    n.held = null;
    n.lapsedEpoch = null;
    n.lanes = idleLanes();
    const phase = this.driverRng.next() * this.host.tickUnits(idx);
    this.host.schedule({ kind: 'roleTick', time: this.host.now() + phase, node: idx, incarnation: n.incarnation });
  }

  /** The process is gone: its memory and its queued driver calls; the kernel keeps what it holds. */
  onCrash(idx: number): void {
    const n = this.node(idx);
    n.incarnation++;
    n.running = false;
    n.lanes = idleLanes();
    n.deferred = [];
  }

  /** After the missed Raft ticks: I/O callbacks that waited run first, then the overdue role timer. */
  onResume(idx: number): void {
    const n = this.node(idx);
    if (!n.running) return;
    const waiting = n.deferred;
    n.deferred = [];
    for (const run of waiting) run();
    if (n.missedRoleTick) {
      n.missedRoleTick = false;
      this.roleTick(n);
    }
    if (!this.host.inLiveness() && this.nemesisRng.chance(this.rp.stutterP)) {
      const at = this.host.now() + this.nemesisRng.range(1, TICK_UNITS);
      const until = at + this.nemesisRng.exp(this.host.profile.faultMeanTicks) * TICK_UNITS;
      this.host.schedule({ kind: 'stutter', time: at, node: idx, until });
    }
  }

  onHeard(idx: number, from: NodeId): void {
    const n = this.node(idx);
    if (!n.running) return;
    n.lastHeardTick.set(from, this.currentTick(n));
  }

  onSoftState(idx: number, leader: NodeId | null): void {
    const n = this.node(idx);
    if (!n.running) return;
    if (leader !== n.knownLeader) {
      n.lastLeader = lastLeaderOnChange(n.lastLeader, {
        was: n.knownLeader,
        sinceTick: n.knownLeaderSinceTick,
        now: leader,
        nowTick: n.nowTick,
        self: n.id,
        state: this.host.app(n.idx).state,
        electionTicks: n.lastInput?.config.electionTicks ?? this.host.profile.electionTicks,
      });
      n.knownLeaderSinceTick = n.nowTick;
    }
    n.knownLeader = leader;
    this.roleSoon(n);
  }

  /** What Agent.onStateChange compares an applied batch against. */
  roleMarks(idx: number): { readonly lease: unknown; readonly intent: unknown } {
    const state = this.host.app(idx).state;
    return { lease: state.lease, intent: state.intent };
  }

  /** After a batch was applied: a new leader's noop, a grant or an intent ask for a pass now (Agent.onStateChange). */
  afterApply(idx: number, entries: readonly Entry[], before: { readonly lease: unknown; readonly intent: unknown }): void {
    const n = this.node(idx);
    const state = this.host.app(idx).state;
    if (entries.some((e) => e.payload.type === 'noop') || state.lease !== before.lease || state.intent !== before.intent) this.roleSoon(n);
  }

  /** Agent.roleSoon: one pass as soon as the current event is handled (a unit later), not at the next tick. */
  private roleSoon(n: NodeModel): void {
    if (!n.running || n.roleSoonPending) return;
    n.roleSoonPending = true;
    this.host.schedule({ kind: 'roleSoon', time: this.host.now() + 1, node: n.idx, incarnation: n.incarnation });
  }

  dispatch(event: RoleEvent): void {
    switch (event.kind) {
      case 'roleTick': {
        const n = this.node(event.node);
        if (n.incarnation !== event.incarnation || !n.running) return;
        this.host.schedule({ ...event, time: event.time + this.host.tickUnits(event.node) });
        if (this.host.paused(event.node)) {
          n.missedRoleTick = true;
          return;
        }
        this.roleTick(n);
        return;
      }
      case 'roleSoon': {
        const n = this.node(event.node);
        if (n.incarnation !== event.incarnation || !n.running) return;
        n.roleSoonPending = false;
        // A frozen process runs it when it resumes, like the overdue tick.
        if (this.host.paused(event.node)) n.missedRoleTick = true;
        else this.roleTick(n);
        return;
      }
      case 'driverDone':
        return this.driverDone(this.node(event.node), event.op);
      case 'operator':
        if (event.chain === this.operatorChain) this.operator();
        return;
      case 'sickEnd': {
        const n = this.node(event.node);
        if (n.sickSpell === event.spell) n.sick = false;
        return;
      }
      case 'driverFast': {
        const n = this.node(event.node);
        if (n.slowSpell === event.spell) n.slowUntil = 0;
        return;
      }
      case 'driverFixed': {
        const n = this.node(event.node);
        if (n.brokenSpell === event.spell && n.brokenUntil > 0) {
          n.brokenUntil = 0;
          this.host.emit(`${n.id} network driver works again`);
        }
        return;
      }
      case 'stutter': {
        // Frozen again a moment after the resume (a VM under memory pressure, a long GC).
        const n = this.node(event.node);
        if (!this.host.inLiveness() && n.running && !this.host.paused(event.node)) {
          this.host.emit(`${n.id} stutters`);
          this.host.pause(event.node, event.until);
        }
        return;
      }
      default:
        return unreachable(event);
    }
  }

  /** Nemesis: a data node's monitor fails for a while (the holder more often than not). */
  makeSick(durationUnits: number): void {
    if (!this.rp.monitor) return;
    const data = this.nodes.filter((n) => n.member.kind === 'data');
    const holder = data.find((n) => this.answering(n));
    const n = holder !== undefined && this.nemesisRng.chance(0.6) ? holder : this.nemesisRng.pick(data);
    n.sick = true;
    n.sickSpell = this.nextSpell++;
    this.stats.sickSpells++;
    this.host.emit(`${n.id} monitor DOWN for ${(durationUnits / TICK_UNITS).toFixed(0)} ticks`);
    this.host.trace(71, this.host.now(), n.idx);
    this.host.schedule({ kind: 'sickEnd', time: this.host.now() + durationUnits, node: n.idx, spell: n.sickSpell });
  }

  /** Nemesis: one node's driver operations take ten times longer for a while. */
  makeDriverSlow(durationUnits: number): void {
    const n = this.nemesisRng.pick(this.nodes);
    n.slowSpell = this.nextSpell++;
    n.slowUntil = this.host.now() + durationUnits;
    this.host.emit(`${n.id} network driver slow for ${(durationUnits / TICK_UNITS).toFixed(0)} ticks`);
    this.host.schedule({ kind: 'driverFast', time: n.slowUntil, node: n.idx, spell: n.slowSpell });
  }

  /**
   * Nemesis: one data node's driver fails every call for a while (its nft
   * broken), the holder's more often than not. Most spells last 2-8 s,
   * long enough for a failure to hold to count (HoldFault: 3 s).
   */
  makeDriverBroken(durationUnits: number): void {
    const data = this.nodes.filter((n) => n.member.kind === 'data');
    const holder = data.find((n) => this.answering(n));
    const n = holder !== undefined && this.nemesisRng.chance(0.7) ? holder : this.nemesisRng.pick(data);
    const units = this.nemesisRng.chance(0.7) ? this.msToUnits(n, this.nemesisRng.range(2000, 8000)) : durationUnits;
    n.brokenSpell = this.nextSpell++;
    n.brokenUntil = this.host.now() + units;
    this.stats.brokenSpells++;
    this.host.emit(`${n.id} network driver BROKEN for ${(units / TICK_UNITS).toFixed(0)} ticks`);
    this.host.schedule({ kind: 'driverFixed', time: n.brokenUntil, node: n.idx, spell: n.brokenSpell });
  }

  /** The liveness phase: monitors recover, drivers are quick and work again, and the operator comes back at once. */
  heal(): void {
    for (const n of this.nodes) {
      n.sick = false;
      n.sickSpell = this.nextSpell++;
      n.slowUntil = 0;
      n.brokenUntil = 0;
    }
    this.operatorChain++;
    this.host.schedule({ kind: 'operator', time: this.host.now() + 1, chain: this.operatorChain });
  }

  // --- the agent's role loop (Agent.roleTick) -----------------------------------

  private roleTick(n: NodeModel): void {
    const raft = this.host.raft(n.idx);
    if (raft === null) return;
    const app = this.host.app(n.idx);
    const tickMs = this.rp.tickMs;
    n.nowTick = this.currentTick(n);
    const status = raft.status();
    if (n.startupCleanup === 'pending' && n.nowTick >= n.cleanupRetryTick && app.index >= status.commit) this.cleanupAtStart(n);
    const nowMs = this.localMs(n);
    if (!n.vips.desired.hold && !n.vips.applied.hold) n.holdFault.stopped(nowMs);
    const holdProblem = n.holdFault.current(n.id, nowMs);
    if (holdProblem !== null && !n.holdFaultShown) {
      this.stats.holdFaults++;
      this.host.emit(`${n.id} ${holdProblem}`);
    }
    n.holdFaultShown = holdProblem !== null;
    const reach = this.reach(n);
    const monitors = this.monitorObservations(n);
    let input = buildRoleInput({
      kind: n.member.kind,
      status,
      applied: app.index,
      appliedTerm: app.term,
      reach,
      tickMs,
      memory: n.memory,
      health: healthOf(monitors),
      monitors,
      policy: n.policy,
      holdingVips: n.vips.applied.hold,
      // The sim's devices always exist: the agent's check of them passes as soon as it runs.
      vipSetup: reportedVipSetup(n.id, { revision: app.state.configRevision, problems: [] }, n.cleanupErrors, holdProblem),
    });
    if (this.host.faults.noDriftMargin === true) input = { ...input, config: { ...input.config, driftMarginTicks: 0 } };
    const decision = decide(input);
    n.memory = decision.memory;
    n.lastInput = input;
    n.lastDecision = decision;
    this.carryOut(n, decision.actions, input);
    this.maybeRegrantAfterLapse(n, decisionHolds(decision.actions));
    this.maybeRegister(n);
    this.maybeReportHealth(n, input);
  }

  private carryOut(n: NodeModel, actions: readonly RoleAction[], input: RoleInput): void {
    const raft = this.host.raft(n.idx);
    if (raft === null) return;
    for (const action of actions) {
      switch (action.type) {
        case 'vips': {
          const vip = this.brokenHold(n, action, input);
          // Until leftovers of a crash are cleaned up, this node holds nothing.
          if (vip.hold && n.startupCleanup !== 'done') break;
          const desired = desiredVipState(vip, this.rp.tickMs);
          if (desired.hold && n.vips.renewalNotDue(desired.epoch, this.localMs(n), input.state.settings.timers.heartbeatMs)) break;
          this.setVips(n, desired.hold ? { ...desired, fenceMs: Math.max(1, desired.fenceMs - this.msIntoTick(n)) } : desired);
          break;
        }
        case 'announce':
          break;
        case 'proposeGrant':
          this.submit(n, 'grantLease', { holder: n.id, epoch: action.epoch, reason: action.reason, term: raft.status().term });
          break;
        case 'proposeIntent':
          this.submit(n, 'moveIntent', { to: action.to, reason: action.reason, epoch: action.epoch });
          break;
        case 'transferLeadership':
          if (this.host.faults.transferBeforeRelease !== true && n.vips.deferTransfer(action)) this.host.emit(`${n.id} hands leadership to ${action.to} once the VIPs are released`);
          else this.startTransfer(n, action);
          break;
        case 'reelect':
          this.host.emit(`${n.id} stands again in the next term: ${action.why}`);
          raft.reelect();
          this.host.settle(n.idx);
          break;
        case 'applyPolicy':
          this.applyPolicy(n, action.revision);
          break;
        default:
          unreachable(action);
      }
    }
  }

  private startTransfer(n: NodeModel, transfer: PendingTransfer): void {
    const raft = this.host.raft(n.idx);
    if (raft === null) return;
    const result = raft.transferLeadership(transfer.to);
    this.host.emit(`${n.id} hands leadership to ${transfer.to} (${transfer.why}): ${result.ok ? 'started' : result.refusal.code}`);
    this.host.settle(n.idx);
  }

  /** The broken rule `holdWithoutLease`: a holder keeps its VIPs while its state names it, leader or not. */
  private brokenHold(n: NodeModel, action: VipAction, input: RoleInput): VipAction {
    if (this.host.faults.holdWithoutLease !== true || action.hold) return action;
    const lease = input.state.lease;
    if (lease === null || lease.holder !== n.id || !n.vips.applied.hold) return action;
    return { type: 'vips', hold: true, epoch: lease.epoch, fenceTicks: input.config.electionTicks, vips: input.state.settings.vips, mode: 'lease' };
  }

  /** Agent.setVips / runVipCall / vipCallDone, with the same VipPipeline. */
  private setVips(n: NodeModel, desired: DesiredVipState): void {
    const call = n.vips.request(desired, this.localMs(n));
    if (call !== null) this.runVipCall(n, call);
  }

  private runVipCall(n: NodeModel, call: DesiredVipState): void {
    this.driverCall(n, call.hold ? 'hold' : 'release', call, (result) => {
      const before = n.vips.applied;
      const nowMs = this.localMs(n);
      const next = n.vips.completed(result.ok, nowMs);
      if (call.hold) {
        if (result.ok) n.holdFault.succeeded('hold', nowMs);
        else n.holdFault.failed('hold', nowMs, result.error);
      }
      if (result.ok) {
        if (call.hold !== before.hold) this.host.emit(`${n.id} ${call.hold ? `now ACTIVE (epoch ${call.epoch})` : 'VIPs released'}`);
      }
      if (next !== null) this.runVipCall(n, next);
      const transfer = n.vips.takeTransfer();
      if (transfer !== null) this.startTransfer(n, transfer);
    });
  }

  /** Agent.maybeRegrantAfterLapse. */
  private maybeRegrantAfterLapse(n: NodeModel, holds: number | null): void {
    const raft = this.host.raft(n.idx);
    if (raft === null || holds === null || n.lapsedEpoch !== holds) return;
    const status = raft.status();
    const state = this.host.app(n.idx).state;
    const retryTicks = n.lastInput?.config.retryTicks ?? 2 * this.host.profile.electionTicks;
    const regrant = { self: n.id, holds, lapsed: n.lapsedEpoch, previous: n.regranted, state, status, nowTick: n.nowTick, retryTicks };
    if (!shouldRegrantAfterLapse(regrant)) return;
    n.regranted = { epoch: holds, term: status.term, tick: n.nowTick };
    this.host.emit(`${n.id} fence of epoch ${holds} lapsed: taking epoch ${holds + 1}`);
    this.submit(n, 'grantLease', { holder: n.id, epoch: holds + 1, reason: 'fence-lapsed', term: status.term }, undefined, regrantVersion(state, n.id));
  }

  private applyPolicy(n: NodeModel, revision: number): void {
    if (n.policyBusy) return;
    n.policyBusy = true;
    this.driverCall(n, 'policy', null, (result) => {
      n.policy = policyAfterAttempt(n.policy, revision, result, this.currentTick(n));
      n.policyBusy = false;
    });
  }

  private cleanupAtStart(n: NodeModel): void {
    n.startupCleanup = 'running';
    this.driverCall(n, 'cleanup', null, (result) => {
      n.startupCleanup = result.ok ? 'done' : 'pending';
      n.cleanupErrors = result.ok ? [] : [result.error];
      if (!result.ok) n.cleanupRetryTick = this.currentTick(n) + CLEANUP_RETRY_MS / this.rp.tickMs;
    });
  }

  /** Agent.maybeRegister. */
  private maybeRegister(n: NodeModel): void {
    const state = this.host.app(n.idx).state;
    const me = state.members.find((m) => m.id === n.id);
    const want = { id: n.id, kind: n.member.kind, peer: n.member.peer, api: `api:${n.id}`, version: VERSION, entitlementPresent: true };
    if (registrationCurrent(me, want) || n.nowTick - n.lastRegisterTick < REPORT_RETRY_MS / this.rp.tickMs) return;
    if (n.knownLeader === null) return;
    n.lastRegisterTick = n.nowTick;
    this.submit(n, 'registerMember', { member: want });
  }

  /** Agent.maybeReportHealth. */
  private maybeReportHealth(n: NodeModel, input: RoleInput): void {
    const state = this.host.app(n.idx).state;
    const me = state.members.find((m) => m.id === n.id);
    if (me === undefined || n.knownLeader === null) return;
    const reach = this.reach(n);
    const nowMs = this.localMs(n);
    const report = healthReportOf(input, n.policy, (id) => peerReachable(reach, id, input.config.electionTicks), n.holdFault.past(n.id, nowMs));
    if (!healthReportDue(me.health, report, n.lastReportSent, n.knownLeader, nowMs)) return;
    n.lastReportSent = { report, leader: n.knownLeader, atMs: nowMs };
    this.submit(n, 'reportHealth', report);
  }

  /** Agent.submit: fire and forget through the core (a follower forwards to its leader). */
  private submit<K extends CommandType>(n: NodeModel, type: K, fields: Parameters<typeof makeCommand<K>>[1], principal = `node:${n.id}`, v?: number): void {
    const raft = this.host.raft(n.idx);
    if (raft === null) return;
    const command: ClusterCommand = makeCommand(type, fields, { at: this.isoNow(), principal, v });
    raft.forward(encodeCommand(command));
    this.host.settle(n.idx);
  }

  // --- the network driver and the kernel ---------------------------------------------

  private driverCall(n: NodeModel, kind: OpKind, desired: DesiredVipState | null, done: (r: DriverResult) => void): void {
    const op: DriverOp = { id: this.nextOp++, kind, desired, calledAt: this.host.now(), incarnation: n.incarnation, done, broken: false };
    const lane = n.lanes[laneOf(kind)];
    if (lane.inFlight === null) this.startOp(n, op);
    else lane.queue.push(op);
  }

  private startOp(n: NodeModel, op: DriverOp): void {
    n.lanes[laneOf(op.kind)].inFlight = op;
    n.underWay.set(op.id, op);
    // Healed, the driver is quick again like the network and the disks: a call that takes most of the
    // fence lapses the lease every few renewals (KNOWN.md), which is safe but never settles.
    const maxUnits = this.host.inLiveness() ? Math.min(this.rp.driverMaxUnits, this.rp.driverMinUnits + HEALED_DRIVER_SPREAD_UNITS) : this.rp.driverMaxUnits;
    let latency = this.driverRng.range(this.rp.driverMinUnits, maxUnits);
    if (op.kind === 'policy') latency *= this.driverRng.range(1, this.rp.policyFactor);
    if (n.slowUntil > this.host.now()) latency *= SLOW_DRIVER_FACTOR;
    op.broken = n.brokenUntil > this.host.now();
    if (op.broken && this.driverRng.chance(HUNG_SHARE)) latency = Math.max(latency, this.msToUnits(n, this.driverRng.range(2000, 3000)));
    // A release that cannot silence the fence waits until the last lease has run out in the kernel (LinuxDriver.release).
    const open = op.kind === 'release' && op.broken && this.host.faults.releaseWithoutFenceWait !== true ? this.kernelLive(n, this.host.now()) : null;
    if (open !== null) latency = Math.max(latency, open.deadline - this.host.now());
    // Strictly later: a driver call never completes within the instant it was made.
    this.host.schedule({ kind: 'driverDone', time: this.host.now() + latency + 0.5, node: n.idx, op: op.id });
  }

  private driverDone(n: NodeModel, opId: number): void {
    const op = n.underWay.get(opId);
    if (op === undefined) throw new Error(`driver operation ${opId} of ${n.id} completed twice`);
    n.underWay.delete(opId);
    const alive = op.incarnation === n.incarnation && n.running;
    const result = this.effect(n, op, alive);
    if (!alive) return;
    const lane = n.lanes[laneOf(op.kind)];
    if (lane.inFlight !== op) throw new Error(`driver operation ${opId} of ${n.id} is not the one in flight`);
    lane.inFlight = null;
    // The rest runs in the agent's process: the next queued call, then the caller's callback.
    const next = (): void => {
      const queued = lane.queue.shift();
      if (queued !== undefined) this.startOp(n, queued);
      op.done(result);
    };
    if (this.host.paused(n.idx)) n.deferred.push(next);
    else next();
  }

  /** What an operation does to the kernel when it completes (the linux driver's rules). */
  private effect(n: NodeModel, op: DriverOp, alive: boolean): DriverResult {
    const now = this.host.now();
    if (op.broken) {
      // Nothing reaches the kernel: its lease runs out by itself. A release still ends, done
      // waiting for that (startOp), with the addresses removed.
      if (op.kind === 'release') {
        if (alive) n.held = null;
        return { ok: true };
      }
      if (op.kind === 'hold') {
        this.stats.brokenHolds++;
        // A renewal nft applied but answered as failed: the lease runs on. A takeover's would
        // too, but its addresses are removed again, so nothing answers under it.
        const desired = op.desired;
        const open = this.kernelLive(n, now);
        if (desired !== null && desired.hold && open !== null && open.epoch === desired.epoch && this.driverRng.chance(WROTE_ANYWAY_SHARE)) {
          const skewMs = (this.host.faults.fenceSkewTicks ?? 0) * this.rp.tickMs;
          open.deadline = Math.max(open.deadline, op.calledAt + this.msToUnits(n, desired.fenceMs + skewMs));
        }
      }
      return { ok: false, error: `nft: broken (${op.kind})` };
    }
    switch (op.kind) {
      case 'policy':
        return { ok: true };
      case 'release':
      case 'cleanup':
        // Silence first: the lease elements go in one transaction, then the addresses.
        this.kernelEnd(n, now, 'release');
        if (alive) n.held = null;
        return { ok: true };
      case 'hold': {
        const desired = op.desired;
        if (desired === null || !desired.hold) throw new Error('hold without a desired hold');
        const skewMs = (this.host.faults.fenceSkewTicks ?? 0) * this.rp.tickMs;
        const deadline = op.calledAt + this.msToUnits(n, desired.fenceMs + skewMs);
        const open = this.kernelLive(n, now);
        if (!alive) {
          // The transaction was written before the agent died: a renewal still extends the fence,
          // but nobody adds the addresses of a new hold.
          if (open !== null && open.epoch === desired.epoch) open.deadline = Math.max(now, deadline);
          return { ok: false, error: 'agent gone' };
        }
        if (n.lapsedEpoch === desired.epoch && n.held === null) return { ok: false, error: `lease for epoch ${desired.epoch} lapsed` };
        const renewing = n.held !== null && n.held.epoch === desired.epoch;
        if (renewing && (open === null || open.epoch !== desired.epoch)) {
          // "Renew only if still held": the kernel element timed out, so this epoch is never held again.
          n.lapsedEpoch = desired.epoch;
          n.held = null;
          this.kernelEnd(n, now, 'release');
          this.stats.lapses++;
          this.host.emit(`${n.id} driver: lease for epoch ${desired.epoch} lapsed`);
          return { ok: false, error: `lease for epoch ${desired.epoch} lapsed` };
        }
        if (deadline - now < this.msToUnits(n, MIN_FENCE_MS)) return { ok: false, error: 'fence too short to write' };
        if (!renewing) n.lapsedEpoch = null;
        n.held = { epoch: desired.epoch, expiresAt: deadline };
        this.kernelHold(n, desired.epoch, now, deadline);
        return { ok: true };
      }
      default:
        return unreachable(op.kind);
    }
  }

  /** The open interval if the kernel still answers for the VIPs at `now` (its fence has not run out). */
  private kernelLive(n: NodeModel, now: number): Kernel['open'] {
    const open = n.kernel.open;
    if (open === null) return null;
    if (open.deadline > now) return open;
    this.kernelEnd(n, now, 'fence');
    return null;
  }

  private kernelHold(n: NodeModel, epoch: number, now: number, deadline: number): void {
    const open = this.kernelLive(n, now);
    if (open !== null && open.epoch === epoch) {
      open.deadline = deadline;
      return;
    }
    if (open !== null) this.kernelEnd(n, now, 'epoch-change');
    this.checkStart(n, epoch, now);
    // Fences that ran out since are closed first, so the gap below is measured from their true end.
    const others = this.nodes.filter((m) => m !== n && this.kernelLive(m, now) !== null);
    if (others.length === 0 && this.lastVipEnd >= 0) this.stats.vipGapTicks += Math.max(0, now - this.lastVipEnd) / TICK_UNITS;
    n.kernel.open = { epoch, start: now, deadline };
    this.stats.vipHolds++;
    this.host.emit(`${n.id} KERNEL answers for the VIPs under epoch ${epoch} until ${(deadline / TICK_UNITS).toFixed(2)}`);
    this.host.trace(72, now, n.idx, epoch);
  }

  /** Ends the open interval at `now`, or at its deadline if the fence ran out first. */
  private kernelEnd(n: NodeModel, now: number, why: 'release' | 'fence' | 'epoch-change'): void {
    const open = n.kernel.open;
    if (open === null) return;
    n.kernel.open = null;
    const byFence = open.deadline <= now;
    const end = byFence ? open.deadline : now;
    if (byFence) this.stats.fenceExpiries++;
    this.lastVipEnd = Math.max(this.lastVipEnd, end);
    this.intervals.push({ node: n.id, epoch: open.epoch, start: open.start, end, endedBy: byFence ? 'fence' : why });
    if (this.intervals.length > MAX_INTERVALS) this.intervals.shift();
    this.host.emit(`${n.id} KERNEL silent (epoch ${open.epoch}, ${byFence ? `fence ran out at ${(end / TICK_UNITS).toFixed(2)}` : why})`);
    this.host.trace(73, end, n.idx, open.epoch);
  }

  /** The safety checks, at the instant a node starts answering for the VIPs. */
  private checkStart(n: NodeModel, epoch: number, now: number): void {
    if (n.member.kind !== 'data') violation('witness-holds', `witness ${n.id} answers for the VIPs under epoch ${epoch} at ${this.where()}`);
    for (const other of this.nodes) {
      if (other === n) continue;
      const open = other.kernel.open;
      if (open === null || open.deadline <= now) continue;
      violation(
        'vip-overlap',
        `${n.id} starts answering for the VIPs under epoch ${epoch} while ${other.id} (${this.describeProcess(other)}) still answers under epoch ${open.epoch} ` +
          `(since ${(open.start / TICK_UNITS).toFixed(2)}, fence until ${(open.deadline / TICK_UNITS).toFixed(2)}), at ${this.where()}`,
      );
    }
    const granted = this.grants.get(epoch);
    if (granted !== n.id) violation('wrong-epoch', `${n.id} answers for the VIPs under epoch ${epoch}, granted to ${granted ?? 'nobody'}, at ${this.where()}`);
  }

  // --- the operator ---------------------------------------------------------------

  private operator(): void {
    const rng = this.operatorRng;
    // After healing the operator finishes promptly what it left undone (maintenance off, the first settings).
    const next = this.host.inLiveness() ? this.host.profile.electionTicks * TICK_UNITS : rng.exp(this.rp.operatorMeanTicks * TICK_UNITS);
    this.host.schedule({ kind: 'operator', time: this.host.now() + next, chain: this.operatorChain });
    const leaderIdx = this.host.leader();
    if (leaderIdx === null) return;
    const leader = this.node(leaderIdx);
    const state = this.host.app(leaderIdx).state;
    // Setting the pair up comes first, and goes on after healing until it is done.
    if (state.configRevision === 0) return this.applySettings(leader, false);
    if (this.host.inLiveness()) {
      const inMaintenance = state.members.find((m) => m.maintenance);
      if (inMaintenance !== undefined) this.propose(leader, 'setMaintenance', { node: inMaintenance.id, on: false });
      return;
    }
    const action = this.pickOperatorAction();
    this.stats.operatorActions++;
    switch (action) {
      case 'switchover': {
        const waiting = state.intent;
        if (waiting !== null && (waiting.reason === 'switchover' || waiting.reason === 'forced') && rng.chance(0.3)) {
          // The API call that asked for it gave up (its timeout) and withdraws it, at any point of the move.
          this.host.emit(`operator: withdraw the move to ${waiting.to} asked for at ${waiting.index}`);
          this.stats.withdrawals++;
          this.propose(leader, 'withdrawIntent', { intentIndex: waiting.index });
          return;
        }
        // Any node's API serves it, from that node's last role input; the write goes to the leader.
        const candidates = this.nodes.filter((m) => m.running && m.lastInput !== null);
        if (candidates.length === 0) return;
        const asked = rng.pick(candidates);
        if (asked.lastInput === null) return;
        const data = this.nodes.filter((m) => m.member.kind === 'data').map((m) => m.id);
        const to = rng.chance(0.5) ? rng.pick(data) : null;
        const check = switchoverCheck(asked.lastInput, { to, force: rng.chance(0.1) });
        this.host.emit(`operator: switchover${to === null ? '' : ` to ${to}`} on ${asked.id}: ${check.ok ? `moving to ${check.to}` : check.message}`);
        if (!check.ok) return;
        this.stats.switchovers++;
        this.propose(leader, 'moveIntent', { to: check.to, reason: check.reason, epoch: check.epoch });
        return;
      }
      case 'maintenance': {
        const data = state.members.filter((m) => m.kind === 'data');
        if (data.length === 0) return;
        const target = rng.pick(data);
        this.host.emit(`operator: maintenance ${target.id} ${target.maintenance ? 'off' : 'on'}`);
        this.propose(leader, 'setMaintenance', { node: target.id, on: !target.maintenance });
        return;
      }
      case 'settings':
        return this.applySettings(leader, true);
      case 'policy':
        this.host.emit(`operator: policy revision ${state.policy.revision + 1}`);
        this.propose(leader, 'setPolicy', { ruleset: `# policy ${++this.operatorSeq}\n`, ifRevision: null });
        return;
      default:
        return unreachable(action);
    }
  }

  private applySettings(leader: NodeModel, change: boolean): void {
    const rp = this.rp;
    const data = this.nodes.filter((m) => m.member.kind === 'data');
    const preferred = rp.preferred === null ? null : (data[rp.preferred % data.length]?.id ?? null);
    const rng = this.operatorRng;
    const settings = {
      vips: [{ address: '10.0.0.1/24', interface: 'lan' }],
      preferred,
      failback: { auto: change ? rng.chance(0.5) : rp.failbackAuto, holdDownMs: change ? rng.pick([0, 500, 2000]) : rp.holdDownMs },
      flapDamping: { maxMoves: rp.flapMaxMoves, windowMs: 600_000 },
      ...(rp.timers === null ? {} : { timers: rp.timers }),
      monitors: rp.monitor ? [{ name: 'fwd', kind: 'process', pidFile: '/run/fwd.pid', intervalMs: 2 * rp.tickMs, failAfter: 1, recoverAfter: 1 }] : [],
    };
    this.host.emit(`operator: settings ${JSON.stringify({ preferred, failback: settings.failback })}`);
    this.propose(leader, 'setSettings', { settings, ifRevision: null });
  }

  private propose<K extends CommandType>(n: NodeModel, type: K, fields: Parameters<typeof makeCommand<K>>[1]): void {
    this.submit(n, type, fields, 'ops');
  }

  private pickOperatorAction(): OperatorAction {
    return this.operatorRng.pickWeighted(OPERATOR_ACTIONS, this.rp.operatorWeights, 'switchover');
  }

  // --- liveness ---------------------------------------------------------------------

  /** Exactly one healthy data node answers for the VIPs, held as the agent decided, and every node's state names it; stable for two election timeouts. */
  converged(): boolean {
    const why = this.notConverged();
    const now = this.host.now();
    if (why !== null) {
      this.convergedSince = null;
      return false;
    }
    if (this.convergedSince === null) this.convergedSince = now;
    return now - this.convergedSince >= 2 * this.host.profile.electionTicks * TICK_UNITS;
  }

  notConverged(): string | null {
    const now = this.host.now();
    const holders = this.nodes.filter((n) => this.kernelLive(n, now) !== null);
    if (holders.length !== 1) return `${holders.length} nodes answer for the VIPs`;
    const h = holders[0] as NodeModel;
    const open = h.kernel.open as NonNullable<Kernel['open']>;
    if (h.member.kind !== 'data' || !h.running || h.sick || this.host.paused(h.idx)) return `${h.id} holds but cannot serve`;
    const applied = h.vips.applied;
    if (!applied.hold || applied.epoch !== open.epoch) return `${h.id}'s kernel holds epoch ${open.epoch} its agent does not`;
    for (const n of this.nodes) {
      const lease = this.host.app(n.idx).state.lease;
      if (lease?.holder !== h.id || lease.epoch !== open.epoch) return `${n.id}'s state names ${lease?.holder ?? 'nobody'} (epoch ${lease?.epoch ?? 0})`;
    }
    return null;
  }

  /** The end of a schedule: every recorded interval, checked pairwise (the online check's witness). */
  finish(): void {
    const now = this.host.now();
    const all = [...this.intervals];
    for (const n of this.nodes) {
      const open = n.kernel.open;
      if (open !== null) all.push({ node: n.id, epoch: open.epoch, start: open.start, end: Math.min(open.deadline, now), endedBy: 'open' });
    }
    const overlaps = findOverlaps(all);
    const first = overlaps[0];
    if (first !== undefined) {
      const [a, b] = first;
      violation('vip-overlap', `${a.node} (epoch ${a.epoch}, ${(a.start / TICK_UNITS).toFixed(2)}-${(a.end / TICK_UNITS).toFixed(2)}) and ${b.node} (epoch ${b.epoch}, ${(b.start / TICK_UNITS).toFixed(2)}-${(b.end / TICK_UNITS).toFixed(2)}) overlap`);
    }
  }

  describe(): string {
    const now = this.host.now();
    return this.nodes
      .map((n) => {
        const open = this.kernelLive(n, now);
        const lease = this.host.app(n.idx).state.lease;
        const driver = `cleanup=${n.startupCleanup} busy=${n.vips.busy} op=${n.lanes.vips.inFlight?.kind ?? '-'}+${n.lanes.vips.queue.length} policy=${n.lanes.policy.inFlight === null ? '-' : 'loading'} held=${n.held?.epoch ?? '-'} lapsed=${n.lapsedEpoch ?? '-'}`;
        return `${n.id}[${open === null ? 'silent' : `VIPs e${open.epoch}`} lease=${lease === null ? '-' : `${lease.holder}/e${lease.epoch}`}${n.sick ? ' sick' : ''} ${driver} ${n.lastDecision?.trace.join('; ') ?? 'no decision'}]`;
      })
      .join(' ');
  }

  // --- helpers ------------------------------------------------------------------------

  private node(idx: number): NodeModel {
    const n = this.nodes[idx];
    if (n === undefined) throw new Error(`no node ${idx}`);
    return n;
  }

  private indexOf(id: NodeId): number {
    return this.nodes.findIndex((n) => n.id === id);
  }

  private answering(n: NodeModel): boolean {
    return this.kernelLive(n, this.host.now()) !== null;
  }

  /** The agent's monotonic tick: local time since the process started. */
  private currentTick(n: NodeModel): number {
    n.nowTick = Math.max(n.nowTick, Math.floor((this.host.now() - n.startedAt) / this.host.tickUnits(n.idx)));
    return n.nowTick;
  }

  private localMs(n: NodeModel): number {
    return ((this.host.now() - n.startedAt) / this.host.tickUnits(n.idx)) * this.rp.tickMs;
  }

  /** RaftNode.msIntoTick on the node's clock. */
  private msIntoTick(n: NodeModel): number {
    return Math.max(0, ((this.host.now() - this.host.lastTickAt(n.idx)) / this.host.tickUnits(n.idx)) * this.rp.tickMs);
  }

  /** A duration on the node's clock, in true units. */
  private msToUnits(n: NodeModel, ms: number): number {
    return (ms / this.rp.tickMs) * this.host.tickUnits(n.idx);
  }

  private reach(n: NodeModel): ReachabilityView {
    return { self: n.id, state: this.host.app(n.idx).state, knownLeader: n.knownLeader, lastLeader: n.lastLeader, lastHeardTick: n.lastHeardTick, nowTick: n.nowTick };
  }

  private monitorObservations(n: NodeModel): MonitorObservation[] {
    const monitors = this.host.app(n.idx).state.settings.monitors;
    const key = monitors.map((m) => m.name).join(',');
    if (key !== n.monitorsKey) {
      // A changed monitor list starts its monitors afresh, as MonitorRunner.setMonitors does.
      n.monitorsKey = key;
      n.monitorsSinceTick = n.nowTick;
    }
    const reported = n.nowTick - n.monitorsSinceTick >= this.rp.monitorDelayTicks;
    return monitors.map((m) => ({ name: m.name, reported, healthy: reported && !n.sick }));
  }

  private isoNow(): string {
    return new Date(SIM_EPOCH_MS + Math.round((this.host.now() / TICK_UNITS) * this.rp.tickMs)).toISOString();
  }

  private where(): string {
    return `tick ${(this.host.now() / TICK_UNITS).toFixed(2)}`;
  }

  private describeProcess(n: NodeModel): string {
    if (!n.running) return 'crashed';
    if (this.host.paused(n.idx)) return 'frozen';
    const raft = this.host.raft(n.idx);
    const role: RaftRole | 'down' = raft === null ? 'down' : raft.status().role;
    return role;
  }
}

/** The broken rule `staleQueuedFence`: the agent's pipeline as it was before the simulator found the bug. */
class StaleFencePipeline extends VipPipeline {
  protected override fenceLeftMs(fenceMs: number): number {
    return fenceMs;
  }
}

/** MonitorRunner.health over the observations. */
function healthOf(monitors: readonly MonitorObservation[]): HealthState {
  if (monitors.some((m) => m.reported && !m.healthy)) return 'failed';
  if (monitors.some((m) => !m.reported)) return 'unknown';
  return 'healthy';
}
