/**
 * The API's view of a running node (ClusterService over the Agent): reads
 * come from the applied state, writes are committed commands whose apply
 * result decides the answer.
 */
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import {
  ServiceError,
  type AuditEntry,
  type BackupFile,
  type BackupInfo,
  type ClusterEventListener,
  type ClusterService,
  type ConfigView,
  type JoinRequest,
  type LeaderApi,
  type MaintenanceResult,
  type MembershipResult,
  type NodeInfo,
  type NotesView,
  type PolicyView,
  type Principal,
  type Probe,
  type ReadInfo,
  type ReadOptions,
  type RestoreResult,
  type StatusView,
  type SwitchoverRequest,
  type SwitchoverResult,
} from '../api/cluster-service.js';
import type { ApplyResult } from '../fsm/apply.js';
import { formatBackupFile, parseBackupFile, toBackupFile } from '../fsm/backup.js';
import { encodeCommand, makeCommand, type ClusterCommand, type CommandType } from '../fsm/commands.js';
import { canonicalJson, sha256Hex } from '../fsm/canonical.js';
import { formatSettingsErrors, validateSettings } from '../fsm/settings.js';
import { versionWriteBlock, type Backup, type Lease } from '../fsm/state.js';
import { memberRole, switchoverCheck } from '../role/decide.js';
import { ProposalError, type AppliedResult } from './raft-node.js';
import { TICK_MS, toApiCondition, type Agent } from './agent.js';
import { VERSION } from './version.js';
import { withdrawMove } from './withdraw-move.js';

const SWITCHOVER_TIMEOUT_MS = 15_000;
/** How long a switchover that timed out keeps trying to withdraw its move. */
const WITHDRAW_RETRY_MS = 5_000;
/** A join answers within this (the CLI and the forwarding hop wait 60 s by default). */
const JOIN_TIMEOUT_MS = 45_000;
/** Notes listed in a NotesView, newest first. */
const RECENT_NOTES = 20;

export class AgentService implements ClusterService {
  readonly nodeId: string;

  constructor(private readonly agent: Agent) {
    this.nodeId = agent.id;
  }

  async status(opts: ReadOptions): Promise<StatusView> {
    const read = await this.read(opts);
    const a = this.agent;
    const state = a.state;
    const raft = a.node.status();
    const decision = a.lastDecision();
    const raftMembers = [...raft.membership.voters.map((m) => ({ ...m, voter: true })), ...raft.membership.learners.map((m) => ({ ...m, voter: false }))];
    const members = raftMembers
      .map((m) => {
        const record = state.members.find((r) => r.id === m.id);
        const self = m.id === a.id;
        const match = raft.role === 'leader' ? raft.progress[m.id]?.match : undefined;
        const reachable = a.isReachable(m.id);
        return {
          id: m.id,
          kind: m.kind,
          // This node says what it does, not what its (maybe stale) replicated state says: before its first
          // role decision after a restart it holds nothing.
          role: self ? (decision?.role ?? (m.kind === 'witness' ? 'witness' : 'none')) : reachable ? memberRole(state, m.id) : m.kind === 'witness' ? 'witness' : 'none',
          reachable,
          // A silent member's last report says nothing about it now.
          health: reachable ? (record?.health?.health ?? 'unknown') : 'unknown',
          version: record?.version ?? null,
          appliedIndex: self ? a.node.applied : knownAppliedIndex(match, record?.health?.index),
          maintenance: record?.maintenance ?? false,
          voter: m.voter,
          lastContactMs: a.msSinceHeard(m.id),
          peer: m.peer,
          api: record?.api ?? null,
          monitors: reachable ? [...(record?.health?.monitors ?? [])] : [],
        };
      })
      .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    const witnesses = raft.membership.voters.filter((m) => m.kind === 'witness').length;
    const lease = state.lease;
    return {
      node: a.id,
      cluster: a.config.cluster.name,
      leader: raft.leader,
      term: raft.term,
      active: lease === null ? null : { node: lease.holder, epoch: lease.epoch, since: lease.since, reason: lease.reason },
      members,
      configRevision: state.configRevision,
      policyRevision: state.policy.revision,
      commitIndex: raft.commit,
      mode: raft.membership.voters.length <= 1 ? 'single' : witnesses > 0 ? 'witness' : 'two-node',
      conditions: (decision?.conditions ?? []).map(toApiCondition),
      read,
    };
  }

