/**
 * One simulated schedule: N real `Raft` cores in one process on a virtual
 * clock, driven the way the production driver loop drives them (persist,
 * send, restore, apply, advance), with a seeded nemesis breaking the network,
 * the disks and the processes. A fault phase is followed by a liveness phase
 * with every fault healed, which must converge within a bound.
 *
 * Everything random comes from streams derived from the schedule seed, so a
 * seed replays exactly; the trace hash proves it.
 */
import { pack, unpack } from 'msgpackr';
import { Raft } from '../../src/raft/raft.js';
import type { ElectionJitter, Member, Membership, MembershipChange, Message, NodeId, RaftConfig, RaftRole, Ready, Snapshot } from '../../src/raft/types.js';
import { messagesBeforeWrite } from '../../src/node/raft-node.js';
import { electionJitter } from '../../src/node/raft-timing.js';
import { unreachable } from '../../src/util/assert.js';
import { SafetyChecker, SimViolation, violation, type ViolationKind } from './checker.js';
import { describeMessage, MESSAGE_CODES, validateMessage } from './messages.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { TraceHash } from './hash.js';
import { Prng } from './prng.js';
import { drawProfile, NEMESIS_ACTIONS, TICK_UNITS, type NemesisAction, type Profile, type ScheduleOptions } from './profile.js';
import { KEYS, KV_APP, MARKER_KEY, type SimApp, type SimAppKind } from './state-machine.js';
import { RoleApp, roleAppKind } from './role-app.js';
import { RoleLayer, type RoleEvent, type RoleHost, type RoleStats } from './role-layer.js';

type RaftStatus = ReturnType<Raft['status']>;

/** Messages in flight beyond this are dropped, like a full socket buffer. */
const MAX_MESSAGES_IN_FLIGHT = 4000;
/** Control events (ticks, timers) on top of messages. */
const MAX_CONTROL_EVENTS = 256;
const MAX_ACTIVE_CUTS = 8;
/** Clients stop proposing to a node holding this many uncommitted entries. */
const CLIENT_WINDOW_ENTRIES = 64;

export interface SimStats {
  ticks: number;
  events: number;
  messages: number;
  delivered: number;
  dropped: number;
  elections: number;
  commits: number;
  applied: number;
  crashes: number;
  partitions: number;
  pauses: number;
  snapshotsInstalled: number;
  compactions: number;
  proposals: number;
  proposalsRefused: number;
  forwarded: number;
  reads: number;
  transfers: number;
  memberChanges: number;
  livenessTicks: number;
}

export function emptyStats(): SimStats {
  return {
    ticks: 0,
    events: 0,
    messages: 0,
    delivered: 0,
    dropped: 0,
    elections: 0,
    commits: 0,
    applied: 0,
    crashes: 0,
    partitions: 0,
    pauses: 0,
    snapshotsInstalled: 0,
    compactions: 0,
    proposals: 0,
    proposalsRefused: 0,
    forwarded: 0,
    reads: 0,
    transfers: 0,
    memberChanges: 0,
    livenessTicks: 0,
  };
}

export interface ScheduleViolation {
  readonly kind: ViolationKind;
  readonly message: string;
  /** Virtual tick at which it was detected. */
  readonly tick: number;
  readonly stack: string | null;
}

export interface ScheduleResult {
  readonly seed: number;
  readonly violation: ScheduleViolation | null;
  readonly stats: SimStats;
  readonly traceHash: string;
  readonly shape: string;
  /** Role schedules only. */
  readonly role: RoleStats | null;
}

type SimEvent =
  | { readonly kind: 'tick'; readonly time: number; readonly node: number; readonly incarnation: number }
  | { readonly kind: 'deliver'; readonly time: number; readonly to: number; readonly msg: Message }
  | { readonly kind: 'persisted'; readonly time: number; readonly node: number; readonly incarnation: number }
  | { readonly kind: 'client'; readonly time: number }
  | { readonly kind: 'nemesis'; readonly time: number }
  | { readonly kind: 'heal'; readonly time: number; readonly cut: number }
  | { readonly kind: 'restart'; readonly time: number; readonly node: number; readonly crash: number }
  | { readonly kind: 'resume'; readonly time: number; readonly node: number; readonly pause: number }
  | { readonly kind: 'diskFast'; readonly time: number; readonly node: number; readonly slow: number }
  | { readonly kind: 'stormEnd'; readonly time: number; readonly storm: number }
  | { readonly kind: 'strike'; readonly time: number; readonly node: number; readonly term: number }
  | RoleEvent;

interface PendingReady {
  readonly ready: Ready;
  /** The node's term when it handed out the ready: bounds the term its commit was decided in. */
  readonly term: number;
  /** Its messages that wait for the write (the rest left at once, as RaftNode sends them). */
  readonly later: readonly Message[];
}

interface SimNode {
  readonly idx: number;
  readonly id: NodeId;
  readonly member: Member;
  readonly disk: SimDisk;
  raft: Raft | null;
  /** Bumped on crash and restart: events of an older incarnation are ignored. */
  incarnation: number;
  sm: SimApp;
  pending: PendingReady | null;
  pausedUntil: number;
  pauseId: number;
  crashId: number;
  slowDiskId: number;
  slowDisk: boolean;
  readonly tickUnits: number;
  /** Started outside the cluster: never bootstraps, waits to be added. */
  readonly joiner: boolean;
  /** status().membership (the committed one) as of the last call into the core. */
  membership: Membership | null;
  /** A core call reached it since its invariants were last checked. */
  dirty: boolean;
  /** Ticks that fell due while the process was frozen. */
  missedTicks: number;
  /** status().leaseRemainingTicks as of the last call into the core. */
  lease: number;
  /**
   * The last lease this node claimed as leader, as a virtual time: until
   * then it may act as the only leader. A crash or a freeze does not take it
   * back (the kernel's fence element times out on its own); stepping down
   * or starting a transfer while running does.
   */
  promise: { readonly term: number; readonly until: number } | null;
  nextTickAt: number;
  /** When the last tick fell due (missed ones of a frozen node too): where the core's tick count stands. */
  lastTickAt: number;
  role: RaftRole;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
}


type Phase = 'fault' | 'liveness';

