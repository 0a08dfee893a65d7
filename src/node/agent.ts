/**
 * One hapair node: storage, transport and the Raft driver loop, the
 * replicated state, the role loop that turns decisions into VIP moves, and
 * the HTTP API. Everything with I/O is here or below; the decisions are in
 * src/raft and src/role.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { ClusterService, ClusterEvent, ClusterEventListener, LeaderApi, Probe, SetupCheck } from '../api/cluster-service.js';
import { buildApiServer } from '../api/server.js';
import { loadTokensFile, TokenStore } from '../auth/tokens.js';
import type { NodeConfig } from '../config/node-config.js';
import { parseHostPort } from '../config/address.js';
import { COMMAND_LIMITS, encodeCommand, makeCommand, type ClusterCommand, type CommandType } from '../fsm/commands.js';
import type { ApplyResult } from '../fsm/apply.js';
import type { ClusterState, VipSetupReport } from '../fsm/state.js';
import { desiredVipState, type DesiredVipState, type DriverResult, type NetworkDriver, type ReconcileReport } from '../network/driver.js';
import { SimNetworkDriver } from '../network/sim-driver.js';
import { LinuxDriver, type LinuxDriverEvent } from '../network/linux-driver.js';
import { HookRunner } from '../network/hooks.js';
import { MonitorRunner } from '../monitor/runner.js';
import { monitorsRunBy, type VipSettings } from '../fsm/settings.js';
import type { Entry, Membership, NodeId } from '../raft/types.js';
import { decide, initialRoleMemory, policyAfterAttempt, policyApplied, roleConfigFromSettings } from '../role/decide.js';
import type { Condition, PolicyView, RoleAction, RoleDecision, RoleInput, RoleMemory } from '../role/types.js';
import { LevelDbStorage } from '../storage/leveldb-storage.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import { roundTripMessages } from '../transport/frame.js';
import { warmUpRaftCore } from '../raft/warm-up.js';
import { xorshift32 } from '../util/xorshift.js';
import { unreachable } from '../util/assert.js';
import { AgentService } from './agent-service.js';
import { AnnounceGate } from './announce-gate.js';
import { createNodeMetrics, type NodeMetrics } from './metrics.js';
import { RaftNode } from './raft-node.js';
import type { RaftStatus } from '../raft/raft.js';
import { ReplicatedState } from './replicated-state.js';
import { TimerPolicy, electionJitter, readVoteRefusalMs, tickTimers, writeVoteRefusalMs } from './raft-timing.js';
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
  silentTicks,
  type ReachabilityView,
  type RegrantAttempt,
  type SentHealthReport,
} from './role-input.js';
import { VERSION } from './version.js';
import { VipPipeline, type PendingTransfer } from './vip-pipeline.js';
import { HoldFault } from './hold-fault.js';
import { CLEANUP_RETRY_MS, localConditions, reportedVipSetup } from './local-conditions.js';

/** One tick of the Raft core and of the role loop. Timers in the settings are whole multiples of it. */
export const TICK_MS = 10;
/** How often a node re-checks that its VIPs' devices exist when nothing changed (SETUP_INVALID). */
const VIP_CHECK_MS = 10_000;
/** A member report is re-sent at most this often while the state does not show it. */
const REPORT_RETRY_TICKS = REPORT_RETRY_MS / TICK_MS;
/** The network layer's check: fence, VIPs, stray addresses. */
const RECONCILE_MS = 1000;

export interface AgentOptions {
  readonly config: NodeConfig;
  readonly logger?: Logger;
  /** Replaces the network driver named in the config (tests). */
  readonly driver?: NetworkDriver;
}

export class Agent {
  readonly id: NodeId;
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly replicated = new ReplicatedState();
  readonly startedAt = performance.now();
  node!: RaftNode;
  driver!: NetworkDriver;
  metrics!: NodeMetrics;
  private transport!: TcpTransport;
  private api: FastifyInstance | null = null;
  private roleTimer: NodeJS.Timeout | null = null;
  /** A role pass asked for by an event, before the next tick. */
  private roleSoonPending = false;
  private nowTick = 0;
  private memory: RoleMemory = initialRoleMemory();
  private lastInputValue: RoleInput | null = null;
  /** Who was heard when, as the last role pass saw it (isReachable). */
  private passReach: ReachabilityView | null = null;
  private lastDecisionValue: RoleDecision | null = null;
  private readonly lastHeardTick = new Map<NodeId, number>();
  /** LinuxDriver.warmUp has been started (once, after the start-up clean-up). */
  private driverWarmed = false;
  private readonly vips = new VipPipeline();
  private readonly announceGate = new AnnounceGate();
  /** The Raft leader as of the last soft-state change: read per peer on every role tick, so kept rather than asked for. */
  private knownLeader: NodeId | null = null;
  /** See ReachabilityView.lastLeader. */
  private lastLeader: ReachabilityView['lastLeader'] = null;
  /** Role tick at which knownLeader last changed. */
  private knownLeaderSinceTick = 0;
  private regranted: RegrantAttempt | null = null;
  private policyState: PolicyView = policyApplied(0);
  private policyBusy = false;
  private lastReportSent: SentHealthReport | null = null;
  private lastRegisterTick = -Infinity;
  private readonly listeners = new Set<ClusterEventListener>();
  private stopping = false;
  private fatal: Error | null = null;
  private lastHeardFromHolder: { holder: NodeId; atMs: number } | null = null;
  private monitors!: MonitorRunner;
  private readonly hooks = new HookRunner({
    onOutcome: (o) => {
      const ok = o.code === 0 && !o.timedOut;
      const line = `hook ${o.command} (${o.role}) ${o.timedOut ? 'timed out' : `exited ${o.code ?? 'abnormally'}`} after ${Math.round(o.durationMs)} ms${o.detail === '' ? '' : `: ${o.detail}`}`;
      if (ok) this.log.info(line);
      else this.log.error(line);
    },
  });
  /** VIPs left by a crash are removed once the log has caught up, before this node may take the role. */
  private startupCleanup: 'pending' | 'running' | 'done' = 'pending';
  /** A failed start-up clean-up is tried again at the pace of the network layer's check, not every tick. */
  private cleanupRetryTick = 0;
  /** What the last start-up clean-up could not do (empty once it succeeds): reported with the VIP check, see reportedVipSetup. */
  private cleanupErrors: readonly string[] = [];
  /** Failures to take or keep the VIPs: reported with the VIP check once they last, so the role moves on (R4). */
  private readonly holdFault = new HoldFault();
  private reconcileTimer: NodeJS.Timeout | null = null;
  /** A check waiting behind a slow driver call (a release waiting out a lease) is not joined by the next ones. */
  private reconciling = false;
  /** Repairs of the network layer (fence table flushed, VIP removed by hand), shown as a condition for a while. */
  private lastRepair: { atTick: number; detail: string } | null = null;
  /** What the network layer's last check, or a release, could not put right; cleared by a check that finds nothing wrong. */
  private networkErrors: readonly string[] = [];
  private announcedRole: 'active' | 'standby' | 'fault' | null = null;
  private timerPolicy!: TimerPolicy;
  /** The timers last given to the core (as JSON), to give them again only when they change. */
  private raftTimersKey = '';
  /** The Raft membership the transport's peers were last set from. */
  private peersMembership: Membership | null = null;
  /** Each member's reachability as last seen, for member reachable/unreachable events. */
  private readonly reachableSeen = new Map<NodeId, boolean>();
  /**
   * The last check of this node's VIPs' devices (at once when the settings
   * change, then with the reconcile loop): raised as SETUP_INVALID, and
   * reported to the cluster so that the role never goes to a node that
   * cannot hold the VIPs. Null until the first check ends.
   */
  private vipSetup: VipSetupReport | null = null;
  private vipCheck: { settings: ClusterState['settings'] | null; atMs: number } = { settings: null, atMs: 0 };