  async nodeInfo(): Promise<NodeInfo> {
    const a = this.agent;
    const raft = a.node.status();
    const state = a.state;
    const membership = raft.membership.voters.some((m) => m.id === a.id)
      ? 'voter'
      : raft.membership.learners.some((m) => m.id === a.id)
        ? 'learner'
        : 'none';
    return {
      node: a.id,
      kind: a.config.node.kind,
      cluster: a.config.cluster.name,
      version: VERSION,
      peer: a.config.peer.advertise ?? a.config.peer.listen,
      api: a.config.api.advertise ?? a.config.api.listen,
      membership,
      join: (a.config.cluster.join ?? []).map((m) => ({ id: m.id, peer: m.peer })),
      leader: raft.leader,
      appliedIndex: a.node.applied,
      configRevision: state.configRevision,
      settingsSha256: sha256Hex(canonicalJson(state.settings)),
      policyRevision: state.policy.revision,
      policySha256: sha256Hex(state.policy.ruleset),
      appliedPolicyRevision: a.appliedPolicyRevision(),
      driver: a.driver.name,
      interfaces: { ...(a.config.network.interfaces ?? {}) },
      raft: { tickMs: TICK_MS, ...raft.timers, snapshotIndex: raft.snapshotIndex },
      check: await a.setupCheck(),
    };
  }

  async getConfig(opts: ReadOptions): Promise<ConfigView> {
    const read = await this.read(opts);
    const state = this.agent.state;
    const last = [...state.audit].reverse().find((r) => r.command === 'setSettings' && r.outcome === 'applied');
    return {
      revision: state.configRevision,
      settings: state.settings as unknown as Record<string, unknown>,
      updatedAt: last?.at ?? null,
      updatedBy: last?.principal ?? null,
      read,
    };
  }

  async putConfig(settings: Record<string, unknown>, ifMatch: number | null, principal: Principal): Promise<ConfigView> {
    const state = this.agent.state;
    const checked = validateSettings(settings, { members: state.members.map((m) => ({ id: m.id, kind: m.kind })) });
    if (!checked.ok) throw new ServiceError('CONFIG_INVALID', formatSettingsErrors(checked.errors));
    this.refuseWhileVersionsDiffer();
    const result = await this.write('setSettings', { settings: checked.settings, ifRevision: ifMatch }, principal);
    this.throwIfRefused(result, 'CONFIG_INVALID');
    return this.getConfig({ linearizable: false });
  }

  async getPolicy(opts: ReadOptions): Promise<PolicyView> {
    const read = await this.read(opts);
    const state = this.agent.state;
    const last = [...state.audit].reverse().find((r) => r.command === 'setPolicy' && r.outcome === 'applied');
    return {
      revision: state.policy.revision,
      policy: { ruleset: state.policy.ruleset },
      updatedAt: last?.at ?? null,
      updatedBy: last?.principal ?? null,
      read,
    };
  }

  async putPolicy(policy: Record<string, unknown>, ifMatch: number | null, principal: Principal): Promise<PolicyView> {
    const keys = Object.keys(policy).filter((k) => k !== 'ruleset');
    if (keys.length > 0) throw new ServiceError('POLICY_INVALID', `${keys[0]}: unknown key (a policy has only "ruleset")`);
    const ruleset = policy.ruleset;
    if (typeof ruleset !== 'string') {
      throw new ServiceError('POLICY_INVALID', `ruleset: must be a string (an nftables ruleset), got ${JSON.stringify(ruleset ?? null)}`);
    }
    this.refuseWhileVersionsDiffer();
    const result = await this.write('setPolicy', { ruleset, ifRevision: ifMatch }, principal);
    this.throwIfRefused(result, 'POLICY_INVALID');
    return this.getPolicy({ linearizable: false });
  }