export class Simulation {
  readonly profile: Profile;
  readonly stats = emptyStats();
  private readonly trace: TraceHash = new TraceHash();
  private readonly netRng: Prng;
  private readonly nemesisRng: Prng;
  private readonly clientRng: Prng;
  private readonly diskRng: Prng;
  private readonly queue = new EventQueue<SimEvent>(MAX_MESSAGES_IN_FLIGHT + MAX_CONTROL_EVENTS);
  private readonly nodes: SimNode[];
  private readonly checker: SafetyChecker;
  private readonly bootstrap: Membership;
  private readonly n: number;
  private readonly app: SimAppKind;
  /** Role schedules: the agents' role loops, the drivers and the kernels (role-layer.ts). */
  private readonly role: RoleLayer | null;
  /** blocked[from * n + to]: how many active cuts block that direction. */
  private readonly blocked: Uint16Array;
  private readonly cuts = new Map<number, readonly number[]>();
  private time = 0;
  private phase: Phase = 'fault';
  private inFlight = 0;
  private nextId = 1;
  private stormUntil = 0;
  private stormId = 0;
  private commandSeq = 0;
  private readSeq = 0;
  private livenessStart = 0;
  private markerTarget = '';
  private markerAt = -1;
  private markerSeq = 0;
  /** The core call in progress, named only when something throws. */
  private op = 'start';
  private opNode = '';
  private opMsg: Message | null = null;

  constructor(
    readonly options: ScheduleOptions,
    private readonly log: ((line: string) => void) | null = null,
  ) {
    this.profile = drawProfile(options);
    const seed = options.seed;
    this.netRng = Prng.derive(seed, 'net');
    this.nemesisRng = Prng.derive(seed, 'nemesis');
    this.clientRng = Prng.derive(seed, 'client');
    this.diskRng = Prng.derive(seed, 'disk');
    const layoutRng = Prng.derive(seed, 'layout');
    const members = this.profile.members;
    const pool = [...members, ...this.profile.spares];
    this.n = pool.length;
    this.blocked = new Uint16Array(this.n * this.n);
    this.bootstrap = { voters: members, learners: [] };
    this.checker = new SafetyChecker(() => this.where());
    const drift = this.profile.driftPct / 100;
    // Role schedules draw drift within the bound the role logic's margin covers, so ticks are not rounded.
    const role = this.profile.role;
    const tickUnits = (r: number, idx: number): number =>
      role !== null ? TICK_UNITS * (1 + role.driftRate * (role.driftSigns[idx] ?? 0)) : Math.max(1, Math.round(TICK_UNITS * (1 + drift * (2 * r - 1))));
    this.nodes = pool.map((member, idx) => ({
      idx,
      id: member.id,
      member,
      disk: new SimDisk(),
      joiner: idx >= members.length,
      membership: null,
      raft: null,
      incarnation: 0,
      sm: KV_APP.create(),
      pending: null,
      pausedUntil: 0,
      pauseId: 0,
      crashId: 0,
      slowDiskId: 0,
      slowDisk: false,
      dirty: false,
      missedTicks: 0,
      lease: 0,
      promise: null,
      nextTickAt: 0,
      lastTickAt: 0,
      tickUnits: tickUnits(layoutRng.next(), idx),
      role: 'follower',
      term: 0,
      commit: 0,
      applied: 0,
      lastIndex: 0,
    }));
    const layer = role === null ? null : new RoleLayer(this.roleHost(), pool);
    this.role = layer;
    this.app = layer === null ? KV_APP : roleAppKind((lease) => layer.onLease(lease));
    for (const node of this.nodes) node.sm = this.app.create();
  }

  private roleHost(): RoleHost {
    const node = (idx: number): SimNode => this.nodes[idx] as SimNode;
    return {
      profile: this.profile,
      seed: this.options.seed,
      faults: this.options.roleFaults ?? {},
      now: () => this.time,
      inLiveness: () => this.phase === 'liveness',
      raft: (idx) => node(idx).raft,
      settle: (idx) => {
        const n = node(idx);
        this.observe(n);
        this.drain(n);
      },
      paused: (idx) => this.isPaused(node(idx)),
      pause: (idx, until) => this.pause(node(idx), until),
      lastTickAt: (idx) => node(idx).lastTickAt,
      tickUnits: (idx) => node(idx).tickUnits,
      app: (idx) => {
        const sm = node(idx).sm;
        if (!(sm instanceof RoleApp)) throw new Error('role layer on a schedule without the cluster state machine');
        return sm;
      },
      leader: () => this.currentLeader()?.idx ?? null,
      schedule: (event) => this.schedule(event),
      emit: (line) => this.emit(line),
      trace: (...values) => this.trace.add(...values),
    };
  }

  get shape(): string {
    const witness = this.profile.members.some((m) => m.kind === 'witness');
    const spares = this.profile.spares.length > 0 ? `+${this.profile.spares.length}` : '';
    return `${this.profile.members.length}${witness ? 'w' : 'd'}${spares}${this.profile.sharp ? '*' : ''}`;
  }

  run(): ScheduleResult {
    let failure: ScheduleViolation | null = null;
    try {
      this.loop();
      this.role?.finish();
    } catch (error) {
      failure = this.classify(error);
      this.emit(`VIOLATION ${failure.kind}: ${failure.message}`);
    }
    this.stats.ticks = Math.floor(this.time / TICK_UNITS);
    this.stats.elections = this.checker.electedTerms;
    this.stats.commits = this.checker.committedMax;
    this.trace.add(this.stats.ticks, this.stats.messages, this.stats.commits, failure === null ? 0 : 1);
    return { seed: this.options.seed, violation: failure, stats: this.stats, traceHash: this.trace.digest(), shape: this.shape, role: this.role?.stats ?? null };
  }