  constructor(private readonly options: AgentOptions) {
    this.config = options.config;
    this.id = options.config.node.id;
    this.log = options.logger ?? pino({ level: options.config.log?.level ?? 'info', base: { node: this.id }, ...logTimestamp() }, pino.destination(2));
  }

  async start(): Promise<void> {
    const { config } = this;
    this.driver = this.options.driver ?? (await this.makeDriver());
    this.monitors = new MonitorRunner({
      interfaces: config.network.interfaces ?? {},
      onTransition: (t) => {
        this.log.warn({ monitor: t.name, from: t.from, to: t.to }, `monitor ${t.name}: ${t.from} -> ${t.to} (${t.detail})`);
        this.emit({ type: 'monitor', at: new Date().toISOString(), node: this.id, monitor: t.name, up: t.to === 'up', detail: t.detail });
      },
    });
    const storage = await LevelDbStorage.open(join(config.node.dataDir, 'raft'));
    this.transport = new TcpTransport({
      id: this.id,
      cluster: config.cluster.name,
      listen: config.peer.listen,
      logger: this.log.child({ part: 'transport' }),
      random: seededRandom(),
    });
    this.transport.onMessages((messages) => {
      const now = this.currentTick();
      for (const m of messages) this.lastHeardTick.set(m.from, now);
    });
    this.transport.onPeerEvent((event) => {
      if (event.type === 'rejected' || event.type === 'protocolError') {
        this.log.warn({ event }, `peer connection refused: ${event.reason}`);
      }
    });
    // Until the applied state says otherwise every node runs the default timers (revision 0);
    // a previous run may have promised a longer vote refusal (docs/raft-timing.md).
    const timers = tickTimers(this.replicated.state.settings, TICK_MS);
    const promisedMs = readVoteRefusalMs(config.node.dataDir);
    this.timerPolicy = new TimerPolicy(this.id, timers, promisedMs === null ? null : Math.ceil(promisedMs / TICK_MS));
    this.node = new RaftNode({
      id: this.id,
      storage,
      transport: this.transport,
      stateMachine: this.replicated,
      bootstrap: bootstrapMembership(config),
      tickMs: TICK_MS,
      electionTicks: timers.electionTicks,
      heartbeatTicks: timers.heartbeatTicks,
      electionJitter: electionJitter(timers.electionTicks),
      voteRefusalTicks: this.timerPolicy.voteRefusalTicks,
      ...(config.raft?.snapshotEveryEntries === undefined ? {} : { snapshotEveryEntries: config.raft.snapshotEveryEntries }),
      random: seededRandom(),
      onSoftState: (role, leader) => {
        if (leader !== this.knownLeader) {
          const tick = this.currentTick();
          this.lastLeader = lastLeaderOnChange(this.lastLeader, {
            was: this.knownLeader,
            sinceTick: this.knownLeaderSinceTick,
            now: leader,
            nowTick: tick,
            self: this.id,
            state: this.state,
            electionTicks: this.electionTicksNow(),
          });
          this.knownLeaderSinceTick = tick;
        }
        this.knownLeader = leader;
        this.roleSoon();
        this.log.info({ role, leader }, `raft: ${role}, leader ${leader ?? 'unknown'}`);
        this.emit({ type: 'leader', at: new Date().toISOString(), leader, term: this.node.leaderAndTerm().term });
      },
      // A role pass right after the election step (before the noop's Ready is taken): a planned takeover's
      // grant is then written and sent with the noop instead of one write later.
      onElected: () => queueMicrotask(() => {
        if (this.roleTimer !== null) this.roleTick();
      }),
      onError: (error) => this.onFatal(error),
    });
    this.replicated.onChange((previous, next, entry, result) => this.onStateChange(previous, next, entry, result));
    this.metrics = createNodeMetrics(this.metricsSource());
    const warmStart = performance.now();
    const warm = warmUpRaftCore(roundTripMessages);
    this.log.debug({ ms: Math.round(performance.now() - warmStart), leader: warm.leader }, 'leader code paths warmed up in memory');
    await this.transport.start();
    await this.node.start();
    this.followTimers(this.state);
    // The node is no target for the role until its VIPs' devices are checked (readiness): check them now, not at the first reconcile.
    void this.maybeCheckVips();
    this.updatePeers();
    await this.startApi();
    this.roleTimer = setInterval(() => this.roleTick(), TICK_MS);
    this.reconcileTimer = setInterval(() => void this.reconcile(), RECONCILE_MS);
    this.log.info({ version: VERSION, peer: config.peer.listen, api: config.api.listen }, `hapair ${VERSION} agent ${this.id} started`);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.roleTimer !== null) clearInterval(this.roleTimer);
    if (this.reconcileTimer !== null) clearInterval(this.reconcileTimer);
    this.monitors?.stop();
    this.hooks.killAll();
    await this.api?.close().catch(() => undefined);
    // Give up the VIPs before leaving: the peer takes over without waiting for a lease to run out.
    await this.driver?.setVipState({ hold: false }).catch(() => undefined);
    await this.driver?.close().catch(() => undefined);
    await this.node?.stop().catch((error: unknown) => this.log.error({ err: error }, 'stopping the raft node'));
    this.log.info(`agent ${this.id} stopped`);
  }

  // --- what the service and the metrics read --------------------------------

  get state(): ClusterState {
    return this.replicated.state;
  }

  lastInput(): RoleInput | null {
    return this.lastInputValue;
  }

  lastDecision(): RoleDecision | null {
    return this.lastDecisionValue;
  }

  /** The policy revision this node's driver has in force (0 before any; a witness loads none). */
  appliedPolicyRevision(): number {
    return this.policyState.appliedRevision;
  }

  holdingVips(): boolean {
    return this.vips.applied.hold;
  }

  /**
   * As of the last role pass, so that status, health reports and events agree
   * with that pass's conditions: a message arriving since advances the clock,
   * which could show a member unreachable before any pass has said so.
   */
  isReachable(id: NodeId): boolean {
    return peerReachable(this.passReach ?? this.reach(), id, this.electionTicksNow());
  }

  /** As the last role pass saw them; before the first, the timers of the applied settings (not a number of its own). */
  private electionTicksNow(): number {
    return this.lastInputValue?.config.electionTicks ?? tickTimers(this.state.settings, TICK_MS).electionTicks;
  }

  /** Who this node heard from and when (peers heard directly, or vouched for by the leader's report). */
  private reach(): ReachabilityView {
    return { self: this.id, state: this.state, knownLeader: this.knownLeader, lastLeader: this.lastLeader, lastHeardTick: this.lastHeardTick, nowTick: this.nowTick };
  }

  msSinceHeard(id: NodeId): number | null {
    if (id === this.id) return 0;
    const ticks = silentTicks(this.reach(), id);
    return Number.isFinite(ticks) ? ticks * TICK_MS : null;
  }

  health(): Probe {
    if (this.fatal !== null) return { ok: false, reason: `the agent stopped taking part: ${this.fatal.message}` };
    return { ok: true, reason: 'running' };
  }

  apiUrlOf(id: NodeId): string | null {
    const member = this.state.members.find((m) => m.id === id);
    const bootstrap = this.config.cluster.bootstrap?.find((m) => m.id === id);
    const api = member?.api ?? bootstrap?.api;
    if (api === undefined) return null;
    return `${this.config.api.tls === undefined ? 'http' : 'https'}://${api}`;
  }

  leaderApi(): LeaderApi | null {
    const leader = this.node.leaderAndTerm().leader;
    if (leader === null || leader === this.id) return null;
    const url = this.apiUrlOf(leader);
    return url === null ? null : { id: leader, url };
  }

  subscribe(listener: ClusterEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ClusterEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (error) {
        this.log.error({ err: error }, 'event listener failed');
      }
    }
  }

  /** A command stamped with this node's identity and clock, for automatic actions. */
  command<K extends CommandType>(type: K, fields: Parameters<typeof makeCommand<K>>[1], principal?: string, v?: number): ClusterCommand {
    return makeCommand(type, fields, { at: new Date().toISOString(), principal: principal ?? `node:${this.id}`, v });
  }

  /** Sends a command to the leader without waiting: automatic reports re-send until the state shows them. */
  submit(command: ClusterCommand): void {
    this.node.submit(encodeCommand(command));
  }

  // --- the role loop ----------------------------------------------------------

  /**
   * A role pass as soon as the current event is handled: each step of a
   * takeover (leader elected, noop applied, grant applied) would otherwise
   * wait for the next tick, up to TICK_MS each.
   */
  private roleSoon(): void {
    // Only once the loop runs (start() sets it up last).
    if (this.roleSoonPending || this.stopping || this.roleTimer === null) return;
    this.roleSoonPending = true;
    setImmediate(() => {
      this.roleSoonPending = false;
      this.roleTick();
    });
  }

  /** Role time is monotonic time: a frozen process must not think its peers spoke recently. */
  private currentTick(): number {
    this.nowTick = Math.max(this.nowTick, Math.floor((performance.now() - this.startedAt) / TICK_MS));
    return this.nowTick;
  }

  private roleTick(): void {
    if (this.stopping || this.fatal !== null) return;
    this.node.catchUpTicks();
    this.nowTick = this.currentTick();
    const status = this.node.status();
    if (status.membership !== this.peersMembership) this.updatePeers();
    if (this.startupCleanup === 'pending' && this.nowTick >= this.cleanupRetryTick && this.node.applied >= status.commit) void this.cleanupAtStart();
    // Nothing held or on its way: no failure to hold goes on (one that lasted stays reported a while).
    if (!this.vips.desired.hold && !this.vips.applied.hold) this.holdFault.stopped(performance.now());
    const input = this.roleInput(status);
    const decision = this.withLocalConditions(decide(input));
    this.memory = decision.memory;
    const previousConditions = this.lastDecisionValue?.conditions ?? [];
    this.lastInputValue = input;
    this.passReach = { ...this.reach(), lastHeardTick: new Map(this.lastHeardTick) };
    this.lastDecisionValue = decision;
    this.carryOut(decision.actions);
    this.maybeRegrantAfterLapse(decisionHolds(decision.actions));
    this.maybeRegister();
    this.maybeReportHealth(input);
    this.emitConditionChanges(previousConditions, decision.conditions);
    this.emitReachabilityChanges(status);
  }

  private roleInput(status: RaftStatus): RoleInput {
    return buildRoleInput({
      kind: this.config.node.kind,
      status,
      applied: this.node.applied,
      appliedTerm: this.node.appliedTerm,
      reach: this.reach(),
      tickMs: TICK_MS,
      memory: this.memory,
      health: this.monitors.health(),
      monitors: this.monitors.observations(),
      policy: this.policyState,
      holdingVips: this.vips.applied.hold,
      vipSetup: reportedVipSetup(this.id, this.vipSetup, this.cleanupErrors, this.holdFault.current(this.id, performance.now())),
    });
  }

  private carryOut(actions: readonly RoleAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'vips': {
          // Until leftovers of a crash are cleaned up, this node holds nothing.
          if (action.hold && this.startupCleanup !== 'done') break;
          const desired = desiredVipState(action, TICK_MS);
          if (!desired.hold) this.announceGate.cancel();
          if (desired.hold && this.vips.renewalNotDue(desired.epoch, performance.now(), this.state.settings.timers.heartbeatMs)) break;
          this.setVips(desired.hold ? { ...desired, fenceMs: Math.max(1, desired.fenceMs - this.node.msIntoTick()) } : desired);
          break;
        }
        case 'announce': {
          const applied = this.vips.applied;
          const held = applied.hold ? applied.epoch : null;
          if (this.vips.desired.hold && this.announceGate.request(action.epoch, held)) this.announce(this.vips.desired.vips, action.epoch);
          break;
        }
        case 'proposeGrant':
          this.log.info({ epoch: action.epoch, reason: action.reason }, `proposing to take the active role (epoch ${action.epoch}, ${action.reason})`);
          this.submit(this.command('grantLease', { holder: this.id, epoch: action.epoch, reason: action.reason, term: this.node.status().term }));
          break;
        case 'proposeIntent':
          this.log.info({ to: action.to, reason: action.reason }, `proposing to move the active role to ${action.to} (${action.reason})`);
          this.submit(this.command('moveIntent', { to: action.to, reason: action.reason, epoch: action.epoch }));
          break;
        case 'transferLeadership':
          // Only once the driver has released the VIPs (the release above may still be under way).
          if (this.vips.deferTransfer(action)) this.log.info({ to: action.to }, `handing leadership to ${action.to} once the VIPs are released`);
          else this.startTransfer(action);
          break;
        case 'reelect':
          this.log.warn(`standing again for leadership in the next term: ${action.why}`);
          this.node.reelect();
          break;
        case 'applyPolicy':
          this.applyPolicy(action.revision);
          break;
        default:
          unreachable(action);
      }
    }
  }

  private startTransfer(transfer: PendingTransfer): void {
    const before = this.node.status();
    const result = this.node.transferLeadership(transfer.to);
    // A target behind the leader's log gets the missing entries first (a round trip with an fsync) before TimeoutNow.
    const targetMatch = before.progress[transfer.to]?.match ?? null;
    this.log.info(
      { to: transfer.to, why: transfer.why, ok: result.ok, targetMatch, lastIndex: before.lastIndex },
      `handing leadership to ${transfer.to}: ${transfer.why}`,
    );
  }

  /** One driver call at a time (VipPipeline); the latest desired state wins. */
  private setVips(desired: DesiredVipState): void {
    const call = this.vips.request(desired, performance.now());
    if (call !== null) this.runVipCall(call);
  }

  private runVipCall(call: DesiredVipState): void {
    // Logged so that a takeover can be timed step by step (npm run bench -- failover).
    if (call.hold && !this.vips.applied.hold) this.log.info({ epoch: call.epoch }, `taking the VIPs (epoch ${call.epoch}, fence ${call.fenceMs} ms)`);
    void this.driver.setVipState(call).then(
      (result) => this.vipCallDone(call, result),
      (error: unknown) => this.vipCallDone(call, { ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  }

  private vipCallDone(call: DesiredVipState, result: DriverResult): void {
    const before = this.vips.applied;
    const nowMs = performance.now();
    const next = this.vips.completed(result.ok, nowMs, !this.stopping);
    if (call.hold) {
      if (result.ok) this.holdFault.succeeded('hold', nowMs);
      else this.holdFault.failed('hold', nowMs, result.error);
    }
    if (result.ok) {
      if (call.hold !== before.hold) this.onVipChange(call);
      const due = this.announceGate.applied(call.hold ? call.epoch : null);
      if (due !== null && call.hold) this.announce(call.vips, due);
    } else {
      this.log.error(`network driver: ${result.error}`);
    }
    if (next !== null) this.runVipCall(next);
    const transfer = this.vips.takeTransfer();
    if (transfer !== null && !this.stopping) this.startTransfer(transfer);
  }

  private announce(vips: readonly VipSettings[], epoch: number): void {
    if (vips.length === 0) return; // held before any VIP is configured (bootstrap): nothing to tell the neighbours
    void this.driver.announce(vips, epoch).then((r) => {
      if (!r.ok) this.log.error(`announcing the VIPs failed: ${r.error}`);
      // Logged so that a takeover can be timed step by step (npm run bench -- failover).
      else this.log.info({ epoch }, `announcing the VIPs (epoch ${epoch})`);
    });
  }

  /**
   * The kernel fence of the epoch this pass's decision holds ran out before
   * a renewal (the process was paused, or renewals were starved): the driver
   * will not hold that epoch again, so a leader that still holds the lease
   * takes a new epoch (shouldRegrantAfterLapse).
   */
  private maybeRegrantAfterLapse(holds: number | null): void {
    // Every role pass asks, so the common case (nothing lapsed) returns before a status is built.
    const lapsed = this.driver.lapsed?.() ?? null;
    if (holds === null || lapsed !== holds) return;
    const status = this.node.status();
    const retryTicks = roleConfigFromSettings(this.state.settings, { tickMs: TICK_MS }).retryTicks;
    const regrant = { self: this.id, holds, lapsed, previous: this.regranted, state: this.state, status, nowTick: this.nowTick, retryTicks };
    if (!shouldRegrantAfterLapse(regrant)) return;
    this.regranted = { epoch: holds, term: status.term, tick: this.nowTick };
    this.log.warn({ epoch: holds }, `the kernel fence of epoch ${holds} lapsed; taking the role again under epoch ${holds + 1}`);
    const v = regrantVersion(this.state, this.id);
    this.submit(this.command('grantLease', { holder: this.id, epoch: holds + 1, reason: 'fence-lapsed', term: status.term }, undefined, v));
  }

  private onVipChange(now: DesiredVipState): void {
    const epoch = now.hold ? now.epoch : (this.state.lease?.epoch ?? null);
    const role = now.hold ? 'active' : this.monitors.health() === 'failed' ? 'fault' : 'standby';
    if (role !== this.announcedRole) {
      this.announcedRole = role;
      this.hooks.fire({ node: this.id, role, epoch, reason: this.state.lease?.reason ?? 'startup' });
    }
    if (now.hold) {
      this.log.warn({ epoch: now.epoch }, `now ACTIVE: holding ${now.vips.map((v) => v.address).join(', ')} (epoch ${now.epoch})`);
      const heard = this.lastHeardFromHolder;
      if (heard !== null && heard.holder !== this.id) {
        this.metrics.lastFailoverSeconds.set((performance.now() - heard.atMs) / 1000);
      }
    } else {
      this.log.warn('VIPs released: this node is not active');
    }
  }

  private applyPolicy(revision: number): void {
    if (this.policyBusy) return;
    this.policyBusy = true;
    const ruleset = this.state.policy.ruleset;
    void this.driver
      .applyPolicy(ruleset, revision)
      .then((result) => {
        this.policyState = policyAfterAttempt(this.policyState, revision, result, this.nowTick);
        if (!result.ok) this.log.error(`policy revision ${revision} not applied: ${result.error}`);
      })
      .finally(() => {
        this.policyBusy = false;
      });
  }

  private maybeRegister(): void {
    const me = this.state.members.find((m) => m.id === this.id);
    const want = {
      id: this.id,
      kind: this.config.node.kind,
      peer: this.config.peer.advertise ?? this.config.peer.listen,
      api: this.config.api.advertise ?? this.config.api.listen,
      version: VERSION,
      entitlementPresent: this.config.node.entitlementFile === undefined ? true : existsSync(this.config.node.entitlementFile),
    };
    const current = registrationCurrent(me, want);
    if (current || this.nowTick - this.lastRegisterTick < REPORT_RETRY_TICKS) return;
    if (this.knownLeader === null) return;
    this.lastRegisterTick = this.nowTick;
    this.submit(this.command('registerMember', { member: want }));
  }

  private maybeReportHealth(input: RoleInput): void {
    const me = this.state.members.find((m) => m.id === this.id);
    if (me === undefined || this.knownLeader === null) return;
    const nowMs = performance.now();
    const report = healthReportOf(input, this.policyState, (id) => this.isReachable(id), this.holdFault.past(this.id, nowMs));
    if (!healthReportDue(me.health, report, this.lastReportSent, this.knownLeader, nowMs)) return;
    this.lastReportSent = { report, leader: this.knownLeader, atMs: nowMs };
    this.submit(this.command('reportHealth', report));
  }

  private onStateChange(previous: ClusterState, next: ClusterState, entry: Entry | null, result: ApplyResult | null): void {
    const at = new Date().toISOString();
    // A new leader's noop (it may now grant), a grant or an intent: the role acts on these now, not at the next tick.
    if (entry?.payload.type === 'noop' || next.lease !== previous.lease || next.intent !== previous.intent) this.roleSoon();
    // The timers follow the settings and the members' reports only; most entries change neither.
    if (next.settings !== previous.settings || next.members !== previous.members) this.followTimers(next);
    const holder = previous.lease?.holder ?? null;
    if (holder !== null && holder !== this.id) {
      // Remember when the old holder was last heard, to measure the takeover.
      const heard = this.lastHeardTick.get(holder);
      this.lastHeardFromHolder = {
        holder,
        atMs: heard === undefined ? performance.now() : performance.now() - (this.nowTick - heard) * TICK_MS,
      };
    }
    if (next.lease !== null && next.lease.epoch !== previous.lease?.epoch) {
      this.metrics.roleMoves.inc({ reason: next.lease.reason });
      if (['failover', 'resource-failure', 'forced'].includes(next.lease.reason)) this.metrics.failovers.inc({ reason: next.lease.reason });
      this.log.info({ holder: next.lease.holder, epoch: next.lease.epoch, reason: next.lease.reason }, `active role granted to ${next.lease.holder} (epoch ${next.lease.epoch}, ${next.lease.reason})`);
      this.emit({ type: 'role', at, active: next.lease.holder, previous: previous.lease?.holder ?? null, epoch: next.lease.epoch, reason: next.lease.reason });
    }
    if (next.settings !== previous.settings) {
      this.monitors.setMonitors(monitorsRunBy(next.settings.monitors, this.id));
      this.hooks.setHooks(next.settings.hooks);
      void this.driver.configureVips?.(next.settings.vips);
      // Until it is checked against the new settings, this node is no target for the role (readiness).
      void this.maybeCheckVips();
    }
    if (next.configRevision !== previous.configRevision) {
      const by = next.audit[next.audit.length - 1]?.principal ?? 'unknown';
      this.emit({ type: 'config', at, revision: next.configRevision, by });
    }
    if (next.policy.revision !== previous.policy.revision) {
      const by = next.audit[next.audit.length - 1]?.principal ?? 'unknown';
      this.emit({ type: 'policy', at, revision: next.policy.revision, by });
    }
    // A restored snapshot (entry null) is how a node catches up, not something that happened now.
    if (entry !== null) this.emitMemberAndBackupEvents(previous, next, entry, result, at);
    if (next.members.length !== previous.members.length || next.members.some((m, i) => previous.members[i]?.peer !== m.peer)) {
      this.updatePeers();
    }
  }

  private emitMemberAndBackupEvents(previous: ClusterState, next: ClusterState, entry: Entry, result: ApplyResult | null, at: string): void {
    for (const m of next.members) {
      const before = previous.members.find((p) => p.id === m.id);
      if (before === undefined) this.emit({ type: 'member', at, node: m.id, change: 'joined' });
      else if (before.maintenance !== m.maintenance) {
        this.emit({ type: 'member', at, node: m.id, change: m.maintenance ? 'maintenance-on' : 'maintenance-off' });
      }
    }
    for (const m of previous.members) {
      if (!next.members.some((n) => n.id === m.id)) {
        this.reachableSeen.delete(m.id);
        this.emit({ type: 'member', at, node: m.id, change: 'left' });
      }
    }
    for (const b of next.backups) {
      if (previous.backups.some((p) => p.id === b.id)) continue;
      this.emit({ type: 'backup', at, id: b.id, action: b.origin === null ? 'created' : 'imported', by: b.author });
    }
    // The entry's own audit record says what it was: no second decode of every command.
    const record = next.audit[next.audit.length - 1];
    if (result?.ok === true && result.backupId !== undefined && record?.index === entry.index && record.command === 'restoreBackup') {
      this.emit({ type: 'backup', at, id: result.backupId, action: 'restored', by: record.principal });
    }
  }

  /** member reachable/unreachable events: each member's reachability as this node sees it, on every change. */
  private emitReachabilityChanges(status: RaftStatus): void {
    for (const m of [...status.membership.voters, ...status.membership.learners]) {
      if (m.id === this.id) continue;
      const now = this.isReachable(m.id);
      const was = this.reachableSeen.get(m.id);
      this.reachableSeen.set(m.id, now);
      // The first look only sets the baseline: at start every peer is still unheard.
      if (was === undefined || was === now) continue;
      this.log.info({ member: m.id }, `${m.id} is ${now ? 'reachable again' : 'unreachable'}`);
      this.emit({ type: 'member', at: new Date().toISOString(), node: m.id, change: now ? 'reachable' : 'unreachable' });
    }
  }

  /**
   * A committed change of the timers reaches the Raft core at once
   * (TimerPolicy): the vote refusal window is written to disk before the
   * core uses it, so no report of the new settings goes out first.
   */
  private followTimers(state: ClusterState): void {
    const policy = this.timerPolicy;
    if (policy.observe(state, tickTimers(state.settings, TICK_MS))) {
      try {
        writeVoteRefusalMs(this.config.node.dataDir, policy.voteRefusalTicks * TICK_MS);
      } catch (error) {
        this.onFatal(new Error(`cannot record the vote refusal window in ${this.config.node.dataDir}: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
    }
    const timers = policy.raftTimers(state);
    const key = JSON.stringify(timers);
    if (key === this.raftTimersKey) return;
    this.raftTimersKey = key;
    this.node.setTimers(timers);
  }

  private emitConditionChanges(before: readonly Condition[], after: readonly Condition[]): void {
    const key = (c: Condition): string => `${c.code}/${c.node ?? ''}`;
    const was = new Map(before.map((c) => [key(c), c]));
    const now = new Map(after.map((c) => [key(c), c]));
    const at = new Date().toISOString();
    for (const [k, c] of now) {
      if (!was.has(k)) {
        this.log.warn({ code: c.code, about: c.node }, `condition raised: ${c.code}: ${c.message}`);
        this.emit({ type: 'condition', at, raised: true, condition: toApiCondition(c) });
      }
    }
    for (const [k, c] of was) {
      if (!now.has(k)) {
        this.log.info({ code: c.code, about: c.node }, `condition cleared: ${c.code}`);
        this.emit({ type: 'condition', at, raised: false, condition: toApiCondition(c) });
      }
    }
  }

  /**
   * Peer addresses come from the committed Raft membership. A node that is
   * not a member yet (it joins a running cluster) also reaches the members
   * its cluster.join names, so it can answer the leader that adds it.
   */
  private updatePeers(): void {
    const status = this.node.status();
    this.peersMembership = status.membership;
    const members = [...status.membership.voters, ...status.membership.learners];
    const peers = new Map(members.filter((m) => m.id !== this.id).map((m) => [m.id, m.peer]));
    if (!members.some((m) => m.id === this.id)) {
      for (const seed of this.config.cluster.join ?? []) if (!peers.has(seed.id)) peers.set(seed.id, seed.peer);
    }
    this.transport.setPeers([...peers].map(([id, address]) => ({ id, address })));
  }

  private async startApi(): Promise<void> {
    const { api } = this.config;
    const tokens = api.tokensFile === undefined ? new TokenStore([]) : loadTokensFile(api.tokensFile);
    if (api.tokensFile === undefined) this.log.warn('api.tokensFile is not set: every API request will be refused (401)');
    const service: ClusterService = new AgentService(this);
    this.api = buildApiServer({
      service,
      tokens,
      logger: this.log.child({ part: 'api' }),
      tls: api.tls ?? null,
      version: VERSION,
    });
    const address = parseHostPort(api.listen);
    if (address === null) throw new Error(`api.listen: not host:port: ${api.listen}`);
    await this.api.listen({ host: address.host, port: address.port });
  }

  private async makeDriver(): Promise<NetworkDriver> {
    const driver = this.config.network.driver;
    switch (driver) {
      case 'sim':
        return new SimNetworkDriver({ node: this.id, clock: () => performance.now() });
      case 'linux': {
        const check = await LinuxDriver.check();
        if (!check.ok) throw new Error(`network.driver linux: ${check.error}`);
        for (const w of check.warnings) this.log.warn(w);
        return new LinuxDriver(this.config.network.interfaces ?? {}, this.id, {
          paths: check.paths,
          onEvent: (e) => this.onDriverEvent(e),
        });
      }
      default:
        return unreachable(driver);
    }
  }

  private onDriverEvent(e: LinuxDriverEvent): void {
    this.log.warn({ event: e.type }, `network: ${e.type}: ${e.detail}`);
    switch (e.type) {
      case 'fence-restored':
      case 'vip-repaired':
        this.lastRepair = { atTick: this.nowTick, detail: e.detail };
        return;
      // The check a second later puts these right, or says why it cannot.
      case 'release-incomplete':
        this.networkErrors = [`VIPs not removed after releasing the role: ${e.detail}`];
        return;
      case 'release-without-fence':
        this.networkErrors = [`fence not silenced after releasing the role: ${e.detail}`];
        return;
      case 'lease-lapsed': // followed by the regrant (maybeRegrantAfterLapse)
      case 'announce-error': // the next announcement tries again
        return;
      default:
        unreachable(e);
    }
  }

  private async cleanupAtStart(): Promise<void> {
    this.startupCleanup = 'running';
    const vips: readonly VipSettings[] = this.state.settings.vips;
    let report: ReconcileReport;
    try {
      report = (await this.driver.cleanupAtStart?.(vips)) ?? { repaired: [], errors: [] };
    } catch (error) {
      // Not left 'running' for good: it is tried again like any failed clean-up.
      report = { repaired: [], errors: [error instanceof Error ? error.message : String(error)] };
    }
    for (const line of report.repaired) this.log.warn(`start-up clean-up: ${line}`);
    for (const line of report.errors) this.log.error(`start-up clean-up failed: ${line}`);
    // What the setup check names too is SETUP_INVALID's, with the fix to make.
    const setup = new Set(report.setup ?? []);
    this.cleanupErrors = report.errors.filter((line) => !setup.has(line));
    this.networkErrors = this.cleanupErrors.map((line) => `start-up clean-up: ${line}`);
    // Before the node may hold the VIPs: a takeover must not share the event loop with the warm-up.
    if (report.errors.length === 0 && this.driver instanceof LinuxDriver && !this.driverWarmed && !this.stopping) {
      this.driverWarmed = true;
      await this.warmDriver(this.driver, vips);
    }
    this.startupCleanup = report.errors.length === 0 ? 'done' : 'pending';
    if (report.errors.length > 0) this.cleanupRetryTick = this.nowTick + CLEANUP_RETRY_MS / TICK_MS;
  }

  /** LinuxDriver.warmUp with this node's VIPs (a documentation address before any is configured). */
  private async warmDriver(driver: LinuxDriver, vips: readonly VipSettings[]): Promise<void> {
    const interfaces = this.config.network.interfaces ?? {};
    const first = Object.keys(interfaces)[0];
    const rehearsed = vips.length > 0 ? vips : first === undefined ? [] : [{ address: '192.0.2.1/24', interface: first }];
    if (rehearsed.length === 0) return;
    const started = performance.now();
    try {
      const problems = await LinuxDriver.warmUp(interfaces, rehearsed, driver.paths);
      this.log.debug({ ms: Math.round(performance.now() - started), problems }, 'network driver takeover code warmed up without touching the kernel');
    } catch (error) {
      this.log.warn(`network driver warm-up failed (harmless; the first takeover may be a little slower): ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async reconcile(): Promise<void> {
    if (this.stopping || this.reconciling) return;
    this.reconciling = true;
    try {
      await this.reconcileOnce();
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    await this.maybeCheckVips();
    if (this.startupCleanup !== 'done') return;
    const holding = this.vips.applied.hold;
    const report = await this.driver.reconcile();
    for (const line of report.repaired) {
      this.log.warn(`network layer repaired: ${line}`);
      this.lastRepair = { atTick: this.nowTick, detail: line };
    }
    for (const line of report.errors) this.log.error(`network layer could not be repaired: ${line}`);
    this.networkErrors = report.errors;
    if (holding && this.vips.applied.hold) {
      if (report.errors.length > 0) this.holdFault.failed('check', performance.now(), report.errors.join('; '));
      else this.holdFault.succeeded('check', performance.now());
    }
  }

  /** What NETWORK_FAULT names: the last check's errors, and driver calls that keep failing to take or renew the VIPs. */
  private networkErrorsNow(): readonly string[] {
    const failing = this.holdFault.failing(performance.now());
    return failing === null ? this.networkErrors : [...this.networkErrors, `taking or renewing the VIPs: ${failing}`];
  }

  /** Conditions only this node can see (its network layer, node config and membership), added to the role logic's. */
  private withLocalConditions(decision: RoleDecision): RoleDecision {
    const local = localConditions({
      id: this.id,
      nowTick: this.nowTick,
      tickMs: TICK_MS,
      lastRepair: this.lastRepair,
      networkErrors: this.networkErrorsNow(),
      vipProblems: this.vipSetup?.problems ?? [],
      removed: this.node.isRemoved(),
    });
    return local.length === 0 ? decision : { ...decision, conditions: [...decision.conditions, ...local] };
  }

  /**
   * This node's setup check (R7): each VIP of the applied settings names a
   * logical interface its node config maps to a device its driver can
   * manage; plus what else keeps this data node from serving (entitlement,
   * the policy in force). A witness holds no VIPs and has nothing to check.
   */
  async setupCheck(): Promise<SetupCheck> {
    if (this.config.node.kind !== 'data') return { ok: true, problems: [], vips: [] };
    const { vips } = await this.checkVips(this.state.settings.vips);
    const problems = vips.flatMap((v) => (v.problem === null ? [] : [v.problem]));
    if (this.config.node.entitlementFile !== undefined && !existsSync(this.config.node.entitlementFile)) {
      problems.push(`${this.id}: the entitlement file ${this.config.node.entitlementFile} (node.entitlementFile) does not exist`);
    }
    const policy = this.state.policy;
    if (this.policyState.failedRevision === policy.revision && this.policyState.appliedRevision !== policy.revision) {
      problems.push(`${this.id}: policy revision ${policy.revision} failed to apply: ${this.policyState.error ?? 'no reason given'}`);
    }
    return { ok: problems.length === 0, problems, vips };
  }

  /** The VIP part of the setup check (vipSetup): when the settings change, else every VIP_CHECK_MS (it lists the devices). */
  private async maybeCheckVips(): Promise<void> {
    const settings = this.state.settings;
    const revision = this.state.configRevision;
    if (settings === this.vipCheck.settings && performance.now() - this.vipCheck.atMs < VIP_CHECK_MS) return;
    this.vipCheck = { settings, atMs: performance.now() };
    const { vips, conclusive } = await this.checkVips(settings.vips);
    // A check of newer settings started meanwhile: its answer is the one that counts.
    if (this.vipCheck.settings !== settings) return;
    if (!conclusive) {
      // A failed `ip link` says nothing about the devices: keep what is known (a standby stays a
      // target for a failover) and try again with the next reconcile.
      this.log.warn(`the VIP device check could not run: ${vips.flatMap((v) => (v.problem === null ? [] : [v.problem]))[0] ?? 'no reason given'}`);
      this.vipCheck = { settings, atMs: 0 };
      return;
    }
    const problems = vips.flatMap((v) => (v.problem === null ? [] : [v.problem.slice(0, COMMAND_LIMITS.textChars)]));
    this.vipSetup = { revision, problems };
  }

  /** Each VIP with its device and problem; not conclusive when the driver could not list the devices. */
  private async checkVips(vips: readonly VipSettings[]): Promise<{ vips: SetupCheck['vips']; conclusive: boolean }> {
    if (this.config.node.kind !== 'data') return { vips: [], conclusive: true };
    const interfaces = this.config.network.interfaces ?? {};
    const devices = [...new Set(vips.flatMap((v) => (interfaces[v.interface] === undefined ? [] : [interfaces[v.interface] as string])))];
    let deviceProblems: Readonly<Record<string, string | null>> = {};
    let conclusive = true;
    if (devices.length > 0 && this.driver.checkDevices !== undefined) {
      try {
        deviceProblems = await this.driver.checkDevices(devices);
      } catch (error) {
        conclusive = false;
        const why = error instanceof Error ? error.message : String(error);
        deviceProblems = Object.fromEntries(devices.map((d) => [d, `cannot check device "${d}": ${why}`]));
      }
    }
    const checked = vips.map((v) => {
      const device = interfaces[v.interface] ?? null;
      let problem: string | null = null;
      if (device === null) {
        problem = `${this.id}: VIP ${v.address} names interface "${v.interface}", which network.interfaces in ${this.id}'s node config does not map to a device`;
      } else {
        const deviceProblem = deviceProblems[device] ?? null;
        if (deviceProblem !== null) problem = `${this.id}: VIP ${v.address} on interface "${v.interface}": ${deviceProblem}`;
      }
      return { address: v.address, interface: v.interface, device, problem };
    });
    return { vips: checked, conclusive };
  }

  private onFatal(error: Error): void {
    this.fatal = error;
    this.log.fatal({ err: error }, `stopping: ${error.message}`);
    void this.driver.setVipState({ hold: false });
  }

  private metricsSource(): Parameters<typeof createNodeMetrics>[0] {
    return {
      nodeId: this.id,
      isActive: () => this.vips.applied.hold,
      epoch: () => this.state.lease?.epoch ?? 0,
      isLeader: () => this.node.status().role === 'leader',
      term: () => this.node.status().term,
      commitIndex: () => this.node.status().commit,
      appliedIndex: () => this.node.applied,
      peerReachability: () =>
        this.node
          .status()
          .membership.voters.filter((m) => m.id !== this.id)
          .map((m) => ({ peer: m.id, reachable: this.isReachable(m.id) })),
      monitorHealth: () => this.monitors.observations().filter((m) => m.reported).map((m) => ({ monitor: m.name, up: m.healthy })),
      conditionCount: () => this.lastDecisionValue?.conditions.length ?? 0,
    };
  }
}

export function toApiCondition(c: Condition): { code: string; severity: 'info' | 'warning' | 'critical'; message: string; node: string | null } {
  return { code: c.code, severity: c.severity === 'error' ? 'critical' : c.severity, message: c.message, node: c.node };
}

function bootstrapMembership(config: NodeConfig): Membership | null {
  const members = config.cluster.bootstrap;
  if (members === undefined) return null;
  return { voters: members.map((m) => ({ id: m.id, kind: m.kind, peer: m.peer })), learners: [] };
}

/** Election jitter needs no secrecy, only independence between nodes: seed a small PRNG from crypto. */
function seededRandom(): () => number {
  return xorshift32(randomBytes(4).readUInt32LE(0));
}

/**
 * HAPAIR_LOG_US=1: log times to the microsecond (Unix ms with three
 * decimals, from the monotonic clock), for timing a failover step by step
 * (`npm run bench -- failover` sets it). Otherwise pino's whole ms.
 */
function logTimestamp(): { timestamp?: () => string } {
  if (process.env['HAPAIR_LOG_US'] !== '1') return {};
  return { timestamp: () => `,"time":${(performance.timeOrigin + performance.now()).toFixed(3)}` };
}