  async switchover(request: SwitchoverRequest, principal: Principal): Promise<SwitchoverResult> {
    const a = this.agent;
    const input = a.lastInput();
    if (input === null) throw new ServiceError('NOT_READY', 'the node is still starting');
    const check = switchoverCheck(input, { to: request.to ?? null, force: request.force ?? false });
    if (!check.ok) throw new ServiceError('SWITCHOVER_REFUSED', check.message);
    const previous = a.state.lease?.holder ?? null;
    const startedAt = performance.now();
    const intent = await this.propose('moveIntent', { to: check.to, reason: check.reason, epoch: check.epoch }, principal);
    this.throwIfRefused(intent.result as ApplyResult, 'SWITCHOVER_REFUSED');
    const taken = (): Lease | null => {
      const l = a.state.lease;
      return l !== null && l.holder === check.to && l.epoch > check.epoch ? l : null;
    };
    // Not carried out in time: withdrawn rather than left waiting, since the caller is told it failed
    // and it must not happen later (when the target recovers, hours on).
    const lease =
      (await this.poll(taken, SWITCHOVER_TIMEOUT_MS)) ??
      (await withdrawMove({
        to: check.to,
        intentIndex: intent.index,
        waitedMs: SWITCHOVER_TIMEOUT_MS,
        self: a.id,
        state: () => a.state,
        raft: () => a.node.status(),
        taken,
        propose: async (intentIndex) => (await this.propose('withdrawIntent', { intentIndex }, principal)).result as ApplyResult,
        retryMs: WITHDRAW_RETRY_MS,
      }));
    return {
      active: { node: lease.holder, epoch: lease.epoch, since: lease.since, reason: lease.reason },
      previous,
      durationMs: Math.round(performance.now() - startedAt),
    };
  }

  async setMaintenance(id: string, on: boolean, principal: Principal): Promise<MaintenanceResult> {
    const member = this.agent.state.members.find((m) => m.id === id);
    if (member === undefined) throw new ServiceError('MEMBER_NOT_FOUND', `no member is called ${JSON.stringify(id)}`);
    const result = await this.write('setMaintenance', { node: id, on }, principal);
    this.throwIfRefused(result, 'MAINTENANCE_REFUSED');
    return { id, maintenance: on };
  }

  /**
   * Adds a node as a learner, waits until it holds the log (a snapshot when
   * the log was compacted) and has applied the current settings, then makes
   * it a voter. Running it again for a node half-way in continues from where
   * it stopped.
   */
  async join(request: JoinRequest, _principal: Principal): Promise<MembershipResult> {
    if (request.version !== undefined && request.version !== VERSION) {
      throw new ServiceError('VERSION_MISMATCH', `${request.id} runs version ${request.version}; the cluster runs ${VERSION}: update it first (R5)`);
    }
    const a = this.agent;
    const deadline = performance.now() + JOIN_TIMEOUT_MS;
    const raft = a.node.status();
    const members = [...raft.membership.voters, ...raft.membership.learners];
    const known = members.find((m) => m.id === request.id);
    if (known !== undefined && (known.kind !== request.kind || known.peer !== request.peer)) {
      throw new ServiceError(
        'MEMBERSHIP_REFUSED',
        `${request.id} is already a member (${known.kind} at ${known.peer}); to change it, remove it first (hapair leave ${request.id})`,
      );
    }
    if (known === undefined) {
      const same = members.filter((m) => m.kind === request.kind);
      const limit = request.kind === 'data' ? 2 : 1;
      if (same.length >= limit) {
        throw new ServiceError(
          'MEMBERSHIP_REFUSED',
          `the cluster already has ${same.length} ${request.kind} node${same.length === 1 ? '' : 's'} (${same.map((m) => m.id).join(', ')}); ` +
            `it takes at most ${limit}: remove one first (hapair leave)`,
        );
      }
      await this.membership({ op: 'addLearner', member: { id: request.id, kind: request.kind, peer: request.peer } });
    }
    if (!a.node.status().membership.voters.some((m) => m.id === request.id)) {
      const leader = a.config.peer.advertise ?? a.config.peer.listen;
      await this.waitFor(
        () => {
          const status = a.node.status();
          const match = status.progress[request.id]?.match ?? 0;
          return match >= status.commit ? true : null;
        },
        deadline - performance.now(),
        `${request.id} did not catch up with the log within ${JOIN_TIMEOUT_MS / 1000} s; is its agent running, reachable at ${request.peer}, ` +
          `and does its cluster.join list the leader ${a.id} at ${leader}? (run the join again to continue)`,
      );
      // A voter's vote refusal must cover the timers the cluster runs (docs/raft-timing.md): it has applied them.
      await this.waitFor(
        () => {
          const health = a.state.members.find((m) => m.id === request.id)?.health ?? null;
          return health !== null && health.appliedConfigRevision >= a.state.configRevision ? true : null;
        },
        deadline - performance.now(),
        `${request.id} holds the log but has not reported applying settings revision ${a.state.configRevision} within ${JOIN_TIMEOUT_MS / 1000} s; ` +
          `read its log (run the join again to continue)`,
      );
      await this.membership({ op: 'promote', id: request.id });
    }
    return this.membersView();
  }