  private classify(error: unknown): ScheduleViolation {
    const tick = Math.floor(this.time / TICK_UNITS);
    if (error instanceof SimViolation) return { kind: error.kind, message: error.message, tick, stack: null };
    const e = error instanceof Error ? error : new Error(String(error));
    // Where it was thrown decides whose bug it is: the core's or the simulator's own.
    const frame = (e.stack ?? '').split('\n').find((l) => l.trimStart().startsWith('at ') && !l.includes('/src/util/')) ?? '';
    const inCore = frame.includes('/src/raft/');
    const inRole = ['/src/role/', '/src/fsm/', '/src/node/', '/src/network/'].some((dir) => frame.includes(dir));
    const assertion = e.name === 'AssertionError';
    const kind: ViolationKind = inCore ? (assertion ? 'core-assertion' : 'core-exception') : inRole ? (assertion ? 'role-assertion' : 'role-exception') : 'harness-error';
    return { kind, message: `${e.name}: ${e.message} (during ${this.op} ${this.opNode}${this.op === 'step' && this.opMsg !== null ? ` of ${this.opMsg.from}'s ${describeMessage(this.opMsg)}` : ''} at ${this.where()})`, tick, stack: e.stack ?? null };
  }

  private where(): string {
    return `tick ${(this.time / TICK_UNITS).toFixed(1)}`;
  }

  private emit(line: string): void {
    if (this.log !== null) this.log(`[${(this.time / TICK_UNITS).toFixed(1).padStart(6)}] ${line}`);
  }

  // --- main loop ------------------------------------------------------

  private loop(): void {
    this.emit(`schedule seed=${this.options.seed} shape=${this.shape} profile=${JSON.stringify({ ...this.profile, members: undefined, spares: undefined })}`);
    for (const node of this.nodes) this.start(node);
    this.schedule({ kind: 'client', time: this.clientRng.exp(this.profile.clientMeanUnits) });
    this.schedule({ kind: 'nemesis', time: this.nemesisRng.exp(this.profile.nemesisMeanTicks * TICK_UNITS) });
    const faultEnd = this.options.faultTicks * TICK_UNITS;
    const livenessEnd = faultEnd + this.options.livenessTicks * TICK_UNITS;
    while (true) {
      const event = this.queue.pop();
      if (event === null) violation('liveness', 'event queue ran dry');
      this.time = event.time;
      if (this.phase === 'fault' && this.time >= faultEnd) this.enterLiveness();
      if (this.phase === 'liveness') {
        if (this.converged()) {
          this.stats.livenessTicks = Math.ceil((this.time - this.livenessStart) / TICK_UNITS);
          this.emit(`converged after ${this.stats.livenessTicks} ticks`);
          return;
        }
        if (this.time >= livenessEnd) violation('liveness', `no convergence within ${this.options.livenessTicks} ticks after healing: ${this.describeNodes()}`);
      }
      this.stats.events++;
      this.dispatch(event);
      this.afterStep();
    }
  }

  private schedule(event: SimEvent): void {
    this.queue.push(event);
  }

  private dispatch(event: SimEvent): void {
    switch (event.kind) {
      case 'tick':
        return this.onTick(event.node, event.incarnation);
      case 'deliver':
        return this.onDeliver(event.to, event.msg);
      case 'persisted':
        return this.onPersisted(event.node, event.incarnation);
      case 'client':
        return this.onClient();
      case 'nemesis':
        return this.onNemesis();
      case 'heal':
        return this.heal(event.cut);
      case 'restart': {
        const node = this.nodes[event.node] as SimNode;
        if (node.raft === null && node.crashId === event.crash) this.start(node);
        return;
      }
      case 'resume': {
        const node = this.nodes[event.node] as SimNode;
        if (node.pauseId === event.pause) this.resume(node);
        return;
      }
      case 'diskFast': {
        const node = this.nodes[event.node] as SimNode;
        if (node.slowDiskId === event.slow) node.slowDisk = false;
        return;
      }
      case 'stormEnd':
        if (this.stormId === event.storm) this.stormUntil = 0;
        return;
      case 'strike':
        return this.onStrike(event.node, event.term);
      case 'roleTick':
      case 'roleSoon':
      case 'driverDone':
      case 'operator':
      case 'sickEnd':
      case 'driverFast':
      case 'driverFixed':
      case 'stutter':
        return this.role?.dispatch(event);
      default:
        return unreachable(event);
    }
  }

  /**
   * After every step: the core's own invariants on every live node. A core
   * is a pure object, so one no call reached in this step is unchanged and
   * was checked after its last change: checking the touched ones is the same
   * check at a fraction of the cost (the core's check walks its whole log).
   */
  private afterStep(): void {
    for (const node of this.nodes) {
      if (node.raft === null || !node.dirty) continue;
      node.dirty = false;
      this.op = 'checkInvariants';
      this.opNode = node.id;
      node.raft.checkInvariants();
    }
  }

  // --- nodes ----------------------------------------------------------

  private config(node: SimNode): RaftConfig {
    const random = Prng.derive(this.options.seed, 'node', node.idx, node.incarnation).asRandom();
    return {
      id: node.id,
      electionTicks: this.profile.electionTicks,
      heartbeatTicks: this.profile.heartbeatTicks,
      ...this.electionJitter(),
      random,
      limits: this.profile.limits,
      faults: this.options.faults,
    };
  }

  /**
   * Raft-only schedules keep etcd's jitter (their seeds replay as before);
   * role schedules run the agent's, or, with quickElections, one near 0:
   * successors win as early as the followers' vote refusal allows.
   */
  private electionJitter(): { electionJitter?: ElectionJitter } {
    const role = this.profile.role;
    if (role === null) return {};
    const e = this.profile.electionTicks;
    return { electionJitter: role.quickElections ? { minTicks: 0, spanTicks: Math.max(1, Math.ceil(e / 20)) } : electionJitter(e) };
  }

  private start(node: SimNode): void {
    node.incarnation++;
    const initial = node.disk.initialState(node.joiner ? null : this.bootstrap);
    this.emit(`${node.id} start #${node.incarnation} term=${initial.hardState.term} commit=${initial.hardState.commit} snap=${node.disk.snapshotIndex} last=${node.disk.lastIndex}${initial.bootstrap === null ? '' : ' bootstrap'}`);
    this.trace.add(20, this.time, node.idx, node.incarnation);
    node.sm = this.app.create();
    if (node.disk.snapshot !== null) node.sm.restore(node.disk.snapshot.data);
    node.pending = null;
    node.pausedUntil = 0;
    node.missedTicks = 0;
    node.lease = 0;
    this.op = 'construct';
    this.opNode = node.id;
    node.raft = new Raft(this.config(node), initial);
    node.role = 'follower';
    node.term = initial.hardState.term;
    node.commit = 0;
    node.applied = 0;
    node.nextTickAt = this.time + 1 + this.netRng.int(node.tickUnits);
    node.lastTickAt = this.time;
    this.schedule({ kind: 'tick', time: node.nextTickAt, node: node.idx, incarnation: node.incarnation });
    this.role?.onStart(node.idx);
    this.observe(node);
    this.drain(node);
  }

  private crash(node: SimNode): void {
    if (node.raft === null) return;
    // An unsynced write (a commit index alone) may or may not have reached the platter.
    const lost = this.nemesisRng.chance(0.5) && node.disk.loseUnsynced();
    this.emit(`${node.id} CRASH (pending ready ${node.pending === null ? 'none' : 'lost'}${lost ? ', unsynced hard state lost' : ''})`);
    this.trace.add(21, this.time, node.idx);
    node.raft = null;
    node.pending = null;
    node.pausedUntil = 0;
    node.incarnation++;
    node.crashId = this.nextId++;
    this.stats.crashes++;
    this.role?.onCrash(node.idx);
  }

  private pause(node: SimNode, untilTime: number): void {
    node.pausedUntil = untilTime;
    node.pauseId = this.nextId++;
    this.stats.pauses++;
    this.emit(`${node.id} PAUSE until ${(untilTime / TICK_UNITS).toFixed(1)}`);
    this.trace.add(22, this.time, node.idx, untilTime);
    this.scheduleControl({ kind: 'resume', time: untilTime, node: node.idx, pause: node.pauseId });
  }

  private resume(node: SimNode): void {
    if (node.pausedUntil === 0) return;
    node.pausedUntil = 0;
    node.pauseId = this.nextId++;
    const missed = node.missedTicks;
    node.missedTicks = 0;
    this.emit(`${node.id} resume, catching up ${missed} ticks`);
    const raft = node.raft;
    if (raft === null) return;
    // The driver ticks by elapsed monotonic time: after a freeze its timer
    // delivers every tick that passed before anything else runs.
    this.op = 'tick';
    this.opNode = node.id;
    for (let i = 0; i < missed; i++) raft.tick();
    this.observe(node);
    this.drain(node);
    this.role?.onResume(node.idx);
  }

  /**
   * Frozen until the resume event has run, even at its very time: the driver
   * must deliver the missed ticks before it steps anything the kernel
   * buffered (a message stepped first would meet a core whose clock, and so
   * whose lease, is stale).
   */
  private isPaused(node: SimNode): boolean {
    return node.pausedUntil !== 0;
  }

  private onTick(idx: number, incarnation: number): void {
    const node = this.nodes[idx] as SimNode;
    if (node.incarnation !== incarnation || node.raft === null) return;
    node.nextTickAt = this.time + node.tickUnits;
    node.lastTickAt = this.time;
    this.schedule({ kind: 'tick', time: node.nextTickAt, node: idx, incarnation });
    if (this.isPaused(node)) {
      node.missedTicks++;
      return;
    }
    const raft = node.raft;
    this.op = 'tick';
    this.opNode = node.id;
    raft.tick();
    this.observe(node);
    this.drain(node);
    if (this.phase === 'liveness') this.maybeProposeMarker();
  }

  private onDeliver(to: number, msg: Message): void {
    this.inFlight--;
    const node = this.nodes[to] as SimNode;
    const from = this.indexOf(msg.from);
    if (this.blocked[from * this.n + to] !== 0 || node.raft === null) {
      this.stats.dropped++;
      return;
    }
    if (this.isPaused(node)) {
      // The kernel buffers what a frozen process does not read.
      this.scheduleMessage(to, msg, node.pausedUntil + 1 + this.netRng.int(3));
      return;
    }
    this.stats.delivered++;
    this.role?.onHeard(to, msg.from);
    this.trace.add(MESSAGE_CODES[msg.type], this.time, to, msg.term);
    if (this.log !== null) this.emit(`${msg.from} -> ${msg.to} ${describeMessage(msg)}`);
    const raft = node.raft;
    this.op = 'step';
    this.opNode = node.id;
    this.opMsg = msg;
    raft.step(this.profile.wireCodec ? (unpack(pack(msg)) as Message) : msg);
    this.observe(node);
    this.drain(node);
  }

  private onPersisted(idx: number, incarnation: number): void {
    const node = this.nodes[idx] as SimNode;
    if (node.incarnation !== incarnation || node.pending === null) return;
    if (this.isPaused(node)) {
      this.scheduleControl({ kind: 'persisted', time: node.pausedUntil + 1, node: idx, incarnation });
      return;
    }
    const pending = node.pending;
    node.pending = null;
    this.complete(node, pending);
    this.drain(node);
  }

  /** The status the checkers need after every call into a core. */
  private observe(node: SimNode): RaftStatus | null {
    const raft = node.raft;
    if (raft === null) return null;
    this.op = 'status';
    this.opNode = node.id;
    const s = raft.status();
    node.dirty = true;
    if (s.term < node.term || s.commit < node.commit || s.applied < node.applied) {
      violation('applied-regressed', `${node.id} term/commit/applied went back from ${node.term}/${node.commit}/${node.applied} to ${s.term}/${s.commit}/${s.applied} at ${this.where()}`);
    }
    if (s.role === 'leader' && node.role === 'leader' && s.term === node.term && s.lastIndex < node.lastIndex) {
      violation('leader-append-only', `${node.id} leader of term ${s.term} shrank its log from ${node.lastIndex} to ${s.lastIndex} at ${this.where()}`);
    }
    if (s.role !== node.role) {
      this.emit(`${node.id} ${node.role} -> ${s.role} term=${s.term} leader=${s.leader ?? '-'}`);
      this.trace.add(23, this.time, node.idx, s.term, ROLE_CODES[s.role]);
    }
    node.membership = s.membership;
    if (s.role === 'leader' && this.checker.observeLeader(node.id, s.term, s.membership.voters, s.vote)) {
      this.checkLeases(node, s.term);
      this.maybeStrike(node, s.term);
    }
    // leaseSkewTicks overstates every lease: the checker's own self-test (faults.test.ts).
    node.lease = s.role === 'leader' && s.leaseRemainingTicks > 0 ? s.leaseRemainingTicks + (this.options.leaseSkewTicks ?? 0) : 0;
    // A lease of r ticks holds until this node's r-th tick from now.
    node.promise = node.lease > 0 ? { term: s.term, until: node.nextTickAt + (node.lease - 1) * node.tickUnits } : null;
    if (node.lease > 0 && this.checksLeases() && this.checker.maxLeaderTerm > s.term) {
      violation('lease', `${node.id} holds a lease of ${node.lease} ticks in term ${s.term} after a leader of term ${this.checker.maxLeaderTerm} was elected, at ${this.where()}`);
    }
    node.role = s.role;
    node.term = s.term;
    node.commit = s.commit;
    node.applied = s.applied;
    node.lastIndex = s.lastIndex;
    return s;
  }

  /**
   * The lease the active role rests on: until the end of the last lease a
   * leader claimed (see SimNode.promise), no other node may become leader.
   * The core's argument assumes equal tick rates (one tick of phase is in
   * its margin), so schedules with clock drift do not check it.
   */
  private checksLeases(): boolean {
    return this.profile.driftPct === 0;
  }

  private checkLeases(elected: SimNode, term: number): void {
    if (!this.checksLeases()) return;
    for (const holder of this.nodes) {
      const p = holder.promise;
      if (holder === elected || p === null || p.term >= term || p.until <= this.time) continue;
      const state = holder.raft === null ? 'crashed' : this.isPaused(holder) ? 'frozen' : holder.role;
      violation(
        'lease',
        `${elected.id} became leader of term ${term} while ${holder.id} (${state}) still holds the lease of term ${p.term} for ${((p.until - this.time) / TICK_UNITS).toFixed(1)} ticks, at ${this.where()}`,
      );
    }
  }

  /** The driver loop: take every Ready the core has, one at a time. */
  private drain(node: SimNode): void {
    while (node.raft !== null && node.pending === null && !this.isPaused(node)) {
      const raft = node.raft;
      this.op = 'hasReady';
      this.opNode = node.id;
      if (!raft.hasReady()) break;
      this.op = 'ready';
      this.opNode = node.id;
      const ready = raft.ready();
      const { now, later } = messagesBeforeWrite(ready, raft.isLeader(), node.disk.hardState);
      for (const msg of now) this.send(node, msg);
      const pending: PendingReady = { ready, term: node.term, later };
      if (node.slowDisk && ready.mustSync && this.phase === 'fault') {
        node.pending = pending;
        const delay = this.diskRng.range(1, this.profile.maxDiskDelayUnits);
        this.scheduleControl({ kind: 'persisted', time: this.time + delay, node: node.idx, incarnation: node.incarnation });
        return;
      }
      this.complete(node, pending);
    }
    if (node.raft !== null && node.pending === null && !this.isPaused(node)) this.checkDriverAgreement(node);
  }

  /** With nothing pending, what the core believes it holds is what the disk and the state machine hold. */
  private checkDriverAgreement(node: SimNode): void {
    if (node.lastIndex !== node.disk.lastIndex) {
      violation('driver-mismatch', `${node.id} core last index ${node.lastIndex} but durable last index ${node.disk.lastIndex} with no Ready pending at ${this.where()}`);
    }
    if (node.applied !== node.sm.index) {
      violation('driver-mismatch', `${node.id} core applied ${node.applied} but the state machine is at ${node.sm.index} at ${this.where()}`);
    }
  }

  /** Persist, send, restore, apply, advance: the production order. */
  private complete(node: SimNode, pending: PendingReady): void {
    const raft = node.raft;
    if (raft === null) return;
    const { ready } = pending;
    const disk = node.disk;
    const commitBefore = Math.max(disk.hardState.commit, disk.snapshotIndex);
    this.trace.add(30, this.time, node.idx, ready.entries.length, ready.messages.length, ready.committed.length);

    if (ready.softState !== null) this.role?.onSoftState(node.idx, ready.softState.leader);
    if (ready.hardState !== null) {
      this.checker.onHardState(node.id, disk.hardState, ready.hardState);
      disk.saveHardState(ready.hardState);
    }
    if (ready.snapshot !== null) this.persistSnapshot(node, ready.snapshot, commitBefore);
    if (ready.entries.length > 0) this.persistEntries(node, ready, commitBefore);
    if (ready.mustSync) disk.sync();
    if (ready.hardState !== null) {
      this.checker.onCommitPersisted(node.id, disk, ready.hardState.commit, pending.term);
      // A leader failing right after it committed: Figure 8's step (d) -> (e).
      if (node.role === 'leader' && ready.hardState.commit > commitBefore && this.phase === 'fault' && this.nemesisRng.chance(this.profile.commitStrikeP)) {
        this.scheduleControl({ kind: 'strike', time: this.time + this.nemesisRng.range(0, 3), node: node.idx, term: node.term });
      }
    }
    if (node.role === 'leader') this.checker.checkLeaderCompleteness(node.id, node.term, disk);

    for (const msg of pending.later) this.send(node, msg);

    if (ready.snapshot !== null) {
      const meta = ready.snapshot.meta;
      if (meta.index <= node.sm.index) {
        violation('applied-regressed', `${node.id} told to install snapshot at ${meta.index} with ${node.sm.index} already applied at ${this.where()}`);
      }
      node.sm.restore(ready.snapshot.data);
      this.stats.snapshotsInstalled++;
      this.emit(`${node.id} installed snapshot ${meta.index}/${meta.term}`);
    }
    const roleMarks = this.role?.roleMarks(node.idx);
    for (const entry of ready.committed) {
      if (entry.index !== node.sm.index + 1) {
        violation('apply-order', `${node.id} handed entry ${entry.index} to apply after ${node.sm.index} at ${this.where()}`);
      }
      node.sm.apply(entry);
      const durable = disk.chainAt(entry.index);
      if (durable === undefined) violation('commit-beyond-log', `${node.id} applies entry ${entry.index} it does not hold durably (last ${disk.lastIndex}) at ${this.where()}`);
      if (durable !== node.sm.hash) violation('state-machine-safety', `${node.id} applies entry ${entry.index} that differs from its own durable log at ${this.where()}`);
      this.checker.onApplied(node.id, entry.index, node.sm.hash);
      this.stats.applied++;
    }
    if (roleMarks !== undefined && ready.committed.length > 0) this.role?.afterApply(node.idx, ready.committed, roleMarks);
    for (const rs of ready.readStates) {
      if (this.checker.onReadState(node.id, rs.ctx, rs.index)) this.stats.reads++;
    }
    this.op = 'advance';
    this.opNode = node.id;
    raft.advance(ready);
    this.observe(node);
  }

  private persistSnapshot(node: SimNode, snapshot: Snapshot, commitBefore: number): void {
    const disk = node.disk;
    const meta = snapshot.meta;
    const fp = this.app.fingerprint(snapshot.data);
    if (fp.index !== meta.index || fp.term !== meta.term) {
      violation('bad-ready', `${node.id} snapshot meta ${meta.index}/${meta.term} does not match its data ${fp.index}/${fp.term} at ${this.where()}`);
    }
    if (meta.index <= disk.snapshotIndex) {
      violation('bad-ready', `${node.id} handed snapshot ${meta.index} not newer than its durable snapshot ${disk.snapshotIndex} at ${this.where()}`);
    }
    const overwrite = disk.installSnapshot(snapshot, fp.hash);
    this.checker.onSnapshot(node.id, meta.index, meta.term, fp.hash);
    if (overwrite !== null) this.checker.onOverwrite(node.id, disk, overwrite, commitBefore);
  }

  private persistEntries(node: SimNode, ready: Ready, commitBefore: number): void {
    const disk = node.disk;
    const first = ready.entries[0]?.index ?? 0;
    ready.entries.forEach((e, k) => {
      if (e.index !== first + k) violation('bad-ready', `${node.id} ready entries not contiguous at ${e.index} at ${this.where()}`);
    });
    // Entries the snapshot already covers are skipped (the storage contract); a gap is a bug.
    if (first > disk.lastIndex + 1) {
      violation('bad-ready', `${node.id} ready entries start at ${first}, leaving a gap after durable last index ${disk.lastIndex} at ${this.where()}`);
    }
    const overwrite = disk.append(ready.entries);
    if (overwrite !== null) {
      this.emit(`${node.id} log truncated from ${overwrite.from}`);
      this.checker.onOverwrite(node.id, disk, overwrite, commitBefore);
    }
    this.checker.onEntriesWritten(node.id, disk, Math.max(first, disk.snapshotIndex + 1));
  }

  // --- network ------------------------------------------------------

  private indexOf(id: NodeId): number {
    const idx = this.nodes.findIndex((n) => n.id === id);
    if (idx < 0) violation('bad-message', `message names unknown node ${id} at ${this.where()}`);
    return idx;
  }

  private send(from: SimNode, msg: Message): void {
    this.stats.messages++;
    validateMessage(from.id, msg, (m) => violation('bad-message', `${from.id} sent ${describeMessage(msg)}: ${m} at ${this.where()}`));
    const to = this.indexOf(msg.to);
    this.trace.add(40 + MESSAGE_CODES[msg.type], this.time, from.idx, to, msg.term);
    const rng = this.netRng;
    const storm = this.phase === 'fault' && this.stormUntil > this.time;
    const faulty = this.phase === 'fault';
    const lossP = storm ? 0.5 : faulty ? this.profile.lossP : 0;
    if (this.blocked[from.idx * this.n + to] !== 0 || rng.chance(lossP)) {
      this.stats.dropped++;
      return;
    }
    const copies = faulty && rng.chance(this.profile.dupP) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      // Healed means a good LAN too: liveness measures the protocol, not a starved link.
      let delay = faulty ? rng.range(this.profile.minDelayUnits, this.profile.maxDelayUnits) : rng.range(1, 3);
      if (faulty && rng.chance(this.profile.reorderP)) delay += rng.exp(this.profile.reorderMeanUnits);
      if (storm) delay *= 3;
      this.scheduleMessage(to, msg, this.time + delay);
    }
  }