  async leave(id: string, _principal: Principal): Promise<MembershipResult> {
    const raft = this.agent.node.status();
    if (![...raft.membership.voters, ...raft.membership.learners].some((m) => m.id === id)) {
      throw new ServiceError('MEMBER_NOT_FOUND', `no member is called ${JSON.stringify(id)}`);
    }
    if (this.agent.state.lease?.holder === id) {
      throw new ServiceError('MEMBERSHIP_REFUSED', `${id} holds the active role: switch over to another node first`);
    }
    await this.membership({ op: 'remove', id });
    return this.membersView();
  }

  async listBackups(): Promise<readonly BackupInfo[]> {
    return this.agent.state.backups.map(backupInfo).reverse();
  }

  async createBackup(comment: string, principal: Principal): Promise<BackupInfo> {
    const result = await this.write('createBackup', { comment }, principal);
    this.throwIfRefused(result, 'RESTORE_REFUSED');
    return this.backupInfoById(result.ok ? result.backupId : undefined);
  }

  async exportBackup(id: string): Promise<BackupFile> {
    const backup = this.agent.state.backups.find((b) => b.id === id);
    if (backup === undefined) throw new ServiceError('BACKUP_NOT_FOUND', `no backup is called ${JSON.stringify(id)}`);
    const text = formatBackupFile(toBackupFile(backup, this.agent.config.cluster.name), 'json');
    return { fileName: `hapair-${this.agent.config.cluster.name}-${id}.json`, data: new TextEncoder().encode(text) };
  }

  async importBackup(data: Uint8Array, principal: Principal): Promise<BackupInfo> {
    const parsed = parseBackupFile(new TextDecoder().decode(data));
    if (!parsed.ok) throw new ServiceError('BACKUP_INVALID', parsed.message);
    const result = await this.write('importBackup', { backup: parsed.file }, principal);
    this.throwIfRefused(result, 'BACKUP_INVALID');
    return this.backupInfoById(result.ok ? result.backupId : undefined);
  }

  async restoreBackup(id: string, principal: Principal): Promise<RestoreResult> {
    if (!this.agent.state.backups.some((b) => b.id === id)) {
      throw new ServiceError('BACKUP_NOT_FOUND', `no backup is called ${JSON.stringify(id)}`);
    }
    this.refuseWhileVersionsDiffer();
    const result = await this.write('restoreBackup', { id, ifRevision: null }, principal);
    this.throwIfRefused(result, 'RESTORE_REFUSED');
    const state = this.agent.state;
    return { restored: id, configRevision: state.configRevision, policyRevision: state.policy.revision };
  }

  async audit(limit: number): Promise<readonly AuditEntry[]> {
    return this.agent.state.audit
      .slice(-limit)
      .reverse()
      .map((r) => ({ index: r.index, at: r.at === '' ? new Date(0).toISOString() : r.at, actor: r.principal, action: r.command, detail: r.detail, outcome: r.outcome }));
  }

  async clearFlapDamping(principal: Principal): Promise<{ readonly cleared: boolean }> {
    const engaged = this.agent.state.flapDamped !== null;
    const result = await this.write('clearFlapDamping', {}, principal);
    this.throwIfRefused(result, 'MAINTENANCE_REFUSED');
    return { cleared: engaged };
  }

  async addNote(text: string, principal: Principal): Promise<NotesView> {
    const result = await this.write('addNote', { text }, principal);
    this.throwIfRefused(result, 'CONFIG_INVALID');
    return this.notes();
  }

  async notes(): Promise<NotesView> {
    const state = this.agent.state;
    // From the newest back, stopping at 20: every POST /v1/notes answers with this.
    const recent: NotesView['recent'][number][] = [];
    for (let i = state.audit.length - 1; i >= 0 && recent.length < RECENT_NOTES; i--) {
      const r = state.audit[i];
      if (r === undefined || r.command !== 'addNote' || r.outcome !== 'applied') continue;
      recent.push({ index: r.index, at: r.at, by: r.principal, text: r.detail.replace(/^note: /, '') });
    }
    return { count: state.notes.count, xor: state.notes.xor, recent };
  }

  subscribeEvents(listener: ClusterEventListener): () => void {
    return this.agent.subscribe(listener);
  }

  metricsRegistry(): Registry {
    return this.agent.metrics.registry;
  }

  health(): Probe {
    return this.agent.health();
  }

  ready(): Probe {
    const h = this.agent.health();
    if (!h.ok) return h;
    const leader = this.agent.node.status().leader;
    if (leader === null) return { ok: false, reason: 'no leader is known: the node cannot reach a quorum of voters' };
    return { ok: true, reason: `leader is ${leader}` };
  }

  leaderApi(): LeaderApi | null {
    return this.agent.leaderApi();
  }

  // --- helpers ------------------------------------------------------------------

  private async read(opts: ReadOptions): Promise<ReadInfo> {
    const a = this.agent;
    if (opts.linearizable) {
      try {
        await a.node.readIndex();
      } catch (error) {
        throw serviceErrorFrom(error, a);
      }
    }
    const raft = a.node.status();
    return {
      linearizable: opts.linearizable,
      appliedIndex: a.node.applied,
      leaderContactMs: raft.role === 'leader' ? 0 : raft.leader === null ? null : raft.ticksSinceLeaderContact * TICK_MS,
    };
  }

  private async write<K extends CommandType>(
    type: K,
    fields: Parameters<typeof makeCommand<K>>[1],
    principal: Principal,
  ): Promise<ApplyResult> {
    return (await this.propose(type, fields, principal)).result as ApplyResult;
  }

  /** As write(), with the log index the command was applied at. */
  private async propose<K extends CommandType>(
    type: K,
    fields: Parameters<typeof makeCommand<K>>[1],
    principal: Principal,
  ): Promise<AppliedResult> {
    const command: ClusterCommand = makeCommand(type, fields, { at: new Date().toISOString(), principal: principal.name });
    try {
      return await this.agent.node.propose(encodeCommand(command));
    } catch (error) {
      throw serviceErrorFrom(error, this.agent);
    }
  }

  private async membership(change: Parameters<Agent['node']['proposeMembership']>[0]): Promise<void> {
    try {
      await this.agent.node.proposeMembership(change);
    } catch (error) {
      const e = serviceErrorFrom(error, this.agent);
      if (error instanceof ProposalError && (error.refusal.code === 'MEMBERSHIP_CHANGE_PENDING' || error.refusal.code === 'INVALID_MEMBERSHIP_CHANGE')) {
        throw new ServiceError('MEMBERSHIP_REFUSED', error.message);
      }
      throw e;
    }
  }

  private membersView(): MembershipResult {
    const raft = this.agent.node.status();
    const ref = (voter: boolean) => (m: { id: string; kind: 'data' | 'witness'; peer: string }) => ({
      id: m.id,
      kind: m.kind,
      peer: m.peer,
      api: this.agent.state.members.find((r) => r.id === m.id)?.api ?? null,
      voter,
    });
    return { members: [...raft.membership.voters.map(ref(true)), ...raft.membership.learners.map(ref(false))] };
  }

  private refuseWhileVersionsDiffer(): void {
    const block = versionWriteBlock(this.agent.state);
    if (block !== null) throw new ServiceError('VERSION_MISMATCH', block);
  }