  private scheduleMessage(to: number, msg: Message, time: number): void {
    if (this.inFlight >= MAX_MESSAGES_IN_FLIGHT) {
      this.stats.dropped++;
      return;
    }
    this.inFlight++;
    this.schedule({ kind: 'deliver', time, to, msg });
  }

  private scheduleControl(event: SimEvent): void {
    this.schedule(event);
  }

  private cut(links: readonly number[], what: string): void {
    if (this.cuts.size >= MAX_ACTIVE_CUTS) {
      const oldest = this.cuts.keys().next().value as number;
      this.heal(oldest);
    }
    const id = this.nextId++;
    this.cuts.set(id, links);
    for (const l of links) this.blocked[l] = (this.blocked[l] as number) + 1;
    this.stats.partitions++;
    const ticks = this.nemesisRng.exp(this.profile.faultMeanTicks);
    this.emit(`CUT #${id} ${what} for ${ticks} ticks`);
    this.trace.add(24, this.time, id, links.length);
    this.scheduleControl({ kind: 'heal', time: this.time + ticks * TICK_UNITS, cut: id });
  }

  private heal(id: number): void {
    const links = this.cuts.get(id);
    if (links === undefined) return;
    this.cuts.delete(id);
    for (const l of links) this.blocked[l] = (this.blocked[l] as number) - 1;
    this.emit(`HEAL #${id}`);
  }

  private link(from: number, to: number): number {
    return from * this.n + to;
  }

  // --- nemesis ------------------------------------------------------

  private onNemesis(): void {
    if (this.phase !== 'fault') return;
    const rng = this.nemesisRng;
    this.schedule({ kind: 'nemesis', time: this.time + rng.exp(this.profile.nemesisMeanTicks * TICK_UNITS) });
    const action = this.pickAction();
    // Cuts need two sides.
    if (this.n < 2 && (action === 'partition' || action === 'isolate' || action === 'oneWay')) return;
    const duration = (): number => rng.exp(this.profile.faultMeanTicks) * TICK_UNITS;
    const idxs = this.nodes.map((n) => n.idx);
    switch (action) {
      case 'partition': {
        const order = rng.shuffle(idxs.slice());
        const k = rng.range(1, this.n - 1);
        const a = order.slice(0, k);
        const b = order.slice(k);
        const links: number[] = [];
        for (const x of a) for (const y of b) links.push(this.link(x, y), this.link(y, x));
        this.cut(links, `partition ${a.map((i) => nodeName(this.nodes, i)).join(',')} | ${b.map((i) => nodeName(this.nodes, i)).join(',')}`);
        return;
      }
      case 'isolate': {
        const x = this.victim().idx;
        const links: number[] = [];
        for (const y of idxs) if (y !== x) links.push(this.link(x, y), this.link(y, x));
        this.cut(links, `isolate ${nodeName(this.nodes, x)}`);
        return;
      }
      case 'oneWay': {
        const x = rng.pick(idxs);
        const outbound = rng.chance(0.5);
        if (rng.chance(0.5)) {
          const links = idxs.filter((y) => y !== x).map((y) => (outbound ? this.link(x, y) : this.link(y, x)));
          this.cut(links, `one-way: ${nodeName(this.nodes, x)} ${outbound ? 'cannot send' : 'cannot receive'}`);
        } else {
          const y = rng.pick(idxs.filter((i) => i !== x));
          this.cut([this.link(x, y)], `one-way ${nodeName(this.nodes, x)} -/-> ${nodeName(this.nodes, y)}`);
        }
        return;
      }
      case 'crash': {
        const node = this.victim();
        if (node.raft === null) return;
        this.crash(node);
        this.scheduleControl({ kind: 'restart', time: this.time + duration(), node: node.idx, crash: node.crashId });
        return;
      }
      case 'pause': {
        const node = this.victim();
        if (node.raft === null || this.isPaused(node)) return;
        this.pause(node, this.time + duration());
        return;
      }
      case 'slowDisk': {
        const node = rng.pick(this.nodes);
        node.slowDisk = true;
        node.slowDiskId = this.nextId++;
        const d = duration() * 2;
        this.emit(`${node.id} disk slow for ${(d / TICK_UNITS).toFixed(0)} ticks`);
        this.scheduleControl({ kind: 'diskFast', time: this.time + d, node: node.idx, slow: node.slowDiskId });
        return;
      }
      case 'storm': {
        this.stormId = this.nextId++;
        this.stormUntil = this.time + duration();
        this.emit(`network storm until ${(this.stormUntil / TICK_UNITS).toFixed(1)}`);
        this.scheduleControl({ kind: 'stormEnd', time: this.stormUntil, storm: this.stormId });
        return;
      }
      case 'heal':
        for (const id of [...this.cuts.keys()]) this.heal(id);
        return;
      case 'sick':
        return this.role?.makeSick(duration());
      case 'slowDriver':
        return this.role?.makeDriverSlow(duration() * 2);
      case 'brokenDriver':
        return this.role?.makeDriverBroken(duration() * 2);
      default:
        return unreachable(action);
    }
  }