  private throwIfRefused(result: ApplyResult, invalidCode: 'CONFIG_INVALID' | 'POLICY_INVALID' | 'SWITCHOVER_REFUSED' | 'MAINTENANCE_REFUSED' | 'RESTORE_REFUSED' | 'BACKUP_INVALID'): asserts result is Extract<ApplyResult, { ok: true }> {
    if (result.ok) return;
    switch (result.code) {
      case 'CONFLICT':
        throw new ServiceError('REVISION_CONFLICT', result.message);
      case 'VERSION_MISMATCH':
        throw new ServiceError('VERSION_MISMATCH', result.message);
      case 'NOT_FOUND':
        throw new ServiceError(invalidCode === 'BACKUP_INVALID' || invalidCode === 'RESTORE_REFUSED' ? 'BACKUP_NOT_FOUND' : 'MEMBER_NOT_FOUND', result.message);
      case 'INVALID':
      case 'STALE_EPOCH':
      case 'NOT_ELIGIBLE':
      case 'CHECKSUM_MISMATCH':
      case 'LIMIT':
      case 'UNSUPPORTED_COMMAND':
      case 'MALFORMED_COMMAND':
        throw new ServiceError(invalidCode, result.message);
    }
  }

  private backupInfoById(id: string | undefined): BackupInfo {
    const backup = this.agent.state.backups.find((b) => b.id === id);
    if (backup === undefined) throw new ServiceError('INTERNAL', `backup ${id ?? '?'} was committed but is not in the state`);
    return backupInfo(backup);
  }

  private async waitFor<T>(probe: () => T | null, timeoutMs: number, message: string): Promise<T> {
    const got = await this.poll(probe, timeoutMs);
    if (got === null) throw new ServiceError('TIMEOUT', message);
    return got;
  }

  /** What `probe` returns once it is not null, or null after `timeoutMs`. */
  private async poll<T>(probe: () => T | null, timeoutMs: number): Promise<T | null> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const got = probe();
      if (got !== null || performance.now() > deadline) return got;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * Another member's progress as far as this node knows: the higher of the
 * log index at which its last health report was committed (it has applied
 * at least that much once the report reached it; reports are sent only on
 * change, so this can be old) and, on the leader, the index it acknowledged
 * storing (match). A leader just elected has heard from nobody yet (match
 * 0); the report keeps the figure from reading 0 until the first answer.
 */
export function knownAppliedIndex(match: number | undefined, lastReportIndex: number | undefined): number {
  return Math.max(match ?? 0, lastReportIndex ?? 0);
}

function backupInfo(b: Backup): BackupInfo {
  return {
    id: b.id,
    createdAt: b.at,
    createdBy: b.author,
    comment: b.comment,
    configRevision: b.content.configRevision,
    policyRevision: b.content.policy.revision,
    index: b.index,
    sizeBytes: Buffer.byteLength(JSON.stringify(b.content)),
    sha256: b.sha256,
  };
}

function serviceErrorFrom(error: unknown, agent: Agent): ServiceError {
  if (error instanceof ServiceError) return error;
  if (error instanceof ProposalError) {
    const refusal = error.refusal;
    switch (refusal.code) {
      case 'NOT_LEADER': {
        const voters = agent.node.status().membership.voters;
        if (refusal.leader === null && voters.length === 2 && !voters.some((v) => v.kind === 'witness')) {
          const peer = voters.find((v) => v.id !== agent.id)?.id ?? 'the peer';
          return new ServiceError(
            'NO_QUORUM',
            `without a witness every change needs both nodes, and ${peer} is not reachable: writes are refused until it is back (or dissolve the pair with hapair leave)`,
          );
        }
        return new ServiceError('NOT_LEADER', error.message);
      }
      case 'TIMEOUT':
        return new ServiceError('TIMEOUT', error.message);
      case 'STOPPED':
        return new ServiceError('SHUTTING_DOWN', error.message);
      case 'UNCOMMITTED_LIMIT':
      case 'TRANSFER_IN_PROGRESS':
        return new ServiceError('LIMIT_EXCEEDED', error.message);
      case 'SUPERSEDED':
        return new ServiceError('TIMEOUT', error.message);
      case 'MEMBERSHIP_CHANGE_PENDING':
      case 'INVALID_MEMBERSHIP_CHANGE':
        return new ServiceError('MEMBERSHIP_REFUSED', error.message);
    }
  }
  return new ServiceError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}