  /**
   * Sometimes a new leader is cut down within a tick or two: its first
   * entries (its no-op, a re-sent entry of an older term) reach only some
   * followers. That is the ground Figure 8 of the Raft paper grows on.
   */
  private maybeStrike(node: SimNode, term: number): void {
    if (this.phase !== 'fault' || !this.nemesisRng.chance(this.profile.strikeP)) return;
    this.scheduleControl({ kind: 'strike', time: this.time + this.nemesisRng.range(0, this.profile.maxDelayUnits), node: node.idx, term });
  }

  private onStrike(idx: number, term: number): void {
    const node = this.nodes[idx] as SimNode;
    if (this.phase !== 'fault' || node.raft === null || node.role !== 'leader' || node.term !== term) return;
    const rng = this.nemesisRng;
    if (rng.chance(0.5)) {
      this.crash(node);
      this.scheduleControl({ kind: 'restart', time: this.time + rng.exp(this.profile.faultMeanTicks) * TICK_UNITS, node: node.idx, crash: node.crashId });
    } else {
      const links: number[] = [];
      for (const y of this.nodes) if (y !== node) links.push(this.link(node.idx, y.idx), this.link(y.idx, node.idx));
      this.cut(links, `strike: isolate new leader ${node.id}`);
    }
  }

  /** Half the time the leader: faults that hit the leader are the ones that force elections over divergent logs. */
  private victim(): SimNode {
    const leader = this.currentLeader();
    if (leader !== null && this.nemesisRng.chance(this.profile.leaderVictimP)) return leader;
    return this.nemesisRng.pick(this.nodes);
  }

  private pickAction(): NemesisAction {
    return this.nemesisRng.pickWeighted(NEMESIS_ACTIONS, this.profile.weights, 'heal');
  }

  // --- clients --------------------------------------------------------

  private liveNodes(): SimNode[] {
    return this.nodes.filter((n) => n.raft !== null && !this.isPaused(n));
  }

  /** The live leader with the highest term, as a client's retry loop would find it. */
  private currentLeader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.liveNodes()) if (n.role === 'leader' && (best === null || n.term > best.term)) best = n;
    return best;
  }

  private onClient(): void {
    const rng = this.clientRng;
    this.schedule({ kind: 'client', time: this.time + rng.exp(this.profile.clientMeanUnits) });
    if (this.phase === 'liveness') {
      this.maybeProposeMarker();
      return;
    }
    const live = this.liveNodes();
    if (live.length === 0) return;
    const p = this.profile;
    const r = rng.next();
    if (r < p.readP) return this.clientRead(rng.pick(live));
    if (r < p.readP + p.compactP) return this.clientCompact(rng.pick(live));
    if (r < p.readP + p.compactP + p.transferP) return this.clientTransfer();
    if (r < p.readP + p.compactP + p.transferP + p.memberChangeP) return this.clientMembership();
    const leader = this.currentLeader();
    const target = leader !== null && rng.chance(0.85) ? leader : rng.pick(live);
    // Clients keep a bounded window of proposals in flight, like any real client pool.
    if (target.lastIndex - target.commit > CLIENT_WINDOW_ENTRIES) return;
    const burst = rng.range(1, p.proposeBurstMax);
    // Some commands go fire-and-forget through whichever node the client reached.
    if (rng.chance(0.15)) return this.forward(rng.pick(live), burst);
    for (let i = 0; i < burst; i++) this.propose(target, rng.int(KEYS - 1), `v${this.commandSeq + 1}`);
  }

  private propose(node: SimNode, key: number, value: string): boolean {
    const raft = node.raft;
    if (raft === null) return false;
    const id = `c${++this.commandSeq}`;
    this.op = 'propose';
    this.opNode = node.id;
    const result = raft.propose(this.app.encode({ id, key, value }));
    this.trace.add(50, this.time, node.idx, result.ok ? result.index : -1);
    if (result.ok) {
      this.stats.proposals++;
      this.emit(`client: ${id} -> ${node.id} accepted at ${result.index}/${result.term}`);
    } else {
      this.stats.proposalsRefused++;
      this.emit(`client: ${id} -> ${node.id} refused ${result.refusal.code}`);
    }
    this.observe(node);
    this.drain(node);
    return result.ok;
  }

  private forward(node: SimNode, count: number): void {
    const raft = node.raft;
    if (raft === null) return;
    this.op = 'forward';
    this.opNode = node.id;
    for (let i = 0; i < count; i++) {
      const id = `c${++this.commandSeq}`;
      raft.forward(this.app.encode({ id, key: this.clientRng.int(KEYS - 1), value: `v${this.commandSeq}` }));
    }
    this.stats.forwarded += count;
    this.emit(`client: ${count} command(s) forwarded through ${node.id} (${node.role})`);
    this.trace.add(55, this.time, node.idx, count);
    this.observe(node);
    this.drain(node);
  }

  private clientRead(node: SimNode): void {
    const raft = node.raft;
    if (raft === null) return;
    const ctx = `r${++this.readSeq}`;
    this.checker.issueRead(ctx, node.id);
    this.emit(`client: read ${ctx} on ${node.id} (applied anywhere: ${this.checker.appliedMax})`);
    this.trace.add(51, this.time, node.idx);
    this.op = 'readIndex';
    this.opNode = node.id;
    raft.readIndex(ctx);
    this.observe(node);
    this.drain(node);
  }

  private clientCompact(node: SimNode): void {
    const raft = node.raft;
    if (raft === null || node.pending !== null) return;
    const sm = node.sm;
    if (sm.index - node.disk.snapshotIndex < this.profile.compactMinEntries) return;
    const own = node.disk.chainAt(sm.index);
    if (own !== sm.hash) violation('state-machine-safety', `${node.id} state machine at ${sm.index} differs from its own durable log at ${this.where()}`);
    const data = sm.snapshot();
    this.op = 'compact';
    this.opNode = node.id;
    raft.compact(sm.index, data);
    const s = raft.status();
    if (s.snapshotTerm !== sm.term) violation('bad-ready', `${node.id} compacted at ${sm.index}: core says term ${s.snapshotTerm}, the entry has ${sm.term} at ${this.where()}`);
    node.disk.compact({ meta: { index: sm.index, term: s.snapshotTerm, membership: s.snapshotMembership }, data }, sm.hash);
    this.stats.compactions++;
    this.emit(`${node.id} compacted to ${sm.index}`);
    this.trace.add(52, this.time, node.idx, sm.index);
    this.observe(node);
    this.drain(node);
  }

  private clientTransfer(): void {
    const leader = this.currentLeader();
    if (leader === null || leader.raft === null) return;
    // Sometimes the leader stands again itself (Raft.reelect: a transfer to itself).
    if (this.clientRng.chance(0.25)) {
      this.op = 'reelect';
      this.opNode = leader.id;
      leader.raft.reelect();
      this.stats.transfers++;
      this.emit(`client: ${leader.id} stands again in the next term`);
      this.trace.add(53, this.time, leader.idx, leader.idx, 1);
      this.observe(leader);
      this.drain(leader);
      return;
    }
    const others = this.nodes.filter((n) => n !== leader);
    if (others.length === 0) return;
    const to = this.clientRng.pick(others);
    this.op = 'transferLeadership';
    this.opNode = leader.id;
    const result = leader.raft.transferLeadership(to.id);
    this.stats.transfers++;
    this.emit(`client: transfer ${leader.id} -> ${to.id}: ${result.ok ? 'started' : result.refusal.code}`);
    this.trace.add(53, this.time, leader.idx, to.idx, result.ok ? 1 : 0);
    this.observe(leader);
    this.drain(leader);
  }

  /** One membership change at a time, through the leader: add a non-member as learner, promote a learner, or remove a voter. */
  private clientMembership(): void {
    const leader = this.currentLeader();
    if (leader === null || leader.raft === null || leader.membership === null) return;
    const m = leader.membership;
    const isMember = (id: NodeId): boolean => m.voters.some((v) => v.id === id) || m.learners.some((l) => l.id === id);
    const options: MembershipChange[] = [];
    for (const n of this.nodes) if (!isMember(n.id)) options.push({ op: 'addLearner', member: n.member });
    for (const l of m.learners) options.push({ op: 'promote', id: l.id });
    if (m.voters.length > 2) for (const v of m.voters) options.push({ op: 'remove', id: v.id });
    if (options.length === 0) return;
    const change = this.clientRng.pick(options);
    this.op = 'proposeMembership';
    this.opNode = leader.id;
    const result = leader.raft.proposeMembership(change);
    this.stats.memberChanges += result.ok ? 1 : 0;
    this.emit(`client: membership ${JSON.stringify(change)} -> ${leader.id}: ${result.ok ? `accepted at ${result.index}` : result.refusal.code}`);
    this.trace.add(54, this.time, leader.idx, result.ok ? result.index : -1);
    this.observe(leader);
    this.drain(leader);
  }

  // --- liveness -------------------------------------------------------

  private enterLiveness(): void {
    this.phase = 'liveness';
    this.livenessStart = this.time;
    this.emit('--- liveness phase: healing everything, faults off ---');
    for (const id of [...this.cuts.keys()]) this.heal(id);
    this.stormUntil = 0;
    this.role?.heal();
    for (const node of this.nodes) {
      node.slowDisk = false;
      if (node.raft === null) this.start(node);
      else if (node.pausedUntil !== 0) this.resume(node);
    }
  }

  private maybeProposeMarker(): void {
    const leader = this.currentLeader();
    if (leader === null) return;
    const target = `${leader.id}/${leader.term}`;
    const retryUnits = 3 * this.profile.electionTicks * TICK_UNITS;
    if (target === this.markerTarget && this.time - this.markerAt < retryUnits) return;
    if (this.propose(leader, MARKER_KEY, `live${++this.markerSeq}`)) {
      this.markerTarget = target;
      this.markerAt = this.time;
    }
  }

  /** Every member up, the same fresh marker applied on all of them, and no witness left leading. */
  private converged(): boolean {
    const leader = this.currentLeader();
    if (leader === null || leader.membership === null) return false;
    const m = leader.membership;
    let value: string | null = null;
    for (const node of this.nodes) {
      if (node.raft === null || this.isPaused(node)) return false;
      if (!m.voters.some((v) => v.id === node.id) && !m.learners.some((l) => l.id === node.id)) continue;
      const v = node.sm.get(MARKER_KEY);
      if (v === null || (value !== null && v !== value)) return false;
      value = v;
      if (node.role === 'leader' && node.member.kind === 'witness') return false;
    }
    return this.role === null || this.role.converged();
  }

  private describeNodes(): string {
    const raft = this.nodes
      .map((n) => `${n.id}(${n.member.kind}${n.raft === null ? ' down' : ''} ${n.role} t${n.term} c${n.commit} a${n.sm.index} last${n.lastIndex} marker=${n.sm.get(MARKER_KEY) ?? '-'})`)
      .join(' ');
    return this.role === null ? raft : `${raft}; role: ${this.role.notConverged() ?? 'converged'}; ${this.role.describe()}`;
  }
}

const ROLE_CODES: Readonly<Record<RaftRole, number>> = { follower: 1, 'pre-candidate': 2, candidate: 3, leader: 4 };

function nodeName(nodes: readonly SimNode[], idx: number): string {
  return (nodes[idx] as SimNode).id;
}

export function runSchedule(options: ScheduleOptions, log: ((line: string) => void) | null = null): ScheduleResult {
  return new Simulation(options, log).run();
}
